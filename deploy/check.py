#!/usr/bin/env python3
"""Checks deploy/ without a cluster: the Kubernetes manifests, the monitoring files and the
container build file.

    python3 deploy/check.py               # from anywhere; exit 0 when everything holds
    python3 deploy/check.py --no-kubectl  # render with the built-in renderer only
    python3 deploy/check.py --render DIR  # print the rendered kustomization DIR as YAML
                                          # (what deploy/validate-manifests.py validates)

What it checks:
- every YAML and JSON file under deploy/ parses;
- every Kubernetes object has apiVersion, kind and metadata.name;
- every kustomization.yaml lists files that exist, and every manifest of its directory is
  listed (except *.example.yaml, kept out on purpose);
- each kustomization (base and overlays) rendered: by `kubectl kustomize` when kubectl is
  on the PATH, else by the small renderer below (resources, generators, namespace, images,
  replicas, strategic-merge patches), then the rules of the system on the result: probes,
  resources, security context, drain grace, service links, budgets, Service/Ingress
  wiring, KEDA triggers against the ConfigMap and the topic Job's partition counts, and
  configuration keys against common/config_keys.h;
- the rule file, the scrape configuration and the dashboard: metric names exist in the
  sources, and, when promtool is on the PATH, `promtool check rules/config` passes (the
  dashboard's queries are checked by promtool as recording rules);
- the Dockerfile builds every binary of workers/CMakeLists.txt and copies what CMake needs,
  and installs its packages with scripts/install-deps (--build, --runtime), the lists the
  test command installs from, instead of an apt-get list of its own.

Needs PyYAML (Debian: python3-yaml).
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("check.py: needs PyYAML (Debian: apt-get install python3-yaml)")

DEPLOY = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DEPLOY)
K8S = os.path.join(DEPLOY, "k8s")
MON = os.path.join(DEPLOY, "monitoring")

WORKERS = {
    # name: (topic key in the ConfigMap, default topic, PARTITIONS_* of the topic Job)
    "email-worker": ("TOPIC_EMAIL", "outbound.email", "PARTITIONS_EMAIL"),
    "twilio-worker": ("TOPIC_SMS_TWILIO", "outbound.sms.twilio", "PARTITIONS_TWILIO"),
    "sns-worker": ("TOPIC_SMS_SNS", "outbound.sms.sns", "PARTITIONS_SNS"),
}
SERVERS = list(WORKERS) + ["webhook-ingest"]
# Named by the brief of webhook-ingest's metrics, not in common/ yet.
EXPECTED_WEBHOOK_METRICS = {"notify_webhook_callbacks_total", "notify_webhook_signature_failures_total"}
# From sql-exporter.yaml, and Prometheus' own.
OTHER_METRICS = {"notify_quota_used_ratio", "notify_quota_throttled", "up"}

errors = []
notes = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


def rel(path):
    return os.path.relpath(path, ROOT)


# ---- parsing -------------------------------------------------------------------------------


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def check_parse_all():
    docs = {}
    for dirpath, _, files in os.walk(DEPLOY):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            try:
                if name.endswith((".yaml", ".yml")):
                    docs[path] = load_yaml_docs(path)
                elif name.endswith(".json"):
                    with open(path, encoding="utf-8") as f:
                        docs[path] = [json.load(f)]
            except (yaml.YAMLError, json.JSONDecodeError) as e:
                err(rel(path), f"does not parse: {e}")
            if name.endswith((".yaml", ".yml", ".json", ".env", ".md", ".py")) or name.startswith("Dockerfile"):
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                for m in re.finditer(r"(?<![\w.:/])/(?:work|home|root|Users)/[^\s\"']*", text):
                    err(rel(path), f"machine path {m.group(0)!r}")
    return docs


def config_keys():
    """The keys of common/config_keys.h."""
    with open(os.path.join(ROOT, "common", "config_keys.h"), encoding="utf-8") as f:
        return set(re.findall(r"\bX\(\s*([A-Z][A-Z0-9_]*)\s*,", f.read()))


def source_metrics():
    names = set()
    for d in ("common", "workers"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
            for name in files:
                if name.endswith(".c"):
                    with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                        names.update(re.findall(r'"(notify_[a-z0-9_]+)"', f.read()))
    return names


# ---- kustomize -----------------------------------------------------------------------------


def is_k8s_object(doc):
    return isinstance(doc, dict) and "kind" in doc and doc.get("kind") != "Kustomization"


def check_objects(docs):
    for path, ds in docs.items():
        if not path.startswith(K8S) or os.path.basename(path) == "kustomization.yaml":
            continue
        for i, d in enumerate(ds):
            where = f"{rel(path)}[{i}]"
            if not isinstance(d, dict):
                err(where, "not a mapping")
                continue
            for field in ("apiVersion", "kind"):
                if not d.get(field):
                    err(where, f"no {field}")
            if not (d.get("metadata") or {}).get("name"):
                err(where, "no metadata.name")


def kustomization_dirs():
    out = []
    for dirpath, _, files in os.walk(K8S):
        if "kustomization.yaml" in files:
            out.append(dirpath)
    return sorted(out)


def check_kustomization_lists(kdir):
    kfile = os.path.join(kdir, "kustomization.yaml")
    k = load_yaml_docs(kfile)[0]
    listed = set()
    for r in k.get("resources", []):
        p = os.path.normpath(os.path.join(kdir, r))
        if os.path.isdir(p):
            if not os.path.exists(os.path.join(p, "kustomization.yaml")):
                err(rel(kfile), f"resource {r}: a directory without kustomization.yaml")
        elif not os.path.isfile(p):
            err(rel(kfile), f"resource {r}: no such file")
        listed.add(p)
    for p in k.get("patches", []) + k.get("patchesStrategicMerge", []):
        path = p.get("path") if isinstance(p, dict) else p
        if path:
            full = os.path.normpath(os.path.join(kdir, path))
            if not os.path.isfile(full):
                err(rel(kfile), f"patch {path}: no such file")
            listed.add(full)
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        for f in gen.get("envs", []) + [x.split("=")[-1] for x in gen.get("files", [])]:
            full = os.path.normpath(os.path.join(kdir, f))
            if not os.path.isfile(full):
                err(rel(kfile), f"generator {gen.get('name')}: {f}: no such file")
            listed.add(full)
    for name in os.listdir(kdir):
        full = os.path.join(kdir, name)
        if name.endswith(".yaml") and name != "kustomization.yaml" and not name.endswith(".example.yaml"):
            if full not in listed:
                err(rel(kfile), f"{name} is in the directory but not listed")
    return k


def merge(base, patch):
    """Strategic merge, enough for these manifests: maps merge, lists of named maps merge
    by name, other lists are replaced, null deletes."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, val in patch.items():
            if val is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], val)
            else:
                out[key] = copy.deepcopy(val)
        return out
    if (isinstance(base, list) and isinstance(patch, list) and base and patch
            and all(isinstance(x, dict) and "name" in x for x in base + patch)):
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            for i, cur in enumerate(out):
                if cur["name"] == item["name"]:
                    out[i] = merge(cur, item)
                    break
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def read_env_file(path):
    data = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, val = line.partition("=")
            data[key] = val
    return data


