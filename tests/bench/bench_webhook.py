"""Verified callbacks per second through webhook-ingest: the HMAC route (email delivery),
each callback correlated through the ledger and answered only after Kafka acknowledged
its status event. Load comes from wrk (Debian package `wrk`); the reference, measured in
the same run, is wrk against GET /healthz on the same server: the HTTP ceiling without
signature, database or Kafka. Then the Twilio status route at 128 connections: Twilio's
signature, and each callback's I-Twilio-Idempotency-Token (a new one per request) checked
and recorded for de-duplication besides the correlation.

Needs the stack's environment (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL) and NOTIFY_BUILD_DIR.
    bench_webhook.py [seconds] [connections...]     (defaults: 10 s; 64, 128 and 256)
Prints figures; never fails on a number. Afterwards it checks that the topic holds at
least as many events as there were 2xx answers (none acknowledged and lost).
"""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import psycopg2
import psycopg2.extras
from confluent_kafka import Consumer, TopicPartition

import benchlib

BUILD = os.environ["NOTIFY_BUILD_DIR"]
KAFKA = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]
RUN = uuid.uuid4().hex[:8]
ORG = f"bench-wh-{RUN}"
TOPIC = f"bench.webhook.status.{RUN}"
SECRET = "bench-secret-" + RUN
NBODIES = 1000
TW_SID = "AC" + RUN * 4
TW_TOKEN = "bench-token-" + RUN


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notifyctl(args, env, stdin=None):
    return subprocess.run([os.path.join(BUILD, "notifyctl")] + args, input=stdin, env=env,
                          capture_output=True, text=True, check=True).stdout.strip()


def wrk(url, seconds, conns, script=None):
    cmd = ["wrk", "-t", str(min(conns, 8)), "-c", str(conns), "-d", f"{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99_ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")
    return rps, p99_ms, total, int(non2xx.group(1)) if non2xx else 0


def twilio_script(path, url, tag):
    """A wrk script posting signed Twilio status callbacks for the ledger's TWILIO rows,
    each with an idempotency token no other request of the run has."""
    with open(path, "w") as f:
        f.write("local reqs = {}\n")
        for i in range(NBODIES):
            params = [("AccountSid", TW_SID), ("MessageSid", f"SM{RUN}{i:024d}"),
                      ("MessageStatus", "delivered")]
            body = "&".join(f"{k}={v}" for k, v in params)
            text = url + "".join(k + v for k, v in sorted(params))
            sig = base64.b64encode(hmac.new(TW_TOKEN.encode(), text.encode(),
                                            hashlib.sha1).digest()).decode()
            f.write(f"reqs[{i + 1}] = {{{json.dumps(body)}, {json.dumps(sig)}}}\n")
        f.write("local threads = 0\n"
                "function setup(thread)\n"
                "  threads = threads + 1\n"
                "  thread:set('tid', threads)\n"
                "end\n"
                "local n, c = 0, 0\n"
                "function request()\n"
                f"  n = n % {NBODIES} + 1\n"
                "  c = c + 1\n"
                "  local h = {['Content-Type'] = 'application/x-www-form-urlencoded',\n"
                "             ['X-Twilio-Signature'] = reqs[n][2],\n"
                f"             ['I-Twilio-Idempotency-Token'] = '{tag}-' .. tid .. '-' .. c}}\n"
                "  return wrk.format('POST', nil, h, reqs[n][1])\n"
                "end\n")


def topic_count():
    c = Consumer({"bootstrap.servers": KAFKA, "group.id": "bench-" + RUN})
    md = c.list_topics(TOPIC, timeout=10)
    n = 0
    for p in md.topics[TOPIC].partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
        n += hi - lo
    c.close()
    return n


