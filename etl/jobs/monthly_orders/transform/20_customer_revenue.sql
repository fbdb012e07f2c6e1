DROP TABLE IF EXISTS customer_revenue;
CREATE TABLE customer_revenue AS
SELECT p.customer_id,
       COUNT(*)          AS orders,
       SUM(p.quantity)   AS items,
       SUM(p.amount)     AS revenue,
       MIN(p.ordered_at) AS first_order_at,
       MAX(p.ordered_at) AS last_order_at
FROM period_orders AS p
GROUP BY p.customer_id;
