-- Closed sessions by session_start, and how many of them have a page view,
-- an add-to-cart, a purchase (independent counts, as in
-- fct_conversion_funnel). $1 from (inclusive), $2 to (exclusive).
WITH counts AS (
    SELECT
        COUNT(*) AS sessions,
        COUNT(CASE WHEN page_views > 0 THEN 1 END) AS with_view,
        COUNT(CASE WHEN add_to_carts > 0 THEN 1 END) AS with_cart,
        COUNT(CASE WHEN purchases > 0 THEN 1 END) AS with_purchase
    FROM sessions
    WHERE session_start >= CAST($1 AS TIMESTAMP)
      AND session_start < CAST($2 AS TIMESTAMP)
),

stages AS (
    SELECT 1 AS ord, 'sessions' AS stage, sessions FROM counts
    UNION ALL SELECT 2, 'with_view', with_view FROM counts
    UNION ALL SELECT 3, 'with_cart', with_cart FROM counts
    UNION ALL SELECT 4, 'with_purchase', with_purchase FROM counts
)

SELECT stage, sessions
FROM stages
ORDER BY ord
