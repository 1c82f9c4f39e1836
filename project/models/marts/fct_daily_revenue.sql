{#-
  Revenue per UTC day of event_time, over every accepted purchase, late ones
  included (a late purchase is still money). Every day of dim_time has a row,
  so the previous row is the previous calendar day: a day without purchases
  has revenue 0, and revenue_prev_day is NULL only on the first day.
-#}
with purchases as (
    select
        {{ cartwheel.to_date('event_time') }} as day,
        user_id,
        revenue
    from {{ ref('stg_events') }}
    where event_type = 'purchase'
),

daily as (
    select
        day,
        sum(revenue) as revenue,
        count(*) as orders,
        count(distinct user_id) as buyers
    from purchases
    group by day
),

spined as (
    select
        t.date_day as day,
        {{ to_money('coalesce(d.revenue, 0)') }} as revenue,
        coalesce(d.orders, 0) as orders,
        coalesce(d.buyers, 0) as buyers
    from {{ ref('dim_time') }} as t
    left join daily as d on d.day = t.date_day
),

with_previous as (
    select
        day,
        revenue,
        orders,
        buyers,
        lag(revenue) over (order by day) as revenue_prev_day
    from spined
)

select
    day,
    revenue,
    orders,
    buyers,
    revenue_prev_day,
    {{ cartwheel.percent('revenue - revenue_prev_day', 'revenue_prev_day') }} as revenue_dod_pct
from with_previous
