{#-
  Activity per UTC minute of event_time: a user is active in a minute when any
  of their accepted events (on time or late) happened in it. Only minutes with
  at least one event have a row.
-#}
select
    {{ dbt.date_trunc('minute', 'event_time') }} as minute,
    count(distinct user_id) as active_users,
    count(*) as events
from {{ ref('stg_events') }}
group by {{ dbt.date_trunc('minute', 'event_time') }}
