"""Shared helpers for the pipeline's integration tests (tests/integration/test_pipeline_*.py).

The system under test is the delivery pipeline run as a real worker process: the
`test-worker` binary (tests/support/test_worker.c) is the pipeline with the scripted
provider of tests/support/scripted_sender.h, against the real Kafka broker and PostgreSQL
that scripts/test starts (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL in the environment;
NOTIFY_BUILD_DIR names the build).

Every test isolates itself: topic names, org ids and the consumer group carry a random
suffix, so tests can run in parallel against one stack, and every worker process a test
starts is killed when the test ends, whatever happens.

Only the standard library and Debian's python3-confluent-kafka and python3-psycopg2.
"""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import zlib

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
import psycopg2

TIER_SUFFIXES = [".retry.60s", ".retry.300s", ".retry.900s", ".retry.3600s"]

# The fields of a status event (contract "Status event"), all present on every event.
EVENT_FIELDS = frozenset([
    "event_id", "message_id", "org_id", "channel", "provider", "status", "attempt",
    "provider_message_id", "error_code", "error_message", "retryable", "next_attempt_at",
    "source", "occurred_at", "segments", "metadata",
])
FINAL_STATUSES = frozenset(["SENT", "DUPLICATE", "FAILED"])

RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class CheckFailed(Exception):
    """A check of a test failed; the message says what was expected and what came."""


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def check_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed("%s: expected %r, got %r" % (what, expected, actual))


def now_ms():
    return int(time.time() * 1000)


def suffix():
    return uuid.uuid4().hex[:10]


def parse_time_ms(text):
    """Epoch milliseconds of an RFC 3339 UTC time with milliseconds ("...T12:00:00.123Z")."""
    check(isinstance(text, str) and RFC3339_MS.match(text) is not None,
          "not an RFC 3339 UTC time with milliseconds: %r" % (text,))
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    dt = dt.replace(tzinfo=datetime.timezone.utc)
    return int(round(dt.timestamp() * 1000))


