/* Distinct users per bucket of $3 seconds from $1. */
SELECT
    CAST($1 AS TIMESTAMP)
      + CAST(FLOOR((EXTRACT(EPOCH FROM e.event_time) - EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP))) / CAST($3 AS BIGINT))
             * CAST($3 AS BIGINT) AS BIGINT) * INTERVAL '1 second' AS bucket,
    COUNT(DISTINCT e.user_id) AS users
FROM events AS e
WHERE (e.event_time >= CAST($1 AS TIMESTAMP) AND e.event_time < CAST($2 AS TIMESTAMP))
GROUP BY 1
ORDER BY 1;
