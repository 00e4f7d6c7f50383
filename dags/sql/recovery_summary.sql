-- Rewrite the daily recovery summary from the orders the Flex flow touched (flex_business_date set).
-- rescued = paid (or later refunded) after Flex approved it; expired = FAILED;
-- recovery_rate = rescued / (rescued + expired), NULL while nothing settled.
-- Bind parameter: now (bind parameter). Portable: PostgreSQL and SQLite.
DELETE FROM flex_recovery_summary;

INSERT INTO flex_recovery_summary (
    business_date, currency, declines_sent, rejected, pending, rescued_count, rescued_amount_cents,
    expired_count, cancelled_count, refunded_count, recovery_rate, updated_at)
SELECT
    t.business_date, t.currency, t.sent, t.rejected, t.pending, t.rescued, t.rescued_amount,
    t.expired, t.cancelled, t.refunded,
    CASE WHEN t.rescued + t.expired > 0 THEN ROUND(1.0 * t.rescued / (t.rescued + t.expired), 4) END,
    :now
FROM (
    SELECT
        flex_business_date AS business_date,
        COALESCE(currency, '') AS currency,
        SUM(CASE WHEN flex_sent_at IS NOT NULL THEN 1 ELSE 0 END) AS sent,
        SUM(CASE WHEN flex_sent_at IS NULL AND flex_reject_reason IS NOT NULL THEN 1 ELSE 0 END) AS rejected,
        SUM(CASE WHEN status = 'PENDING_FLEX' THEN 1 ELSE 0 END) AS pending,
        SUM(CASE WHEN flex_confirmation_id IS NOT NULL AND status IN ('PAID', 'REFUNDED') THEN 1 ELSE 0 END)
            AS rescued,
        SUM(CASE WHEN flex_confirmation_id IS NOT NULL AND status IN ('PAID', 'REFUNDED')
                 THEN COALESCE(amount_cents, 0) ELSE 0 END) AS rescued_amount,
        SUM(CASE WHEN status = 'FAILED' AND flex_sent_at IS NOT NULL THEN 1 ELSE 0 END) AS expired,
        SUM(CASE WHEN status = 'CANCELLED' AND flex_sent_at IS NOT NULL THEN 1 ELSE 0 END) AS cancelled,
        SUM(CASE WHEN status = 'REFUNDED' AND flex_sent_at IS NOT NULL THEN 1 ELSE 0 END) AS refunded
    FROM orders
    WHERE flex_business_date IS NOT NULL
    GROUP BY flex_business_date, COALESCE(currency, '')
) t;
