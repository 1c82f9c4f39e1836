-- fct_active_users counts every accepted event once, and dim_users' lifetime
-- revenue adds up to fct_daily_revenue's (both count late purchases).
with checks as (
    select
        (select coalesce(sum(events), 0) from {{ ref('fct_active_users') }}) as minute_events,
        (select count(*) from {{ ref('stg_events') }}) as events,
        (select coalesce(sum(lifetime_revenue), 0) from {{ ref('dim_users') }}) as user_revenue,
        (select coalesce(sum(revenue), 0) from {{ ref('fct_daily_revenue') }}) as daily_revenue
)

select *
from checks
where minute_events <> events
    or user_revenue <> daily_revenue
