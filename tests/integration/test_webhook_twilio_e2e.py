"""End to end: twilio-worker sends through the Twilio simulator (twilio-sim), the simulator
posts its signed status callbacks to webhook-ingest (the worker's StatusCallback is built
from PUBLIC_BASE_URL), and delivery.status carries SENT from the worker, then the
callbacks' statuses up to DELIVERED from the webhook, for the same message_id.

Real Kafka and PostgreSQL from the stack; every topic, org and group carries a random tag.
Prints "N passed, N failed"; exits non-zero on a failure.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request

import psycopg2
from confluent_kafka import Consumer, Producer

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from testkit import check_named as check, free_port, summary  # noqa: E402

BUILD = os.environ["NOTIFY_BUILD_DIR"]
KAFKA = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]
TAG = "whe2e%d" % random.randint(0, 1 << 30)
ORG = TAG + "-org"
SID = "AC" + "%032x" % random.getrandbits(128)
TOKEN = "tok%016x" % random.getrandbits(64)

def wait_ready(port, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} not ready")


def main():
    tmp = tempfile.mkdtemp(prefix="wh-e2e-")
    procs = []
    conn = psycopg2.connect(DB)
    conn.autocommit = True
    try:
        keys = subprocess.check_output([BUILD + "/notifyctl", "keygen", "--id", "e1"]).decode().strip()
        env = dict(os.environ, SECRET_KEYS=keys, SECRET_ACTIVE_KEY="e1")
        enc = subprocess.run([BUILD + "/notifyctl", "encrypt", "--org", ORG, "--column",
                              "sms_provider_config.twilio_auth_token_encrypted"], input=TOKEN,
                             env=env, capture_output=True, text=True, check=True).stdout.strip()
        cur = conn.cursor()
        cur.execute("INSERT INTO sms_provider_config (org_id, provider_type, twilio_account_sid, "
                    "twilio_auth_token_encrypted, twilio_from_number) VALUES "
                    "(%s, 'TWILIO', %s, %s, '+15005550006')", (ORG, SID, enc))
        cur.execute("INSERT INTO sms_rate_limit (org_id, provider_type, quota_limit) "
                    "VALUES (%s, 'TWILIO', 1000)", (ORG,))

        base, status = TAG + ".sms", TAG + ".status"
        port_file = os.path.join(tmp, "sim.port")
        sim = subprocess.Popen([BUILD + "/twilio-sim", "--listen=127.0.0.1:0",
                                f"--account={SID}:{TOKEN}", "--port-file=" + port_file,
                                "--callback-delay-ms=20"],
                               stdout=open(os.path.join(tmp, "sim.log"), "w"),
                               stderr=subprocess.STDOUT)
        procs.append(sim)
        for _ in range(100):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.1)
        sim_port = int(open(port_file).read().strip())

        wh_port = free_port()
        public = f"http://127.0.0.1:{wh_port}"
        wh = subprocess.Popen([BUILD + "/webhook-ingest"],
                              env=dict(env, HTTP_ADDR=f"127.0.0.1:{wh_port}", TOPIC_STATUS=status,
                                       PUBLIC_BASE_URL=public, LOG_LEVEL="info"),
                              stdout=open(os.path.join(tmp, "webhook.log"), "w"),
                              stderr=subprocess.STDOUT)
        procs.append(wh)
        wait_ready(wh_port, wh, "webhook-ingest")
        w_port = free_port()
        worker = subprocess.Popen(
            [BUILD + "/twilio-worker"],
            env=dict(env, TOPIC_SMS_TWILIO=base, TOPIC_STATUS=status, CONSUMER_GROUP=TAG,
                     HTTP_ADDR=f"127.0.0.1:{w_port}", LOG_LEVEL="info",
                     TWILIO_API_BASE_URL=f"http://127.0.0.1:{sim_port}", PUBLIC_BASE_URL=public),
            stdout=open(os.path.join(tmp, "worker.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(worker)

        mids = [f"{TAG}-m{i}" for i in range(3)]
        producer = Producer({"bootstrap.servers": KAFKA})
        for i, mid in enumerate(mids):
            producer.produce(base, key=mid, value=json.dumps({
                "message_id": mid, "org_id": ORG, "to": f"+1415555{i:04d}",
                "payload": {"body": "hello " + mid}}))
        producer.flush(10)

        c = Consumer({"bootstrap.servers": KAFKA, "group.id": TAG + "-watch",
                      "auto.offset.reset": "earliest"})
        c.subscribe([status])
        events = {mid: [] for mid in mids}
        deadline = time.time() + 60
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                e = json.loads(m.value())
                if e["message_id"] in events:
                    events[e["message_id"]].append(e)
            if all(any(e["status"] == "DELIVERED" for e in evs) for evs in events.values()):
                break
        c.close()
        for mid, evs in events.items():
            seq = [(e["source"], e["status"]) for e in evs]
            check(f"{mid}: SENT from the worker", ("worker", "SENT") in seq, seq)
            check(f"{mid}: DELIVERED from the webhook", ("webhook", "DELIVERED") in seq, seq)
            if ("worker", "SENT") in seq and ("webhook", "DELIVERED") in seq:
                check(f"{mid}: SENT before DELIVERED",
                      seq.index(("worker", "SENT")) < seq.index(("webhook", "DELIVERED")), seq)
            sent = [e for e in evs if e["status"] == "SENT"]
            hooks = [e for e in evs if e["source"] == "webhook"]
            check(f"{mid}: webhook events carry the worker's sid and org",
                  sent and hooks and all(h["provider_message_id"] == sent[0]["provider_message_id"]
                                         and h["org_id"] == ORG and h["metadata"] is None
                                         for h in hooks), evs)
            check(f"{mid}: each callback once",
                  len(hooks) == len({h["status"] for h in hooks}) or len(hooks) == 3, seq)
        with urllib.request.urlopen(f"http://127.0.0.1:{wh_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        check("no signature failures", "notify_webhook_signature_failures_total{" not in text, "")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        cur = conn.cursor()
        for t in ("sms_provider_config", "sms_rate_limit", "delivery_ledger",
                  "webhook_callback_dedupe"):
            cur.execute(f"DELETE FROM {t} WHERE org_id = %s", (ORG,))
        conn.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
