#!/usr/bin/env python3
"""The README's metrics table against what each binary serves on /metrics.

Parses the table under "## Metrics" in README.md (columns metric, type, labels, served by),
starts email-worker, twilio-worker, sns-worker and webhook-ingest against the stack's Kafka
and PostgreSQL (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL; binaries from NOTIFY_BUILD_DIR), each
with its own topics, consumer group and HTTP port, waits for /readyz and scrapes /metrics
once. For each binary it checks that

  - every metric the README lists for it has a "# TYPE" line with the listed type (the
    registry prints HELP and TYPE for a metric before its first sample, so no traffic is
    needed);
  - every notify_* metric it serves is listed for it in the README;
  - every sample already present carries exactly the listed label names.

Prints "N passed, N failed"; exits non-zero on a failure.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from testkit import check, failures, free_port, summary  # noqa: E402

BUILD = os.environ.get("NOTIFY_BUILD_DIR", "")
SOURCE = os.environ.get("NOTIFY_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARIES = ("email-worker", "twilio-worker", "sns-worker", "webhook-ingest")
TYPES = ("counter", "gauge", "histogram")
READY_TIMEOUT_S = 20

# ---------------------------------------------------------------- the README

def readme_metrics(path):
    """{binary: {metric: (type, [labels])}} from the table of the "## Metrics" section."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.strip() == "## Metrics"), None)
    if not check(start is not None, "README.md has a \"## Metrics\" section"):
        return {}
    section = []
    for l in lines[start + 1:]:
        if l.startswith("## "):
            break
        section.append(l)
    rows = [l.strip() for l in section if l.strip().startswith("|")]
    if not check(len(rows) >= 3, "the Metrics section has a table"):
        return {}

    def cells(row):
        return [c.strip() for c in row.strip("|").split("|")]

    header = [c.lower() for c in cells(rows[0])]
    cols = {}
    for name in ("metric", "type", "labels", "served by"):
        if not check(name in header, "the metrics table has a %r column (%r)" % (name, header)):
            return {}
        cols[name] = header.index(name)
    listed = {b: {} for b in BINARIES}
    seen = set()
    for row in rows[2:]:
        c = cells(row)
        if len(c) != len(header):
            check(False, "metrics table row has %d cells, header %d: %s"
                  % (len(c), len(header), row))
            continue
        names = re.findall(r"`([^`]+)`", c[cols["metric"]])
        if not check(len(names) == 1 and re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", names[0]),
                     "one metric name per row: %s" % row):
            continue
        name = names[0]
        check(name not in seen, "%s listed once" % name)
        seen.add(name)
        mtype = c[cols["type"]].strip("`").strip()
        check(mtype in TYPES, "%s: type %r is one of %s" % (name, mtype, TYPES))
        labels = re.findall(r"`([^`]+)`", c[cols["labels"]])
        served = [b.strip().strip("`") for b in c[cols["served by"]].split(",") if b.strip()]
        for b in served:
            if check(b in BINARIES, "%s: served by %r, a known binary" % (name, b)):
                listed[b][name] = (mtype, labels)
        check(served, "%s: served by at least one binary" % name)
    for b in BINARIES:
        check(listed[b], "the README lists metrics for %s" % b)
    return listed


# ---------------------------------------------------------------- /metrics

def parse_exposition(text):
    """({family: type}, {family: set of label-name tuples seen on its samples}, problems)."""
    types, labelsets, problems = {}, {}, []
    for line in text.splitlines():
        if not line or line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) != 4:
                problems.append("malformed TYPE line %r" % line)
                continue
            if parts[2] in types:
                problems.append("second TYPE line for %s" % parts[2])
            types[parts[2]] = parts[3]
            continue
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? \S+$", line)
        if not m:
            problems.append("malformed sample %r" % line)
            continue
        name, labeltext = m.group(1), m.group(3) or ""
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and types.get(base) == "histogram":
                family = base
                break
        if family not in types:
            problems.append("sample %r before any TYPE line of its metric" % line)
            continue
        names = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"', labeltext)
        if family != name:
            names = [n for n in names if n != "le"]
        labelsets.setdefault(family, set()).add(tuple(names))
    return types, labelsets, problems


def http_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8")


