"""``file_groups``: the sample DAGs map their ship step over a constant number of groups."""

from __future__ import annotations

import pytest

from flex_provider.merchant.dag_support import file_groups


@pytest.mark.parametrize("n_files", [0, 1, 3, 4, 9, 50])
def test_always_exactly_the_number_of_tasks_in_order_and_balanced(n_files: int) -> None:
    names = [f"f{i:02d}" for i in range(n_files)]
    groups = file_groups(names, 4)
    assert len(groups) == 4  # never fewer: Airflow would leave a mapped task instance "removed"
    assert [n for g in groups for n in g] == names
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1


def test_one_task_at_least() -> None:
    assert file_groups(["a", "b"], 0) == [["a", "b"]]
