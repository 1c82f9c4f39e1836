{#-
  Closed sessions as the streaming layer wrote them, those of the run's
  snapshot only (closed_at <= snapshot_at, see macros/snapshot.sql). A view,
  like stg_events: the staging views are the only readers of the streaming
  sources, so the marts and tests of a later `models run --select tag:marts`
  or `models test` read the same snapshot as the staging views they read.
-#}

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
where {{ in_snapshot('closed_at') }}
