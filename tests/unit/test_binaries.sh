#!/usr/bin/env bash
# Every binary answers --help, --version and refuses bad configuration naming the key,
# without any service running.
set -uo pipefail
build=${NOTIFY_BUILD_DIR:?}
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# expect <description> <expected exit code> <regex the combined output must match> -- cmd...
expect() {
    local what=$1 code=$2 pattern=$3 out rc
    shift 4
    out=$(env -i PATH="$PATH" "$@" 2>&1)
    rc=$?
    if [ "$rc" -ne "$code" ]; then
        fail "$what: exit $rc, expected $code; output: $out"
    elif ! grep -qE -- "$pattern" <<<"$out"; then
        fail "$what: output does not match /$pattern/: $out"
    else
        ok
    fi
}

for bin in email-worker twilio-worker sns-worker webhook-ingest notifyctl; do
    exe=$build/$bin
    [ -x "$exe" ] || { fail "$bin is not built at $exe"; continue; }
    expect "$bin --help" 0 "KAFKA_BOOTSTRAP_SERVERS \(string" -- "$exe" --help
    expect "$bin --help lists LOG_LEVEL" 0 "LOG_LEVEL \(debug\|info\|warn\|error, default info\)" -- "$exe" --help
    expect "$bin --version" 0 "^$bin [0-9]+\.[0-9]+\.[0-9]+$" -- "$exe" --version
    expect "$bin unknown key" 2 "configuration error: LOG_LEVL: unknown configuration key" -- "$exe" --LOG_LEVL=debug
    expect "$bin bad value" 2 "configuration error: LOG_LEVEL: must be one of debug\|info\|warn\|error" -- \
        env LOG_LEVEL=loud "$exe"
    expect "$bin bad kafka property" 2 "KAFKA_NO_SUCH_THING: unknown configuration key" -- \
        env KAFKA_NO_SUCH_THING=1 "$exe"
    expect "$bin out of range" 2 "DB_CONNECT_TIMEOUT_MS: 5 is out of range \[100, 600000\]" -- \
        "$exe" --db-connect-timeout-ms=5
    expect "$bin unknown option" 2 "unknown option '--frobnicate'" -- "$exe" --frobnicate
done

# webhook-ingest runs: without its services it stops at start-up, saying why.
expect "webhook-ingest run without services" 1 "start-up failed.*(SECRET_KEYS|DATABASE_URL|database)" -- \
    "$build/webhook-ingest"
expect "webhook-ingest --help lists WEBHOOK_BODY_LIMIT" 0 "WEBHOOK_BODY_LIMIT \(int" -- \
    "$build/webhook-ingest" --help
# email-worker runs: without its services it stops at start-up, saying why.
expect "email-worker run without services" 1 "start-up failed.*(SECRET_KEYS|DATABASE_URL|database)" -- \
    "$build/email-worker"
expect "email-worker --help lists SMTP_TIMEOUT_MS" 0 "SMTP_TIMEOUT_MS \(int" -- "$build/email-worker" --help
# twilio-worker runs: without its services it stops at start-up, saying why.
expect "twilio-worker run without services" 1 "start-up failed.*(SECRET_KEYS|DATABASE_URL|database)" -- \
    "$build/twilio-worker"
# sns-worker runs: without its services it stops at start-up, saying why.
expect "sns-worker run without services" 1 "start-up failed.*(SECRET_KEYS|DATABASE_URL|database)" -- \
    "$build/sns-worker"
expect "notifyctl without a command" 2 "a command is required" -- "$build/notifyctl"
expect "notifyctl unknown command" 2 "unknown command 'frob'" -- "$build/notifyctl" frob
expect "notifyctl help lists commands" 0 "encrypt --org ORG --column TABLE.COLUMN" -- "$build/notifyctl" --help
# Only webhook-ingest and the Twilio worker read PUBLIC_BASE_URL; the email worker's help omits it.
expect "webhook-ingest help has PUBLIC_BASE_URL" 0 "PUBLIC_BASE_URL \(URL" -- "$build/webhook-ingest" --help
if env -i "$build/email-worker" --help | grep -q PUBLIC_BASE_URL; then
    fail "email-worker --help lists PUBLIC_BASE_URL"
else ok; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
