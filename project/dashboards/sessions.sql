-- Closed sessions by session_start: how many, their average duration in
-- seconds and their average number of events (NULL without sessions).
-- $1 from (inclusive), $2 to (exclusive).
SELECT
    COUNT(*) AS sessions,
    ROUND(AVG(EXTRACT(EPOCH FROM session_end) - EXTRACT(EPOCH FROM session_start)), 1) AS avg_duration_s,
    ROUND(AVG(1.0 * event_count), 2) AS events_per_session
FROM sessions
WHERE session_start >= CAST($1 AS TIMESTAMP)
  AND session_start < CAST($2 AS TIMESTAMP)
