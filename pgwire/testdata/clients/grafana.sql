-- What Grafana's PostgreSQL data source sends: its version probe, the
-- TimescaleDB probe, the query editor's table and column lists, and a
-- panel query after macro expansion ($__timeFilter, $__timeGroupAlias).
SELECT current_setting('server_version_num')::int/100 as version
-- END
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
-- END
select quote_ident(table_name) as "table" from information_schema.tables where quote_ident(table_schema) not in ('information_schema', 'pg_catalog', '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal', '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') and table_type = 'BASE TABLE' and quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s)
-- END
select quote_ident(column_name) as "column", data_type as "type" from information_schema.columns where quote_ident(table_name) = 'sessions'
-- END
SELECT floor(extract(epoch from session_start)/300)*300 AS "time", count(*) AS sessions FROM sessions WHERE session_start BETWEEN '2026-11-20T00:00:00Z' AND '2026-11-21T00:00:00Z' GROUP BY 1 ORDER BY 1
