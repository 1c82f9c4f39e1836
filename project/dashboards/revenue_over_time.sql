-- Revenue and orders per bucket of $3 seconds from $1 (only buckets with a
-- purchase have a row). $1 from (inclusive), $2 to (exclusive).
SELECT
    CAST($1 AS TIMESTAMP)
      + CAST(FLOOR((EXTRACT(EPOCH FROM event_time) - EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP)))
                   / CAST($3 AS BIGINT)) * CAST($3 AS BIGINT) AS BIGINT) * INTERVAL '1 second' AS bucket,
    SUM(revenue) AS revenue,
    COUNT(*) AS orders
FROM events
WHERE event_type = 'purchase'
  AND event_time >= CAST($1 AS TIMESTAMP)
  AND event_time < CAST($2 AS TIMESTAMP)
GROUP BY 1
ORDER BY 1
