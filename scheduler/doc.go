// Package scheduler runs the DAGs of package dag (SPEC §5.2): it creates
// their scheduled runs, executes runs and their tasks, and keeps their
// history in the warehouse.
//
// # Scheduling semantics
//
// The run with logical date L covers [L, Next(L)) and is due at Next(L)
// (package dag has the schedules and their DST policy). With catchup, the
// scheduler creates one run per interval that ended since the last
// scheduled run (or since start_date), oldest first; without it, only the
// latest interval that ended. At most max_active_runs runs of a DAG (its
// scheduled and manual ones) run at once; more wait in queued, and catch-up
// runs are created only as earlier ones finish. A paused DAG gets no
// scheduled runs and starts no queued ones; pause is stored in the
// warehouse (table cartwheel_dag_state) and survives restarts, the file's
// paused being only the initial state. Backfill runs (one per interval of
// a range; with reprocess none, failed or all for intervals that already
// have a run, which is then run again under the same run id) execute
// beside the scheduled ones under their own limit (WithBackfillConcurrency).
//
// Tasks run when their depends_on satisfy their trigger rule:
// all_success (the default; an upstream failure makes the task
// upstream_failed, an upstream skip skips it), all_done, one_failed (runs
// as soon as an upstream failed or is upstream_failed; skipped when all
// finished without failing) and none_failed. A failed try is retried
// `retries` times after retry_delay·2^(try-1), capped by max_retry_delay;
// the try waits in up_for_retry. A timeout cancels the try's context, and
// with it its query, and counts as a failed try. A run fails when one of
// its tasks ended failed or upstream_failed; it is then logged at error
// level and posted to the DAG's on_failure webhook as JSON (dag, run_id,
// state, logical_date, failed_tasks). Task SQL, selectors and http urls
// and bodies are templates with the variables logical_date,
// data_interval_start, data_interval_end (UTC, "2006-01-02 15:04:05"), ds
// ("2006-01-02"), run_id and dag.
//
// The scheduler wakes at the next due time with a timer, and a run's
// executor starts a task's dependents as soon as it reports its end over a
// channel: there is no polling on the hot path. The leader reads the
// warehouse once a second for runs queued and DAGs paused by another
// instance.
//
// # States
//
// Runs: queued → running → success | failed. Task tries: queued → running
// → success | failed | up_for_retry (then a new try); a task that never
// runs ends upstream_failed or skipped.
//
// # History tables
//
//	dag_runs(dag, run_id, run_type, logical_date, data_interval_start,
//	         data_interval_end, state, queued_at, started_at, ended_at)
//	task_instances(dag, run_id, task_id, try_number, state, started_at,
//	         ended_at, duration, error, log)
//
// run_type is scheduled, manual or backfill; run ids are Airflow's
// TYPE__LOGICAL-DATE. task_instances has a row per try; a running try's
// log is written every second, so it can be read while it runs (the last
// 60,000 bytes are kept). Times are UTC. The tables are created with
// CREATE TABLE IF NOT EXISTS in SQL that DuckDB, PostgreSQL and Redshift
// accept, on PostgreSQL behind an advisory lock so that instances starting
// at once do not collide.
//
// # Lease
//
// One instance per warehouse schedules and executes: the holder of the row
// of cartwheel_scheduler_lease(name, holder, expires_at), taken when free
// or expired and renewed every third of its duration (WithLease, default
// 30 s) in a transaction (on PostgreSQL behind an advisory lock). A leader
// that cannot renew it stops its runs; a killed leader's lease is taken
// over once it expires (a stopped one lets it go). The next leader resumes
// the runs left running, as Airflow adopts orphaned tasks: an interrupted
// try is closed as failed with the error "interrupted: …" and its log, the
// task runs again with a new try, and tasks that had finished in the run
// keep their tries. Another instance still answers the read methods, and
// Trigger, SetPaused and Backfill write to the warehouse for the leader to
// pick up.
package scheduler
