{#-
  The conversion funnel per UTC day of session_start, over closed sessions.
  A session is "with view", "with cart", "with purchase" when it has at least
  one event of that type: three independent counts (a purchase without an
  add_to_cart is possible, so the stages need not nest). Every day of dim_time
  has a row; percentages are NULL when their denominator is 0.
-#}
with daily as (
    select
        session_date as day,
        count(*) as sessions,
        count(case when page_views > 0 then 1 end) as sessions_with_view,
        count(case when add_to_carts > 0 then 1 end) as sessions_with_cart,
        count(case when purchases > 0 then 1 end) as sessions_with_purchase,
        sum(revenue) as revenue
    from {{ ref('fact_user_sessions') }}
    group by session_date
),

spined as (
    select
        t.date_day as day,
        coalesce(d.sessions, 0) as sessions,
        coalesce(d.sessions_with_view, 0) as sessions_with_view,
        coalesce(d.sessions_with_cart, 0) as sessions_with_cart,
        coalesce(d.sessions_with_purchase, 0) as sessions_with_purchase,
        coalesce(d.revenue, 0) as revenue
    from {{ ref('dim_time') }} as t
    left join daily as d on d.day = t.date_day
)

select
    day,
    sessions,
    sessions_with_view,
    sessions_with_cart,
    sessions_with_purchase,
    {{ cartwheel.percent('sessions_with_cart', 'sessions_with_view') }} as view_to_cart_pct,
    {{ cartwheel.percent('sessions_with_purchase', 'sessions_with_cart') }} as cart_to_purchase_pct,
    {{ cartwheel.percent('sessions_with_purchase', 'sessions') }} as conversion_pct,
    {{ to_money('revenue') }} as revenue
from spined
