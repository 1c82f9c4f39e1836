SELECT CAST($1 AS TIMESTAMP) AS bucket, SUM(revenue) AS revenue FROM events
WHERE event_time >= CAST($1 AS TIMESTAMP) AND event_time < CAST($2 AS TIMESTAMP)
