-- Purchases per UTC day of event_time (late ones included), for the days
-- with a purchase in the range. change_pct is the change of revenue
-- against the calendar day before, NULL for the first day of the range and
-- when the day before had no revenue. $1 from (inclusive), $2 to (exclusive).
WITH daily AS (
    SELECT
        CAST(event_time AS DATE) AS day,
        COUNT(*) AS orders,
        SUM(revenue) AS revenue
    FROM events
    WHERE event_type = 'purchase'
      AND event_time >= CAST($1 AS TIMESTAMP)
      AND event_time < CAST($2 AS TIMESTAMP)
    GROUP BY CAST(event_time AS DATE)
),

with_previous AS (
    SELECT
        day,
        orders,
        revenue,
        LAG(day) OVER (ORDER BY day) AS previous_day,
        LAG(revenue) OVER (ORDER BY day) AS previous_revenue
    FROM daily
)

SELECT
    day,
    orders,
    revenue,
    CASE WHEN previous_day = day - 1
         THEN ROUND(100.0 * (revenue - previous_revenue) / NULLIF(previous_revenue, 0), 2)
    END AS change_pct
FROM with_previous
ORDER BY day
