#!/usr/bin/env bash
# A second stack started beside the one the tests run on (as a demo runs beside a test
# run): other ports, both answer, and `down` stops the second one only.
set -uo pipefail
src=${NOTIFY_SOURCE_DIR:?}
: "${KAFKA_BOOTSTRAP_SERVERS:?}" "${DATABASE_URL:?}"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok; else fail "$1"; fi; }

first_kafka=$KAFKA_BOOTSTRAP_SERVERS first_db=$DATABASE_URL
dir=$(mktemp -d -t notify-second-stack.XXXXXX)
trap 'NOTIFY_SKIP_INSTALL=1 "$src/scripts/stack" down --dir "$dir" >/dev/null 2>&1' EXIT

exports=$(NOTIFY_SKIP_INSTALL=1 NOTIFYCTL= "$src/scripts/stack" up --dir "$dir" 2>"$dir.log")
rc=$?
check "second stack starts (see $dir.log)" '[ "$rc" -eq 0 ]'
second_kafka=$(sed -n 's/^export KAFKA_BOOTSTRAP_SERVERS=//p' <<<"$exports")
second_db=$(sed -n 's/^export DATABASE_URL=//p' <<<"$exports")
check "it prints its exports" '[ -n "$second_kafka" ] && [ -n "$second_db" ]'
check "other Kafka port ($second_kafka)" '[ "$second_kafka" != "$first_kafka" ]'
check "other PostgreSQL port" '[ "${second_db##*@}" != "${first_db##*@}" ]'
check "second broker on loopback" '[[ "$second_kafka" == 127.0.0.1:* ]]'

topic=side.by.side.$$
for b in "$first_kafka" "$second_kafka"; do
    echo "hello $b" | kcat -P -b "$b" -t "$topic" 2>/dev/null
    got=$(kcat -C -b "$b" -t "$topic" -e -q -c 1 2>/dev/null)
    check "broker $b answers" '[ "$got" = "hello $b" ]'
done
check "second database answers" '[ "$(psql "$second_db" -tAc "SELECT 1" 2>/dev/null)" = 1 ]'

NOTIFY_SKIP_INSTALL=1 "$src/scripts/stack" down --dir "$dir" >/dev/null 2>&1
rc=$?
check "second stack stops (exit $rc)" '[ "$rc" -eq 0 ] && [ ! -e "$dir" ]'
check "second broker is gone" '! kcat -L -b "$second_kafka" -m 3 >/dev/null 2>&1'
check "first broker still answers" 'kcat -L -b "$first_kafka" -m 10 >/dev/null 2>&1'
check "first database still answers" '[ "$(psql "$first_db" -tAc "SELECT 1" 2>/dev/null)" = 1 ]'
rm -f "$dir.log"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
