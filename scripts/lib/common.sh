# shellcheck shell=bash
# Shared helpers for scripts/stack and scripts/install-deps. Sourced, not run.
# Progress and errors go to stderr; stdout is kept for machine-readable output.

STACK_PROG=${STACK_PROG:-$(basename -- "$0")}

log() { printf '%s: %s\n' "$STACK_PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$STACK_PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$STACK_PROG" "$*" >&2
	exit 1
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "'$c' not found on PATH (run scripts/install-deps)"
	done
}

# Print the last lines of a log file to stderr, framed, for failure reports.
show_log_tail() {
	local file=$1 lines=${2:-40}
	if [[ -s $file ]]; then
		printf '%s: ---- last %s lines of %s ----\n' "$STACK_PROG" "$lines" "$file" >&2
		tail -n "$lines" -- "$file" >&2 || true
		printf '%s: ---- end of %s ----\n' "$STACK_PROG" "$file" >&2
	else
		printf '%s: (%s is empty or missing)\n' "$STACK_PROG" "$file" >&2
	fi
}

# random_hex N: N random bytes as 2N lowercase hex characters.
random_hex() {
	od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

# pid_alive PID: true if PID exists and is not a zombie.
pid_alive() {
	local pid=$1 state
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/stat ]] || return 1
	# Field 3 of /proc/PID/stat, after the parenthesised command name.
	state=$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $state && $state != Z && $state != X ]]
}

# pid_cmdline PID: the process's argv joined with spaces (empty if gone).
pid_cmdline() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
}

# pid_matches PID WORD...: PID is alive and its command line contains every WORD.
# Used before any kill so that a recycled pid is never hit.
pid_matches() {
	local pid=$1 cmd w
	shift
	pid_alive "$pid" || return 1
	cmd=$(pid_cmdline "$pid")
	[[ -n $cmd ]] || return 1
	for w in "$@"; do
		[[ $cmd == *"$w"* ]] || return 1
	done
}

# wait_pid_gone PID SECONDS: poll until PID is gone; false on timeout.
wait_pid_gone() {
	local pid=$1 deadline=$((SECONDS + $2))
	while pid_alive "$pid"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# A python3 that is Debian's when present (the one on PATH may be another interpreter).
python3_bin() {
	if [[ -x /usr/bin/python3 ]]; then
		printf '/usr/bin/python3\n'
	elif command -v python3 >/dev/null 2>&1; then
		command -v python3
	else
		return 1
	fi
}
