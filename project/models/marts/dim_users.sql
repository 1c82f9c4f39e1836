{#-
  One row per user with at least one accepted event (on time or late).
  Purchases and revenue count every accepted purchase, like fct_daily_revenue:
  a late purchase is still money. sessions counts closed sessions only.
-#}
with events as (
    select * from {{ ref('stg_events') }}
),

activity as (
    select
        user_id,
        min(event_time) as first_seen,
        max(event_time) as last_seen,
        count(case when event_type = 'purchase' then 1 end) as purchases,
        sum(revenue) as lifetime_revenue,
        min(case when event_type = 'purchase' then event_time end) as first_purchase_at,
        {{ cartwheel.latest('device', 'event_time') }} as last_device,
        {{ cartwheel.latest('country', 'event_time') }} as last_country
    from events
    group by user_id
),

user_sessions as (
    select user_id, count(*) as sessions
    from {{ ref('fact_user_sessions') }}
    group by user_id
)

select
    a.user_id,
    a.first_seen,
    a.last_seen,
    coalesce(s.sessions, 0) as sessions,
    a.purchases,
    {{ to_money('a.lifetime_revenue') }} as lifetime_revenue,
    a.first_purchase_at,
    a.last_device,
    a.last_country,
    c.country_name as last_country_name,
    c.region as last_region
from activity as a
left join user_sessions as s on s.user_id = a.user_id
left join {{ ref('countries') }} as c on c.country_code = a.last_country