def canonical(value):
    """JSON text that tells 1 from 1.0 and ignores key order: for comparing metadata."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def kafka_partition_for_key(key, partitions):
    """Where librdkafka's default partitioner (consistent_random: CRC-32 of the key) puts a
    message with this non-empty key: the worker produces its copies with it."""
    return (zlib.crc32(key) & 0xFFFFFFFF) % partitions


def key_for_partition(prefix, partition, partitions):
    """A key starting with `prefix` that the default partitioner maps to `partition`."""
    for i in range(100000):
        key = ("%s-%d" % (prefix, i)).encode()
        if kafka_partition_for_key(key, partitions) == partition:
            return key
    raise RuntimeError("no key found")


# --- the environment ----------------------------------------------------------------------


class Env:
    def __init__(self):
        missing = [k for k in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "NOTIFY_BUILD_DIR")
                   if not os.environ.get(k)]
        if missing:
            raise RuntimeError("missing environment (run under scripts/test or with the "
                               "stack's export lines): " + ", ".join(missing))
        self.bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        self.database_url = os.environ["DATABASE_URL"]
        self.build_dir = os.environ["NOTIFY_BUILD_DIR"]
        self.source_dir = os.environ.get("NOTIFY_SOURCE_DIR") or os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.worker_bin = os.path.join(self.build_dir, "test-worker")
        self.notifyctl = os.path.join(self.build_dir, "notifyctl")
        for b in (self.worker_bin, self.notifyctl):
            if not os.access(b, os.X_OK):
                raise RuntimeError("binary not built: " + b)
        # What the worker itself does when built with sanitizers: scripts/test sets these;
        # a run by hand gets the same.
        self.base_env = dict(os.environ)
        supp = os.path.join(self.source_dir, "tests", "lsan.supp")
        self.base_env.setdefault("ASAN_OPTIONS",
                                 "detect_leaks=1:abort_on_error=0:strict_string_checks=1")
        self.base_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if os.path.exists(supp):
            self.base_env.setdefault("LSAN_OPTIONS", "suppressions=%s:print_suppressions=0" % supp)
        # Keys that would change every worker's configuration behind a test's back.
        for k in list(self.base_env):
            if k.startswith(("TOPIC_", "KAFKA_")) and k != "KAFKA_BOOTSTRAP_SERVERS":
                del self.base_env[k]
        for k in ("CONSUMER_GROUP", "HTTP_ADDR", "RETRY_DELAYS_MS", "MAX_IN_FLIGHT",
                  "MAX_IN_FLIGHT_PER_PARTITION", "DRAIN_GRACE_MS", "LOG_LEVEL", "SECRET_KEYS",
                  "SECRET_KEYS_FILE", "SECRET_ACTIVE_KEY", "NOTIFY_TEST_CHANNEL",
                  "NOTIFY_TEST_SEND_LOG", "LEDGER_STALE_MS", "PROVIDER_CONFIG_TTL_MS"):
            self.base_env.pop(k, None)
        self.sanitized = self._sanitized()

    def _sanitized(self):
        """True when the build has AddressSanitizer (slower: tests scale their load)."""
        cache = os.path.join(self.build_dir, "CMakeCache.txt")
        try:
            with open(cache) as f:
                return re.search(r"^NOTIFY_ASAN:BOOL=ON$", f.read(), re.M) is not None
        except OSError:
            return False


# --- secrets ------------------------------------------------------------------------------


class KeyRing:
    """A fresh key ring from `notifyctl keygen`; values for *_encrypted columns from
    `notifyctl encrypt`, as an operator would make them."""

    def __init__(self, env):
        self.env = env
        self.key_id = "k" + suffix()[:6]
        out = subprocess.run([env.notifyctl, "keygen", "--id", self.key_id], check=True,
                             stdout=subprocess.PIPE, env=env.base_env, timeout=30)
        self.keys = out.stdout.decode().strip()
        check(self.keys.startswith(self.key_id + ":"), "notifyctl keygen printed " + self.keys)

    def worker_env(self):
        return {"SECRET_KEYS": self.keys, "SECRET_ACTIVE_KEY": self.key_id}

    def encrypt(self, org, column, plaintext):
        e = dict(self.env.base_env)
        e.update(self.worker_env())
        out = subprocess.run([self.env.notifyctl, "encrypt", "--org", org, "--column", column],
                             input=plaintext.encode(), stdout=subprocess.PIPE, env=e,
                             check=True, timeout=30)
        return out.stdout.decode().strip()


# --- PostgreSQL ---------------------------------------------------------------------------


class Db:
    def __init__(self, env, keyring):
        self.conn = psycopg2.connect(env.database_url)
        self.conn.autocommit = True
        self.keyring = keyring
        self.orgs = set()

    def close(self):
        try:
            self.cleanup()
        finally:
            self.conn.close()

    def q(self, sql, args=()):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            if cur.description is None:
                return None
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def add_email_org(self, org, enabled=True, secret_org=None):
        """An email_provider_config row; the SMTP password is encrypted for `secret_org`
        (default: the org itself, so that it decrypts)."""
        self.orgs.add(org)
        password = self.keyring.encrypt(secret_org or org,
                                        "email_provider_config.smtp_password_encrypted",
                                        "smtp-secret-" + org)
        self.q("INSERT INTO email_provider_config (org_id, smtp_host, smtp_port, smtp_username,"
               " smtp_password_encrypted, from_email, from_name, enabled)"
               " VALUES (%s, 'smtp.invalid', 587, 'user', %s, %s, 'Tests', %s)",
               (org, password, "noreply@%s.example" % org[:20], enabled))

    def add_twilio_org(self, org, enabled=True):
        self.orgs.add(org)
        token = self.keyring.encrypt(org, "sms_provider_config.twilio_auth_token_encrypted",
                                     "twilio-token-" + org)
        self.q("INSERT INTO sms_provider_config (org_id, provider_type, twilio_account_sid,"
               " twilio_auth_token_encrypted, twilio_from_number, enabled)"
               " VALUES (%s, 'TWILIO', 'AC0123456789abcdef0123456789abcdef', %s,"
               " '+15005550006', %s)", (org, token, enabled))

    def set_email_quota(self, org, limit, count=0, reset_in_ms=None, window_s=86400,
                        throttle_in_ms=None):
        """Creates or replaces the org's email_rate_limit row. reset_in_ms: reset_at relative
        to the database's now() (None: now(), so the first lease opens a window);
        throttle_in_ms likewise for throttle_until (None: no throttle)."""
        self.orgs.add(org)
        self.q("DELETE FROM email_rate_limit WHERE org_id = %s", (org,))
        self.q("INSERT INTO email_rate_limit (org_id, quota_limit, messages_sent_count,"
               " rate_limit_window_seconds, reset_at, throttle_until) VALUES (%s, %s, %s, %s,"
               " now() + %s * interval '1 millisecond',"
               " CASE WHEN %s::bigint IS NULL THEN NULL"
               " ELSE now() + %s * interval '1 millisecond' END)",
               (org, limit, count, window_s, reset_in_ms or 0, throttle_in_ms,
                throttle_in_ms or 0))

    def email_quota(self, org):
        rows = self.q("SELECT quota_limit, messages_sent_count, reset_at, throttle_until,"
                      " extract(epoch from reset_at) * 1000 AS reset_ms,"
                      " extract(epoch from throttle_until) * 1000 AS throttle_ms"
                      " FROM email_rate_limit WHERE org_id = %s", (org,))
        return rows[0] if rows else None

    def ledger(self, org):
        return self.q("SELECT org_id, channel, idempotency_key, message_id, state,"
                      " provider_message_id, attempts, last_error_code, resend"
                      " FROM delivery_ledger WHERE org_id = %s", (org,))

    def ledger_row(self, org, key, channel="email"):
        rows = self.q("SELECT * FROM delivery_ledger WHERE org_id = %s AND channel = %s"
                      " AND idempotency_key = %s", (org, channel, key))
        return rows[0] if rows else None

    def cleanup(self):
        for org in self.orgs:
            for table in ("email_provider_config", "sms_provider_config", "email_rate_limit",
                          "sms_rate_limit", "delivery_ledger"):
                self.q("DELETE FROM %s WHERE org_id = %%s" % table, (org,))


# --- Kafka --------------------------------------------------------------------------------


class Topics:
    """The topic names of one test: a base topic with its retry tiers and DLQ, and a
    status topic, all with a random suffix."""

    def __init__(self, name):
        s = suffix()
        self.base = "pt.%s.%s" % (name, s)
        self.tiers = [self.base + t for t in TIER_SUFFIXES]
        self.dlq = self.base + ".dlq"
        self.status = "pt.%s.%s.status" % (name, s)
        self.group = "pt-%s-%s" % (name, s)

    def all(self):
        return [self.base] + self.tiers + [self.dlq, self.status]


def create_topics(env, names, partitions=4):
    admin = AdminClient({"bootstrap.servers": env.bootstrap, "log_level": 3})
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in names],
        operation_timeout=30, request_timeout=30)
    for t, f in futures.items():
        try:
            f.result(timeout=60)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise
    # Wait until the metadata shows every partition with a leader.
    deadline = time.time() + 30
    while True:
        md = admin.list_topics(timeout=10)
        ready = all(t in md.topics and md.topics[t].error is None
                    and len(md.topics[t].partitions) == partitions
                    and all(p.leader >= 0 for p in md.topics[t].partitions.values())
                    for t in names)
        if ready:
            return
        if time.time() > deadline:
            raise RuntimeError("topics not ready: %s" % names)
        time.sleep(0.2)


def delete_topics(env, names):
    try:
        admin = AdminClient({"bootstrap.servers": env.bootstrap, "log_level": 3})
        for f in admin.delete_topics(list(names), operation_timeout=10).values():
            try:
                f.result(timeout=20)
            except Exception:
                pass
    except Exception:
        pass


class Produced:
    """Where a produced message landed."""

    def __init__(self, key, value, headers):
        self.key = key
        self.value = value
        self.headers = headers
        self.topic = None
        self.partition = None
        self.offset = None
        self.error = None
        self.produced_ms = None


class Sender:
    """A producer for requests; every produce reports where the message landed."""

    def __init__(self, env):
        self.p = Producer({"bootstrap.servers": env.bootstrap, "acks": "all",
                           "enable.idempotence": True, "linger.ms": 5})

    def produce(self, topic, value, key=None, partition=None, headers=None):
        if isinstance(value, (dict, list)):
            value = json.dumps(value).encode()
        elif isinstance(value, str):
            value = value.encode()
        if isinstance(key, str):
            key = key.encode()
        rec = Produced(key, value, headers)

        def on_delivery(err, msg):
            rec.error = err
            if err is None:
                rec.topic, rec.partition, rec.offset = msg.topic(), msg.partition(), msg.offset()

        kwargs = {"value": value, "on_delivery": on_delivery}
        if key is not None:
            kwargs["key"] = key
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = headers
        while True:
            try:
                self.p.produce(topic, **kwargs)
                break
            except BufferError:
                self.p.poll(0.1)
        rec.produced_ms = now_ms()
        self.p.poll(0)
        return rec

    def flush(self, timeout=60):
        left = self.p.flush(timeout)
        check(left == 0, "%d produced messages not acknowledged" % left)


class Record:
    def __init__(self, msg):
        self.topic = msg.topic()
        self.partition = msg.partition()
        self.offset = msg.offset()
        self.key = msg.key()
        self.value = msg.value()
        self.headers = {}
        self.header_list = msg.headers() or []
        for k, v in self.header_list:
            self.headers[k] = v.decode() if v is not None else None
        self.timestamp_ms = msg.timestamp()[1]
        self.seen_ms = now_ms()
        self.event = None
        if self.value is not None:
            try:
                self.event = json.loads(self.value.decode())
            except (ValueError, UnicodeDecodeError):
                self.event = None


class Reader:
    """Reads every partition of some topics from the beginning, keeping what it read."""

    def __init__(self, env, topics):
        self.c = Consumer({"bootstrap.servers": env.bootstrap,
                           "group.id": "pt-reader-" + suffix(),
                           "enable.auto.commit": False,
                           "enable.partition.eof": False,
                           "auto.offset.reset": "earliest"})
        md = self.c.list_topics(timeout=20)
        parts = []
        for t in topics:
            check(t in md.topics, "topic %s does not exist" % t)
            for p in md.topics[t].partitions:
                parts.append(TopicPartition(t, p, OFFSET_BEGINNING))
        self.c.assign(parts)
        self.records = []

    def poll(self, timeout=0.1):
        msgs = self.c.consume(num_messages=1000, timeout=timeout)
        for m in msgs:
            if m.error():
                continue
            self.records.append(Record(m))
        return len(msgs)

    def until(self, pred, timeout, what, step=None):
        deadline = time.time() + timeout
        while True:
            self.poll(0.1)
            if step:
                step()
            if pred():
                return
            if time.time() > deadline:
                raise CheckFailed("timed out after %ss waiting for %s" % (timeout, what))

    def on(self, topic):
        """The records read so far from one of the topics."""
        return [r for r in self.records if r.topic == topic]

    def close(self):
        self.c.close()


class StatusReader(Reader):
    """The status topic: events by message_id, in the order they were published."""

    def __init__(self, env, topic):
        Reader.__init__(self, env, [topic])

    def events(self, mid=None):
        evs = [r.event for r in self.records]
        if mid is None:
            return evs
        return [e for e in evs if isinstance(e, dict) and e.get("message_id") == mid]

    def by_mid(self):
        out = {}
        for r in self.records:
            e = r.event
            if isinstance(e, dict):
                out.setdefault(e.get("message_id"), []).append(e)
        return out

    def statuses(self, mid):
        return [e["status"] for e in self.events(mid)]

    def wait_status(self, mid, status, timeout, count=1):
        """The count-th event of that status for mid, waiting up to timeout seconds."""
        self.until(lambda: self.statuses(mid).count(status) >= count, timeout,
                   "%s of %s" % (status, mid))
        return [e for e in self.events(mid) if e["status"] == status][count - 1]

    def final_count(self, mids):
        """How many of mids have a final status (SENT, DUPLICATE, FAILED) so far."""
        final = set()
        for r in self.records:
            e = r.event
            if isinstance(e, dict) and e.get("status") in FINAL_STATUSES:
                final.add(e.get("message_id"))
        return len(final & set(mids))


# --- the worker process ---------------------------------------------------------------


class SendLog:
    """The scripted provider's record: one "<message_id> <attempt> <OK|code>" per send."""

    def __init__(self, path):
        self.path = path

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        out = []
        for line in data.decode().splitlines():
            parts = line.split(" ")
            if len(parts) == 3:
                out.append((parts[0], int(parts[1]), parts[2]))
        return out

    def size(self):
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def lines_before(self, size):
        """The lines within the first `size` bytes (the file as it was at some moment), as
        (message_id, attempt, outcome) strings."""
        try:
            with open(self.path, "rb") as f:
                data = f.read(size)
        except FileNotFoundError:
            return []
        return [tuple(line.split(" ")) for line in data.decode().splitlines() if line]

    def counts(self):
        out = {}
        for mid, _, _ in self.lines():
            out[mid] = out.get(mid, 0) + 1
        return out


