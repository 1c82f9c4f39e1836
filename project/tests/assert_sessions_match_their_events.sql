-- The counts and revenue the streaming layer wrote for each closed session
-- equal those of the events mapped to it, and every session has its events.
with from_events as (
    select
        session_id,
        count(*) as event_count,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as add_to_carts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchases,
        sum(revenue) as revenue,
        min(event_time) as session_start,
        max(event_time) as session_end
    from {{ ref('stg_sessionized_events') }}
    group by session_id
)

select
    coalesce(f.session_id, e.session_id) as session_id,
    f.event_count,
    e.event_count as events_mapped
from {{ ref('fact_user_sessions') }} as f
full outer join from_events as e on e.session_id = f.session_id
where f.session_id is null
    or e.session_id is null
    or f.event_count <> e.event_count
    or f.page_views <> e.page_views
    or f.add_to_carts <> e.add_to_carts
    or f.purchases <> e.purchases
    or f.revenue <> e.revenue
    or f.session_start <> e.session_start
    or f.session_end <> e.session_end
