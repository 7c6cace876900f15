#!/usr/bin/env bash
# notifyctl dlq replay against the real broker: dead-letter copies go back to the topic in
# their x-original-topic header (or the channel's topic), value and key untouched, without
# the pipeline headers, at the bounded rate; a second run replays nothing.
set -uo pipefail
build=${NOTIFY_BUILD_DIR:?}
: "${KAFKA_BOOTSTRAP_SERVERS:?}"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok; else fail "$1"; fi; }

base=test.dlq.$$.$RANDOM
other=$base.other
export TOPIC_EMAIL=$base
kafka=(-b "$KAFKA_BOOTSTRAP_SERVERS")

# Four copies: three whose request first arrived on $other, one without headers.
for i in 1 2 3; do
    printf '{"message_id":"m%d"}\n' "$i" | kcat -P "${kafka[@]}" -t "$base.dlq" -k "key$i" \
        -H x-attempt=5 -H x-original-topic="$other" -H x-original-partition=0 \
        -H x-original-offset="$i" -H x-last-error-code=SMTP_421
done
printf '{"message_id":"m4"}\n' | kcat -P "${kafka[@]}" -t "$base.dlq" -k key4

start=$(date +%s%N)
out=$("$build/notifyctl" dlq replay --channel email --rate 10 --idle-ms 3000 2>&1)
rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "first replay exits 0 ($out)" '[ "$rc" -eq 0 ]'
check "first replay moves 4 ($out)" 'grep -q "replayed 4 dead-letter copies" <<<"$out"'
# Four copies at 10 per second: the last may leave no earlier than 300 ms after the first.
check "the rate is bounded (${elapsed_ms} ms)" '[ "$elapsed_ms" -ge 300 ]'

moved=$(kcat -C "${kafka[@]}" -t "$other" -e -q -f '%k|%h|%s\n' 2>/dev/null | sort)
check "three copies on the original topic: $moved" '[ "$(grep -c . <<<"$moved")" -eq 3 ]'
check "key and value untouched" 'grep -q "^key2|.*|{\"message_id\":\"m2\"}$" <<<"$moved"'
check "pipeline headers left behind" '! grep -q "x-attempt\|x-original\|x-last-error" <<<"$moved"'
check "x-replayed-from names the copy" 'grep -q "x-replayed-from=$base.dlq/" <<<"$moved"'
plain=$(kcat -C "${kafka[@]}" -t "$base" -e -q -f '%k|%s\n' 2>/dev/null)
check "a copy without x-original-topic goes to the channel's topic: $plain" \
    '[ "$plain" = "key4|{\"message_id\":\"m4\"}" ]'

out=$("$build/notifyctl" dlq replay --channel email --idle-ms 2000 2>&1)
check "a second replay moves nothing ($out)" 'grep -q "replayed 0 dead-letter copies" <<<"$out"'
out=$("$build/notifyctl" dlq replay --channel fax 2>&1)
rc=$?
check "an unknown channel is a usage error (exit $rc)" '[ "$rc" -eq 2 ] && grep -q usage <<<"$out"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
