{#-
  One run, one snapshot. The streaming layer keeps appending to the sources
  while a run, test or build goes on, so every invocation of `cartwheel
  models` fixes var('snapshot_at') before it starts: the greatest
  loaded_at_field of the sources (sources.yml), that is the commit time of
  the newest batch. A batch commits its events, closed sessions and rejected
  records in one transaction with one timestamp (ingested_at = closed_at =
  received_at), so that one bound cuts all the tables at the same batch.

  Every model that reads a streaming source filters it with in_snapshot on
  the source's loaded_at_field; the staging views do, and the marts and tests
  read only those. Pass --vars '{snapshot_at: "2026-03-02 12:00:00"}' to pin
  a snapshot (UTC), or snapshot_at: null to read the live tables.
-#}

{% macro in_snapshot(loaded_at_field) -%}
    {%- set snapshot_at = var('snapshot_at', None) -%}
    {%- if snapshot_at is none -%}
        1 = 1
    {%- else -%}
        {{ loaded_at_field }} <= cast('{{ snapshot_at }}' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}