def walk_pod_specs(obj):
    spec = obj.get("spec") or {}
    if obj["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return [(spec.get("template") or {}).get("spec") or {}]
    return []


def render(kdir):
    """A small kustomize: what these manifests use, nothing more."""
    k = load_yaml_docs(os.path.join(kdir, "kustomization.yaml"))[0]
    objs = []
    for r in k.get("resources", []):
        p = os.path.normpath(os.path.join(kdir, r))
        if os.path.isdir(p):
            objs.extend(render(p))
        else:
            objs.extend(d for d in load_yaml_docs(p) if is_k8s_object(d))
    for gen in k.get("configMapGenerator", []):
        data = {}
        for f in gen.get("envs", []):
            data.update(read_env_file(os.path.join(kdir, f)))
        if gen.get("behavior") == "merge":
            for o in objs:
                if o["kind"] == "ConfigMap" and o["metadata"]["name"] == gen["name"]:
                    o.setdefault("data", {}).update(data)
        else:
            objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data})
    for p in k.get("patches", []):
        for patch in load_yaml_docs(os.path.join(kdir, p["path"])):
            for i, o in enumerate(objs):
                if o["kind"] == patch["kind"] and o["metadata"]["name"] == patch["metadata"]["name"]:
                    objs[i] = merge(o, patch)
                    break
            else:
                err(rel(kdir), f"patch {p['path']}: no {patch['kind']} {patch['metadata']['name']}")
    for lab in k.get("labels", []):
        for o in objs:
            o["metadata"].setdefault("labels", {}).update(lab["pairs"])
            if lab.get("includeTemplates"):
                for_tmpl = (o.get("spec") or {}).get("template")
                if isinstance(for_tmpl, dict):
                    for_tmpl.setdefault("metadata", {}).setdefault("labels", {}).update(lab["pairs"])
    for rep in k.get("replicas", []):
        for o in objs:
            if o["kind"] == "Deployment" and o["metadata"]["name"] == rep["name"]:
                o["spec"]["replicas"] = rep["count"]
    for img in k.get("images", []):
        for o in objs:
            for ps in walk_pod_specs(o):
                for c in ps.get("containers", []):
                    if c.get("image", "").split(":")[0] == img["name"]:
                        c["image"] = f"{img.get('newName', img['name'])}:{img.get('newTag', 'latest')}"
    if k.get("namespace"):
        for o in objs:
            if o["kind"] != "Namespace":
                o["metadata"]["namespace"] = k["namespace"]
    return objs


