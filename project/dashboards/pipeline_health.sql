-- The part of pipeline health the warehouse knows: late events ingested in
-- the range, and rejected records received in it, by reason. The running
-- pipeline adds events/s, consumer lag, watermark delay and the age of the
-- last commit (live: pipeline in dashboard.yml).
-- $1 from (inclusive), $2 to (exclusive).
--
-- rejected_events is read once (grouped by reason, then spread over the
-- columns) rather than once per reason.
WITH rejected AS (
    SELECT reason, COUNT(*) AS n
    FROM rejected_events
    WHERE received_at >= CAST($1 AS TIMESTAMP)
      AND received_at < CAST($2 AS TIMESTAMP)
    GROUP BY reason
)

SELECT
    (SELECT COUNT(*) FROM events
      WHERE is_late
        AND ingested_at >= CAST($1 AS TIMESTAMP)
        AND ingested_at < CAST($2 AS TIMESTAMP)) AS late,
    CAST(COALESCE(SUM(n), 0) AS BIGINT) AS rejected,
    CAST(COALESCE(SUM(CASE WHEN reason = 'malformed_json' THEN n END), 0) AS BIGINT) AS rejected_malformed_json,
    CAST(COALESCE(SUM(CASE WHEN reason = 'missing_field' THEN n END), 0) AS BIGINT) AS rejected_missing_field,
    CAST(COALESCE(SUM(CASE WHEN reason = 'invalid_value' THEN n END), 0) AS BIGINT) AS rejected_invalid_value,
    CAST(COALESCE(SUM(CASE WHEN reason = 'unknown_event_type' THEN n END), 0) AS BIGINT) AS rejected_unknown_event_type,
    CAST(COALESCE(SUM(CASE WHEN reason = 'future_event_time' THEN n END), 0) AS BIGINT) AS rejected_future_event_time,
    CAST(COALESCE(SUM(CASE WHEN reason = 'duplicate' THEN n END), 0) AS BIGINT) AS rejected_duplicate
FROM rejected
