"""The ledger's tables and helpers (flex_provider.ledger.schema): file numbers, IN-list batches."""

from __future__ import annotations

from flex_provider.ledger.schema import batches, file_number


def test_file_number_is_the_four_digits_before_the_extension() -> None:
    assert file_number("evaluate_6c5b_20261124_0001.json") == 1
    assert file_number("transmit_m_20261124_0123.csv") == 123
    assert file_number("evaluate_m_20261124_12345.json") == 12345
    assert file_number("evaluate_m_20261124_001.json") is None


def test_batches_cut_without_losing_or_repeating_items() -> None:
    assert list(batches(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batches(iter(range(6)), 3)) == [[0, 1, 2], [3, 4, 5]]
    assert list(batches([], 3)) == []
