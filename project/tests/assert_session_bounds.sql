-- A closed session ends at or after its start, its counts add up, and it is
-- converted exactly when it has a purchase.
select session_id
from {{ ref('fact_user_sessions') }}
where session_end < session_start
    or duration_seconds < 0
    or event_count <> page_views + add_to_carts + purchases
    or event_count < 1
    or converted <> (purchases > 0)
    or session_date <> {{ cartwheel.to_date('session_start') }}
