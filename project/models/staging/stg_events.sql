{#-
  Every accepted event, on time or late: the single entry point of the events
  source. A view: it only renames and selects, and each mart reads it once.
  It holds the events of the run's snapshot only (ingested_at <= snapshot_at,
  see macros/snapshot.sql), so that every mart and test of a run counts the
  same events while the stream goes on.
-#}
select
    event_id,
    event_type,
    user_id,
    event_time,
    product_id,
    category,
    price,
    quantity,
    revenue,
    device,
    country,
    referrer,
    client_session_id,
    is_late,
    stream_id,
    kafka_partition,
    kafka_offset,
    ingested_at
from {{ source('cartwheel', 'events') }}
where {{ in_snapshot('ingested_at') }}
