-- The part of pipeline health the warehouse knows: late events ingested in
-- the range, and rejected records received in it, by reason. The running
-- pipeline adds events/s, consumer lag, watermark delay and the age of the
-- last commit (live: pipeline in dashboard.yml).
-- $1 from (inclusive), $2 to (exclusive).
WITH rejected AS (
    SELECT reason
    FROM rejected_events
    WHERE received_at >= CAST($1 AS TIMESTAMP)
      AND received_at < CAST($2 AS TIMESTAMP)
)

SELECT
    (SELECT COUNT(*) FROM events
      WHERE is_late
        AND ingested_at >= CAST($1 AS TIMESTAMP)
        AND ingested_at < CAST($2 AS TIMESTAMP)) AS late,
    (SELECT COUNT(*) FROM rejected) AS rejected,
    (SELECT COUNT(*) FROM rejected WHERE reason = 'malformed_json') AS rejected_malformed_json,
    (SELECT COUNT(*) FROM rejected WHERE reason = 'missing_field') AS rejected_missing_field,
    (SELECT COUNT(*) FROM rejected WHERE reason = 'invalid_value') AS rejected_invalid_value,
    (SELECT COUNT(*) FROM rejected WHERE reason = 'unknown_event_type') AS rejected_unknown_event_type,
    (SELECT COUNT(*) FROM rejected WHERE reason = 'future_event_time') AS rejected_future_event_time,
    (SELECT COUNT(*) FROM rejected WHERE reason = 'duplicate') AS rejected_duplicate
