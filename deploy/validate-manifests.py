#!/usr/bin/env python3
"""Schema validation of Kubernetes manifests, offline.

    PYTHON deploy/validate-manifests.py [-k 1.32] [--label NAME] FILE|- ...
    PYTHON deploy/validate-manifests.py --self-test

PYTHON is an interpreter with the PyPI package kubernetes-validate (pinned in
tests/unit/test_deploy.sh, which installs it in the project's test venv). The package
bundles the JSON schemas of the Kubernetes API, so nothing is fetched at run time.

- Built-in kinds are validated against the schemas of Kubernetes KUBERNETES_VERSION, in
  strict mode: wrong types, missing required fields and unknown fields (a misspelt key)
  are errors.
- Custom resources have no bundled schema. Those this project uses are checked
  structurally against the fields their CRDs document: KEDA ScaledObject, and the
  Prometheus Operator's PodMonitor and PrometheusRule. Parts that are Kubernetes types
  (metadata, label selectors, the HPA behavior) are validated against the bundled schemas.
- Any other kind without a schema is an error: nothing passes unchecked.

`-` reads stdin (e.g. `python3 deploy/check.py --render deploy/k8s/base | PYTHON ... -`);
--label names it in the output. --self-test checks that known-bad objects are rejected.
Exit 0 when every object is valid.
"""

import argparse
import copy
import re
import sys

import yaml

try:
    import jsonschema
    import referencing
    from kubernetes_validate import utils as kv
    from kubernetes_validate.version import __version__ as KV_VERSION
except ImportError:  # pragma: no cover
    sys.exit("validate-manifests.py: needs the PyPI package kubernetes-validate")

# The Kubernetes version whose API schemas the manifests are validated against.
KUBERNETES_VERSION = "1.32"
DEFS = "https://kubernetes.io/api/_definitions.json#/$defs/"


