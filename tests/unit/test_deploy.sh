#!/usr/bin/env bash
# The deployment files stay consistent with the code: deploy/check.py renders the
# kustomizations and checks probes, grace periods, KEDA wiring, configuration keys and
# metric names against the sources (with kubectl and promtool when they are installed).
# Then every rendered kustomization (and the example Secret and the PodMonitor) is
# validated against the Kubernetes API schemas, offline, by deploy/validate-manifests.py
# with the PyPI package kubernetes-validate (it bundles the schemas), installed once in
# the project's test venv under ${XDG_CACHE_HOME:-~/.cache}/notify-delivery.
set -uo pipefail
src=${NOTIFY_SOURCE_DIR:?}
cd "$src" || exit 1
passed=0
failed=0
result() { if [ "$1" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }

/usr/bin/python3 deploy/check.py
result $?

# kubernetes-validate, pinned: its schema set (Kubernetes 1.25 to 1.37) holds the version
# validate-manifests.py validates against. Installed under a lock: tests run in parallel
# and share the venv.
KUBERNETES_VALIDATE=1.37.0
venv=${XDG_CACHE_HOME:-$HOME/.cache}/notify-delivery/venv
py=$venv/bin/python
have_validator() {
    "$py" -c 'import sys, kubernetes_validate.version as v; sys.exit(v.__version__ != sys.argv[1])' \
        "$KUBERNETES_VALIDATE" 2>/dev/null
}
mkdir -p "$(dirname "$venv")"
install_validator() (
    flock 9
    if ! have_validator; then
        echo "installing kubernetes-validate==$KUBERNETES_VALIDATE in $venv" >&2
        { [ -x "$py" ] || /usr/bin/python3 -m venv "$venv"; } &&
            "$py" -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE" >&2 &&
            have_validator
    fi
) 9>"$venv.lock"
if ! install_validator; then
    echo "FAIL could not install kubernetes-validate==$KUBERNETES_VALIDATE in $venv" >&2
    result 1
else
    validate() { "$py" deploy/validate-manifests.py "$@"; }
    # Each kustomization as check.py renders it (kubectl kustomize when installed, else its
    # own renderer).
    for kdir in deploy/k8s/base deploy/k8s/overlays/*/; do
        kdir=${kdir%/}
        /usr/bin/python3 deploy/check.py --render "$kdir" | validate --label "$kdir (rendered)" -
        result $?
    done
    # Files outside the kustomizations; --self-test proves bad objects are still rejected.
    validate --self-test deploy/k8s/base/secret.example.yaml deploy/monitoring/podmonitor.yaml
    result $?
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
