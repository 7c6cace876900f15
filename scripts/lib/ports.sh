# shellcheck shell=bash
# Free loopback ports for the local stack, reserved so that two stacks started side by
# side (a test run beside a demo) never get the same port.
#
# A port is taken at random in a high range below the kernel's ephemeral range (so an
# outgoing connection cannot be holding it later), checked free by binding 127.0.0.1:PORT,
# and reserved in a machine-wide registry until `stack down` releases it. The registry is
# one file per port, holding the owning state dir; an entry whose state dir is gone is
# stale and reused. All of it happens under a flock, so parallel runs are serialised.

PORT_REGISTRY=${NOTIFY_PORT_REGISTRY:-/tmp/notify-stack-ports}

_port_range() {
	local lo=20000 hi=32767 eph_lo _eph_hi
	if read -r eph_lo _eph_hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null; then
		if ((eph_lo - 1 < hi)); then hi=$((eph_lo - 1)); fi
		# Ephemeral range starts unusually low: use the top of the port space instead.
		if ((hi - lo < 2000)); then lo=61000 hi=64999; fi
	fi
	printf '%s %s\n' "$lo" "$hi"
}

# _ports_bindable PORT...: all the ports can be bound on 127.0.0.1 right now.
_ports_bindable() {
	local py
	py=$(python3_bin) || die "python3 is needed to probe free ports (run scripts/install-deps)"
	"$py" - "$@" <<'PY'
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
PY
}

# _port_reserved PORT: a live reservation exists (stale ones are removed).
_port_reserved() {
	local f=$PORT_REGISTRY/$1 owner
	[[ -e $f ]] || return 1
	owner=$(head -n1 -- "$f" 2>/dev/null || true)
	if [[ -n $owner && -e $owner/.notify-stack ]]; then
		return 0
	fi
	rm -f -- "$f"
	return 1
}

_registry_init() {
	if [[ ! -d $PORT_REGISTRY ]]; then
		mkdir -p -- "$PORT_REGISTRY" || die "cannot create port registry $PORT_REGISTRY"
		chmod 1777 -- "$PORT_REGISTRY" 2>/dev/null || true
	fi
	[[ -w $PORT_REGISTRY ]] || die "port registry $PORT_REGISTRY is not writable"
	if [[ ! -e $PORT_REGISTRY/.lock ]]; then
		: >>"$PORT_REGISTRY/.lock"
		chmod 0666 -- "$PORT_REGISTRY/.lock" 2>/dev/null || true
	fi
}

# reserve_ports OWNER_DIR N: print N distinct free ports, one a line, reserved for OWNER_DIR.
reserve_ports() {
	local owner=$1 n=$2 lo hi tries=0 port got=()
	read -r lo hi < <(_port_range)
	_registry_init
	{
		flock -w 60 9 || die "timed out waiting for the port registry lock ($PORT_REGISTRY/.lock)"
		while ((${#got[@]} < n)); do
			((tries++ < 500)) || die "no free loopback port found in $lo-$hi after 500 tries"
			port=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
			[[ " ${got[*]} " == *" $port "* ]] && continue
			_port_reserved "$port" && continue
			_ports_bindable "$port" || continue
			printf '%s\n' "$owner" >"$PORT_REGISTRY/$port" || die "cannot write $PORT_REGISTRY/$port"
			got+=("$port")
		done
	} 9>>"$PORT_REGISTRY/.lock"
	printf '%s\n' "${got[@]}"
}

# release_ports OWNER_DIR: drop every reservation held by OWNER_DIR.
release_ports() {
	local owner=$1 f
	[[ -d $PORT_REGISTRY ]] || return 0
	for f in "$PORT_REGISTRY"/[0-9]*; do
		[[ -f $f ]] || continue
		if [[ $(head -n1 -- "$f" 2>/dev/null || true) == "$owner" ]]; then
			rm -f -- "$f"
		fi
	done
}
