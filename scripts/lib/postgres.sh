# shellcheck shell=bash
# The local PostgreSQL: a throwaway cluster in DIR/pg, listening on 127.0.0.1 only, with
# its unix socket inside DIR. PostgreSQL refuses to run as root, so when this runs as
# root the cluster belongs to the `postgres` user and initdb/pg_ctl run through runuser.
# Sourced by scripts/stack after common.sh.

PG_MAJOR=${NOTIFY_PG_MAJOR:-15}
PG_USER=postgres

# pg_bindir: the server binaries (initdb, pg_ctl, postgres).
pg_bindir() {
	local d=${NOTIFY_PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}
	[[ -x $d/initdb && -x $d/pg_ctl ]] ||
		die "PostgreSQL $PG_MAJOR server binaries not found in $d (run scripts/install-deps, or set NOTIFY_PG_BINDIR)"
	printf '%s\n' "$d"
}

# as_pg CMD...: run CMD as the cluster's owner (postgres when we are root), from /.
as_pg() {
	if ((EUID == 0)); then
		(cd / && runuser -u "$PG_USER" -- "$@") 7>&-
	else
		(cd / && "$@") 7>&-
	fi
}

# pg_allow_traversal DIR: as root, make DIR and each parent searchable by postgres
# (mktemp dirs are 0700; a state dir inside a 0700 home needs o+x on that home), saying
# what changed.
pg_allow_traversal() {
	local target=$1 p="" part parts
	((EUID == 0)) || return 0
	id -u "$PG_USER" >/dev/null 2>&1 || die "user '$PG_USER' does not exist (install the postgresql package: scripts/install-deps)"
	IFS=/ read -r -a parts <<<"${target#/}"
	for part in "${parts[@]}"; do
		p=$p/$part
		if ! runuser -u "$PG_USER" -- test -x "$p" 2>/dev/null; then
			chmod o+x -- "$p" || die "cannot make $p searchable by $PG_USER"
			log "PostgreSQL: made $p searchable (o+x) so that $PG_USER can reach the cluster"
		fi
	done
}

# pg_setup DIR PORT: initdb and configure DIR/pg/data for 127.0.0.1:PORT.
pg_setup() {
	local dir=$1 port=$2 bindir sock
	bindir=$(pg_bindir)
	sock=$dir/pg/sock
	[[ $dir != *"'"* ]] || die "the state dir path must not contain a single quote: $dir"
	# sun_path is 108 bytes: the socket file name must fit.
	((${#sock} + 16 < 107)) || die "state dir path too long for a unix socket ($sock): use a shorter --dir"
	mkdir -p -- "$dir/pg/sock"
	if ((EUID == 0)); then
		chown -R "$PG_USER:$PG_USER" -- "$dir/pg" || die "cannot chown $dir/pg to $PG_USER"
	fi
	chmod 0700 -- "$dir/pg"
	pg_allow_traversal "$dir/pg"
	log "PostgreSQL: initdb in $dir/pg/data"
	if ! as_pg "$bindir/initdb" -D "$dir/pg/data" -U postgres -E UTF8 --locale=C \
		--auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions \
		>"$dir/pg-initdb.log" 2>&1; then
		show_log_tail "$dir/pg-initdb.log"
		die "PostgreSQL: initdb failed (see $dir/pg-initdb.log)"
	fi
	cat >>"$dir/pg/data/postgresql.conf" <<CONF

# Written by scripts/stack: a throwaway cluster on loopback; durability traded for speed.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
CONF
}

# pg_start DIR PORT: start the cluster and wait for it; pid in DIR/postgres.pid.
pg_start() {
	local dir=$1 port=$2 bindir pid
	bindir=$(pg_bindir)
	log "PostgreSQL: starting on 127.0.0.1:$port (log $dir/pg/postgres.log)"
	if ! as_pg "$bindir/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/postgres.log" -w -t 60 -s start >&2; then
		show_log_tail "$dir/pg/postgres.log"
		die "PostgreSQL: pg_ctl start failed (see $dir/pg/postgres.log)"
	fi
	pid=$(head -n1 -- "$dir/pg/data/postmaster.pid" 2>/dev/null || true)
	[[ $pid =~ ^[0-9]+$ ]] || die "PostgreSQL: started but $dir/pg/data/postmaster.pid has no pid"
	printf '%s\n' "$pid" >"$dir/postgres.pid"
	log "PostgreSQL: ready (pid $pid)"
}

# pg_create_db DIR PORT PASSWORD: the login role `notify` (password auth over TCP, may
# create databases for tests) owning the database `notify`.
pg_create_db() {
	local dir=$1 port=$2 pw=$3 bindir psql_su
	bindir=$(pg_bindir)
	[[ $pw =~ ^[A-Za-z0-9]+$ ]] || die "internal: unexpected characters in the generated password"
	psql_su=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/pg/sock" -p "$port" -U postgres -d postgres)
	as_pg "${psql_su[@]}" -c "CREATE ROLE notify LOGIN CREATEDB PASSWORD '$pw'" >&2 ||
		die "PostgreSQL: could not create the role notify"
	as_pg "${psql_su[@]}" -c "CREATE DATABASE notify OWNER notify" >&2 ||
		die "PostgreSQL: could not create the database notify"
	# Check the URL the stack hands out, password and all, over TCP.
	if ! "$bindir/psql" -X -q -At -c 'SELECT 1' \
		"postgresql://notify:$pw@127.0.0.1:$port/notify" >/dev/null 2>"$dir/pg-check.log"; then
		show_log_tail "$dir/pg-check.log"
		die "PostgreSQL: cannot connect as notify over 127.0.0.1:$port"
	fi
	log "PostgreSQL: database notify and role notify created"
}

# pg_stop DIR: stop the cluster in DIR/pg/data if it is still running and ours.
pg_stop() {
	local dir=$1 data=$1/pg/data pid="" bindir=""
	if [[ -f $data/postmaster.pid ]]; then
		pid=$(head -n1 -- "$data/postmaster.pid" 2>/dev/null || true)
	fi
	if [[ -z $pid && -f $dir/postgres.pid ]]; then
		pid=$(cat -- "$dir/postgres.pid" 2>/dev/null || true)
	fi
	if [[ -z $pid ]]; then
		rm -f -- "$dir/postgres.pid"
		return 0
	fi
	if ! { [[ $pid =~ ^[0-9]+$ ]] && pid_matches "$pid" postgres "$data"; }; then
		log "PostgreSQL: pid $pid is not running (or is not this stack's server); nothing to stop"
		rm -f -- "$dir/postgres.pid"
		return 0
	fi
	log "PostgreSQL: stopping pid $pid (pg_ctl stop -m fast)"
	bindir=$(pg_bindir 2>/dev/null || true)
	if [[ -n $bindir ]] && as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 -s stop >&2; then
		wait_pid_gone "$pid" 10 || true
	fi
	if pid_matches "$pid" postgres "$data"; then
		warn "PostgreSQL: pg_ctl did not stop pid $pid; signalling it"
		kill -INT "$pid" 2>/dev/null || true # fast shutdown
		if ! wait_pid_gone "$pid" 15; then
			kill -KILL "$pid" 2>/dev/null || true
			wait_pid_gone "$pid" 10 || die "PostgreSQL: pid $pid survived SIGKILL"
		fi
	fi
	rm -f -- "$dir/postgres.pid"
	log "PostgreSQL: stopped"
}