def rendered(kdir):
    kubectl = None if "--no-kubectl" in sys.argv else shutil.which("kubectl")
    mine = render(kdir)
    if kubectl is None:
        return mine, "own renderer"
    res = subprocess.run([kubectl, "kustomize", kdir], capture_output=True, text=True)
    if res.returncode != 0:
        err(rel(kdir), f"kubectl kustomize failed: {res.stderr.strip()}")
        return mine, "own renderer"
    objs = [d for d in yaml.safe_load_all(res.stdout) if d]
    # The built-in renderer must agree with kustomize object for object (apart from the
    # generated ConfigMap's hash suffix), so that a machine without kubectl checks the same.
    unhashed = re.sub(r"\b(notify-config)-[a-z0-9]{10}\b", r"\1", res.stdout)
    theirs = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(unhashed) if o}
    ours = {(o["kind"], o["metadata"]["name"]): o for o in mine}
    for key in sorted(set(theirs) | set(ours)):
        if yaml.safe_dump(theirs.get(key), sort_keys=True) != yaml.safe_dump(ours.get(key), sort_keys=True):
            err(rel(kdir), f"built-in renderer and kubectl kustomize disagree on {key[0]} {key[1]}")
    return objs, "kubectl kustomize"


# ---- the rules of this system --------------------------------------------------------------


