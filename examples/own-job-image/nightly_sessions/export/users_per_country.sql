-- Exports read a clean session: @scheduled_time is the one variable they keep.
SELECT DATE_FORMAT(DATE(@scheduled_time) - INTERVAL 1 DAY, '%Y-%m-%d') AS day, country,
       COUNT(DISTINCT user_id) AS users, COUNT(*) AS events
FROM day_events GROUP BY country ORDER BY country;
