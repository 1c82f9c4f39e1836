-- Revenue and orders, $1 from (inclusive), $2 to (exclusive).
SELECT COALESCE(SUM(revenue), 0) AS revenue, COUNT(*) AS orders
FROM events
WHERE event_type = 'purchase' AND event_time >= CAST($1 AS TIMESTAMP) AND event_time < CAST($2 AS TIMESTAMP)
