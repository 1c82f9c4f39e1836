-- Each funnel stage counts a subset of the day's sessions, and the
-- percentages stay within their bounds. (The stages need not nest: a
-- purchase without an add_to_cart is possible, so sessions_with_purchase
-- may exceed sessions_with_cart and cart_to_purchase_pct may exceed 100.)
select *
from {{ ref('fct_conversion_funnel') }}
where sessions_with_view > sessions
    or sessions_with_cart > sessions
    or sessions_with_purchase > sessions
    or conversion_pct < 0
    or conversion_pct > 100
    or view_to_cart_pct < 0
    or cart_to_purchase_pct < 0
    or revenue < 0
    or (sessions = 0 and conversion_pct is not null)
