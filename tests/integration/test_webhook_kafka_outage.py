"""webhook-ingest while Kafka is unavailable: a burst of signed callbacks during a broker
outage gets 503 or 2xx for each, and every callback answered 2xx has its status event on
the topic once the broker is back. A 2xx is never given for an event Kafka did not take.

The outage needs a broker of our own, so this test starts a private stack (scripts/stack
up in a temporary directory) and freezes its broker with SIGSTOP, then lets it go on with
SIGCONT: to a client that is a broker that stopped answering, connections and all.
"""
import concurrent.futures
import hashlib
import hmac
import json
import os
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

from testkit import check_named as check, free_port, summary  # noqa: E402

BUILD = os.environ["NOTIFY_BUILD_DIR"]
SOURCE = os.environ.get("NOTIFY_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = uuid.uuid4().hex[:8]
ORG = f"outage-{RUN}"
TOPIC = f"test.webhook.outage.{RUN}"
SECRET = "outage-secret-" + RUN
BURST = 60

def post(port, mid):
    body = json.dumps({"message_id": mid, "status": "delivered"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/webhooks/email/{ORG}/delivery",
                                 data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("X-Webhook-Signature",
                   hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest())
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return mid, r.status
    except urllib.error.HTTPError as e:
        return mid, e.code
    except OSError:
        return mid, 0


def main():
    stack_dir = tempfile.mkdtemp(prefix="wh-outage-stack-")
    env = dict(os.environ)
    env.update({"NOTIFY_SKIP_INSTALL": "1", "NOTIFYCTL": os.path.join(BUILD, "notifyctl")})
    up = subprocess.run([os.path.join(SOURCE, "scripts", "stack"), "up", "--dir", stack_dir],
                        env=env, capture_output=True, text=True)
    proc = None
    try:
        if up.returncode != 0:
            print(up.stderr[-2000:])
            check("private stack starts", False)
            return 1
        for line in up.stdout.splitlines():
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                env[k] = v.strip("'\"")
        from confluent_kafka import Consumer  # noqa: PLC0415

        ctl = [os.path.join(BUILD, "notifyctl")]
        ring = subprocess.run(ctl + ["keygen"], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()
        env.update({"SECRET_KEYS": ring, "SECRET_ACTIVE_KEY": ring.split(":")[0]})
        enc = subprocess.run(ctl + ["encrypt", "--org", ORG, "--column",
                                    "email_provider_config.webhook_secret_encrypted"],
                             input=SECRET, env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
        import psycopg2  # noqa: PLC0415
        db = psycopg2.connect(env["DATABASE_URL"])
        db.autocommit = True
        db.cursor().execute(
            "INSERT INTO email_provider_config (org_id, smtp_host, from_email, "
            "webhook_secret_encrypted) VALUES (%s, 'smtp.invalid', 'a@b.example', %s)",
            (ORG, enc))
        db.close()

        port = free_port()
        e = dict(env)
        e.update({"HTTP_ADDR": f"127.0.0.1:{port}", "TOPIC_STATUS": TOPIC, "LOG_LEVEL": "warn",
                  "WEBHOOK_KAFKA_TIMEOUT_MS": "3000"})
        log = open(os.path.join(stack_dir, "ingest.log"), "w")
        proc = subprocess.Popen([os.path.join(BUILD, "webhook-ingest")], env=e, stdout=log,
                                stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        _, st = post(port, f"before-{RUN}")
        check("a callback before the outage: 200", st == 200, st)

        with open(os.path.join(stack_dir, "kafka.pid")) as f:
            broker = int(f.read().strip())
        results = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            futures = []
            for i in range(BURST):
                if i == BURST // 4:
                    os.kill(broker, signal.SIGSTOP)
                futures.append(pool.submit(post, port, f"burst-{RUN}-{i}"))
                time.sleep(0.02)
            time.sleep(5)  # longer than WEBHOOK_KAFKA_TIMEOUT_MS: some must time out
            os.kill(broker, signal.SIGCONT)
            results = [f.result() for f in futures]
        codes = [st for _, st in results]
        check("every callback got 2xx or 503", all(c in (200, 503) for c in codes), codes)
        check("the outage produced 503s", codes.count(503) > 0, codes)
        _, st = post(port, f"after-{RUN}")
        for _ in range(20):
            if st == 200:
                break
            time.sleep(1)
            _, st = post(port, f"after-{RUN}")
        check("callbacks succeed again after the outage", st == 200, st)

        acked = {mid for mid, st in results if st == 200} | {f"before-{RUN}", f"after-{RUN}"}
        c = Consumer({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"],
                      "group.id": "outage-" + RUN, "auto.offset.reset": "earliest"})
        c.subscribe([TOPIC])
        seen = set()
        deadline = time.time() + 30
        while time.time() < deadline and not acked <= seen:
            m = c.poll(0.5)
            if m is not None and not m.error():
                seen.add(json.loads(m.value())["message_id"])
        c.close()
        check("every 2xx has its event on the topic", acked <= seen,
              f"missing: {sorted(acked - seen)}")
        print(f"burst: {codes.count(200)} answered 200, {codes.count(503)} answered 503; "
              f"{len(seen)} events on the topic")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run([os.path.join(SOURCE, "scripts", "stack"), "down", "--dir", stack_dir],
                       env=env, capture_output=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
