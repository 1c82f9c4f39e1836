COPY events (event_id, event_type, user_id, event_time, product_id, price, quantity, revenue, client_session_id, device, country, category, referrer, is_late, stream_id, kafka_partition, kafka_offset, ingested_at)
FROM 's3://cartwheel-staging/cartwheel/events/20261101T120000Z-000000000000000000000000.csv.gz'
IAM_ROLE 'arn:aws:iam::123456789012:role/cartwheel-copy'
REGION 'eu-west-1'
FORMAT AS CSV GZIP
NULL AS '__CARTWHEEL_NULL__'
TIMEFORMAT 'YYYY-MM-DD HH24:MI:SS'
COMPUPDATE OFF STATUPDATE OFF;

COPY sessions (session_id, user_id, session_start, session_end, event_count, page_views, add_to_carts, purchases, revenue, stream_id, kafka_partition, closed_at)
FROM 's3://cartwheel-staging/cartwheel/sessions/20261101T120000Z-000000000000000000000000.csv.gz'
IAM_ROLE 'arn:aws:iam::123456789012:role/cartwheel-copy'
REGION 'eu-west-1'
FORMAT AS CSV GZIP
NULL AS '__CARTWHEEL_NULL__'
TIMEFORMAT 'YYYY-MM-DD HH24:MI:SS'
COMPUPDATE OFF STATUPDATE OFF;

COPY rejected_events (payload, reason, detail, stream_id, kafka_partition, kafka_offset, received_at)
FROM 's3://cartwheel-staging/cartwheel/rejected_events/20261101T120000Z-000000000000000000000000.csv.gz'
IAM_ROLE 'arn:aws:iam::123456789012:role/cartwheel-copy'
REGION 'eu-west-1'
FORMAT AS CSV GZIP
NULL AS '__CARTWHEEL_NULL__'
TIMEFORMAT 'YYYY-MM-DD HH24:MI:SS'
COMPUPDATE OFF STATUPDATE OFF;

