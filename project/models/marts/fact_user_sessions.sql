{#-
  One row per closed session. Incremental: closed sessions are append-only,
  so a run only reads the sessions closed since the newest one already here,
  minus a look-back (batches of different partitions commit concurrently, so
  closed_at is not a strict high-water mark); delete+insert on session_id
  makes re-reading a session harmless. --full-refresh rebuilds it.
-#}
{{ config(materialized='incremental', unique_key='session_id') }}

select
    session_id,
    user_id,
    session_start,
    session_end,
    {{ cartwheel.to_date('session_start') }} as session_date,
    {{ dbt.datediff('session_start', 'session_end', 'second') }} as duration_seconds,
    event_count,
    page_views,
    add_to_carts,
    purchases,
    {{ to_money('revenue') }} as revenue,
    purchases > 0 as converted,
    closed_at
from {{ ref('stg_sessions') }}
{% if is_incremental() %}
where closed_at >= coalesce(
    (select {{ dbt.dateadd('minute', -var('session_lookback_minutes'), 'max(closed_at)') }} from {{ this }}),
    cast('1900-01-01' as {{ dbt.type_timestamp() }})
)
{% endif %}
