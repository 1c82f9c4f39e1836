SELECT 'sessions' AS stage, COUNT(*) AS sessions FROM sessions
WHERE session_start >= CAST($1 AS TIMESTAMP) AND session_start < CAST($2 AS TIMESTAMP)
