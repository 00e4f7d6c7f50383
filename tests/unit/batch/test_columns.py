"""The source columns and the row layout (flex_provider.batch.columns), against the documented table."""

from __future__ import annotations

from flex_provider.batch.columns import CSV_COLUMNS, canonical, known, layout


def test_the_required_fields_are_the_documented_four_in_model_order() -> None:
    for kind in ("evaluate", "transmit"):
        lay = layout(kind)  # type: ignore[arg-type]
        assert [f.column for f in lay.fields if f.required] == [
            "order_id",
            "transaction_id",
            "amount_cents",
            "currency",
        ]
        fields = {f.column: f for f in lay.fields}
        assert (fields["amount_cents"].type, fields["amount_cents"].path) == (
            "int",
            ("transaction", "amount"),
        )
        assert (fields["currency"].min_length, fields["currency"].max_length) == (3, 3)
        assert fields["transaction_at"].type == "datetime"
        assert fields["card_token"].path == ("paymentMethod", "cardNumber")
    assert layout("evaluate").field("expiry_date_utc") is not None
    assert layout("transmit").field("expiry_date_utc") is None  # evaluate only


def test_aliases_and_control_columns() -> None:
    assert canonical("declined_at") == canonical("approved_at") == "transaction_at"
    assert canonical("card_bin") == "card_bin"
    assert known("declined_at", "evaluate")
    assert not known("mid", "evaluate")  # checked, never copied as it is
    assert not known("notes", "transmit")


def test_the_csv_header_starts_with_the_envelope_columns_and_ends_with_the_token_flag() -> None:
    assert CSV_COLUMNS[:7] == ("sequenceNumber", "mid", "orderId", "isDeclined", "isMIT", "isRecurring",
                               "idempotencyKey")  # fmt: skip
    assert CSV_COLUMNS[-1] == "paymentMethod.token"
    assert "transaction.amount" in CSV_COLUMNS
    assert "paymentMethod.cardNumber" in CSV_COLUMNS  # the Flex token, never a PAN
    assert len(set(CSV_COLUMNS)) == len(CSV_COLUMNS)
    assert "expiryDateUtc" not in CSV_COLUMNS
