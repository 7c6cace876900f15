#!/usr/bin/env bash
# The deployment files stay consistent with the code: deploy/check.py renders the
# kustomizations and checks probes, grace periods, KEDA wiring, configuration keys and
# metric names against the sources (with kubectl and promtool when they are installed).
set -uo pipefail
src=${NOTIFY_SOURCE_DIR:?}
if /usr/bin/python3 "$src/deploy/check.py"; then
    echo "1 passed, 0 failed"
else
    echo "0 passed, 1 failed"
    exit 1
fi
