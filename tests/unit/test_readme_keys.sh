#!/usr/bin/env bash
# The README's configuration table names every key of common/config_keys.h, and no key
# that the table does not have.
set -euo pipefail
src=${NOTIFY_SOURCE_DIR:?}
keys=$(grep -oE '^ *X\([A-Z0-9_]+,' "$src/common/config_keys.h" | sed -E 's/^ *X\(([A-Z0-9_]+),/\1/' | sort)
documented=$(grep -oE '^\| `[A-Z0-9_]+` \|' "$src/README.md" | sed -E 's/^\| `([A-Z0-9_]+)` \|/\1/' | sort)
passed=0 failed=0
for k in $keys; do
    if grep -qx "$k" <<<"$documented"; then passed=$((passed + 1)); else
        echo "README.md does not document $k"; failed=$((failed + 1)); fi
done
for k in $documented; do
    if ! grep -qx "$k" <<<"$keys"; then echo "README.md documents $k, which is not a key"; failed=$((failed + 1)); fi
done
[ -n "$keys" ] || { echo "no keys found in config_keys.h"; failed=$((failed + 1)); }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
