#!/usr/bin/env python3
"""twilio-worker through the real pipeline against the Twilio simulator (twilio-sim).

Real Kafka and PostgreSQL from the stack (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL), the
binaries from NOTIFY_BUILD_DIR. The test starts its own simulator on a free loopback port,
its own callback receiver standing in for webhook-ingest (PUBLIC_BASE_URL), and one
twilio-worker with short retry delays; every topic, org id and consumer group carries a
random tag. It checks, for each outcome:

  - invalid phone and over-long body fail before any request reaches Twilio;
  - accepted: SENT with the simulator's SM sid and the segment count, the exact form bytes
    and headers the simulator received, and the status callbacks queued/sent/delivered
    whose X-Twilio-Signature passes an independent implementation written here and the
    official `twilio` package's RequestValidator;
  - a 400 with code 21211: FAILED TWILIO_21211, not retryable; with 21612 (retryable in
    the seed's table): RETRY_SCHEDULED;
  - wrong credentials (401): FAILED TWILIO_20003, not retryable; the refusal drops the
    org's cached config, so a rotated token is used by the org's next request;
  - 429 with Retry-After: RETRY_SCHEDULED TWILIO_20429, the organisation throttled (a
    request of the same org meanwhile waits with RATE_LIMIT and never reaches Twilio),
    then SENT;
  - 500, a timeout and a dropped connection: RETRY_SCHEDULED (retryable), then SENT;
  - a delivery that fails later: callbacks end with undelivered and ErrorCode 30003.

Prints "N passed, N failed"; exits non-zero on a failure.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
import psycopg2

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from testkit import check, failures, summary  # noqa: E402

BUILD = os.environ["NOTIFY_BUILD_DIR"]
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DBURL = os.environ["DATABASE_URL"]
TWILIO_PY = "9.13.0"

SID = "AC" + "%032x" % random.getrandbits(128)
TOKEN = "tok%016x" % random.getrandbits(64)
FROM = "+15005550006"

def twilio_validator():
    """The official helper's RequestValidator: Debian's python3-twilio (scripts/install-deps
    installs it), else the PyPI package installed (without its dependencies, which the
    validator does not use) into a cache directory the first time."""
    try:
        from twilio.request_validator import RequestValidator
        return RequestValidator
    except ImportError:
        pass
    target = os.path.join(os.path.expanduser("~/.cache/notify-delivery"), "py-twilio-" + TWILIO_PY)
    if not os.path.isdir(os.path.join(target, "twilio")):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "--target", target,
                        "twilio==" + TWILIO_PY], check=True, timeout=180,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sys.path.insert(0, target)
    from twilio.request_validator import RequestValidator
    return RequestValidator


def own_signature(token, url, pairs):
    """providers.md section 3, written independently of the C code: sorted names, each
    name's distinct values sorted, name+value appended to the URL; HMAC-SHA1; base64."""
    by_name = {}
    for k, v in pairs:
        by_name.setdefault(k, set()).add(v)
    text = url + "".join(k + v for k in sorted(by_name) for v in sorted(by_name[k]))
    mac = hmac.new(token.encode(), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


class CallbackReceiver(http.server.ThreadingHTTPServer):
    """Stands in for webhook-ingest: records every callback and answers 200."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), CallbackHandler)
        self.lock = threading.Lock()
        self.calls = []


class CallbackHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        with self.server.lock:
            self.server.calls.append({"path": self.path, "headers": dict(self.headers),
                                      "body": body})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def sim_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return json.loads(r.read())


def sim_rule(port, **fields):
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/sim/rules" % port, data=data, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 204


def encrypt(env, org, column, value):
    return subprocess.run([BUILD + "/notifyctl", "encrypt", "--org", org, "--column", column],
                          input=value.encode(), env=env, check=True,
                          capture_output=True).stdout.decode().strip()


def wait_port_file(path, proc, what):
    for _ in range(100):
        if os.path.exists(path):
            with open(path) as f:
                return int(f.read().strip())
        if proc.poll() is not None:
            raise SystemExit("%s exited with %d" % (what, proc.returncode))
        time.sleep(0.05)
    raise SystemExit("%s did not start" % what)


class Events:
    """Status events of the test's topic, by message_id, in the order produced."""

    def __init__(self, topic, group):
        self.consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group,
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.by_id = {}

    def poll(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            m = self.consumer.poll(0.2)
            if m is None or m.error():
                continue
            ev = json.loads(m.value())
            self.by_id.setdefault(ev["message_id"], []).append(ev)

    def wait(self, ids, final=("SENT", "FAILED", "DUPLICATE"), timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(any(e["status"] in final for e in self.by_id.get(i, [])) for i in ids):
                return True
            self.poll(0.5)
        return False

    def first(self, mid, status):
        return next((e for e in self.by_id.get(mid, []) if e["status"] == status), None)

    def close(self):
        self.consumer.close()


def main():
    tag = "twtest%d" % random.randint(0, 1 << 30)
    base, status_topic = tag + ".sms", tag + ".status"
    org_ok, org_bad, org_thr = tag + "-ok", tag + "-bad", tag + "-thr"
    procs = []
    tmp = tempfile.mkdtemp(prefix="twilio-test-")
    receiver = CallbackReceiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    cb_port = receiver.server_address[1]
    events = None
    try:
        RequestValidator = twilio_validator()

        keys = subprocess.check_output([BUILD + "/notifyctl", "keygen", "--id", "t1"]).decode().strip()
        env = dict(os.environ, SECRET_KEYS=keys, SECRET_ACTIVE_KEY="t1")
        col = "sms_provider_config.twilio_auth_token_encrypted"
        with psycopg2.connect(DBURL) as conn, conn.cursor() as cur:
            for org, token in ((org_ok, TOKEN), (org_bad, "wrong-token"), (org_thr, TOKEN)):
                cur.execute("INSERT INTO sms_provider_config (org_id, provider_type,"
                            " twilio_account_sid, twilio_auth_token_encrypted, twilio_from_number,"
                            " enabled) VALUES (%s, 'TWILIO', %s, %s, %s, true)",
                            (org, SID, encrypt(env, org, col, token), FROM))
                cur.execute("INSERT INTO sms_rate_limit (org_id, provider_type, quota_limit)"
                            " VALUES (%s, 'TWILIO', 1000)", (org,))

        admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
        topics = [base] + [base + s for s in (".retry.60s", ".retry.300s", ".retry.900s",
                                              ".retry.3600s", ".dlq")] + [status_topic]
        for f in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
            f.result()

        sim_port_file = os.path.join(tmp, "sim.port")
        sim = subprocess.Popen([BUILD + "/twilio-sim", "--listen=127.0.0.1:0",
                                "--account=%s:%s" % (SID, TOKEN), "--port-file=" + sim_port_file,
                                "--callback-delay-ms=20"],
                               stdout=open(os.path.join(tmp, "sim.log"), "w"),
                               stderr=subprocess.STDOUT)
        procs.append(sim)
        sim_port = wait_port_file(sim_port_file, sim, "twilio-sim")

        wlog = open(os.path.join(tmp, "worker.log"), "w")
        wenv = dict(env, TOPIC_SMS_TWILIO=base, TOPIC_STATUS=status_topic, CONSUMER_GROUP=tag,
                    HTTP_ADDR="127.0.0.1:0", LOG_LEVEL="info", TOPIC_AUTO_CREATE="false",
                    TWILIO_API_BASE_URL="http://127.0.0.1:%d" % sim_port,
                    PUBLIC_BASE_URL="http://127.0.0.1:%d" % cb_port,
                    TWILIO_TIMEOUT_MS="1500", RETRY_DELAYS_MS="1000,2000,3000,4000",
                    DRAIN_GRACE_MS="5000",
                    # Far longer than the test: a config read again after the 401 below
                    # is the refusal's doing, not the cache's expiry.
                    PROVIDER_CONFIG_TTL_MS="600000")
        worker = subprocess.Popen([BUILD + "/twilio-worker"], env=wenv, stdout=wlog,
                                  stderr=subprocess.STDOUT)
        procs.append(worker)

        producer = Producer({"bootstrap.servers": BOOTSTRAP})
        events = Events(status_topic, tag + "-watch")

        def send(mid, org, to, body="Hello from the test", **payload):
            payload["body"] = body
            producer.produce(base, key=mid, value=json.dumps({
                "message_id": mid, "org_id": org, "to": to, "idempotency_key": "key-" + mid,
                "payload": payload}))
            producer.flush(10)

        # 1. Refused before any request: nothing may reach the simulator.
        send("m-badphone", org_ok, "4155550100")
        send("m-toolong", org_ok, "+14155550199", body="x" * 1601)
        check(events.wait(["m-badphone", "m-toolong"]), "invalid requests got a final status")
        e = events.first("m-badphone", "FAILED")
        check(e and e["error_code"] == "INVALID_PHONE" and not e["retryable"],
              "national number: FAILED INVALID_PHONE (%r)" % e)
        e = events.first("m-toolong", "FAILED")
        check(e and e["error_code"] == "MESSAGE_TOO_LONG" and not e["retryable"],
              "1601 characters: FAILED MESSAGE_TOO_LONG (%r)" % e)
        check(sim_get(sim_port, "/sim/stats")["requests"] == 0,
              "no request reached the simulator for them")

        # Faults for the numbers of the cases below.
        sim_rule(sim_port, to="+14155550103", status=429, retry_after=2, count=1)
        sim_rule(sim_port, to="+14155550104", status=500, count=1)
        sim_rule(sim_port, to="+14155550105", delay_ms=3000, count=1)
        # Every request to this number is dropped: curl itself re-sends a request whose
        # kept-alive connection died without an answer, so a few drops may never reach the
        # pipeline; an endless one must come out as a retryable CONNECTION_FAILED.
        sim_rule(sim_port, to="+14155550106", drop=1)
        sim_rule(sim_port, to="+14155550109", final="undelivered", error_code=30003)

        body_ok = "Caf\u00e9 & cr\u00e8me = 100% {ok}"
        send("m-ok", org_ok, "+1 415 555 0101", body=body_ok, validityPeriod=600)
        send("m-21211", org_ok, "+15005550001")
        send("m-21612", org_ok, "+15005550002")
        send("m-401", org_bad, "+14155550102")
        send("m-429", org_thr, "+14155550103")
        send("m-500", org_ok, "+14155550104")
        send("m-timeout", org_ok, "+14155550105")
        send("m-drop", org_ok, "+14155550106")
        send("m-undelivered", org_ok, "+14155550109", body="\U0001F600" * 40)

        # The throttled org: once its 429 is seen, another of its requests must wait.
        check(events.wait(["m-429"], final=("RETRY_SCHEDULED",), timeout=30),
              "m-429 was scheduled for a retry")
        send("m-thr2", org_thr, "+14155550110")

        check(events.wait(["m-drop", "m-21612"], final=("RETRY_SCHEDULED",), timeout=30),
              "m-drop and m-21612 were scheduled for a retry")
        ids = ["m-ok", "m-21211", "m-401", "m-429", "m-500", "m-timeout", "m-undelivered",
               "m-thr2"]
        check(events.wait(ids, timeout=60), "every request got a final status: %s" % {
            i: [(x["status"], x["error_code"]) for x in events.by_id.get(i, [])] for i in ids})

        messages = sim_get(sim_port, "/sim/messages")
        by_to = {m["to"]: m for m in messages}

        e = events.first("m-ok", "SENT")
        sent = by_to.get("+14155550101")
        check(e is not None and sent is not None, "m-ok SENT and seen by the simulator")
        if e and sent:
            check(e["provider_message_id"] == sent["sid"] and sent["sid"].startswith("SM")
                  and len(sent["sid"]) == 34, "SENT carries the SM sid (%r)" % e)
            check(e["provider"] == "TWILIO" and e["channel"] == "sms" and e["segments"] == 1,
                  "provider, channel and segments on SENT (%r)" % e)
            callback = "http://127.0.0.1:%d/api/webhooks/sms/%s/twilio/status" % (cb_port, org_ok)
            expected_form = urllib.parse.urlencode([
                ("To", "+14155550101"), ("From", FROM), ("Body", body_ok),
                ("StatusCallback", callback), ("ValidityPeriod", "600")])
            check(sent["form"] == expected_form,
                  "form bytes: %r, expected %r" % (sent["form"], expected_form))
            check(sent["idempotency_key"] == "key-m-ok", "X-Idempotency-Key (%r)" % sent)
            check(sent["accept"] == "application/json"
                  and sent["content_type"] == "application/x-www-form-urlencoded",
                  "Accept and Content-Type (%r)" % sent)

        e = events.first("m-21211", "FAILED")
        check(e and e["error_code"] == "TWILIO_21211" and e["retryable"] is False
              and e["attempt"] == 1, "400/21211: FAILED TWILIO_21211 (%r)" % e)
        e = events.first("m-21612", "RETRY_SCHEDULED")
        check(e and e["error_code"] == "TWILIO_21612" and e["retryable"] is True
              and e["next_attempt_at"], "400/21612 (retryable in the seed's table): "
              "RETRY_SCHEDULED TWILIO_21612 (%r)" % e)
        e = events.first("m-401", "FAILED")
        check(e and e["error_code"] == "TWILIO_20003" and e["retryable"] is False
              and e["attempt"] == 1, "401: FAILED TWILIO_20003 not retryable (%r)" % e)
        # The operator rotates the token: the refusal dropped the cached config, so the
        # org's next request uses the new row at once.
        with psycopg2.connect(DBURL) as conn, conn.cursor() as cur:
            cur.execute("UPDATE sms_provider_config SET twilio_auth_token_encrypted = %s"
                        " WHERE org_id = %s", (encrypt(env, org_bad, col, TOKEN), org_bad))
        send("m-rotated", org_bad, "+14155550111")
        check(events.wait(["m-rotated"], timeout=30), "m-rotated got a final status")
        e = events.first("m-rotated", "SENT")
        check(e and e["attempt"] == 1, "after a 401 and a token rotation the org's next request "
              "is SENT with the new token (%r)" % events.by_id.get("m-rotated"))

        r = events.first("m-429", "RETRY_SCHEDULED")
        s = events.first("m-429", "SENT")
        check(r and r["error_code"] == "TWILIO_20429" and r["retryable"],
              "429: RETRY_SCHEDULED TWILIO_20429 (%r)" % r)
        check(s and s["attempt"] >= 2, "429: SENT on a later attempt (%r)" % s)
        r2 = events.first("m-thr2", "RETRY_SCHEDULED")
        check(r2 and r2["error_code"] == "RATE_LIMIT" and r2["attempt"] == 1,
              "while throttled, the org's next request waits with RATE_LIMIT (%r)"
              % events.by_id.get("m-thr2"))
        check(events.first("m-thr2", "SENT") is not None, "m-thr2 SENT once the throttle ended")
        with psycopg2.connect(DBURL) as conn, conn.cursor() as cur:
            cur.execute("SELECT throttle_until IS NOT NULL FROM sms_rate_limit WHERE org_id = %s",
                        (org_thr,))
            row = cur.fetchone()
            check(row and row[0], "the 429 set throttle_until on the org's quota row")

        r = events.first("m-drop", "RETRY_SCHEDULED")
        check(r and r["error_code"] == "CONNECTION_FAILED" and r["retryable"],
              "dropped connection: RETRY_SCHEDULED CONNECTION_FAILED (%r)" % r)
        for mid, code in (("m-500", "TWILIO_20500"), ("m-timeout", "TIMEOUT")):
            r = events.first(mid, "RETRY_SCHEDULED")
            s = events.first(mid, "SENT")
            check(r and r["error_code"] == code and r["retryable"],
                  "%s: RETRY_SCHEDULED %s (%r)" % (mid, code, events.by_id.get(mid)))
            check(s and s["attempt"] >= 2 and s["provider_message_id"].startswith("SM"),
                  "%s: SENT on a later attempt (%r)" % (mid, s))

        e = events.first("m-undelivered", "SENT")
        check(e and e["segments"] == 2, "40 emoji: UCS-2, 2 segments (%r)" % e)

        # Callbacks: three per message the simulator accepted, signed as Twilio signs them.
        # That is one more than the SENT events: the request that timed out was still
        # accepted by the (slow) simulator after the worker gave up, as Twilio may do,
        # which is why a timeout is the one retry that can send a message twice.
        deadline = time.monotonic() + 10
        while sim_get(sim_port, "/sim/stats")["created"] < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        created = sim_get(sim_port, "/sim/stats")["created"]
        check(created == 8, "the simulator accepted 7 messages and the late one (%d)" % created)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with receiver.lock:
                n = len(receiver.calls)
            if n >= 3 * created:
                break
            time.sleep(0.1)
        with receiver.lock:
            calls = list(receiver.calls)
        check(len(calls) == 3 * created, "%d callbacks for %d messages" % (len(calls), created))
        validator = RequestValidator(TOKEN)
        statuses = {}
        bad_sigs = []
        for c in calls:
            url = "http://127.0.0.1:%d%s" % (cb_port, c["path"])
            pairs = urllib.parse.parse_qsl(c["body"], keep_blank_values=True)
            params = dict(pairs)
            sig = c["headers"].get("X-Twilio-Signature")
            if sig != own_signature(TOKEN, url, pairs) or not validator.validate(url, params, sig):
                bad_sigs.append(c)
            check(c["headers"].get("Content-Type") == "application/x-www-form-urlencoded"
                  and c["headers"].get("I-Twilio-Idempotency-Token"),
                  "callback headers (%r)" % c["headers"])
            statuses.setdefault(params.get("MessageSid"), []).append(
                (params.get("MessageStatus"), params.get("ErrorCode")))
            check(params.get("AccountSid") == SID and params.get("From") == FROM
                  and params.get("SmsSid") == params.get("MessageSid")
                  and params.get("ApiVersion") == "2010-04-01", "callback params (%r)" % params)
        check(not bad_sigs, "every callback signature verifies (bad: %r)" % bad_sigs[:2])
        if calls:
            check(validator.validate(url, params, own_signature("other", url, pairs)) is False,
                  "the validator refuses a signature under another token")
        ok_sid = events.first("m-ok", "SENT")["provider_message_id"] if events.first("m-ok", "SENT") else None
        check(statuses.get(ok_sid) == [("queued", None), ("sent", None), ("delivered", None)],
              "m-ok callbacks queued, sent, delivered (%r)" % statuses.get(ok_sid))
        und = events.first("m-undelivered", "SENT")
        und_sid = und["provider_message_id"] if und else None
        check(statuses.get(und_sid) == [("queued", None), ("sent", None),
                                        ("undelivered", "30003")],
              "m-undelivered callbacks end undelivered/30003 (%r)" % statuses.get(und_sid))
    finally:
        if events:
            events.close()
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            # A clean stop on SIGTERM (under ASan: no leak, no error report).
            check(p.returncode == 0, "%s exited with %d" % (p.args[0], p.returncode))
        receiver.shutdown()
        if failures():
            for name in ("worker.log", "sim.log"):
                path = os.path.join(tmp, name)
                if os.path.exists(path):
                    print("--- %s (last lines)" % name)
                    with open(path) as f:
                        print("".join(f.readlines()[-30:]))

    return summary()


if __name__ == "__main__":
    sys.exit(main())
