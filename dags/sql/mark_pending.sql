-- Write what was shipped to Flex (and what was rejected) back to the merchant's orders.
-- The operator fills two session temp tables first (all columns text):
--   flex_stage_shipped(order_id, batch_file, business_date, expiry_at)   rows in uploaded batch files
--   flex_stage_rejects(order_id, business_date, reason)                   rows of the rejects CSV
-- Bind parameter: now (bind parameter; UTC, 'YYYY-MM-DDTHH:MM:SSZ'). Portable: PostgreSQL and SQLite >= 3.33.
-- Only DECLINED orders move (to PENDING_FLEX): a status never goes backwards.
UPDATE orders
SET status = 'PENDING_FLEX',
    flex_business_date = s.business_date,
    flex_batch_file = s.batch_file,
    flex_sent_at = :now,
    flex_expiry_at = s.expiry_at,
    flex_reject_reason = NULL,
    updated_at = :now
FROM flex_stage_shipped s
WHERE orders.order_id = s.order_id
  AND orders.status = 'DECLINED'
  -- A payment written twice by the billing system is one order: mark the first row only.
  AND orders.id = (SELECT MIN(o2.id) FROM orders o2 WHERE o2.order_id = orders.order_id);

-- A rejected row stays DECLINED (your own dunning goes on) with the reason noted.
UPDATE orders
SET flex_reject_reason = r.reason,
    flex_business_date = r.business_date,
    updated_at = :now
FROM flex_stage_rejects r
WHERE orders.order_id = r.order_id
  AND orders.status = 'DECLINED'
  AND r.reason <> 'already_shipped';
