-- The conversion between the funnel's stages, in percent of closed
-- sessions by session_start: view → cart, cart → purchase, and sessions
-- with a purchase among all sessions (NULL when a denominator is 0).
-- $1 from (inclusive), $2 to (exclusive).
WITH counts AS (
    SELECT
        COUNT(*) AS sessions,
        COUNT(CASE WHEN page_views > 0 THEN 1 END) AS with_view,
        COUNT(CASE WHEN add_to_carts > 0 THEN 1 END) AS with_cart,
        COUNT(CASE WHEN purchases > 0 THEN 1 END) AS with_purchase
    FROM sessions
    WHERE session_start >= CAST($1 AS TIMESTAMP)
      AND session_start < CAST($2 AS TIMESTAMP)
)

SELECT
    ROUND(100.0 * with_cart / NULLIF(with_view, 0), 2) AS view_to_cart_pct,
    ROUND(100.0 * with_purchase / NULLIF(with_cart, 0), 2) AS cart_to_purchase_pct,
    ROUND(100.0 * with_purchase / NULLIF(sessions, 0), 2) AS overall_pct
FROM counts
