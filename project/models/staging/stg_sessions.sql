{#-
  Closed sessions as the streaming layer wrote them. Ephemeral: inlined as a
  CTE into the models that read it (fact_user_sessions, stg_sessionized_events).
-#}
{{ config(materialized='ephemeral') }}

select
    session_id,
    user_id,
    session_start,
    session_end,
    event_count,
    page_views,
    add_to_carts,
    purchases,
    revenue,
    stream_id,
    kafka_partition,
    closed_at
from {{ source('cartwheel', 'sessions') }}
