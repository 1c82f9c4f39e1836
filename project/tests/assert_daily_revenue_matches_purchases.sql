-- fct_daily_revenue counts every accepted purchase, late ones included: its
-- totals equal the purchase events of stg_events. Returns a row on mismatch.
with mart as (
    select sum(revenue) as revenue, sum(orders) as orders
    from {{ ref('fct_daily_revenue') }}
),

purchases as (
    select coalesce(sum(revenue), 0) as revenue, count(*) as orders
    from {{ ref('stg_events') }}
    where event_type = 'purchase'
)

select
    mart.revenue,
    purchases.revenue as expected_revenue,
    mart.orders,
    purchases.orders as expected_orders
from mart
cross join purchases
where coalesce(mart.revenue, 0) <> purchases.revenue
    or coalesce(mart.orders, 0) <> purchases.orders