class Worker:
    """One test-worker process: its environment, its log (JSON lines on stdout, kept in a
    file) and its stderr (sanitizer reports)."""

    def __init__(self, h, name, env):
        self.h = h
        self.name = name
        self.env = env
        self.proc = None
        self.log_path = None
        self.err_path = None
        self.starts = 0
        self.rcs = []
        self.err_paths = []  # every run's stderr

    def start(self):
        check(self.proc is None or self.proc.poll() is not None, "worker %s already running"
              % self.name)
        self.starts += 1
        self.log_path = os.path.join(self.h.tmpdir, "%s.%d.log" % (self.name, self.starts))
        self.err_path = os.path.join(self.h.tmpdir, "%s.%d.err" % (self.name, self.starts))
        self.err_paths.append(self.err_path)
        with open(self.log_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([self.h.env.worker_bin], env=self.env, stdout=out,
                                         stderr=err, stdin=subprocess.DEVNULL)
        return self

    def threads(self):
        """Threads of the process now (0 when it is gone). The worker has one until main()
        starts its database stage and Kafka clients: more means it is starting up."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("Threads:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        """The JSON lines of the current run's stdout."""
        out = []
        try:
            with open(self.log_path, "rb") as f:
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        except (OSError, TypeError):
            pass
        return out

    def stderr_text(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""

    def assigned(self):
        """Partitions this run holds now, as its log tells (assigned minus revoked/lost)."""
        held = {}
        for line in self.log():
            msg = line.get("msg")
            if msg == "partition assigned":
                held[line.get("topic")] = held.get(line.get("topic"), 0) + 1
            elif msg in ("partition revoked", "partition lost"):
                held[line.get("topic")] = held.get(line.get("topic"), 0) - 1
        return sum(v for v in held.values() if v > 0)

    def wait_log(self, pred, timeout, what):
        """Waits until a line of the worker's log satisfies pred."""
        deadline = time.time() + timeout
        while not any(pred(l) for l in self.log()):
            check(self.alive(), "worker %s exited (%s) waiting for %s:\n%s" %
                  (self.name, self.proc.poll(), what, self.tail()))
            if time.time() > deadline:
                raise CheckFailed("timed out after %ss waiting for %s" % (timeout, what))
            time.sleep(0.1)

    def wait_started(self, timeout=60):
        self.wait_log(lambda l: l.get("msg") == "started", timeout, "the worker's start")

    def wait_assigned(self, n=1, timeout=60):
        """Waits until this run holds at least n partitions."""
        deadline = time.time() + timeout
        while self.assigned() < n:
            check(self.alive(), "worker %s exited (%s) before getting partitions:\n%s" %
                  (self.name, self.proc.poll(), self.tail()))
            if time.time() > deadline:
                raise CheckFailed("worker %s holds %d partitions after %ss, expected %d" %
                                  (self.name, self.assigned(), timeout, n))
            time.sleep(0.1)

    def tail(self, n=15):
        lines = []
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()[-n:]
        except (OSError, TypeError):
            pass
        err = self.stderr_text().splitlines()[-n:]
        return "\n".join(["  stdout: " + l for l in lines] + ["  stderr: " + l for l in err])

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def term(self):
        self.signal(signal.SIGTERM)

    def kill(self):
        self.signal(signal.SIGKILL)
        return self.wait(30)

    def wait(self, timeout=60):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise CheckFailed("worker %s did not exit within %ss:\n%s" %
                              (self.name, timeout, self.tail()))
        self.rcs.append(rc)
        return rc

    def stop(self, timeout=90):
        """SIGTERM and wait; the exit code."""
        self.term()
        return self.wait(timeout)

    def sanitizer_report(self):
        """The stderr of the first run with an AddressSanitizer, LeakSanitizer or
        UndefinedBehaviorSanitizer report, or None."""
        reports = sanitizer_reports(self.err_paths)
        return reports[0][1] if reports else None


def sanitizer_reports(paths):
    """(path, text) of each of the files (a process's stderr) that holds an
    AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer report."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in text:
                out.append((path, text))
                break
    return out


class Harness:
    """One test file's resources: key ring, database, topics, workers, readers, temp dir.
    close() releases them all; it is called in a finally."""

    def __init__(self, name):
        self.name = name
        self.env = Env()
        self.tmpdir = tempfile.mkdtemp(prefix="notify-pt-%s-" % name)
        self.keyring = KeyRing(self.env)
        self.db = Db(self.env, self.keyring)
        self.sender = Sender(self.env)
        self.workers = []
        self.readers = []
        self.topic_sets = []
        self.keep = os.environ.get("NOTIFY_TEST_KEEP") == "1"

    def topics(self, name, partitions=4):
        t = Topics(name)
        create_topics(self.env, t.all(), partitions)
        self.topic_sets.append(t)
        return t

    def org(self, name):
        org = "%s-%s" % (name, suffix())
        self.db.orgs.add(org)
        return org

    def worker_env(self, topics, channel="email", send_log=None, **overrides):
        e = dict(self.env.base_env)
        e.update(self.keyring.worker_env())
        e.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.env.bootstrap,
            "DATABASE_URL": self.env.database_url,
            "TOPIC_STATUS": topics.status,
            "CONSUMER_GROUP": topics.group,
            "HTTP_ADDR": "127.0.0.1:0",
            "LOG_LEVEL": "info",
            "RETRY_DELAYS_MS": "2000,3000,4000,5000",
            # A killed member's partitions move on after this long, not librdkafka's 45 s.
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            "NOTIFY_TEST_CHANNEL": channel,
        })
        if channel == "twilio":
            e["TOPIC_SMS_TWILIO"] = topics.base
        else:
            e["TOPIC_EMAIL"] = topics.base
        if send_log:
            e["NOTIFY_TEST_SEND_LOG"] = send_log.path
        for k, v in overrides.items():
            e[k] = str(v)
        return e

    def worker(self, name, env):
        w = Worker(self, name, env)
        self.workers.append(w)
        return w

    def send_log(self, name):
        return SendLog(os.path.join(self.tmpdir, name + ".sends"))

    def status_reader(self, topics):
        r = StatusReader(self.env, topics.status)
        self.readers.append(r)
        return r

    def reader(self, topic_names):
        r = Reader(self.env, topic_names)
        self.readers.append(r)
        return r

    def sanitizer_reports(self):
        return [(w.name, w.sanitizer_report()) for w in self.workers if w.sanitizer_report()]

    def close(self):
        for w in self.workers:
            if w.alive():
                try:
                    w.proc.kill()
                    w.proc.wait(30)
                except Exception:
                    pass
        for r in self.readers:
            try:
                r.close()
            except Exception:
                pass
        try:
            self.db.close()
        except Exception:
            traceback.print_exc()
        if not self.keep:
            for t in self.topic_sets:
                delete_topics(self.env, t.all())
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        else:
            print("kept: " + self.tmpdir)


# --- requests -----------------------------------------------------------------------------


def email_request(mid, org, script=None, delay_ms=None, metadata=None, **fields):
    meta = dict(metadata or {})
    if script is not None:
        meta["test_script"] = script
    if delay_ms is not None:
        meta["test_delay_ms"] = delay_ms
    req = {
        "message_id": mid,
        "org_id": org,
        "to": "user@example.com",
        "subject": "Hello",
        "payload": {"textBody": "Hi there"},
    }
    if meta:
        req["metadata"] = meta
    req.update(fields)
    return req


def twilio_request(mid, org, body="Your code is 1234", script=None, metadata=None, **fields):
    meta = dict(metadata or {})
    if script is not None:
        meta["test_script"] = script
    req = {
        "message_id": mid,
        "org_id": org,
        "to": "+14155550100",
        "payload": {"body": body},
    }
    if meta:
        req["metadata"] = meta
    req.update(fields)
    return req


# --- running ------------------------------------------------------------------------------


def check_event_shape(ev, what):
    """Every contract field present, and nothing else; the fixed-form fields well formed."""
    check(isinstance(ev, dict), "%s: the status event is not a JSON object: %r" % (what, ev))
    check_eq(set(ev.keys()), set(EVENT_FIELDS), "%s: status event fields" % what)
    check(isinstance(ev["event_id"], str) and UUID_RE.match(ev["event_id"]) is not None,
          "%s: event_id is not a UUID: %r" % (what, ev["event_id"]))
    parse_time_ms(ev["occurred_at"])
    check_eq(ev["source"], "worker", "%s: source" % what)
    check(isinstance(ev["attempt"], int) and not isinstance(ev["attempt"], bool)
          and ev["attempt"] >= 1, "%s: attempt %r" % (what, ev["attempt"]))
    check(isinstance(ev["retryable"], bool), "%s: retryable %r" % (what, ev["retryable"]))
    if ev["status"] == "RETRY_SCHEDULED":
        parse_time_ms(ev["next_attempt_at"])
    else:
        check_eq(ev["next_attempt_at"], None, "%s: next_attempt_at of %s" % (what, ev["status"]))


def run(cases, harness_name, setup=None):
    """Runs each case(h) in turn with one Harness, prints each verdict and the totals
    ("N passed, N failed"), and returns the exit code. A SIGTERM (ctest's timeout) still
    runs the cleanup."""
    def on_term(signum, frame):
        raise SystemExit("terminated by signal %d" % signum)

    signal.signal(signal.SIGTERM, on_term)
    passed = failed = 0
    h = None
    t_all = time.time()
    try:
        h = Harness(harness_name)
        print("harness: build %s (%s)" % (h.env.build_dir,
                                          "sanitizers" if h.env.sanitized else "plain"))
        sys.stdout.flush()
        ctx = setup(h) if setup else None
        for case in cases:
            t0 = time.time()
            try:
                case(h) if ctx is None else case(h, ctx)
                passed += 1
                print("ok   %s (%.1fs)" % (case.__name__, time.time() - t0))
            except CheckFailed as e:
                failed += 1
                print("FAIL %s (%.1fs): %s" % (case.__name__, time.time() - t0, e))
            except Exception:
                failed += 1
                print("FAIL %s (%.1fs): unexpected error" % (case.__name__, time.time() - t0))
                traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        reports = h.sanitizer_reports()
        for name, text in reports:
            failed += 1
            print("FAIL sanitizer report from worker %s:\n%s" % (name, text[-6000:]))
    except SystemExit as e:
        failed += 1
        print("FAIL %s" % e)
    except Exception:
        failed += 1
        print("FAIL setup: unexpected error")
        traceback.print_exc(file=sys.stdout)
    finally:
        if h is not None:
            if failed:
                for w in h.workers:
                    print("worker %s (runs %d, exit codes %s) log tail:\n%s" %
                          (w.name, w.starts, w.rcs, w.tail()))
            h.close()
    print("%s: %.1fs" % (harness_name, time.time() - t_all))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