class Validator:
    def __init__(self, version):
        self.version = version
        self._registry = None

    # ---- bundled schemas -------------------------------------------------------------------

    def builtin(self, obj):
        """Errors of a built-in kind against the bundled strict schema; None when there is
        no schema for it."""
        try:
            kv.validate(obj, self.version, strict=True)
            return []
        except kv.SchemaNotFoundError:
            return None
        except kv.ValidationError as e:
            return [f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}"]

    def definition(self, name, value, where):
        """Errors of value against a definition of the bundled schemas (e.g.
        io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta)."""
        if self._registry is None:
            version = [v for v in kv.all_versions() if kv.major_minor(v) == self.version]
            if not version:
                raise SystemExit(f"kubernetes-validate {KV_VERSION} has no schemas for Kubernetes {self.version}")
            defs = kv.schema_contents(f"kubernetes-json-schema/v{version[-1]}-local-strict/_definitions.json",
                                      self.version)
            self._registry = referencing.Resource.from_contents(defs) @ referencing.Registry()
        validator = jsonschema.Draft202012Validator({"$ref": DEFS + name}, registry=self._registry)
        return [f"{where}{'.' if e.path else ''}{'.'.join(map(str, e.path))}: {e.message}"
                for e in validator.iter_errors(value)]

    # ---- custom resources ------------------------------------------------------------------

    def scaled_object(self, o):
        """KEDA 2.x ScaledObject (keda.sh/v1alpha1), the fields of its CRD."""
        errs = []
        spec = o.get("spec")
        if not isinstance(spec, dict):
            return ["spec: missing or not a mapping"]
        allowed = {"scaleTargetRef", "pollingInterval", "initialCooldownPeriod", "cooldownPeriod",
                   "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "advanced", "fallback",
                   "triggers"}
        errs += [f"spec.{k}: unknown field" for k in spec if k not in allowed]
        ref = spec.get("scaleTargetRef")
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or not ref["name"]:
            errs.append("spec.scaleTargetRef.name: required string")
        else:
            errs += [f"spec.scaleTargetRef.{k}: unknown field" for k in ref
                     if k not in ("name", "kind", "apiVersion", "envSourceContainerName")]
            errs += [f"spec.scaleTargetRef.{k}: not a string" for k, v in ref.items() if not isinstance(v, str)]
        for k in ("pollingInterval", "initialCooldownPeriod", "cooldownPeriod", "idleReplicaCount",
                  "minReplicaCount", "maxReplicaCount"):
            if k in spec and (type(spec[k]) is not int or spec[k] < 0):
                errs.append(f"spec.{k}: not a non-negative integer: {spec[k]!r}")
        if type(spec.get("minReplicaCount")) is int and type(spec.get("maxReplicaCount")) is int \
                and spec["minReplicaCount"] > spec["maxReplicaCount"]:
            errs.append("spec.minReplicaCount is above spec.maxReplicaCount")
        adv = spec.get("advanced")
        if adv is not None:
            if not isinstance(adv, dict):
                errs.append("spec.advanced: not a mapping")
            else:
                errs += [f"spec.advanced.{k}: unknown field" for k in adv
                         if k not in ("horizontalPodAutoscalerConfig", "restoreToOriginalReplicaCount",
                                      "scalingModifiers")]
                hpa = adv.get("horizontalPodAutoscalerConfig") or {}
                errs += [f"spec.advanced.horizontalPodAutoscalerConfig.{k}: unknown field" for k in hpa
                         if k not in ("name", "behavior")]
                if "behavior" in hpa:
                    errs += self.definition("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerBehavior",
                                            hpa["behavior"], "spec.advanced.horizontalPodAutoscalerConfig.behavior")
        triggers = spec.get("triggers")
        if not isinstance(triggers, list) or not triggers:
            errs.append("spec.triggers: required, a non-empty list")
            triggers = []
        for i, t in enumerate(triggers):
            w = f"spec.triggers[{i}]"
            if not isinstance(t, dict):
                errs.append(f"{w}: not a mapping")
                continue
            errs += [f"{w}.{k}: unknown field" for k in t
                     if k not in ("type", "name", "metadata", "authenticationRef", "metricType",
                                  "useCachedMetrics")]
            if not isinstance(t.get("type"), str) or not t["type"]:
                errs.append(f"{w}.type: required string")
            md = t.get("metadata")
            if not isinstance(md, dict):
                errs.append(f"{w}.metadata: required mapping")
            else:
                # map[string]string in the CRD: a number or a boolean is refused by the API server.
                errs += [f"{w}.metadata.{k}: not a string: {v!r} (quote it)" for k, v in md.items()
                         if not isinstance(v, str)]
            if "metricType" in t and t["metricType"] not in ("AverageValue", "Value", "Utilization"):
                errs.append(f"{w}.metricType: not AverageValue, Value or Utilization")
            auth = t.get("authenticationRef")
            if auth is not None and (not isinstance(auth, dict) or not isinstance(auth.get("name"), str)):
                errs.append(f"{w}.authenticationRef.name: required string")
        return errs

    def pod_monitor(self, o):
        """Prometheus Operator PodMonitor (monitoring.coreos.com/v1): the required selector and
        the endpoint fields this project uses."""
        errs = []
        spec = o.get("spec")
        if not isinstance(spec, dict):
            return ["spec: missing or not a mapping"]
        if "selector" not in spec:
            errs.append("spec.selector: required")
        else:
            errs += self.definition("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", spec["selector"],
                                    "spec.selector")
        eps = spec.get("podMetricsEndpoints", [])
        if not isinstance(eps, list):
            return errs + ["spec.podMetricsEndpoints: not a list"]
        duration = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
        actions = {"replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase",
                   "uppercase", "keepequal", "dropequal"}
        for i, ep in enumerate(eps):
            w = f"spec.podMetricsEndpoints[{i}]"
            if not isinstance(ep, dict):
                errs.append(f"{w}: not a mapping")
                continue
            for k in ("port", "path", "scheme"):
                if k in ep and not isinstance(ep[k], str):
                    errs.append(f"{w}.{k}: not a string")
            if "portNumber" in ep and type(ep["portNumber"]) is not int:
                errs.append(f"{w}.portNumber: not an integer")
            if isinstance(ep.get("path"), str) and not ep["path"].startswith("/"):
                errs.append(f"{w}.path: does not start with /")
            for k in ("interval", "scrapeTimeout"):
                if k in ep and not (isinstance(ep[k], str) and duration.match(ep[k])):
                    errs.append(f"{w}.{k}: not a duration (30s, 1m): {ep[k]!r}")
            for rk in ("relabelings", "metricRelabelings"):
                for j, r in enumerate(ep.get(rk) or []):
                    rw = f"{w}.{rk}[{j}]"
                    if not isinstance(r, dict):
                        errs.append(f"{rw}: not a mapping")
                        continue
                    src = r.get("sourceLabels", [])
                    if not isinstance(src, list) or not all(isinstance(s, str) for s in src):
                        errs.append(f"{rw}.sourceLabels: not a list of strings")
                    if "action" in r and str(r["action"]).lower() not in actions:
                        errs.append(f"{rw}.action: unknown action {r['action']!r}")
                    if r.get("action", "replace").lower() == "replace" and not isinstance(r.get("targetLabel"), str):
                        errs.append(f"{rw}.targetLabel: required string for action replace")
        return errs

    def prometheus_rule(self, o):
        """Prometheus Operator PrometheusRule (monitoring.coreos.com/v1): groups of rules."""
        errs = []
        groups = (o.get("spec") or {}).get("groups")
        if not isinstance(groups, list):
            return ["spec.groups: required list"]
        for i, g in enumerate(groups):
            w = f"spec.groups[{i}]"
            if not isinstance(g, dict) or not isinstance(g.get("name"), str):
                errs.append(f"{w}.name: required string")
                continue
            for j, r in enumerate(g.get("rules") or []):
                rw = f"{w}.rules[{j}]"
                if not isinstance(r, dict) or ("alert" in r) == ("record" in r):
                    errs.append(f"{rw}: needs exactly one of alert and record")
                elif not isinstance(r.get("expr"), (str, int)):
                    errs.append(f"{rw}.expr: required")
        return errs

    CUSTOM = {
        ("keda.sh/v1alpha1", "ScaledObject"): ("KEDA CRD", scaled_object),
        ("monitoring.coreos.com/v1", "PodMonitor"): ("Prometheus Operator CRD", pod_monitor),
        ("monitoring.coreos.com/v1", "PrometheusRule"): ("Prometheus Operator CRD", prometheus_rule),
    }

    def check(self, obj):
        """(how, errors) for one object."""
        if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
            return "none", ["not an object with apiVersion and kind"]
        custom = self.CUSTOM.get((obj["apiVersion"], obj["kind"]))
        if custom is not None:
            what, fn = custom
            errs = self.definition("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", obj.get("metadata"),
                                   "metadata")
            if not (obj.get("metadata") or {}).get("name"):
                errs.append("metadata.name: required")
            errs += [f"{k}: unknown field" for k in obj if k not in ("apiVersion", "kind", "metadata", "spec")]
            return f"structural ({what})", errs + fn(self, obj)
        errs = self.builtin(obj)
        if errs is None:
            return "none", [f"no schema for {obj['apiVersion']} {obj['kind']} in Kubernetes {self.version}, "
                            "and no structural check"]
        return "schema", errs


