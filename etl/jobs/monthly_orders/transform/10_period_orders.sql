-- The reporting period is the calendar month before the run's scheduled time (UTC):
-- a run scheduled for 2026-11-01 04:00 reports on October 2026.
SET @period_end = CAST(DATE_FORMAT(@scheduled_time, '%Y-%m-01') AS DATETIME);
SET @period_start = @period_end - INTERVAL 1 MONTH;

-- Completed orders of the period; cancelled, pending and zero-quantity orders are left out.
DROP TABLE IF EXISTS period_orders;
CREATE TABLE period_orders AS
SELECT o.order_id,
       o.customer_id,
       o.product_id,
       o.quantity,
       o.unit_price,
       o.quantity * o.unit_price AS amount,
       o.ordered_at
FROM orders AS o
WHERE o.status = 'completed'
  AND o.quantity > 0
  AND o.ordered_at >= @period_start
  AND o.ordered_at < @period_end;
