-- The ten best-selling products of the period by revenue.
SELECT DATE_FORMAT(@scheduled_time - INTERVAL 1 MONTH, '%Y-%m') AS month,
       pr.product_id,
       pr.name,
       pr.category,
       SUM(p.quantity) AS units,
       SUM(p.amount)   AS revenue
FROM period_orders AS p
JOIN products AS pr ON pr.product_id = p.product_id
GROUP BY pr.product_id, pr.name, pr.category
ORDER BY revenue DESC, product_id  -- its own columns: docs/job-authoring.md, Row order
LIMIT 10;
