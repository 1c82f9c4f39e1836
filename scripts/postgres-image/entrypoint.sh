#!/bin/bash
# Entrypoint of the locally built cartwheel/postgres:15 image (see build.sh).
# It mimics the official postgres image closely enough for testcontainers-go's
# postgres module:
#   * POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB (defaults postgres/postgres/
#     $POSTGRES_USER, i.e. postgres), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD
#     (default scram-sha-256);
#   * initdb into $PGDATA (default /var/lib/postgresql/data) on first start, then a
#     temporary socket-only server runs /docker-entrypoint-initdb.d/*.{sh,sql,sql.gz}
#     (initdb --no-sync, temporary server with fsync=off: this is an image for tests);
#   * the temporary server and the final server each print
#     "database system is ready to accept connections", so a first start prints it
#     twice (testcontainers waits for occurrence 2); a restart prints it once more;
#   * listen_addresses='*', port from $PGPORT (default 5432) so several containers can
#     share the host network; scram-sha-256 for TCP clients, trust on the Unix socket;
#   * the server runs as the postgres user; accepts `postgres -c fsync=off ...`,
#     `-c fsync=off ...` (flags only) or any other command, which is executed as is;
#   * docker stop (SIGTERM) makes a *fast* shutdown, like the official STOPSIGNAL SIGINT.
set -Eeuo pipefail

# tini (PID 1) forwards signals to this shell, which stays alive as the server's
# parent (no re-exec, so the traps stay): a stop request that comes before the final
# server runs is remembered and honoured, one that comes later is forwarded to it.
# (A SIGTERM that comes before these traps exist simply kills this shell.)
stop_signal=""
server=""
# shellcheck disable=SC2317  # called from the traps below
on_signal() {
	stop_signal="$1"
	if [ -n "$server" ]; then kill "-$1" "$server" 2>/dev/null || :; fi
}
# SIGTERM (docker stop) → SIGINT: postgres' SIGTERM is a "smart" shutdown that waits for
# every client to disconnect, so docker stop with an open pool would hang until docker
# kills it; `docker import` cannot set STOPSIGNAL, so the translation happens here.
trap 'on_signal INT' TERM INT
trap 'on_signal QUIT' QUIT
trap '[ -n "$server" ] && kill -HUP "$server" 2>/dev/null || :' HUP

PG_BIN=/usr/lib/postgresql/15/bin
export PATH="$PG_BIN:$PATH"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGPORT="${PGPORT:-5432}"
export LANG="${LANG:-C.UTF-8}"

log() { echo "entrypoint: $*" >&2; }

# Flags only (e.g. `-c fsync=off`): run them with postgres, like the official image.
if [ "$#" -eq 0 ] || [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

# Anything but the server itself is executed unchanged (e.g. `bash`, `psql ...`).
if [ "$1" != 'postgres' ]; then
	exec "$@"
fi

# Run a command as the postgres user (or as whoever we are, if not root).
if [ "$(id -u)" = '0' ]; then
	as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 00700 "$PGDATA" || :
	chmod 03775 /var/run/postgresql || :
	# Only chown what is not ours yet, so a large existing data directory restarts fast.
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' + 2>/dev/null || :
	chown postgres:postgres /var/run/postgresql
else
	as_pg() { "$@"; }
	mkdir -p "$PGDATA" 2>/dev/null || :
	chmod 00700 "$PGDATA" 2>/dev/null || :
fi

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
export POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB

psql_init() {
	as_pg psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER" --host /var/run/postgresql "$@"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	log "initialising database in $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB, port $PGPORT)"
	pwfile="$(as_pg mktemp)"
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is split on purpose, like the official image
	as_pg initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host="$AUTH_METHOD" --no-sync ${POSTGRES_INITDB_ARGS:-} >/dev/null
	rm -f "$pwfile"

	{
		echo
		echo "# added by the cartwheel entrypoint"
		echo "listen_addresses = '*'"
		echo "unix_socket_directories = '/var/run/postgresql'"
		echo "password_encryption = 'scram-sha-256'"
		echo "jit = off  # the image ships without the LLVM JIT provider"
	} >>"$PGDATA/postgresql.conf"
	{
		echo
		echo "# added by the cartwheel entrypoint: password auth for every TCP client"
		echo "host all all all $AUTH_METHOD"
	} >>"$PGDATA/pg_hba.conf"

	# Temporary server: socket only, so no client can connect before init is complete.
	# Its log goes to our stdout and prints the first "ready to accept connections".
	# This is a test image: initdb --no-sync and fsync=off here save seconds on a busy
	# disk; the data survives container stop/start (the page cache is the host's).
	as_pg pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -c fsync=off -p $PGPORT" start

	if [ "$POSTGRES_DB" != 'postgres' ]; then
		psql_init --dbname postgres --set db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi

	if [ -d /docker-entrypoint-initdb.d ]; then
		for f in /docker-entrypoint-initdb.d/*; do
			[ -e "$f" ] || continue
			case "$f" in
				# Unlike the official image, non-executable *.sh files run in a new bash
				# (as postgres) rather than being sourced into this (root) shell.
				*.sh)     log "running $f"; if [ -x "$f" ]; then as_pg "$f"; else as_pg bash "$f"; fi ;;
				*.sql)    log "running $f"; psql_init --dbname "$POSTGRES_DB" -f "$f" ;;
				*.sql.gz) log "running $f"; gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB" ;;
				*)        log "ignoring $f" ;;
			esac
		done
	fi

	as_pg pg_ctl -D "$PGDATA" -m fast -w stop
	log "PostgreSQL init process complete; ready for start up."
else
	log "PostgreSQL database directory $PGDATA already contains a database; skipping initialisation"
fi

if [ -n "$stop_signal" ]; then
	log "stop requested during start-up; not starting the server"
	exit 0
fi

# The server runs as our direct child (not via the as_pg function, which would fork a
# subshell and give $! to it); the traps above forward signals to the server.
if [ "$(id -u)" = '0' ]; then
	setpriv --reuid=postgres --regid=postgres --init-groups -- "$@" &
else
	"$@" &
fi
server=$!
if [ -n "$stop_signal" ]; then kill "-$stop_signal" "$server" 2>/dev/null || :; fi
set +e
while :; do
	wait "$server"
	status=$?
	# wait returns >128 when a trapped signal interrupted it; the server may still run.
	kill -0 "$server" 2>/dev/null || break
	if [ -n "$stop_signal" ]; then
		# A signal that reached the server before it installed its handlers was ignored
		# (background jobs start with SIGINT ignored): repeat it until the server is gone.
		n=0
		while kill -0 "$server" 2>/dev/null; do
			sleep 0.1
			n=$((n + 1))
			if [ $((n % 10)) = 0 ]; then kill "-$stop_signal" "$server" 2>/dev/null || :; fi
		done
		wait "$server"
		status=$?
		break
	fi
done
exit "$status"
