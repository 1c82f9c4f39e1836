-- Session statements of JDBC (pgjdbc), psycopg2 and BI tools on connect.
SET extra_float_digits = 3
-- END
SET application_name = 'PostgreSQL JDBC Driver'
-- END
BEGIN
-- END
SHOW TRANSACTION ISOLATION LEVEL
-- END
SELECT version()
-- END
SELECT current_database()
-- END
SELECT current_schema()
-- END
SELECT current_setting('server_version'), current_setting('application_name')
-- END
SHOW search_path
-- END
COMMIT
-- END
SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'v') ORDER BY 1, 2
