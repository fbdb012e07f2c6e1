-- Every customer with a completed order in the period, biggest first.
SELECT DATE_FORMAT(@scheduled_time - INTERVAL 1 MONTH, '%Y-%m') AS month,
       c.customer_id,
       c.name,
       c.email,
       c.country,
       r.orders,
       r.items,
       r.revenue,
       r.first_order_at,
       r.last_order_at
FROM customer_revenue AS r
JOIN customers AS c ON c.customer_id = r.customer_id
ORDER BY revenue DESC, customer_id;  -- its own columns: docs/job-authoring.md, Row order
