SELECT CAST(event_time AS DATE) AS day, COUNT(*) AS orders,
       ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (), 2) AS share_pct
FROM events
WHERE event_type = 'purchase'
  AND NOT event_time >= CAST($1 AS TIMESTAMP) AND event_time < CAST($2 AS TIMESTAMP) -- not fused: NOT binds tighter
   OR event_time >= CAST($1 AS TIMESTAMP) AND event_time < CAST($2 AS TIMESTAMP)
GROUP BY 1
ORDER BY 1
