"""The pieces of the fault suite (tests/integration/test_faults.py) that are not the suite
itself: a private stack, the providers with switchable faults and a record of what each
received, the real binaries as child processes, and a reader of delivery.status.

Providers:
  - FaultSmtp: aiosmtpd on a free loopback port. The recipient's local part is the
    request's message_id, so every attempt is recorded (time, message_id) at RCPT, and
    every accepted message at DATA. Faults are decided at RCPT, before the server takes
    the message, so a refused or dropped attempt never leaves a copy at the server.
  - RecordingProxy: a small HTTP proxy in front of twilio-sim and of moto. It records every
    attempt (time, message_id from the form) and every request the upstream accepted
    (2xx). For SNS it also injects faults (moto cannot): error answers, Throttling with
    Retry-After, slowness, dropped connections, all before forwarding, for the same reason.
    twilio-sim injects its own faults (POST /sim/rules); a connection it drops is dropped
    on to the worker.

Only the standard library, python3-confluent-kafka, python3-psycopg2 and python3-aiosmtpd.
"""

import asyncio
import http.client
import http.server
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

from aiosmtpd.controller import Controller
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from pipeline_harness import sanitizer_reports
from testkit import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def now():
    return time.time()


# --- the private stack ----------------------------------------------------------------------


class Stack:
    """scripts/stack in a directory of our own; down() is safe to call more than once."""

    def __init__(self, directory, build_dir, log_path):
        self.dir = directory
        self.log_path = log_path
        self.env = dict(os.environ, NOTIFY_BUILD_DIR=build_dir, NOTIFY_SKIP_INSTALL="1")
        self.env.pop("NOTIFY_STACK_DIR", None)
        self.vars = {}
        self.up_called = False

    def _run(self, *args, timeout=120):
        with open(self.log_path, "ab") as log:
            p = subprocess.run([os.path.join(ROOT, "scripts", "stack")] + list(args) +
                               ["--dir", self.dir], env=self.env, stdout=subprocess.PIPE,
                               stderr=log, stdin=subprocess.DEVNULL, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("scripts/stack %s failed (exit %d; see %s)" %
                               (args[0], p.returncode, self.log_path))
        return p.stdout.decode()

    def up(self):
        self.up_called = True
        out = self._run("up", "--no-install", timeout=150)
        for m in re.finditer(r"^export (\w+)=(.*)$", out, re.M):
            self.vars[m.group(1)] = m.group(2).strip("'\"")
        for k in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
            if k not in self.vars:
                raise RuntimeError("scripts/stack up printed no " + k)

    def kafka_stop(self):
        self._run("kafka-stop", timeout=60)

    def kafka_start(self):
        self._run("kafka-start", timeout=120)

    def pg_stop(self):
        self._run("pg-stop", timeout=60)

    def pg_start(self):
        self._run("pg-start", timeout=90)

    def down(self):
        if self.up_called and os.path.exists(self.dir):
            self._run("down", timeout=90)


# --- child processes ----------------------------------------------------------------------


class Proc:
    """One child process, its stdout and stderr in files under the run directory. Each run
    of the same name gets new files (name.N.log)."""

    registry = []  # every Proc ever made: cleanup kills what is left

    def __init__(self, name, argv, env, logdir, http_port=None):
        self.name = name
        self.argv = argv
        self.env = env
        self.logdir = logdir
        self.http_port = http_port
        self.proc = None
        self.runs = 0
        self.exits = []  # (how it was stopped, exit code)
        self.err_paths = []
        Proc.registry.append(self)

    def start(self):
        self.runs += 1
        out = os.path.join(self.logdir, "%s.%d.log" % (self.name, self.runs))
        err = os.path.join(self.logdir, "%s.%d.err" % (self.name, self.runs))
        self.err_paths.append(err)
        with open(out, "wb") as o, open(err, "wb") as e:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=o, stderr=e,
                                         stdin=subprocess.DEVNULL)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=60, path="/readyz"):
        deadline = now() + timeout
        while True:
            if not self.alive():
                raise RuntimeError("%s exited (%s) while starting; see %s" %
                                   (self.name, self.proc.poll(), self.err_paths[-1]))
            try:
                urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                       timeout=1).read()
                return
            except OSError:
                pass
            if now() > deadline:
                raise RuntimeError("%s not ready after %ss" % (self.name, timeout))
            time.sleep(0.1)

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.exits.append(("SIGKILL", self.proc.wait(30)))

    def term(self, timeout=60):
        """SIGTERM and wait; the exit code (None if it had to be killed)."""
        if not self.alive():
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            rc = None
        self.exits.append(("SIGTERM", rc))
        return rc

    def metric(self, name):
        """The sum of a metric's samples from /metrics (None when not reachable)."""
        try:
            text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port,
                                          timeout=2).read().decode()
        except OSError:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def sanitizer_reports(self):
        return [(path, text[-4000:]) for path, text in sanitizer_reports(self.err_paths)]

    @classmethod
    def kill_all(cls):
        for p in cls.registry:
            if p.alive():
                try:
                    p.proc.kill()
                    p.proc.wait(10)
                except Exception:
                    pass


# --- the record of what providers received -----------------------------------------------


