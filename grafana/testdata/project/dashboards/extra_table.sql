SELECT event_type, COUNT(*) AS n FROM events GROUP BY event_type ORDER BY event_type
