-- Declined merchant-initiated (MIT) payments of one business day, in the flat source-column layout the
-- batch writer reads (docs/batch-files.md "Source columns"). Adapt THIS file to your schema, not Python.
--
-- Bind parameters (set by the flex_mit_daily DAG from the data interval or the business_date param):
--   window_start / window_end (bind parameters)   the business day in UTC, as 'YYYY-MM-DDTHH:MM:SSZ' (end exclusive)
-- Jinja works too (e.g. params.business_date in double braces); data_interval_start is undefined on a
-- manual run without a logical date, so do not rely on it here.
-- Portable SQL: runs on PostgreSQL and SQLite. Only DECLINED (never shipped) payments are read; the
-- ledger stops an order that was shipped before from going out twice anyway.
SELECT
    o.order_id                AS order_id,
    o.is_mit                  AS is_mit,
    o.is_recurring            AS is_recurring,
    o.customer_ip             AS customer_ip,
    c.sense_key               AS sense_key,
    o.psp_transaction_id      AS transaction_id,
    o.amount_cents            AS amount_cents,
    o.currency                AS currency,
    o.attempted_at            AS declined_at,
    o.decline_code            AS response_code,
    o.decline_message         AS response_description,
    o.response_status         AS response_status,
    o.psp_name                AS response_code_source,
    o.psp_name                AS processor_name,
    o.avs_result              AS avs_result_code,
    o.cvv_result              AS cvv_result_code,
    o.description             AS dynamic_descriptor,
    o.customer_id             AS payer_id,
    s.email                   AS payer_email,
    s.phone                   AS payer_phone,
    s.first_name              AS billing_first_name,
    s.last_name               AS billing_last_name,
    s.phone                   AS billing_phone,
    s.country                 AS billing_country,
    s.country_code            AS billing_country_code,
    s.address_line1           AS billing_address_line1,
    s.state                   AS billing_state,
    s.city                    AS billing_city,
    s.zip_code                AS billing_zip_code,
    c.flex_token              AS card_token,
    c.holder_name             AS card_holder_name,
    c.card_type               AS card_type,
    c.card_brand              AS card_brand,
    c.card_bin                AS card_bin,
    c.card_last4              AS card_last4,
    c.exp_month               AS exp_month,
    c.exp_year                AS exp_year,
    s.subscription_id         AS subscription_id,
    s.billing_interval        AS subscription_interval,
    s.price_cents             AS subscription_price_cents,
    s.currency                AS subscription_currency,
    o.payment_number          AS payment_number
FROM orders o
JOIN subscriptions s ON s.subscription_id = o.subscription_id
LEFT JOIN card_tokens c ON c.id = o.card_token_id
WHERE o.status = 'DECLINED'
  AND o.is_mit = TRUE
  AND o.attempted_at >= :window_start
  AND o.attempted_at < :window_end
ORDER BY o.attempted_at, o.id
