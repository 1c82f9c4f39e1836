{#-
  One row per UTC calendar day from the day of the first accepted event to the
  day of the last one (late events included), gaps included: the spine the
  daily marts join to, so that a day without sales is a row with 0, not a
  missing row.
-#}
{%- set first_day -%}
(select {{ cartwheel.to_date('min(event_time)') }} from {{ ref('stg_events') }})
{%- endset -%}
{%- set day_after_last -%}
(select {{ dbt.dateadd('day', 1, cartwheel.to_date('max(event_time)')) }} from {{ ref('stg_events') }})
{%- endset %}

with days as (
    {{ dbt.date_spine('day', first_day, day_after_last) }}
)

select
    date_day,
    {{ cartwheel.date_part('year', 'date_day') }} as year,
    {{ cartwheel.date_part('quarter', 'date_day') }} as quarter,
    {{ cartwheel.date_part('month', 'date_day') }} as month,
    {{ cartwheel.date_part('week', 'date_day') }} as week,
    {{ cartwheel.date_part('isodow', 'date_day') }} as day_of_week,
    {{ cartwheel.date_part('isodow', 'date_day') }} >= 6 as is_weekend
from days
