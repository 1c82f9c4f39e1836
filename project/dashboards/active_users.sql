-- Distinct users with an accepted event (late ones included) per bucket of
-- $3 seconds from $1, by event_time; only buckets with an event have a row.
-- $1 from (inclusive), $2 to (exclusive).
--
-- Written for speed at 10M events (README, Performance). When the buckets
-- are whole multiples of five minutes or of one, and the range starts and
-- ends on such a boundary, the users come from user_activity: the
-- pre-aggregate the pipeline writes with the events, one row per user and
-- 1- or 5-minute bucket, keyed by an integer (the same user may have two
-- rows, hence the GROUP BY). Otherwise (seconds, a custom range off the
-- minute) they come from events. One of the two branches has rows; the
-- other's filter is false. Either way the (bucket, user) pairs are made
-- distinct first, keyed by the bucket's number, and only the bucket's rows
-- turn it into a TIMESTAMP.
WITH activity AS (
    SELECT
        CAST(FLOOR((EXTRACT(EPOCH FROM bucket) - EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP)))
                   / CAST($3 AS BIGINT)) AS BIGINT) AS n,
        user_key
    FROM user_activity
    WHERE bucket >= CAST($1 AS TIMESTAMP)
      AND bucket < CAST($2 AS TIMESTAMP)
      AND width_s = CASE WHEN CAST($3 AS BIGINT) % 300 = 0
                  AND FLOOR(EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP)) / 300) * 300 = EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP))
                  AND FLOOR(EXTRACT(EPOCH FROM CAST($2 AS TIMESTAMP)) / 300) * 300 = EXTRACT(EPOCH FROM CAST($2 AS TIMESTAMP)) THEN 300
             WHEN CAST($3 AS BIGINT) % 60 = 0
                  AND FLOOR(EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP)) / 60) * 60 = EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP))
                  AND FLOOR(EXTRACT(EPOCH FROM CAST($2 AS TIMESTAMP)) / 60) * 60 = EXTRACT(EPOCH FROM CAST($2 AS TIMESTAMP)) THEN 60
             ELSE 0 END
    GROUP BY 1, 2
),

event_users AS (
    SELECT
        CAST(FLOOR((EXTRACT(EPOCH FROM event_time) - EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP)))
                   / CAST($3 AS BIGINT)) AS BIGINT) AS n,
        user_id
    FROM events
    WHERE event_time >= CAST($1 AS TIMESTAMP)
      AND event_time < CAST($2 AS TIMESTAMP)
      AND CASE WHEN CAST($3 AS BIGINT) % 300 = 0
                  AND FLOOR(EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP)) / 300) * 300 = EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP))
                  AND FLOOR(EXTRACT(EPOCH FROM CAST($2 AS TIMESTAMP)) / 300) * 300 = EXTRACT(EPOCH FROM CAST($2 AS TIMESTAMP)) THEN 300
             WHEN CAST($3 AS BIGINT) % 60 = 0
                  AND FLOOR(EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP)) / 60) * 60 = EXTRACT(EPOCH FROM CAST($1 AS TIMESTAMP))
                  AND FLOOR(EXTRACT(EPOCH FROM CAST($2 AS TIMESTAMP)) / 60) * 60 = EXTRACT(EPOCH FROM CAST($2 AS TIMESTAMP)) THEN 60
             ELSE 0 END = 0
    GROUP BY 1, 2
),

counts AS (
    SELECT n, COUNT(*) AS users FROM activity GROUP BY n
    UNION ALL
    SELECT n, COUNT(*) AS users FROM event_users GROUP BY n
)

SELECT
    CAST($1 AS TIMESTAMP) + CAST(n * CAST($3 AS BIGINT) AS BIGINT) * INTERVAL '1 second' AS bucket,
    users
FROM counts
ORDER BY n