def wait_ready(proc, port, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "exited with %d" % proc.returncode
        try:
            if http_get(port, "/readyz")[0] == 200:
                return None
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    return "not ready within %d s" % READY_TIMEOUT_S


def base_env():
    """The caller's environment without keys that would point a binary elsewhere."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(("TOPIC_", "KAFKA_")) and k != "KAFKA_BOOTSTRAP_SERVERS":
            del env[k]
    for k in ("CONSUMER_GROUP", "HTTP_ADDR", "SECRET_KEYS", "SECRET_KEYS_FILE",
              "SECRET_ACTIVE_KEY", "LOG_LEVEL", "PUBLIC_BASE_URL"):
        env.pop(k, None)
    supp = os.path.join(SOURCE, "tests", "lsan.supp")
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:strict_string_checks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if os.path.exists(supp):
        env.setdefault("LSAN_OPTIONS", "suppressions=%s:print_suppressions=0" % supp)
    return env


def delete_topics(names):
    try:
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                             "log_level": 3})
        for f in admin.delete_topics(names, operation_timeout=10).values():
            try:
                f.result(timeout=15)
            except Exception:
                pass  # never created
    except Exception as e:
        print("note: topics not deleted: %s" % e)


def stop(procs):
    for _, proc, _ in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    end = time.monotonic() + 10
    for b, proc, _ in procs:
        try:
            proc.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            print("note: %s did not stop on SIGTERM; killed" % b)
            proc.kill()
            proc.wait()


def check_binary(b, port, listed):
    try:
        status, ctype, text = http_get(port, "/metrics")
    except (urllib.error.URLError, ConnectionError, OSError) as e:
        check(False, "%s: GET /metrics: %s" % (b, e))
        return
    check(status == 200 and ctype.startswith("text/plain"),
          "%s: /metrics answers 200 text/plain (%d %r)" % (b, status, ctype))
    types, labelsets, problems = parse_exposition(text)
    check(not problems, "%s: /metrics parses: %s" % (b, problems))
    for name, (mtype, labels) in sorted(listed.items()):
        if check(name in types, "%s: README metric %s has a TYPE line on /metrics" % (b, name)):
            check(types[name] == mtype,
                  "%s: %s is a %s, the README says %s" % (b, name, types[name], mtype))
        for seen in sorted(labelsets.get(name, ())):
            check(sorted(seen) == sorted(labels),
                  "%s: %s samples carry labels %s, the README lists %s"
                  % (b, name, list(seen), labels))
    for name in sorted(types):
        if name.startswith("notify_"):
            check(name in listed, "%s: served metric %s (%s) is listed for it in the README"
                  % (b, name, types[name]))
    print("%s: %d metrics served, %d listed" % (b, len(types), len(listed)), flush=True)


def main():
    def on_term(signum, frame):
        raise SystemExit("terminated by signal %d" % signum)

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.monotonic()
    missing = [k for k in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "NOTIFY_BUILD_DIR")
               if not os.environ.get(k)]
    if missing:
        print("missing environment (run under ctest with the stack's export lines): "
              + ", ".join(missing))
        return 1

    listed = readme_metrics(os.path.join(SOURCE, "README.md"))
    if failures():
        return summary()

    tag = "metricstest%s" % uuid.uuid4().hex[:10]
    tmp = tempfile.mkdtemp(prefix="metrics-test-")
    procs = []
    try:
        keys = subprocess.run([os.path.join(BUILD, "notifyctl"), "keygen", "--id", "m1"],
                              check=True, capture_output=True).stdout.decode().strip()
        env = base_env()
        env.update({
            "SECRET_KEYS": keys, "SECRET_ACTIVE_KEY": "m1", "LOG_LEVEL": "info",
            "TOPIC_EMAIL": tag + ".email", "TOPIC_SMS_TWILIO": tag + ".sms.twilio",
            "TOPIC_SMS_SNS": tag + ".sms.sns", "TOPIC_STATUS": tag + ".status",
            "PUBLIC_BASE_URL": "http://127.0.0.1:9", "DRAIN_GRACE_MS": "2000",
        })
        for b in BINARIES:
            port = free_port()
            e = dict(env, HTTP_ADDR="127.0.0.1:%d" % port, CONSUMER_GROUP="%s-%s" % (tag, b))
            log = open(os.path.join(tmp, b + ".log"), "w")
            proc = subprocess.Popen([os.path.join(BUILD, b)], env=e, stdout=log,
                                    stderr=subprocess.STDOUT)
            log.close()
            procs.append((b, proc, port))

        deadline = time.monotonic() + READY_TIMEOUT_S
        for b, proc, port in procs:
            why = wait_ready(proc, port, deadline)
            if not check(why is None, "%s: ready (/readyz 200): %s" % (b, why)):
                with open(os.path.join(tmp, b + ".log")) as f:
                    print("--- %s log (last lines)\n%s---" % (b, "".join(f.readlines()[-20:])))
                continue
            check_binary(b, port, listed[b])
    finally:
        stop(procs)
        bases = [tag + s for s in (".email", ".sms.twilio", ".sms.sns")]
        delete_topics([tag + ".status"] + bases + [
            b + s for b in bases for s in (".retry.60s", ".retry.300s", ".retry.900s",
                                           ".retry.3600s", ".dlq")])
        if failures() and os.environ.get("NOTIFY_TEST_KEEP") == "1":
            print("logs kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("took %.1f s" % (time.monotonic() - t0))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
