"""The fault suite: the README's delivery guarantees, checked with numbers while things break.

It starts a stack of its own (scripts/stack up in a temporary directory: it stops the
broker and restarts PostgreSQL, which the shared test stack must not see), real providers
(an aiosmtpd SMTP server, twilio-sim, moto's SNS), webhook-ingest, and email-worker,
twilio-worker and sns-worker; then runs a mixed load (email, Twilio SMS, SNS SMS) through
them in phases, one fault per phase:

  base      nothing breaks (the reference)
  sigkill   workers killed with SIGKILL and restarted, email-worker several times
  sigterm   every worker stopped with SIGTERM (drain) and restarted
  rebalance a second replica of every worker started, then stopped (two rebalances each)
  kafka     the broker stopped and started again
  postgres  PostgreSQL stopped and started again
  errors    bursts of 4xx and 5xx from every provider
  throttle  429 with Retry-After (Twilio), Throttling (SNS), 452 (SMTP)
  slow      slow answers
  drop      connections dropped before an answer
  quota     an organisation with a small quota on every channel, its workers killed with
            SIGKILL while they hold leased quota

Every request carries its phase in its message_id and metadata. At the end it audits, per
phase, what the README promises ("Delivery guarantees"):
  - nothing is lost: every request has a final worker status on delivery.status;
  - the first final status is the answer, and any later one is DUPLICATE with the same
    provider message id (status events are at least once: a replay after a crash);
  - the ledger agrees with that answer (state, provider message id);
  - a status SENT means the provider has the message; FAILED means it has not;
  - the number of requests the provider accepted twice is zero, except under SIGKILL,
    where it is at most the requests in flight at the kills (kills x MAX_IN_FLIGHT);
  - retries respected their due time: no attempt reaches the provider between a
    RETRY_SCHEDULED event and its next_attempt_at (tolerance RETRY_TOLERANCE_MS);
  - quota rows never exceed their limit (sampled all along), and in the quota phase the
    providers never receive more of that organisation's requests than its quota, while
    the rest end FAILED QUOTA_EXCEEDED (so the limit was really reached);
  - every worker stopped with SIGTERM exits 0, and no sanitizer report appears.
It prints one table (fault, requests, final, lost, sent twice, bound, late dup, result)
and the evidence of every broken guarantee, and exits 1 when one is broken.

Run: scripts/test (ctest picks it up), or by hand after a build:
  NOTIFY_BUILD_DIR=build-test /usr/bin/python3 tests/integration/test_faults.py
NOTIFY_FAULTS_KEEP=1 keeps the run directory (logs of every process). The whole run is
bounded by NOTIFY_FAULTS_DEADLINE_S (default 540 s, under the 600 s ctest gives this test,
which it runs alone: tests/CMakeLists.txt).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psycopg2  # noqa: E402
from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from fault_harness import (ROOT, FaultPlan, FaultSmtp, Proc, Received,  # noqa: E402
                           RecordingProxy, StatusFollower, Stack, free_port)

T0 = time.time()
DEADLINE = T0 + float(os.environ.get("NOTIFY_FAULTS_DEADLINE_S", "540"))
TEARDOWN_RESERVE_S = 35
BUILD = os.path.abspath(os.environ.get("NOTIFY_BUILD_DIR") or os.path.join(ROOT, "build-test"))
PY = "/usr/bin/python3"

RATE_PER_CHANNEL = 5.0  # requests per second per channel while a phase's load runs
LOAD_S = 8.0            # how long each phase produces
SETTLE_S = 45.0         # at most this long for a phase's requests to end
MAX_IN_FLIGHT = 100
RETRY_DELAYS_MS = "1000,2000,3000,4000"
RETRY_TOLERANCE_MS = 250
PARTITIONS = 4
ORG = "faults-org"
QUOTA_ORG = "faults-quota-org"  # the quota phase's organisation
QUOTA_LIMIT = 12                # its quota on each channel, below the phase's load
SID = "AC" + "f" * 32
TOKEN = "faultstoken0123456789abcdef"
CHANNELS = ("email", "twilio", "sns")
FINAL = ("SENT", "FAILED", "DUPLICATE")
TOPIC = {"email": "outbound.email", "twilio": "outbound.sms.twilio", "sns": "outbound.sms.sns"}
WORKER_BIN = {"email": "email-worker", "twilio": "twilio-worker", "sns": "sns-worker"}


def log(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def left():
    return DEADLINE - time.time()


class Deadline(Exception):
    pass


def sleep(s):
    if time.time() + s > DEADLINE - TEARDOWN_RESERVE_S:
        raise Deadline("the overall deadline is near")
    time.sleep(s)


# --- moto ---------------------------------------------------------------------------------


def ensure_moto():
    from test_sns_moto import ensure_moto as ensure
    return ensure()


# --- the run ------------------------------------------------------------------------------


class Run:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="notify-faults-")
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(self.logs)
        self.stack = Stack(os.path.join(self.dir, "stack"), BUILD,
                           os.path.join(self.logs, "stack.log"))
        self.received = Received()
        self.smtp_plan = FaultPlan(1)
        self.sns_plan = FaultPlan(2)
        self.smtp = self.sim = self.twilio_proxy = self.sns_proxy = self.moto = None
        self.workers = {}
        self.replicas = {}
        self.follower = None
        self.producer = None
        self.phases = []          # names, in order
        self.sent = {}            # message_id -> (phase, channel)
        self.produce_errors = []
        self.kills = {}           # phase -> {channel: n}
        self.term_exits = []      # (name, exit code)
        self.quota_violations = []
        self.quota_samples = 0
        self.stop_sampler = False
        self.notes = []
        self.info = []

    # -- set-up --

    def base_env(self):
        e = {k: v for k, v in os.environ.items()
             if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "ASAN_OPTIONS",
                      "UBSAN_OPTIONS", "LSAN_OPTIONS")}
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:strict_string_checks=1")
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        supp = os.path.join(ROOT, "tests", "lsan.supp")
        e.setdefault("LSAN_OPTIONS", "suppressions=%s:print_suppressions=0" % supp)
        e.update({"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "DATABASE_URL": self.db_url,
                  "SECRET_KEYS": self.keys, "SECRET_ACTIVE_KEY": "f1", "LOG_LEVEL": "info"})
        return e

    def notifyctl(self, *args, stdin=None):
        e = dict(os.environ, SECRET_KEYS=getattr(self, "keys", ""), SECRET_ACTIVE_KEY="f1")
        return subprocess.run([os.path.join(BUILD, "notifyctl")] + list(args), input=stdin,
                              stdout=subprocess.PIPE, check=True, env=e,
                              timeout=30).stdout.decode().strip()

    def setup(self):
        log("run directory %s; starting a stack of our own" % self.dir)
        self.stack.up()
        self.bootstrap = self.stack.vars["KAFKA_BOOTSTRAP_SERVERS"]
        self.db_url = self.stack.vars["DATABASE_URL"]
        log("stack up: Kafka %s" % self.bootstrap)
        self.create_topics()
        self.keys = self.notifyctl("keygen", "--id", "f1")
        self.start_providers()
        self.add_org()
        self.start_binaries()
        self.follower = StatusFollower(self.bootstrap, "delivery.status").start()
        self.producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 5,
                                  "message.timeout.ms": 120000, "log_level": 0})
        threading.Thread(target=self.sample_quota, daemon=True).start()

    def create_topics(self):
        names = ["delivery.status"]
        for base in TOPIC.values():
            names += [base, base + ".dlq"] + [base + t for t in
                                              (".retry.60s", ".retry.300s", ".retry.900s",
                                               ".retry.3600s")]
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for t, f in admin.create_topics([NewTopic(n, num_partitions=PARTITIONS,
                                                  replication_factor=1) for n in names],
                                        operation_timeout=30).items():
            try:
                f.result(60)
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise

    def start_providers(self):
        self.smtp = FaultSmtp(self.received, self.smtp_plan).start()
        port_file = os.path.join(self.dir, "sim.port")
        self.webhook_port = free_port()
        self.sim = Proc("twilio-sim", [os.path.join(BUILD, "twilio-sim"),
                                       "--listen=127.0.0.1:0", "--port-file=" + port_file,
                                       "--account=%s:%s" % (SID, TOKEN),
                                       "--callback-delay-ms=200", "--seed=7"],
                        dict(os.environ), self.logs).start()
        deadline = time.time() + 30
        while not os.path.exists(port_file):
            if not self.sim.alive() or time.time() > deadline:
                raise RuntimeError("twilio-sim did not start")
            time.sleep(0.05)
        self.sim_port = int(open(port_file).read())
        self.twilio_proxy = RecordingProxy("twilio", self.sim_port, self.received).start()
        _, server = ensure_moto()
        moto_port = free_port()
        self.moto = Proc("moto", [server, "-H", "127.0.0.1", "-p", str(moto_port)],
                         dict(os.environ), self.logs, moto_port).start()
        self.moto.wait_ready(60, "/moto-api/data.json")
        self.moto_port = moto_port
        self.sns_proxy = RecordingProxy("sns", moto_port, self.received, self.sns_plan).start()

    def add_org(self):
        for org, limit in ((ORG, 100000), (QUOTA_ORG, QUOTA_LIMIT)):
            self.add_one_org(org, limit)

    def add_one_org(self, org, limit):
        def enc(column, value):
            return self.notifyctl("encrypt", "--org", org, "--column", column,
                                  stdin=value.encode())
        conn = psycopg2.connect(self.db_url)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("INSERT INTO email_provider_config (org_id, smtp_host, smtp_port,"
                    " from_email, from_name, use_tls, use_ssl, pool_size, enabled)"
                    " VALUES (%s, '127.0.0.1', %s, 'noreply@faults.example', 'Faults',"
                    " false, false, 4, true)", (org, self.smtp.port))
        cur.execute("INSERT INTO sms_provider_config (org_id, provider_type,"
                    " twilio_account_sid, twilio_auth_token_encrypted, twilio_from_number,"
                    " enabled) VALUES (%s, 'TWILIO', %s, %s, '+15005550006', true)",
                    (org, SID, enc("sms_provider_config.twilio_auth_token_encrypted", TOKEN)))
        cur.execute("INSERT INTO sms_provider_config (org_id, provider_type,"
                    " aws_access_key_encrypted, aws_secret_key_encrypted, aws_region,"
                    " aws_sender_id, enabled) VALUES (%s, 'AWS_SNS', %s, %s, 'us-east-1',"
                    " 'NotifyFault', true)",
                    (org, enc("sms_provider_config.aws_access_key_encrypted", "AKIAFAULTS0000"),
                     enc("sms_provider_config.aws_secret_key_encrypted", "faults-secret-key")))
        cur.execute("INSERT INTO email_rate_limit (org_id, quota_limit) VALUES (%s, %s)",
                    (org, limit))
        cur.execute("INSERT INTO sms_rate_limit (org_id, provider_type, quota_limit)"
                    " VALUES (%s, 'TWILIO', %s), (%s, 'AWS_SNS', %s)", (org, limit, org, limit))
        conn.close()

    def worker_env(self, channel, port):
        e = self.base_env()
        e.update({"HTTP_ADDR": "127.0.0.1:%d" % port, "RETRY_DELAYS_MS": RETRY_DELAYS_MS,
                  "DRAIN_GRACE_MS": "10000", "MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
                  "MAX_IN_FLIGHT_PER_PARTITION": str(MAX_IN_FLIGHT // 2),
                  # A killed member's partitions move on after this long, not 45 s.
                  "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "1000"})
        if channel == "twilio":
            e["TWILIO_API_BASE_URL"] = "http://127.0.0.1:%d" % self.twilio_proxy.port
            e["PUBLIC_BASE_URL"] = "http://127.0.0.1:%d" % self.webhook_port
        elif channel == "sns":
            e["SNS_ENDPOINT_URL"] = "http://127.0.0.1:%d/" % self.sns_proxy.port
        return e

    def new_worker(self, channel, name):
        port = free_port()
        return Proc(name, [os.path.join(BUILD, WORKER_BIN[channel])],
                    self.worker_env(channel, port), self.logs, port)

    def start_binaries(self):
        e = self.base_env()
        e.update({"HTTP_ADDR": "127.0.0.1:%d" % self.webhook_port,
                  "PUBLIC_BASE_URL": "http://127.0.0.1:%d" % self.webhook_port})
        self.webhook = Proc("webhook-ingest", [os.path.join(BUILD, "webhook-ingest")], e,
                            self.logs, self.webhook_port).start()
        for ch in CHANNELS:
            self.workers[ch] = self.new_worker(ch, WORKER_BIN[ch]).start()
        self.webhook.wait_ready(60)
        for ch in CHANNELS:
            self.workers[ch].wait_ready(60)
        log("webhook-ingest and the three workers ready")

    def sample_quota(self):
        conn = None
        while not self.stop_sampler:
            try:
                if conn is None:
                    conn = psycopg2.connect(self.db_url, connect_timeout=2)
                    conn.autocommit = True
                cur = conn.cursor()
                cur.execute("SELECT 'email', org_id, quota_limit, messages_sent_count"
                            " FROM email_rate_limit UNION ALL SELECT provider_type, org_id,"
                            " quota_limit, messages_sent_count FROM sms_rate_limit")
                for kind, org, limit, count in cur.fetchall():
                    if count > limit:
                        self.quota_violations.append((time.time() - T0, kind, org, count, limit))
                self.quota_samples += 1
            except psycopg2.Error:
                try:
                    conn and conn.close()
                except Exception:
                    pass
                conn = None
            time.sleep(0.5)
        if conn is not None:
            conn.close()

    # -- load --

    def request(self, channel, mid, phase):
        meta = {"phase": phase, "suite": "faults"}
        org = QUOTA_ORG if phase == "quota" else ORG
        if channel == "email":
            return {"message_id": mid, "org_id": org, "to": "%s@faults.example" % mid,
                    "subject": "Fault suite ref %s" % mid,
                    "payload": {"textBody": "Hello, ref %s" % mid}, "metadata": meta}
        body = "Your code ref %s" % mid
        return {"message_id": mid, "org_id": org, "to": "+14155550123",
                "payload": {"body": body}, "metadata": meta}

    def load(self, phase, stop):
        n = 0
        interval = 1.0 / (RATE_PER_CHANNEL * len(CHANNELS))
        nxt = time.time()
        while not stop.is_set():
            ch = CHANNELS[n % len(CHANNELS)]
            mid = "%s-%s-%05d" % (phase, ch, n)
            n += 1
            self.sent[mid] = (phase, ch)

            def cb(err, msg, mid=mid):
                if err is not None:
                    self.produce_errors.append((mid, str(err)))
            while True:
                try:
                    self.producer.produce(TOPIC[ch], json.dumps(self.request(ch, mid, phase)),
                                          on_delivery=cb)
                    break
                except BufferError:
                    self.producer.poll(0.1)
            self.producer.poll(0)
            nxt += interval
            time.sleep(max(0.0, nxt - time.time()))

    def run_phase(self, name, action):
        self.phases.append(name)
        log("phase %s: load on" % name)
        stop = threading.Event()
        t = threading.Thread(target=self.load, args=(name, stop), daemon=True)
        t_start = time.time()
        t.start()
        try:
            action()
            rest = LOAD_S - (time.time() - t_start)
            if rest > 0:
                sleep(rest)
        finally:
            stop.set()
            t.join(10)
            self.clear_faults()
        self.settle([m for m, (p, _) in self.sent.items() if p == name], name)

    def settle(self, mids, name):
        deadline = min(time.time() + SETTLE_S, DEADLINE - TEARDOWN_RESERVE_S)
        self.producer.flush(max(1, deadline - time.time()))
        while True:
            final = set(ev.get("message_id") for ev in self.follower.snapshot()
                        if ev.get("source") == "worker" and ev.get("status") in FINAL)
            missing = [m for m in mids if m not in final]
            if not missing:
                log("phase %s: all %d requests ended" % (name, len(mids)))
                return
            if time.time() > deadline:
                log("phase %s: %d of %d requests without a final status (e.g. %s)" %
                    (name, len(missing), len(mids), missing[:3]))
                if time.time() > DEADLINE - TEARDOWN_RESERVE_S:
                    raise Deadline("the overall deadline is near")
                return
            time.sleep(0.3)

    # -- faults --

    def clear_faults(self):
        self.smtp_plan.clear()
        self.sns_plan.clear()
        try:
            req = urllib.request.Request("http://127.0.0.1:%d/sim/rules" % self.sim_port,
                                         method="DELETE")
            urllib.request.urlopen(req, timeout=5).read()
        except OSError as e:
            self.notes.append("could not clear twilio-sim rules: %s" % e)

    def sim_rule(self, rule):
        req = urllib.request.Request("http://127.0.0.1:%d/sim/rules" % self.sim_port,
                                     data=rule.encode(), method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def restart(self, ch):
        self.workers[ch].start()
        self.workers[ch].wait_ready(min(60, max(1, left() - TEARDOWN_RESERVE_S)))

    def fault_sigkill(self):
        kills = self.kills.setdefault("sigkill", {})
        # Slow providers keep sends in flight, so that the kills land in the middle of some:
        # the case the README's bound is about.
        self.smtp_plan.set("slow", 0.5)
        self.sns_plan.set("slow", 0.5)
        self.sim_rule("delay_ms=1500&share=0.5")
        sleep(1.5)
        for ch in CHANNELS:
            self.workers[ch].kill()
            kills[ch] = kills.get(ch, 0) + 1
        for ch in CHANNELS:
            self.restart(ch)
        # email-worker twice more, the second time as soon as it is back.
        for _ in range(2):
            sleep(1.0)
            self.workers["email"].kill()
            kills["email"] += 1
            self.restart("email")
        self.clear_faults()
        log("phase sigkill: kills %s" % kills)

    def fault_sigterm(self):
        sleep(1.5)
        for ch in CHANNELS:
            rc = self.workers[ch].term()
            self.term_exits.append((self.workers[ch].name, rc))
            self.restart(ch)

    def fault_rebalance(self):
        sleep(1.0)
        for ch in CHANNELS:
            self.replicas[ch] = self.new_worker(ch, WORKER_BIN[ch] + "-replica").start()
        for ch in CHANNELS:
            self.replicas[ch].wait_ready(60)
        sleep(3.0)
        for ch in CHANNELS:
            rc = self.replicas[ch].term()
            self.term_exits.append((self.replicas[ch].name, rc))

    def fault_kafka(self):
        sleep(1.5)
        self.stack.kafka_stop()
        log("phase kafka: broker stopped")
        sleep(4.0)
        self.stack.kafka_start()
        log("phase kafka: broker back")

    def fault_postgres(self):
        sleep(1.5)
        self.stack.pg_stop()
        log("phase postgres: PostgreSQL stopped")
        sleep(3.0)
        self.stack.pg_start()
        log("phase postgres: PostgreSQL back")

    def fault_errors(self):
        sleep(0.5)
        self.smtp_plan.set("4xx", 0.5)
        self.sns_plan.set("5xx", 0.5)
        self.sim_rule("status=500&share=0.5&count=12")
        self.sim_rule("status=503&share=0.5&count=6")
        sleep(2.5)
        self.smtp_plan.set("5xx", 0.3)
        self.sns_plan.set("4xx", 0.3)
        self.sim_rule("status=400&code=21610&share=0.3&count=4")
        sleep(2.0)
        self.clear_faults()

    def fault_throttle(self):
        sleep(0.5)
        self.smtp_plan.set("throttle", 0.5)
        self.sns_plan.set("throttle", 0.5)
        self.sim_rule("status=429&retry_after=2&share=0.5&count=20")
        sleep(4.0)
        self.clear_faults()

    def fault_slow(self):
        sleep(0.5)
        self.smtp_plan.set("slow", 0.5)
        self.sns_plan.set("slow", 0.5)
        self.sim_rule("delay_ms=1500&share=0.5&count=20")
        sleep(4.0)
        self.clear_faults()

    def fault_quota(self):
        # Kills while the workers hold leased quota: what a dead worker leased is lost to
        # the organisation, never handed out twice.
        kills = self.kills.setdefault("quota", {})
        sleep(2.0)
        for ch in CHANNELS:
            self.workers[ch].kill()
            kills[ch] = kills.get(ch, 0) + 1
        for ch in CHANNELS:
            self.restart(ch)

    def fault_drop(self):
        sleep(0.5)
        self.smtp_plan.set("drop", 0.3)
        self.sns_plan.set("drop", 0.3)
        self.sim_rule("drop=1&share=0.3&count=12")
        sleep(4.0)
        self.clear_faults()

    # -- teardown --

    def stop_binaries(self):
        for ch in CHANNELS:
            w = self.workers.get(ch)
            if w is not None and w.alive():
                rc = w.term()
                self.term_exits.append((w.name + " (end)", rc))
        if getattr(self, "webhook", None) is not None and self.webhook.alive():
            self.webhook.term()

    def close(self):
        self.stop_sampler = True
        if self.follower:
            self.follower.close()
        Proc.kill_all()
        for p in (self.smtp, self.twilio_proxy, self.sns_proxy):
            if p is not None:
                try:
                    p.stop()
                except Exception:
                    pass
        try:
            self.stack.down()
        except Exception as e:
            print("scripts/stack down failed: %s (stack dir %s)" % (e, self.stack.dir))
            return False
        return True


# --- the audit ----------------------------------------------------------------------------


def parse_ms(text):
    import datetime
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000


def audit(run):
    """Returns (rows, problems): one table row per phase, and every broken guarantee."""
    problems = []
    events = run.follower.snapshot()
    by_mid = {}
    for ev in events:
        if ev.get("source") == "worker":
            by_mid.setdefault(ev.get("message_id"), []).append(ev)
    attempts, accepted = run.received.snapshot()
    acc_count = {}
    for ch, recs in accepted.items():
        for _, mid, pid in recs:
            acc_count[mid] = acc_count.get(mid, 0) + 1
    arrivals = {}
    for ch, recs in attempts.items():
        for t, mid in recs:
            arrivals.setdefault(mid, []).append(t * 1000)

    with open(os.path.join(run.dir, "received.json"), "w") as f:
        json.dump({"attempts": attempts, "accepted": accepted}, f)
    with open(os.path.join(run.dir, "events.json"), "w") as f:
        json.dump(events, f)

    conn = psycopg2.connect(run.db_url, connect_timeout=5)
    cur = conn.cursor()
    cur.execute("SELECT idempotency_key, state, provider_message_id, resend FROM"
                " delivery_ledger WHERE org_id IN (%s, %s)", (ORG, QUOTA_ORG))
    ledger = {k: (s, p, r) for k, s, p, r in cur.fetchall()}
    cur.execute("SELECT org_id, 'email', quota_limit, messages_sent_count FROM email_rate_limit"
                " WHERE org_id IN (%s, %s) UNION ALL SELECT org_id, provider_type, quota_limit,"
                " messages_sent_count FROM sms_rate_limit WHERE org_id IN (%s, %s)"
                " ORDER BY 1, 2", (ORG, QUOTA_ORG, ORG, QUOTA_ORG))
    quota_rows = cur.fetchall()
    conn.close()

    # The providers' own counts against what the proxies saw pass: a proxy that missed
    # something would make "sent twice" blind.
    stats = None
    try:
        stats = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/sim/stats" %
                                                  run.sim_port, timeout=5).read())
        if stats["created"] != len(accepted.get("twilio", [])):
            problems.append("twilio-sim created %d messages, the proxy saw %d accepted" %
                            (stats["created"], len(accepted.get("twilio", []))))
    except OSError as e:
        problems.append("twilio-sim stats unreadable: %s" % e)
    try:
        data = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/moto-api/data.json" %
                                                 run.moto_port, timeout=10).read())
        n = len(data.get("sns", {}).get("SMS", []))
        if n != len(accepted.get("sns", [])):
            problems.append("moto recorded %d SMS, the proxy saw %d accepted" %
                            (n, len(accepted.get("sns", []))))
    except OSError as e:
        problems.append("moto data unreadable: %s" % e)

    # webhook-ingest: the simulator's status callbacks for the Twilio messages, turned into
    # events on the same topic (reported, not a guarantee: a callback refused while Kafka is
    # down is not sent again by the simulator).
    hooked = set(ev.get("message_id") for ev in events if ev.get("source") == "webhook"
                 and ev.get("status") == "DELIVERED")
    tw_sent = [m for m, (p, ch) in run.sent.items() if ch == "twilio" and
               any(e.get("status") == "SENT" for e in by_mid.get(m, []))]
    run.info.append("webhook-ingest: %d of %d Twilio messages SENT got DELIVERED from their "
                    "callbacks" % (len([m for m in tw_sent if m in hooked]), len(tw_sent)))
    foreign = [ev for ev in events if ev.get("message_id") is not None
               and ev.get("message_id") not in run.sent]
    if foreign:
        problems.append("%d status events for message ids never sent, e.g. %s" %
                        (len(foreign), foreign[0]))
    # A callback webhook-ingest cannot correlate is published without a message_id. That is
    # expected for a copy a crash orphaned (the provider took it, the worker died before
    # recording its id, the resend got another id), and for a callback that overtook the
    # ledger's record of the id; anything else would be a correlation failure.
    pid_mid = {}
    for ch, recs in accepted.items():
        for _, mid, pid in recs:
            pid_mid[pid] = mid
    orphaned = race = 0
    unknown = []
    for ev in events:
        if ev.get("source") != "webhook" or ev.get("message_id") is not None:
            continue
        pid = ev.get("provider_message_id")
        mid = pid_mid.get(pid)
        if mid is None:
            unknown.append(pid)
        elif acc_count.get(mid, 0) > 1 and ledger.get(mid, (None, None))[1] != pid:
            orphaned += 1
        else:
            race += 1
    run.info.append("webhook-ingest: %d uncorrelated callback events for copies a crash "
                    "orphaned, %d for callbacks that overtook the ledger" % (orphaned, race))
    if unknown:
        problems.append("%d uncorrelated callback events for provider ids nobody sent, e.g. %s"
                        % (len(unknown), unknown[:3]))
    if stats is not None:
        run.info.append("twilio-sim: %s" % json.dumps(stats, sort_keys=True))

    margins = []  # first attempt after each RETRY_SCHEDULED, ms after its due time
    rows = []
    for phase in run.phases:
        mids = sorted(m for m, (p, _) in run.sent.items() if p == phase)
        kills_by_ch = run.kills.get(phase, {})
        kills = sum(kills_by_ch.values())
        # At most the requests in flight at each crash of that channel's worker.
        bound = kills * MAX_IN_FLIGHT
        final = lost = twice = late_dup = resend_rows = timing = failed = retried = 0
        twice_by_ch = {}
        bad = []
        for mid in mids:
            ch = run.sent[mid][1]
            evs = by_mid.get(mid, [])
            finals = [e for e in evs if e.get("status") in FINAL]
            if not finals:
                lost += 1
                bad.append("%s: no final status (events: %s)" %
                           (mid, [e.get("status") for e in evs]))
                continue
            final += 1
            first = finals[0]
            if first["status"] == "FAILED":
                failed += 1
            if any(e.get("status") == "RETRY_SCHEDULED" for e in evs):
                retried += 1
            for later in finals[1:]:
                if later["status"] != "DUPLICATE":
                    bad.append("%s: final %s after %s" % (mid, later["status"], first["status"]))
                elif first["status"] == "FAILED":
                    bad.append("%s: DUPLICATE after FAILED" % mid)
                elif later.get("provider_message_id") != first.get("provider_message_id"):
                    bad.append("%s: DUPLICATE names %r, the answer %r" %
                               (mid, later.get("provider_message_id"),
                                first.get("provider_message_id")))
                else:
                    late_dup += 1
            if first["status"] == "DUPLICATE" and not kills:
                bad.append("%s: first final status is DUPLICATE (no crash in this phase)" % mid)
            row = ledger.get(mid)
            want = "FAILED" if first["status"] == "FAILED" else "SENT"
            if row is None:
                bad.append("%s: no ledger row (answer %s)" % (mid, first["status"]))
            else:
                if row[0] != want:
                    bad.append("%s: ledger %s, answer %s" % (mid, row[0], first["status"]))
                if want == "SENT" and row[1] != first.get("provider_message_id"):
                    bad.append("%s: ledger provider id %r, event %r" %
                               (mid, row[1], first.get("provider_message_id")))
                if row[2]:
                    resend_rows += 1
            n_acc = acc_count.get(mid, 0)
            if want == "SENT" and n_acc == 0:
                bad.append("%s: %s but the provider has no copy" % (mid, first["status"]))
            if want == "FAILED" and n_acc > 0:
                bad.append("%s: FAILED (%s) but the provider accepted it" %
                           (mid, first.get("error_code")))
            if n_acc > 1:
                twice += 1
                twice_by_ch[ch] = twice_by_ch.get(ch, 0) + 1
                if not kills:
                    bad.append("%s: the provider accepted it %d times" % (mid, n_acc))
                elif row is not None and not row[2]:
                    # A crash may send twice, but never silently: the ledger says resend.
                    bad.append("%s: sent %d times, the ledger row is not marked resend" %
                               (mid, n_acc))
            # Due times: nothing reaches the provider between a RETRY_SCHEDULED event and
            # its next_attempt_at.
            for e in evs:
                if e.get("status") != "RETRY_SCHEDULED" or not e.get("next_attempt_at"):
                    continue
                occurred = parse_ms(e["occurred_at"])
                due = parse_ms(e["next_attempt_at"])
                early = [a for a in arrivals.get(mid, [])
                         if occurred < a < due - RETRY_TOLERANCE_MS]
                later = [a for a in arrivals.get(mid, []) if a > occurred]
                if later:
                    margins.append(min(later) - due)
                if early:
                    timing += 1
                    bad.append("%s: attempt %d retried %.0f ms before its due time %s" %
                               (mid, e.get("attempt", 0) + 1, due - early[0],
                                e["next_attempt_at"]))
        if phase == "quota":
            # The organisation's quota is the bound on what its providers receive, crashes
            # and all; the rest must have been refused for it.
            for ch in CHANNELS:
                ch_mids = [m for m in mids if run.sent[m][1] == ch]
                received = sum(acc_count.get(m, 0) for m in ch_mids)
                refused = [m for m in ch_mids if any(
                    e.get("status") == "FAILED" and e.get("error_code") == "QUOTA_EXCEEDED"
                    for e in by_mid.get(m, []))]
                if received > QUOTA_LIMIT:
                    bad.append("%s: the provider received %d requests of an organisation whose"
                               " quota is %d" % (ch, received, QUOTA_LIMIT))
                if len(ch_mids) <= QUOTA_LIMIT or not refused:
                    bad.append("%s: %d requests, %d refused with QUOTA_EXCEEDED: the quota was"
                               " never reached" % (ch, len(ch_mids), len(refused)))
                run.info.append("quota phase, %s: %d requests, %d received by the provider "
                                "(quota %d), %d FAILED QUOTA_EXCEEDED" %
                                (ch, len(ch_mids), received, QUOTA_LIMIT, len(refused)))
        for ch, n in twice_by_ch.items():
            if kills and n > kills_by_ch.get(ch, 0) * MAX_IN_FLIGHT:
                bad.append("%s: %d requests sent twice, above %d kills x MAX_IN_FLIGHT %d" %
                           (ch, n, kills_by_ch.get(ch, 0), MAX_IN_FLIGHT))
        result = "ok" if not bad else "FAIL"
        rows.append((phase, len(mids), final, failed, retried, lost, twice,
                     bound if kills else 0, late_dup, resend_rows, timing, result))
        for b in bad[:15]:
            problems.append("%s: %s" % (phase, b))
        if len(bad) > 15:
            problems.append("%s: ... and %d more" % (phase, len(bad) - 15))

    if margins:
        margins.sort()
        run.info.append("retries: %d next attempts checked against their due time; the "
                        "earliest came %+.0f ms after it, the median %+.0f ms" %
                        (len(margins), margins[0], margins[len(margins) // 2]))
    for org, kind, limit, count in quota_rows:
        if count > limit:
            problems.append("quota %s %s: %d used of %d" % (org, kind, count, limit))
    for v in run.quota_violations[:5]:
        problems.append("quota row above its limit at %.1fs: %s" % (v[0], v[1:]))
    if run.quota_samples == 0:
        problems.append("the quota rows were never sampled")
    for name, rc in run.term_exits:
        if rc != 0:
            problems.append("%s stopped with SIGTERM exited %r, not 0" % (name, rc))
    for p in Proc.registry:
        for path, text in p.sanitizer_reports():
            problems.append("sanitizer report in %s:\n%s" % (path, text))
    for mid, err in run.produce_errors[:5]:
        problems.append("request %s was not accepted by Kafka: %s" % (mid, err))
    return rows, problems, quota_rows


def print_table(rows):
    head = ("fault", "requests", "final", "FAILED", "retried", "lost", "sent twice", "bound",
            "late dup", "resend rows", "early retries", "result")
    table = [head] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j])
                        for j, c in enumerate(r)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main():
    def on_term(signum, frame):
        raise SystemExit("terminated by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)

    run = Run()
    failed = False
    rows = []
    try:
        run.setup()
        plan = [("base", lambda: None), ("sigkill", run.fault_sigkill),
                ("sigterm", run.fault_sigterm), ("rebalance", run.fault_rebalance),
                ("kafka", run.fault_kafka), ("postgres", run.fault_postgres),
                ("errors", run.fault_errors), ("throttle", run.fault_throttle),
                ("slow", run.fault_slow), ("drop", run.fault_drop),
                ("quota", run.fault_quota)]
        only = os.environ.get("NOTIFY_FAULTS_ONLY")
        if only:
            plan = [p for p in plan if p[0] in only.split(",") or p[0] == "base"]
        for name, action in plan:
            run.run_phase(name, action)
        # Replays after the last crash, callbacks: a moment for the stragglers.
        time.sleep(2)
        run.stop_binaries()
        rows, problems, quota = audit(run)
        print()
        print_table(rows)
        print()
        attempts, accepted = run.received.snapshot()
        print("providers: %s" % ", ".join("%s %d attempts, %d accepted" %
                                          (ch, len(attempts.get(ch, [])),
                                           len(accepted.get(ch, []))) for ch in CHANNELS))
        print("faults injected: smtp %s, sns %s" % (run.smtp_plan.injected,
                                                    run.sns_plan.injected))
        print("quota rows (org, kind, limit, used): %s; %d samples, none above the limit" %
              (quota, run.quota_samples) if not run.quota_violations else
              "quota rows: %s" % quota)
        for n in run.info:
            print(n)
        for n in run.notes:
            print("note: " + n)
        if problems:
            failed = True
            print("\nbroken guarantees:")
            for p in problems:
                print("  - " + p)
    except (Deadline, SystemExit) as e:
        failed = True
        print("FAIL: %s" % e)
    except Exception:
        failed = True
        print("FAIL: unexpected error")
        traceback.print_exc(file=sys.stdout)
    finally:
        if failed:
            for p in Proc.registry:
                if p.err_paths:
                    print("logs of %s: %s" % (p.name, os.path.dirname(p.err_paths[-1])))
                    break
        if not run.close():
            failed = True
        if os.environ.get("NOTIFY_FAULTS_KEEP") == "1" or failed:
            print("run directory kept: %s" % run.dir)
        else:
            shutil.rmtree(run.dir, ignore_errors=True)
    print("faults: %.1fs, %s" % (time.time() - T0, "FAILED" if failed else "passed"))
    print("%d passed, %d failed" % ((0, 1) if failed else (1, 0)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