def name_of(obj):
    if isinstance(obj, dict):
        return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    return "?"


def validate_docs(v, label, docs):
    """Prints a FAIL line per problem and a summary line; returns the number of problems."""
    problems = 0
    schema, structural = 0, {}
    for obj in docs:
        how, errs = v.check(obj)
        for e in errs:
            print(f"FAIL {label}: {name_of(obj)}: {e}")
        problems += len(errs)
        if how == "schema":
            schema += 1
        elif how.startswith("structural"):
            structural.setdefault(obj["kind"], 0)
            structural[obj["kind"]] += 1
    parts = [f"{schema} against the Kubernetes {v.version} schemas (strict)"]
    if structural:
        parts.append(", ".join(f"{n} {k}" for k, n in sorted(structural.items()))
                     + " checked structurally (custom resources: no bundled schema; required fields"
                       " and types of their documented spec)")
    print(f"{'ok  ' if not problems else 'FAIL'} {label}: {len(docs)} objects; " + "; ".join(parts))
    return problems


GOOD_DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}},
             "template": {"metadata": {"labels": {"app": "x"}},
                          "spec": {"containers": [{"name": "x", "image": "x:1"}]}}},
}
GOOD_SCALED = {
    "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
    "spec": {"scaleTargetRef": {"name": "x"}, "maxReplicaCount": 3,
             "triggers": [{"type": "kafka", "metadata": {"lagThreshold": "10"}}]},
}


