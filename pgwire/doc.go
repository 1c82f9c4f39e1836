// Package pgwire serves the live warehouse to PostgreSQL clients — psql,
// Grafana's PostgreSQL data source, JDBC, psycopg2, pgx — read-only, under
// the same guard as the HTTP API (warehouse.OpenReadOnly).
//
// # Protocol library
//
// Messages are framed by pgx's pgproto3 (Backend), which is maintained
// with pgx, already a dependency, and codes every message of protocol 3.0
// and 3.2. github.com/jeroenrinzema/psql-wire v0.20.0 was tried first: it
// has no NoticeResponse (a result cut at query.max_rows must say so), no
// COPY … TO STDOUT (psql's \copy), and it serves each connection on
// context.Background, so shutdown could not reach a running query without
// writing around the library. The session logic here — startup, TLS,
// password, simple and extended query protocol, portals, cancel — is the
// part of a server pgproto3 leaves to its user.
//
// # What clients get
//
//   - Every statement runs through warehouse.DescribeReadOnly/OpenReadOnly:
//     one read-only statement, no file or network access, the time and row
//     limits (a cut result ends with a WARNING). Errors carry PostgreSQL's
//     SQLSTATE (warehouse.SQLState): 25006 writes, 42501 file access,
//     42601 syntax, 42P01 unknown table, 42704 unknown setting, 57014
//     time limit and cancel.
//   - SET, BEGIN, COMMIT and friends are accepted and change nothing; SHOW,
//     version() and current_setting answer as PostgreSQL 15; psql's and
//     Grafana's catalog queries are rewritten for DuckDB's pg_catalog
//     emulation in catalog.go, the one place that knows client queries.
//   - SQL cursors (DECLARE … CURSOR [WITH HOLD] FOR, FETCH and MOVE
//     forward, CLOSE), which psycopg2's named cursors and psql's
//     FETCH_COUNT read large results through: the query starts at DECLARE,
//     under the same guard and limits, and a cursor without HOLD ends with
//     its transaction. They scan forward only (55000 otherwise).
//   - Off loopback the password (the appliance's token) is required; TLS
//     is offered when a certificate is configured.
package pgwire