def main():
    if shutil.which("wrk") is None:
        print("bench_webhook: wrk is not installed (apt-get install wrk); skipped")
        return 0
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    conn_counts = [int(a) for a in sys.argv[2:]] or [64, 128, 256]
    tmp = tempfile.mkdtemp(prefix="bench-wh-")
    env = dict(os.environ)
    ring = notifyctl(["keygen"], env)
    env.update({"SECRET_KEYS": ring, "SECRET_ACTIVE_KEY": ring.split(":")[0]})
    enc = notifyctl(["encrypt", "--org", ORG, "--column",
                     "email_provider_config.webhook_secret_encrypted"], env, SECRET)
    tw_enc = notifyctl(["encrypt", "--org", ORG, "--column",
                        "sms_provider_config.twilio_auth_token_encrypted"], env, TW_TOKEN)
    db = psycopg2.connect(DB)
    db.autocommit = True
    cur = db.cursor()
    cur.execute("INSERT INTO email_provider_config (org_id, smtp_host, from_email, "
                "webhook_secret_encrypted) VALUES (%s, 'smtp.invalid', 'a@b.example', %s)",
                (ORG, enc))
    # Distinct messages, as real traffic has: each callback is its own ledger lookup.
    # wrk cannot sign, so the signed bodies are made here and cycled through.
    cur.execute("INSERT INTO sms_provider_config (org_id, provider_type, twilio_account_sid,"
                " twilio_auth_token_encrypted, twilio_from_number) VALUES"
                " (%s, 'TWILIO', %s, %s, '+15005550006')", (ORG, TW_SID, tw_enc))
    rows = [(ORG, "email", f"k{i}", f"msg-{RUN}-{i}", "SENT", "SMTP", f"<bench-{RUN}-{i}@x>", 1)
            for i in range(NBODIES)]
    rows += [(ORG, "sms", f"t{i}", f"sms-{RUN}-{i}", "SENT", "TWILIO", f"SM{RUN}{i:024d}", 1)
             for i in range(NBODIES)]
    psycopg2.extras.execute_values(
        cur, "INSERT INTO delivery_ledger (org_id, channel, idempotency_key, message_id, state, "
        "provider, provider_message_id, attempts) VALUES %s", rows)
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write("local reqs = {}\n")
        for i in range(NBODIES):
            body = json.dumps({"provider_message_id": f"<bench-{RUN}-{i}@x>",
                               "status": "delivered"})
            sig = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            f.write(f"reqs[{i + 1}] = wrk.format('POST', nil, "
                    f"{{['Content-Type'] = 'application/json', "
                    f"['X-Webhook-Signature'] = 'sha256={sig}'}}, {json.dumps(body)})\n")
        f.write("local n = 0\n"
                "function request()\n"
                f"  n = n % {NBODIES} + 1\n"
                "  return reqs[n]\n"
                "end\n")

    port = free_port()
    e = dict(env)
    e.update({"HTTP_ADDR": f"127.0.0.1:{port}", "TOPIC_STATUS": TOPIC, "LOG_LEVEL": "warn",
              "WEBHOOK_MAX_CONNECTIONS": "2048", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
    log = open(os.path.join(tmp, "ingest.log"), "w")
    proc = subprocess.Popen([os.path.join(BUILD, "webhook-ingest")], env=e, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        # Warm-up: connections, prepared statements, the producer's partitions.
        wrk(f"{base}/api/webhooks/email/{ORG}/delivery", 2, 16, script)
        ok_total = 0
        for conns in conn_counts:
            cpu = benchlib.cpu_seconds(proc.pid)
            rps, p99, total, bad = wrk(f"{base}/api/webhooks/email/{ORG}/delivery", seconds,
                                       conns, script)
            cpu = benchlib.cpu_seconds(proc.pid) - cpu
            ok_total += total - bad
            print(f"webhook HMAC route, {conns} connections: {rps:,.0f} verified callbacks/s, "
                  f"p99 {p99:.1f} ms, {total} requests, {bad} not 2xx, "
                  f"server CPU {cpu * 1e6 / max(total, 1):.0f} us/request")
            hcpu = benchlib.cpu_seconds(proc.pid)
            hrps, hp99, htotal, _ = wrk(f"{base}/healthz", seconds, conns)
            hcpu = benchlib.cpu_seconds(proc.pid) - hcpu
            print(f"reference GET /healthz, {conns} connections: {hrps:,.0f} requests/s, "
                  f"p99 {hp99:.1f} ms, server CPU {hcpu * 1e6 / max(htotal, 1):.0f} us/request")
            benchlib.record("webhook, HMAC route", "verified callbacks", rps, "req/s",
                            "wrk GET /healthz", hrps, "webhook-ingest",
                            benchlib.peak_rss_kib(proc.pid), cpu * 1e6 / max(total, 1),
                            note="%d connections, p99 %.1f ms" % (conns, p99),
                            target=">= 10,000/s, p99 < 50 ms",
                            met=rps >= 10000 and p99 < 50 and bad == 0)
        tw_path = f"/api/webhooks/sms/{ORG}/twilio/status"
        tw_script = os.path.join(tmp, "twilio.lua")
        twilio_script(tw_script, f"http://127.0.0.1:{port}{tw_path}", RUN)
        cpu = benchlib.cpu_seconds(proc.pid)
        rps, p99, total, bad = wrk(base + tw_path, seconds, 128, tw_script)
        cpu = benchlib.cpu_seconds(proc.pid) - cpu
        ok_total += total - bad
        print(f"webhook Twilio route, 128 connections: {rps:,.0f} verified callbacks/s, "
              f"p99 {p99:.1f} ms, {total} requests, {bad} not 2xx, "
              f"server CPU {cpu * 1e6 / max(total, 1):.0f} us/request")
        benchlib.record("webhook, Twilio route", "verified callbacks", rps, "req/s",
                        binary="webhook-ingest", peak_rss=benchlib.peak_rss_kib(proc.pid),
                        cpu_us=cpu * 1e6 / max(total, 1),
                        note="128 connections, p99 %.1f ms, %d not 2xx" % (p99, bad))
        events = topic_count()
        print(f"events on the topic: {events} (2xx answers in the measured runs: {ok_total}; "
              f"the warm-up adds some)")
        if events < ok_total:
            print("bench_webhook: FEWER EVENTS THAN 2xx ANSWERS")
            return 1
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        cur.execute("DELETE FROM email_provider_config WHERE org_id = %s", (ORG,))
        cur.execute("DELETE FROM sms_provider_config WHERE org_id = %s", (ORG,))
        cur.execute("DELETE FROM webhook_callback_dedupe WHERE org_id = %s", (ORG,))
        cur.execute("DELETE FROM delivery_ledger WHERE org_id = %s", (ORG,))
        db.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
