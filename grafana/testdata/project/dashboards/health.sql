SELECT COUNT(*) AS late FROM events WHERE is_late AND ingested_at >= CAST($1 AS TIMESTAMP) AND ingested_at < CAST($2 AS TIMESTAMP)
