// Package dag reads the DAG files of a project's dags/ folder (SPEC §5.2)
// and computes their due times.
//
// # File format
//
// One YAML file per DAG, dags/NAME.yml (or .yaml):
//
//	name: analytics              # default: the file's base name
//	schedule: "*/5 * * * *"      # see Schedules; empty or absent: manual only
//	timezone: Europe/Berlin      # IANA name, default UTC
//	start_date: 2026-11-01T00:00:00Z   # or 2026-11-01 (midnight in timezone)
//	catchup: false               # true: one run per missed interval after downtime
//	max_active_runs: 1           # default 16, as Airflow
//	paused: false                # the initial state; pause/unpause is stored in the warehouse
//	on_failure: {url: "http://127.0.0.1:9000/hook"}   # optional JSON webhook on a failed run
//	tasks:
//	  - id: staging
//	    models: build            # run | test | build
//	    select: "path:models/staging"
//	  - id: check
//	    sql_check: "SELECT ..."  # fails when it returns any row
//	    depends_on: [staging]
//	    trigger_rule: all_success   # all_done, one_failed, none_failed
//	    retries: 1
//	    retry_delay: 30s         # default 5m
//	    max_retry_delay: 10m     # default 24h
//	    timeout: 5m              # default none
//	  - id: load
//	    sql: "INSERT INTO ..."   # a statement
//	  - id: notify
//	    http: {url: "http://127.0.0.1:9000/x", method: POST, headers: {X-A: b}, body: "{}"}
//	  - id: marts_built
//	    wait_for: {dag: analytics, task: marts, poke_interval: 30s}   # or wait_for: analytics
//	    timeout: 1h              # a wait_for's default: 24h
//
// A task has exactly one of models, sql_check, sql, http and wait_for.
// Unknown keys, duplicate task ids, unknown depends_on, cycles, bad cron
// expressions, durations, time zones, trigger rules and models commands are
// errors (*Error) naming the file, the line and the field; Load also
// rejects a wait_for naming a DAG or task the folder does not have.
//
// # Waiting for another DAG
//
// A wait_for task is Airflow's ExternalTaskSensor: it pokes the run history
// until the other DAG (or one of its tasks) has succeeded in a run whose
// data interval ends no earlier than this run's, so that an hourly check
// runs on marts that a five-minute DAG has built past the hour. Unlike the
// sensor's default, logical dates need not match: the two schedules may
// differ. A run whose interval ends after it started (a manual run) waits
// for data up to its start instead.
//
// # Schedules
//
// A 5-field cron expression (minute hour day-of-month month day-of-week,
// evaluated on the wall clock of the DAG's time zone), one of @hourly,
// @daily (@midnight), @weekly, @monthly, @yearly (@annually), or
// `@every D` with a Go duration (e.g. @every 5m), whose due times are
// start_date + k·D in absolute time (start_date absent: 2000-01-01
// midnight in the time zone). Due times before start_date are ignored.
//
// As in Airflow, the run with logical date L covers the data interval
// [L, Next(L)) and becomes due at its end, Next(L).
//
// # DST policy
//
// Cron expressions are matched against wall times; DST changes are handled
// so that no run is skipped and none doubled:
//
//   - Spring forward: a wall time that does not exist (02:30 on the day
//     Europe/Berlin jumps from 02:00 to 03:00) is due at the first instant
//     after the gap (03:00); several such wall times (*/20 → 02:00, 02:20,
//     02:40) make one run there.
//   - Fall back: a wall time that occurs twice (01:30 on the day
//     America/New_York goes from 02:00 EDT back to 01:00 EST) is due once,
//     at its first occurrence (01:30 EDT). An hourly or finer schedule has
//     no run in the repeated hour; the interval of the run before it simply
//     spans it.
//   - @every is absolute: its due times keep their spacing across a change,
//     and their wall times move by the change.
package dag