def by_kind(objs, kind):
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_rendered(where, objs, keys):
    seen = set()
    for o in objs:
        ident = (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        if ident in seen:
            err(where, f"{o['kind']} {o['metadata']['name']} twice")
        seen.add(ident)

    cms = by_kind(objs, "ConfigMap")
    config_cm = next((cm for n, cm in cms.items() if n.startswith("notify-config")), None)
    if config_cm is None:
        err(where, "no notify-config ConfigMap")
        return
    config = config_cm.get("data") or {}
    for key in config:
        if key not in keys and not key.startswith("KAFKA_"):
            err(where, f"ConfigMap key {key} is not a configuration key (common/config_keys.h)")
    drain_ms = int(config.get("DRAIN_GRACE_MS", "20000"))

    deps = by_kind(objs, "Deployment")
    for name in SERVERS:
        if name not in deps:
            err(where, f"no Deployment {name}")
    jobs = by_kind(objs, "Job")
    pod_owners = [(f"Deployment {n}", d) for n, d in deps.items()] + [(f"Job {n}", j) for n, j in jobs.items()]
    for label, o in pod_owners:
        w = f"{where}: {label}"
        tmpl = o["spec"].get("template") or {}
        ps = tmpl.get("spec") or {}
        if ps.get("enableServiceLinks") is not False:
            err(w, "enableServiceLinks is not false")
        if ps.get("automountServiceAccountToken") is not False:
            err(w, "automountServiceAccountToken is not false")
        psc = ps.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            err(w, "securityContext.runAsNonRoot is not true")
        for c in ps.get("containers", []):
            cw = f"{w} container {c.get('name')}"
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                err(cw, "readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                err(cw, "allowPrivilegeEscalation is not false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                err(cw, "capabilities.drop does not hold ALL")
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(kind) or {}):
                        err(cw, f"no resources.{kind}.{r}")
            for ef in c.get("envFrom", []):
                ref = ef.get("configMapRef") or ef.get("secretRef")
                if ef.get("configMapRef") and ref["name"] not in cms:
                    err(cw, f"envFrom ConfigMap {ref['name']} is not rendered")
            for e in c.get("env", []):
                if o["kind"] == "Deployment" and e["name"] not in keys and not e["name"].startswith("KAFKA_"):
                    err(cw, f"env {e['name']} is not a configuration key")
        if o["kind"] != "Deployment":
            continue
        name = o["metadata"]["name"]
        if not labels_match(o["spec"]["selector"].get("matchLabels"), tmpl["metadata"].get("labels") or {}):
            err(w, "selector does not match the pod labels")
        c = ps["containers"][0]
        if c.get("command", [None])[0] != name:
            err(w, f"command is {c.get('command')}, not [{name!r}]")
        if c.get("image", "").split(":")[0].split("/")[-1] != "notify-delivery":
            err(w, f"image {c.get('image')} is not the notify-delivery image")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        http_port = int(config.get("HTTP_ADDR", "0.0.0.0:8080").rsplit(":", 1)[1])
        if ports.get("http") != http_port:
            err(w, f"port http is {ports.get('http')}, HTTP_ADDR says {http_port}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = (c.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path or get.get("port") not in ("http", http_port):
                err(w, f"{probe} is not GET {path} on the http port")
        if (tmpl["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of") != "notify-delivery":
            err(w, "pods lack app.kubernetes.io/part-of=notify-delivery (the scrape configuration keeps pods by it)")
        if tmpl["metadata"].get("annotations", {}).get("prometheus.io/port") != str(http_port):
            err(w, "prometheus.io/port annotation missing or not the http port")
        grace = ps.get("terminationGracePeriodSeconds", 30)
        if name in WORKERS and grace < drain_ms / 1000 + 10:
            err(w, f"terminationGracePeriodSeconds {grace} < DRAIN_GRACE_MS {drain_ms} ms + 10 s margin")
        pdbs = [p for p in by_kind(objs, "PodDisruptionBudget").values()
                if labels_match(p["spec"]["selector"].get("matchLabels"), tmpl["metadata"]["labels"])]
        if len(pdbs) != 1:
            err(w, f"{len(pdbs)} PodDisruptionBudgets select it, not 1")

    svcs = by_kind(objs, "Service")
    svc = svcs.get("webhook-ingest")
    if svc is None:
        err(where, "no Service webhook-ingest")
    elif "webhook-ingest" in deps:
        pod_labels = deps["webhook-ingest"]["spec"]["template"]["metadata"]["labels"]
        if not labels_match(svc["spec"]["selector"], pod_labels):
            err(where, "Service webhook-ingest does not select the webhook-ingest pods")
    for ing in by_kind(objs, "Ingress").values():
        for rule in ing["spec"].get("rules", []):
            for p in rule["http"]["paths"]:
                b = p["backend"]["service"]
                s = svcs.get(b["name"])
                if s is None:
                    err(where, f"Ingress {ing['metadata']['name']}: no Service {b['name']}")
                elif b["port"].get("name") not in {x.get("name") for x in s["spec"]["ports"]}:
                    err(where, f"Ingress {ing['metadata']['name']}: Service {b['name']} has no port {b['port']}")
            public = config.get("PUBLIC_BASE_URL")
            if public and rule.get("host") and public.rstrip("/") != f"https://{rule['host']}":
                err(where, f"PUBLIC_BASE_URL {public} is not https://{rule['host']} (Ingress)")

    topics_job = jobs.get("notify-kafka-topics")
    job_env = {}
    if topics_job is None:
        err(where, "no Job notify-kafka-topics")
    else:
        c = topics_job["spec"]["template"]["spec"]["containers"][0]
        job_env = {e["name"]: e.get("value") for e in c.get("env", [])}
        script = c["command"][-1]
        bash = shutil.which("bash")
        if bash:
            res = subprocess.run([bash, "-n"], input=script, capture_output=True, text=True)
            if res.returncode != 0:
                err(where, f"topic Job script: {res.stderr.strip()}")
        for k, ms in (("RETENTION_RETRY_MS", 3600000), ("RETENTION_DLQ_MS", 7 * 86400000)):
            if int(job_env.get(k, "0")) <= ms:
                err(where, f"topic Job {k} {job_env.get(k)} is not above {ms}")
    migrate = jobs.get("notify-migrate")
    if migrate is None:
        err(where, "no Job notify-migrate")
    elif migrate["spec"]["template"]["spec"]["containers"][0].get("command") != ["notifyctl", "migrate"]:
        err(where, "Job notify-migrate does not run notifyctl migrate")

    scaled = by_kind(objs, "ScaledObject")
    for name, (topic_key, default_topic, parts_key) in WORKERS.items():
        so = scaled.get(name)
        w = f"{where}: ScaledObject {name}"
        if so is None:
            err(where, f"no ScaledObject {name}")
            continue
        if so["spec"]["scaleTargetRef"].get("name") not in deps:
            err(w, "scaleTargetRef is not a rendered Deployment")
        if "replicas" in (deps.get(name) or {}).get("spec", {}):
            err(w, "the Deployment sets replicas as well (KEDA owns the count)")
        triggers = [t for t in so["spec"].get("triggers", []) if t.get("type") == "kafka"]
        if len(triggers) != 1:
            err(w, f"{len(triggers)} kafka triggers, not 1")
            continue
        md = triggers[0]["metadata"]
        if md.get("consumerGroup") != name:
            err(w, f"consumerGroup {md.get('consumerGroup')} is not {name}")
        if md.get("topic") != config.get(topic_key, default_topic):
            err(w, f"topic {md.get('topic')} is not {topic_key}={config.get(topic_key, default_topic)}")
        if md.get("bootstrapServers") != config.get("KAFKA_BOOTSTRAP_SERVERS"):
            err(w, "bootstrapServers differs from KAFKA_BOOTSTRAP_SERVERS of the ConfigMap")
        if not str(md.get("lagThreshold", "")).isdigit():
            err(w, "lagThreshold is not a number")
        parts = job_env.get(parts_key)
        mx = so["spec"].get("maxReplicaCount")
        if parts is None or mx is None or int(mx) > int(parts):
            err(w, f"maxReplicaCount {mx} is above the partition count {parts_key}={parts}")
        if int(so["spec"].get("minReplicaCount", 0)) < 1:
            err(w, "minReplicaCount below 1")


# ---- monitoring ----------------------------------------------------------------------------

METRIC_RE = re.compile(r"\b(notify_[a-z0-9_]+|up)\b")


def check_metric_names(where, expr, known):
    for m in METRIC_RE.findall(expr):
        base = re.sub(r"_(bucket|sum|count)$", "", m)
        if m not in known and base not in known:
            err(where, f"unknown metric {m}")


def promtool(args):
    tool = shutil.which("promtool")
    if tool is None:
        return None
    return subprocess.run([tool] + args, capture_output=True, text=True)


def check_monitoring(docs):
    known = source_metrics() | EXPECTED_WEBHOOK_METRICS | OTHER_METRICS
    missing_webhook = EXPECTED_WEBHOOK_METRICS - source_metrics()
    if missing_webhook:
        notes.append("webhook metrics not in the sources yet (expected names): " + ", ".join(sorted(missing_webhook)))

    rules_path = os.path.join(MON, "prometheus-rules.yaml")
    rules = docs.get(rules_path, [{}])[0]
    alerts = set()
    for g in rules.get("groups", []):
        for r in g.get("rules", []):
            w = f"{rel(rules_path)} {r.get('alert') or r.get('record')}"
            check_metric_names(w, r.get("expr", ""), known)
            if "alert" in r:
                alerts.add(r["alert"])
                if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                    err(w, "no severity label")
                if not (r.get("annotations") or {}).get("summary"):
                    err(w, "no summary")
    with open(os.path.join(DEPLOY, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for a in sorted(alerts):
        if a not in readme:
            err("deploy/README.md", f"alert {a} is not explained")

    dash_path = os.path.join(MON, "dashboard.json")
    dash = docs.get(dash_path, [{}])[0]
    ids = set()
    exprs = []
    for p in dash.get("panels", []):
        if p.get("id") in ids:
            err(rel(dash_path), f"panel id {p.get('id')} twice")
        ids.add(p.get("id"))
        if "gridPos" not in p:
            err(rel(dash_path), f"panel {p.get('title')} has no gridPos")
        for t in p.get("targets", []):
            check_metric_names(f"{rel(dash_path)} {p.get('title')}", t["expr"], known)
            exprs.append((p.get("title"), t["expr"]))

    for path in (os.path.join(MON, "scrape-config.yaml"), os.path.join(MON, "sql-exporter.yaml"),
                 os.path.join(MON, "podmonitor.yaml")):
        if path not in docs:
            err(rel(path), "missing")

    res = promtool(["check", "rules", rules_path])
    if res is None:
        notes.append("promtool not on the PATH: rules, scrape configuration and dashboard queries not compiled")
        return
    if res.returncode != 0:
        err(rel(rules_path), "promtool: " + (res.stdout + res.stderr).strip())
    with tempfile.TemporaryDirectory() as tmp:
        # The dashboard's queries, compiled as recording rules.
        rec = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:q{i}", "expr": e.replace("$__rate_interval", "5m").replace("$namespace", ".*")}
            for i, (_, e) in enumerate(exprs)]}]}
        with open(os.path.join(tmp, "dash-rules.yaml"), "w") as f:
            yaml.safe_dump(rec, f)
        res = promtool(["check", "rules", os.path.join(tmp, "dash-rules.yaml")])
        if res.returncode != 0:
            err(rel(dash_path), "promtool on the queries: " + (res.stdout + res.stderr).strip())
        # Some promtool builds (Debian's) leave out Kubernetes discovery; check the rest of
        # the configuration with static targets in its place.
        conf = copy.deepcopy(docs[os.path.join(MON, "scrape-config.yaml")][0])
        shutil.copy(rules_path, tmp)
        with open(os.path.join(tmp, "scrape-config.yaml"), "w") as f:
            yaml.safe_dump(conf, f)
        res = promtool(["check", "config", os.path.join(tmp, "scrape-config.yaml")])
        if res.returncode != 0 and "kubernetes_sd_configs not found" in res.stdout + res.stderr:
            for sc in conf.get("scrape_configs", []):
                if sc.pop("kubernetes_sd_configs", None) is not None:
                    sc["static_configs"] = [{"targets": ["127.0.0.1:8080"]}]
            with open(os.path.join(tmp, "scrape-config.yaml"), "w") as f:
                yaml.safe_dump(conf, f)
            res = promtool(["check", "config", os.path.join(tmp, "scrape-config.yaml")])
            notes.append("this promtool has no Kubernetes discovery: scrape config checked with static targets")
        if res.returncode != 0:
            err("deploy/monitoring/scrape-config.yaml", "promtool: " + (res.stdout + res.stderr).strip())
        tests = os.path.join(MON, "rules-test.yaml")
        if os.path.exists(tests):
            shutil.copy(tests, tmp)
            res = promtool(["test", "rules", os.path.join(tmp, "rules-test.yaml")])
            if res.returncode != 0:
                err(rel(tests), "promtool test rules: " + (res.stdout + res.stderr).strip())


# ---- Dockerfile ----------------------------------------------------------------------------


def check_dockerfile():
    path = os.path.join(DEPLOY, "Dockerfile")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(os.path.join(ROOT, "workers", "CMakeLists.txt"), encoding="utf-8") as f:
        binaries = re.findall(r"^notify_binary\(([\w-]+)", f.read(), re.M)
    for b in binaries:
        if b not in text:
            err(rel(path), f"binary {b} (workers/CMakeLists.txt) is not checked in the build stage")
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        if not os.path.exists(os.path.join(ROOT, src)):
            err(rel(path), f"COPY {src}: not in the repository")
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        top = f.read()
    for sub in re.findall(r"^add_subdirectory\((\w+)\)", top, re.M):
        if sub != "tests" and f"COPY {sub}/" not in text:
            err(rel(path), f"add_subdirectory({sub}) but {sub}/ is not copied")
    # The packages come from scripts/install-deps, whose lists scripts/test installs from:
    # the build steps are written once.
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    build = next((st for st in stages if re.match(r"\S+ AS build\b", st)), "")
    runtime = next((st for st in stages if re.match(r"\S+ AS runtime\b", st)), "")
    if not re.search(r"^RUN scripts/install-deps --build\b", build, re.M):
        err(rel(path), "the build stage does not run scripts/install-deps --build")
    for src in ("scripts/install-deps", "scripts/lib/"):
        if not re.search(rf"^COPY {re.escape(src)} ", build, re.M):
            err(rel(path), f"the build stage does not copy {src}")
    if not re.search(r"^RUN \S*install-deps --runtime\b", runtime, re.M):
        err(rel(path), "the runtime stage does not run install-deps --runtime")
    if re.search(r"apt-get\s+install", text):
        err(rel(path), "installs packages with apt-get itself: use scripts/install-deps --build / --runtime")
    with open(os.path.join(ROOT, "scripts", "install-deps"), encoding="utf-8") as f:
        deps = f.read()
    for mode in ("--build", "--runtime"):
        if mode not in deps:
            err("scripts/install-deps", f"has no {mode} mode (deploy/Dockerfile runs it)")
    ignore = os.path.join(DEPLOY, "Dockerfile.dockerignore")
    with open(ignore, encoding="utf-8") as f:
        allowed = {line[1:].strip().rstrip("/") for line in f if line.startswith("!")}
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        if src.rstrip("/") not in allowed:
            err(rel(ignore), f"{src} is copied by the Dockerfile but ignored")


def render_main(kdir):
    """--render DIR: the rendered kustomization on stdout, rendered as the checks render it."""
    kdir = os.path.abspath(kdir)
    if not os.path.isfile(os.path.join(kdir, "kustomization.yaml")):
        print(f"check.py: {kdir}: no kustomization.yaml", file=sys.stderr)
        return 2
    objs, how = rendered(kdir)
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    if errors:
        return 1
    sys.stdout.write(yaml.safe_dump_all(objs, sort_keys=False))
    print(f"rendered {rel(kdir)} ({how}): {len(objs)} objects", file=sys.stderr)
    return 0


def main():
    if "--render" in sys.argv:
        i = sys.argv.index("--render")
        if i + 1 >= len(sys.argv):
            sys.exit("check.py: --render needs a kustomization directory")
        return render_main(sys.argv[i + 1])
    docs = check_parse_all()
    check_objects(docs)
    keys = config_keys()
    for kdir in kustomization_dirs():
        check_kustomization_lists(kdir)
    for kdir in kustomization_dirs():
        if os.path.basename(os.path.dirname(kdir)) == "overlays" or os.path.basename(kdir) == "base":
            objs, how = rendered(kdir)
            check_rendered(rel(kdir), objs, keys)
            print(f"rendered {rel(kdir)} ({how}): {len(objs)} objects")
    check_monitoring(docs)
    check_dockerfile()
    for n in notes:
        print(f"note: {n}")
    for e in errors:
        print(f"FAIL {e}")
    print(f"{len(docs)} files parsed; {'OK' if not errors else f'{len(errors)} problems'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
