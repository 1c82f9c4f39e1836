-- Distinct users with an accepted event (late ones included) per bucket of
-- $3 seconds from $1, by event_time; only buckets with an event have a row.
-- $1 from (inclusive), $2 to (exclusive).
SELECT
    CAST($1 AS TIMESTAMP)
      + CAST(FLOOR((EXTRACT(EPOCH FROM event_time) - EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP)))
                   / CAST($3 AS BIGINT)) * CAST($3 AS BIGINT) AS BIGINT) * INTERVAL '1 second' AS bucket,
    COUNT(DISTINCT user_id) AS users
FROM events
WHERE event_time >= CAST($1 AS TIMESTAMP)
  AND event_time < CAST($2 AS TIMESTAMP)
GROUP BY 1
ORDER BY 1
