#!/usr/bin/env bash
# --check-config against the real stack: passes with the stack's settings, and fails with
# exit 1 and the reason when PostgreSQL, Kafka or the key ring is wrong, never printing a
# password.
set -uo pipefail
build=${NOTIFY_BUILD_DIR:?}
: "${KAFKA_BOOTSTRAP_SERVERS:?}" "${DATABASE_URL:?}"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

keys=$("$build/notifyctl" keygen --id k1) || { echo "keygen failed"; exit 1; }
export SECRET_KEYS=$keys SECRET_ACTIVE_KEY=k1
pw=$(sed -E 's|^[a-z]+://[^:]+:([^@]+)@.*|\1|' <<<"$DATABASE_URL")

# check <description> <expected exit> <regex> [env assignments...]
check() {
    local what=$1 code=$2 pattern=$3 bin out rc
    shift 3
    for bin in email-worker twilio-worker sns-worker webhook-ingest notifyctl; do
        out=$(env "$@" "$build/$bin" --check-config 2>&1)
        rc=$?
        if [ "$rc" -ne "$code" ]; then
            fail "$bin $what: exit $rc, expected $code: $out"
        elif ! grep -qE -- "$pattern" <<<"$out"; then
            fail "$bin $what: no /$pattern/ in: $out"
        elif [ -n "$pw" ] && grep -qF -- "$pw" <<<"$out"; then
            fail "$bin $what: the database password appears in the output"
        else
            ok
        fi
    done
}

check "with the stack" 0 "check-config: ok"
check "wrong database password" 1 "database: FAILED: .*password authentication failed" \
    DATABASE_URL="${DATABASE_URL/:$pw@/:wrong$pw@}"
check "no broker" 1 "kafka: FAILED: no broker answered" KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1
check "active key not in the ring" 1 "secrets: FAILED" SECRET_ACTIVE_KEY=nope

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
