-- The one writer of the Flex columns of the merchant's orders: apply the ledger's order states.
-- The operator (FlexProjectOrdersOperator) fills the session temp table
--   flex_stage_orders(order_id, state, business_date, batch_file, sent_at, expiry_at, order_session_key,
--                     confirmation_id, settled_at, local_reason, flex_error, refunded_minor)
-- with the states that changed since the last projection (or the orders asked for).
-- state: LOCAL_REJECTED (our writer rejected the row: your own dunning goes on, status untouched),
-- SHIPPED / SUBMITTED (Flex holds it: PENDING_FLEX), REJECTED (Flex refused it in its ack: back to
-- DECLINED), APPROVED -> PAID, EXPIRED -> FAILED, CANCELLED, REFUNDED. refunded_minor: the sum of Flex's
-- distinct confirmed refunds, in minor units of the order's currency.
-- Only the first merchant row of an order id is written (a duplicate row of the billing system stays),
-- and only where a column differs, so re-running the projection changes nothing.
-- orders.status never moves down the ranks DECLINED(0) < PENDING_FLEX(1) < PAID|FAILED(2) <
-- CANCELLED|REFUNDED(3), the ledger's own ranks (a status you set by hand stays), with one exception: PENDING_FLEX -> DECLINED when Flex
-- refused the row. The flex_* columns always show the ledger's state.
-- Bind parameter: now. Portable: PostgreSQL and SQLite >= 3.39 (UPDATE ... FROM, IS DISTINCT FROM).
-- Order ids are text here: if your orders.order_id is a uuid or a bigint, compare
-- orders.order_id = CAST(s.order_id AS uuid) (or bigint), which keeps your index on orders.order_id.
UPDATE orders
SET status = CASE
        WHEN s.new_status IS NULL THEN orders.status
        WHEN s.new_status = 'DECLINED' AND orders.status = 'PENDING_FLEX' THEN 'DECLINED'
        WHEN (CASE s.new_status WHEN 'DECLINED' THEN 0 WHEN 'PENDING_FLEX' THEN 1 WHEN 'REFUNDED' THEN 3 WHEN 'CANCELLED' THEN 3 ELSE 2 END)
             >= (CASE orders.status WHEN 'DECLINED' THEN 0 WHEN 'PENDING_FLEX' THEN 1 WHEN 'REFUNDED' THEN 3
                 WHEN 'CANCELLED' THEN 3 ELSE 2 END) THEN s.new_status
        ELSE orders.status END,
    flex_business_date = s.business_date,
    flex_batch_file = s.batch_file,
    flex_sent_at = s.sent_at,
    flex_expiry_at = s.expiry_at,
    flex_order_id = s.order_session_key,
    flex_status = s.flex_status,
    flex_confirmation_id = s.confirmation_id,
    flex_settled_at = s.settled_at,
    flex_reject_reason = s.reject_reason,
    refunded_amount_cents = s.refunded_minor,
    updated_at = :now
FROM (
    SELECT order_id, business_date, batch_file, sent_at, expiry_at, order_session_key, confirmation_id,
           settled_at, refunded_minor,
           CASE state WHEN 'SHIPPED' THEN 'PENDING_FLEX' WHEN 'SUBMITTED' THEN 'PENDING_FLEX'
                      WHEN 'REJECTED' THEN 'DECLINED' WHEN 'APPROVED' THEN 'PAID' WHEN 'EXPIRED' THEN 'FAILED'
                      WHEN 'CANCELLED' THEN 'CANCELLED' WHEN 'REFUNDED' THEN 'REFUNDED' END AS new_status,
           CASE WHEN state = 'LOCAL_REJECTED' THEN NULL ELSE state END AS flex_status,
           CASE state WHEN 'LOCAL_REJECTED' THEN local_reason
                      WHEN 'REJECTED' THEN SUBSTR('flex_rejected: ' || COALESCE(flex_error, ''), 1, 255)
                      END AS reject_reason
    FROM flex_stage_orders
) s
WHERE orders.order_id = s.order_id
  AND NOT EXISTS (SELECT 1 FROM orders o2 WHERE o2.order_id = orders.order_id AND o2.id < orders.id)
  AND ((s.new_status IS NOT NULL AND orders.status <> s.new_status
        AND ((s.new_status = 'DECLINED' AND orders.status = 'PENDING_FLEX')
             OR (CASE s.new_status WHEN 'DECLINED' THEN 0 WHEN 'PENDING_FLEX' THEN 1 WHEN 'REFUNDED' THEN 3
                 WHEN 'CANCELLED' THEN 3 ELSE 2 END)
                >= (CASE orders.status WHEN 'DECLINED' THEN 0 WHEN 'PENDING_FLEX' THEN 1 WHEN 'REFUNDED' THEN 3
                    WHEN 'CANCELLED' THEN 3 ELSE 2 END)))
       OR orders.flex_business_date IS DISTINCT FROM s.business_date
       OR orders.flex_batch_file IS DISTINCT FROM s.batch_file
       OR orders.flex_sent_at IS DISTINCT FROM s.sent_at
       OR orders.flex_expiry_at IS DISTINCT FROM s.expiry_at
       OR orders.flex_order_id IS DISTINCT FROM s.order_session_key
       OR orders.flex_status IS DISTINCT FROM s.flex_status
       OR orders.flex_confirmation_id IS DISTINCT FROM s.confirmation_id
       OR orders.flex_settled_at IS DISTINCT FROM s.settled_at
       OR orders.flex_reject_reason IS DISTINCT FROM s.reject_reason
       OR orders.refunded_amount_cents IS DISTINCT FROM s.refunded_minor);

-- The other rows of an order id (the billing system wrote the attempt twice): our writer rejected the
-- copy (duplicate_order); note the reason there, status untouched.
UPDATE orders
SET flex_reject_reason = s.local_reason,
    flex_business_date = s.business_date,
    updated_at = :now
FROM flex_stage_orders s
WHERE orders.order_id = s.order_id
  AND s.local_reason IS NOT NULL
  AND EXISTS (SELECT 1 FROM orders o2 WHERE o2.order_id = orders.order_id AND o2.id < orders.id)
  AND (orders.flex_reject_reason IS DISTINCT FROM s.local_reason
       OR orders.flex_business_date IS DISTINCT FROM s.business_date);