def self_test(v):
    """The validator must reject what the API server would: guards against a validator that
    silently accepts everything (a package change, a schema directory gone)."""
    def bad(base, path, value):
        o = copy.deepcopy(base)
        cur = o
        for p in path[:-1]:
            cur = cur[p]
        cur[path[-1]] = value
        return o
    cases = [
        ("good Deployment", GOOD_DEPLOYMENT, True),
        ("replicas as a string", bad(GOOD_DEPLOYMENT, ["spec", "replicas"], "two"), False),
        ("misspelt field", bad(GOOD_DEPLOYMENT, ["spec", "replica"], 2), False),
        ("container without name", bad(GOOD_DEPLOYMENT, ["spec", "template", "spec", "containers"], [{"image": "x"}]), False),
        ("unknown kind", {"apiVersion": "example.com/v1", "kind": "Nothing", "metadata": {"name": "x"}}, False),
        ("good ScaledObject", GOOD_SCALED, True),
        ("ScaledObject without scaleTargetRef.name", bad(GOOD_SCALED, ["spec", "scaleTargetRef"], {}), False),
        ("ScaledObject trigger without type", bad(GOOD_SCALED, ["spec", "triggers"], [{"metadata": {}}]), False),
        ("ScaledObject numeric trigger metadata", bad(GOOD_SCALED, ["spec", "triggers"],
                                                      [{"type": "kafka", "metadata": {"lagThreshold": 10}}]), False),
    ]
    failed = 0
    for what, obj, ok in cases:
        _, errs = v.check(obj)
        if (not errs) != ok:
            print(f"FAIL self-test: {what}: {'rejected' if errs else 'accepted'}: {errs}")
            failed += 1
    print(f"{'ok  ' if not failed else 'FAIL'} self-test: {len(cases)} cases "
          f"(kubernetes-validate {KV_VERSION}, Kubernetes {v.version})")
    return failed


def main():
    ap = argparse.ArgumentParser(description="Validate Kubernetes manifests offline.")
    ap.add_argument("-k", "--kubernetes-version", default=KUBERNETES_VERSION)
    ap.add_argument("--label", help="name of stdin (-) in the output")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    v = Validator(args.kubernetes_version)
    problems = self_test(v) if args.self_test else 0
    for f in args.files:
        label = (args.label or "stdin") if f == "-" else f
        try:
            if f == "-":
                docs = [d for d in yaml.safe_load_all(sys.stdin) if d is not None]
            else:
                with open(f, encoding="utf-8") as fh:
                    docs = [d for d in yaml.safe_load_all(fh) if d is not None]
        except (OSError, yaml.YAMLError) as e:
            print(f"FAIL {label}: {e}")
            problems += 1
            continue
        if not docs:
            print(f"FAIL {label}: no objects")
            problems += 1
            continue
        problems += validate_docs(v, label, docs)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
