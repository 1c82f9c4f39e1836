-- dim_time has exactly one row per day between its first and last day.
select min(date_day) as first_day, max(date_day) as last_day, count(*) as days
from {{ ref('dim_time') }}
having count(*) > 0
    and count(*) <> {{ dbt.datediff('min(date_day)', 'max(date_day)', 'day') }} + 1
