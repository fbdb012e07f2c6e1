-- @scheduled_time is the run's slot, in UTC: this run reports the day before it.
SET @day_end = DATE(@scheduled_time);
SET @day_start = @day_end - INTERVAL 1 DAY;
DROP TABLE IF EXISTS day_events;
CREATE TABLE day_events AS
SELECT e.user_id, u.country, e.at FROM events AS e JOIN users AS u USING (user_id)
WHERE e.at >= @day_start AND e.at < @day_end;
