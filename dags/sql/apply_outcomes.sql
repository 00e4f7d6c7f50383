-- Apply Flex outcomes to the merchant's orders. The operator fills the session temp table
--   flex_stage_outcomes(order_id, flex_order_id, flex_status, confirmation_id, amount, settled_at)
-- from the ledger (ack and result files), the webhook store and the GET /orders sweep.
-- flex_status: SUBMITTED (Flex took it: keep PENDING_FLEX, store Flex's order id), REJECTED (Flex refused
-- the row), APPROVED -> PAID, EXPIRED -> FAILED, CANCELLED, REFUNDED.
-- Rule: a status only moves up the ranks DECLINED(0) < PENDING_FLEX(1) < PAID|FAILED|CANCELLED(2) <
-- REFUNDED(3); a final state is never replaced by another of the same rank.
-- Bind parameter: now (bind parameter). Portable: PostgreSQL and SQLite >= 3.33 (UPDATE ... FROM).
UPDATE orders
SET status = CASE s.flex_status
        WHEN 'APPROVED' THEN 'PAID'
        WHEN 'EXPIRED' THEN 'FAILED'
        WHEN 'CANCELLED' THEN 'CANCELLED'
        WHEN 'REFUNDED' THEN 'REFUNDED'
        WHEN 'SUBMITTED' THEN 'PENDING_FLEX'
        ELSE orders.status END,
    flex_order_id = COALESCE(s.flex_order_id, orders.flex_order_id),
    flex_status = s.flex_status,
    flex_confirmation_id = COALESCE(s.confirmation_id, orders.flex_confirmation_id),
    flex_settled_at = CASE WHEN s.flex_status = 'SUBMITTED' THEN orders.flex_settled_at
        ELSE COALESCE(s.settled_at, :now) END,
    updated_at = :now
FROM flex_stage_outcomes s
WHERE orders.order_id = s.order_id
  AND orders.flex_sent_at IS NOT NULL
  AND s.flex_status IN ('SUBMITTED', 'APPROVED', 'EXPIRED', 'CANCELLED', 'REFUNDED')
  AND (
    (CASE s.flex_status WHEN 'SUBMITTED' THEN 1 WHEN 'REFUNDED' THEN 3 ELSE 2 END)
      > (CASE orders.status WHEN 'DECLINED' THEN 0 WHEN 'PENDING_FLEX' THEN 1
                            WHEN 'REFUNDED' THEN 3 ELSE 2 END)
    OR (s.flex_status = 'SUBMITTED' AND orders.status = 'PENDING_FLEX'
        AND orders.flex_order_id IS NULL AND s.flex_order_id IS NOT NULL)
  );

-- Flex refused the row in its acknowledgement: it is not pending at Flex, so hand it back to your
-- own dunning (DECLINED) with the reason noted. Only from PENDING_FLEX.
UPDATE orders
SET status = 'DECLINED',
    flex_status = 'REJECTED',
    flex_reject_reason = 'flex_rejected',
    updated_at = :now
FROM flex_stage_outcomes s
WHERE orders.order_id = s.order_id
  AND s.flex_status = 'REJECTED'
  AND orders.status = 'PENDING_FLEX';