class Received:
    """Per channel: every attempt that reached the provider (time, message_id) and every
    message it accepted (time, message_id, provider id)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = {}
        self.accepted = {}

    def attempt(self, channel, mid, t=None):
        with self.lock:
            self.attempts.setdefault(channel, []).append((t or now(), mid))

    def accept(self, channel, mid, pid=None, t=None):
        with self.lock:
            self.accepted.setdefault(channel, []).append((t or now(), mid, pid))

    def snapshot(self):
        with self.lock:
            return ({k: list(v) for k, v in self.attempts.items()},
                    {k: list(v) for k, v in self.accepted.items()})


class FaultPlan:
    """What a provider does to the next request: a mode ("" for none) applied to a share of
    requests until switched."""

    def __init__(self, seed):
        self.lock = threading.Lock()
        self.mode = ""
        self.share = 0.0
        self.rng = random.Random(seed)
        self.injected = {}

    def set(self, mode, share=1.0):
        with self.lock:
            self.mode, self.share = mode, share

    def clear(self):
        self.set("", 0.0)

    def pick(self):
        with self.lock:
            if self.mode and self.rng.random() < self.share:
                self.injected[self.mode] = self.injected.get(self.mode, 0) + 1
                return self.mode
            return ""


# --- SMTP ---------------------------------------------------------------------------------


class _SmtpHandler:
    def __init__(self, owner):
        self.o = owner

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        mid = address.split("@", 1)[0]
        self.o.received.attempt("email", mid)
        mode = self.o.plan.pick()
        if mode == "4xx":
            return "451 4.3.0 Temporary local problem, try again later"
        if mode == "5xx":
            return "550 5.1.1 Mailbox unavailable"
        if mode == "throttle":
            return "452 4.5.3 Too many messages, slow down"
        if mode == "drop":
            # The connection goes away without an answer, before the message is taken.
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        envelope.rcpt_tos.append(address)
        envelope.fault_slow = (mode == "slow")
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if getattr(envelope, "fault_slow", False):
            await asyncio.sleep(self.o.slow_s)
        for rcpt in envelope.rcpt_tos:
            self.o.received.accept("email", rcpt.split("@", 1)[0])
        return "250 2.0.0 Ok: queued"


class FaultSmtp:
    def __init__(self, received, plan, slow_s=1.5):
        self.received = received
        self.plan = plan
        self.slow_s = slow_s
        self.port = free_port()
        self.controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port,
                                     ident="notify-fault-smtpd")

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        try:
            self.controller.stop()
        except Exception:
            pass


# --- the HTTP proxy ------------------------------------------------------------------------

SNS_ERROR = ('<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
             '<Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>'
             '<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>')


class RecordingProxy:
    """channel "twilio": form field Body holds the message_id (after "ref "); accepted
    answers carry "sid". channel "sns": form field Message likewise; accepted answers carry
    <MessageId>. Faults (plan) are applied only for SNS; twilio-sim has its own."""

    def __init__(self, channel, upstream_port, received, plan=None, slow_s=1.5):
        self.channel = channel
        self.upstream_port = upstream_port
        self.received = received
        self.plan = plan
        self.slow_s = slow_s
        self.port = free_port()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner._forward(self, b"")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                owner._forward(self, body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A worker killed or timing out mid-answer closes its end: not an error of
                # the proxy, and nothing to print.
                pass

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def _mid(self, body):
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        text = (form.get("Body") or form.get("Message") or [""])[0]
        m = re.search(r"ref (\S+)", text)
        return m.group(1) if m else None

    def _answer(self, h, status, body, extra=()):
        data = body.encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/xml")
        h.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _drop(self, h):
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _forward(self, h, body):
        mid = self._mid(body) if body else None
        if mid:
            self.received.attempt(self.channel, mid)
        mode = self.plan.pick() if (self.plan and mid) else ""
        if mode == "5xx":
            return self._answer(h, 500, SNS_ERROR % ("Receiver", "InternalError",
                                                     "Internal Error"))
        if mode == "4xx":
            return self._answer(h, 400, SNS_ERROR % ("Sender", "InvalidParameter",
                                                     "Invalid parameter: PhoneNumber"))
        if mode == "throttle":
            return self._answer(h, 400, SNS_ERROR % ("Sender", "Throttling", "Rate exceeded"),
                                [("Retry-After", "2")])
        if mode == "drop":
            return self._drop(h)
        if mode == "slow":
            time.sleep(self.slow_s)
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.headers.items():
                if k.lower() not in ("connection", "content-length", "transfer-encoding"):
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            # The upstream dropped the connection (twilio-sim's drop=1): so do we.
            conn.close()
            return self._drop(h)
        conn.close()
        if mid and 200 <= resp.status < 300:
            text = data.decode(errors="replace")
            m = re.search(r'"sid"\s*:\s*"([^"]+)"', text) or \
                re.search(r"<MessageId>([^<]+)</MessageId>", text)
            self.received.accept(self.channel, mid, m.group(1) if m else None)
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "content-length", "transfer-encoding", "date",
                                 "server"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


# --- delivery.status ----------------------------------------------------------------------


class StatusFollower:
    """Reads every partition of the status topic from the beginning in a thread, through
    broker restarts, keeping (event, kafka timestamp ms) in arrival order."""

    def __init__(self, bootstrap, topic):
        self.c = Consumer({"bootstrap.servers": bootstrap,
                           "group.id": "fault-audit-%d" % os.getpid(),
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "log_level": 0})
        md = self.c.list_topics(topic, timeout=20)
        self.c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                       for p in md.topics[topic].partitions])
        self.lock = threading.Lock()
        self.events = []
        self.bad = []
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        while not self.stop_flag:
            for m in self.c.consume(num_messages=500, timeout=0.2):
                if m.error():
                    continue
                try:
                    ev = json.loads(m.value().decode())
                except (ValueError, UnicodeDecodeError, AttributeError):
                    with self.lock:
                        self.bad.append(m.value())
                    continue
                with self.lock:
                    self.events.append(ev)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def close(self):
        self.stop_flag = True
        self.thread.join(10)
        try:
            self.c.close()
        except Exception:
            pass
