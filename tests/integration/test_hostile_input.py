#!/usr/bin/env python3
"""Hostile input through the real binaries: every bad request and callback gets its precise
answer, no process crashes, nothing is dropped silently and no secret leaks.

What it proves, on the stack's Kafka and PostgreSQL (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL)
with the binaries of NOTIFY_BUILD_DIR (email-worker, twilio-worker, sns-worker,
webhook-ingest; an ASan+UBSan build is the point):

  - Requests. A corpus (REQUEST_CASES below) of malformed and hostile send requests is
    produced to each worker's topic: empty and null values, truncated JSON, 100 000 levels
    of nesting, invalid UTF-8 (bad bytes, overlong forms, surrogates, > U+10FFFF), fields
    beyond their limits, CRLF + "Bcc:" in subjects, addresses and display names, numbers
    in every wrong form, wrong types, missing and null fields, duplicate keys, bad phone
    numbers, a request of one channel on another channel's topic, and Kafka headers that
    are not numbers. Each must end as exactly one FAILED status event with the error code
    of common/errcode.h that request.h's rules give it (not retryable, attempt 1), and as
    exactly one dead-letter copy, byte for byte, on `<base>.dlq`. Providers are tripwires:
    none of these requests may reach one.
  - Callbacks. Every webhook-ingest route gets malformed, truncated, deeply nested, invalid
    UTF-8 and over-limit bodies, forged, missing and replayed signatures, unknown and
    hostile org ids, and SNS envelopes whose SigningCertURL / SubscribeURL are SSRF-shaped
    (plain http, not .pem, IP literals, link-local metadata address, look-alike hosts,
    userinfo and backslash tricks, ports, CRLF). Each gets its contract status (400, 401,
    404, 413), no status event is published for any of them, and no URL is fetched: the
    binary runs with every proxy variable libcurl honours pointed at a local listener, and
    the certificate URLs that name 127.0.0.1 point at it too, so any attempt is seen.
  - Secrets. Each organisation has distinctive planted secrets (SMTP password, Twilio auth
    token, AWS access and secret keys, webhook secrets) and the key ring in the
    environment has its own; one well-formed request per channel goes to a provider
    stand-in that refuses the credentials (so every secret is decrypted and used). Every
    line of every binary's stdout and stderr, every status event and every dead-letter
    record (value, key, headers) is scanned for each secret as text, base64 and hex, and
    for the Basic and AUTH PLAIN forms that carry them.
  - At the end every process is still running and no stderr holds a sanitizer report.

Run (the test command does this through ctest):
    eval "$(scripts/stack up --dir /tmp/stack)"
    NOTIFY_BUILD_DIR=build python3 tests/integration/test_hostile_input.py
Prints "N passed, N failed" and exits non-zero on a failure.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support", "smtp"))

import pipeline_harness as ph  # noqa: E402
from pipeline_harness import CheckFailed, Worker, check, check_eq, suffix  # noqa: E402
from smtp_servers import SmtpServer  # noqa: E402

# The SMTP stand-in asks for AUTH without TLS on purpose (the password only has to be
# used, and refused); aiosmtpd warns about that on every start.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

TIMEOUT = 60
PUBLIC = "https://hooks.example.com/notify"
TAG = suffix()


def planted(name):
    """A secret no code path would make up by itself, so finding it anywhere is a leak."""
    return "PLANTED%s%s%s" % (name, TAG, "Zq9")


SECRETS = {
    "smtp password": planted("smtppw"),
    "twilio auth token": planted("twtok"),
    "aws access key": "AKIA" + planted("ak").upper()[:16],
    "aws secret key": planted("awssk") + "/Kx+",
    "email webhook secret": planted("whemail"),
    "sms webhook secret": planted("whsms"),
}
TWILIO_SID = "AC" + hashlib.md5(TAG.encode()).hexdigest()
SMTP_USER = "hostile-user"
# The org's allowed SNS topic: the envelopes below pass that check and reach the one on
# their certificate URL.
SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:hostile-" + TAG


# --- the provider stand-ins (tripwires) ----------------------------------------------------


class Tripwire:
    """An HTTP server that records every request and answers with a credentials refusal:
    `answer(handler) -> (status, content_type, body)`."""

    def __init__(self, answer):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append((self.path, dict(self.headers.items()), body))
                status, ctype, data = answer(self)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def twilio_refusal(handler):
    return 401, "application/json", json.dumps({
        "code": 20003, "message": "Authenticate", "more_info":
        "https://www.twilio.com/docs/errors/20003", "status": 401}).encode()


def sns_refusal(handler):
    return 403, "text/xml", (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
        '<Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request signature'
        ' we calculated does not match the signature you provided.</Message></Error>'
        '<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>').encode()


class FetchListener:
    """A TCP listener standing in for every URL webhook-ingest might be tricked into
    fetching (and for the proxy libcurl would use): it records each connection's first
    bytes and closes it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.hits = []
        self.stopped = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(1)
                self.hits.append(conn.recv(4096))
            except OSError:
                self.hits.append(b"")
            finally:
                conn.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


# --- the binaries --------------------------------------------------------------------------


class Binary(Worker):
    """pipeline_harness's Worker (log files, sanitizer scan) running a named binary."""

    def __init__(self, h, name, env, binary):
        Worker.__init__(self, h, name, env)
        self.binary = os.path.join(h.env.build_dir, binary)

    def start(self):
        self.starts += 1
        self.log_path = os.path.join(self.h.tmpdir, "%s.%d.log" % (self.name, self.starts))
        self.err_path = os.path.join(self.h.tmpdir, "%s.%d.err" % (self.name, self.starts))
        self.err_paths.append(self.err_path)
        with open(self.log_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([self.binary], env=self.env, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL)
        return self

    def output(self):
        data = b""
        for path in [self.log_path] + self.err_paths:
            try:
                with open(path, "rb") as f:
                    data += f.read()
            except (OSError, TypeError):
                pass
        return data


def worker_env(h, topics, topic_key, **extra):
    e = h.worker_env(topics)
    for k in ("TOPIC_EMAIL", "NOTIFY_TEST_CHANNEL", "NOTIFY_TEST_SEND_LOG"):
        e.pop(k, None)
    e[topic_key] = topics.base
    e["LOG_LEVEL"] = "debug"  # the most a log could say about a secret
    for k, v in extra.items():
        e[k] = str(v)
    return e


# --- the request corpus --------------------------------------------------------------------

DEEP = 100000


def j(obj):
    return json.dumps(obj, ensure_ascii=False).encode()


def base_request(channel, mid, org):
    if channel == "email":
        return {"message_id": mid, "org_id": org, "to": "jane@example.com",
                "subject": "Your invoice", "payload": {"textBody": "Hello"}}
    return {"message_id": mid, "org_id": org, "to": "+14155550100",
            "payload": {"body": "Your code is 123456"}}


def with_(req, path, value):
    """A copy of req with the field at a dotted path set (or removed, for DELETE)."""
    req = json.loads(json.dumps(req))
    obj = req
    parts = path.split(".")
    for p in parts[:-1]:
        obj = obj[p]
    if value is DELETE:
        obj.pop(parts[-1], None)
    else:
        obj[parts[-1]] = value
    return req


DELETE = object()

# Numbers in every wrong form, as raw JSON text (so 1e309 and 2^70 reach the parser as
# written). Each replaces an integer field that must be 1-14400.
BAD_NUMBERS = [("string", '"60"'), ("float", "60.0"), ("fraction", "1.5"),
               ("negative", "-1"), ("zero", "0"), ("over", "14401"), ("exp", "1e3"),
               ("inf", "1e309"), ("huge-int", "1180591620717411303424"),
               ("int64-max+1", "9223372036854775808"), ("neg-huge", "-1e400"),
               ("bool", "true"), ("array", "[60]"), ("object", '{"v":60}')]


def raw_with(req, path, raw):
    """The request's JSON text with the field at `path` written as the raw JSON `raw`."""
    marker = "__RAW_%s__" % suffix()
    text = json.dumps(with_(req, path, marker), ensure_ascii=False)
    return text.replace('"%s"' % marker, raw).encode()


class Case:
    """One request: the value (bytes, or None for a null value), Kafka headers, the code its
    FAILED event must carry, the message_id the event must echo (None: the request cannot
    be read far enough), and a text the error_message must contain."""

    def __init__(self, name, value, code, mid, text, headers=None, topic=None):
        self.name = name
        self.value = value
        self.code = code
        self.mid = mid
        self.text = text
        self.headers = headers
        self.topic = topic  # None: the worker's own topic
        self.key = None


def request_cases(channel, org):
    """The corpus for one channel (email, twilio, sns)."""
    cases = []

    def mid(name):
        return "h-%s-%s-%s" % (channel, name, suffix()[:6])

    def add(name, build, code, text, readable=True, headers=None):
        m = mid(name)
        value = build(m)
        cases.append(Case(name, value, code, m if readable else None, text, headers))

    base = lambda m: base_request(channel, m, org)  # noqa: E731
    inv, IR = False, "INVALID_REQUEST"

    # The value as a whole: nothing can be read from it.
    add("empty-value", lambda m: b"", IR, "value: empty", inv)
    add("null-value", lambda m: None, IR, "value: empty", inv)
    add("json-null", lambda m: b"null", IR, "must be a JSON object", inv)
    add("json-array", lambda m: j([base(m)]), IR, "must be a JSON object", inv)
    add("json-string", lambda m: b'"hello"', IR, "must be a JSON object", inv)
    # The code is what counts; the text of this one says "invalid utf-8 string" (json-c is
    # handed a NUL to end the number), so only the field is named here.
    add("json-number", lambda m: b"12345", IR, "value: ", inv)
    add("truncated", lambda m: j(base(m))[:-7], IR, "not valid JSON", inv)
    add("truncated-in-string", lambda m: j(base(m)).split(b'"to"')[0] + b'"to": "jan', IR,
        "not valid JSON", inv)
    add("deep-arrays", lambda m: b"[" * DEEP, IR, "not valid JSON", inv)
    add("deep-objects", lambda m: b'{"a":' * DEEP, IR, "not valid JSON", inv)
    add("deep-metadata", lambda m: j(base(m))[:-1] + b', "metadata": ' + b'{"a":' * 40
        + b"1" + b"}" * 40 + b"}", IR, "not valid JSON", inv)
    add("deep-closed", lambda m: j(with_(base(m), "metadata", {})).replace(
        b'"metadata": {}', b'"metadata": {"x": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
        IR, "not valid JSON", inv)
    add("bad-utf8", lambda m: j(base(m)).replace(b"Your", b"Y\xffour").replace(
        b"Hello", b"He\xfe\xffllo"), IR, "not valid JSON", inv)
    add("utf8-overlong", lambda m: j(base(m)).replace(m.encode(), m.encode() + b"\xc0\xaf"),
        IR, "not valid JSON", inv)
    add("utf8-surrogate", lambda m: j(base(m)).replace(m.encode(), m.encode() + b"\xed\xa0\x80"),
        IR, "not valid JSON", inv)
    add("utf8-above-max", lambda m: j(base(m)).replace(m.encode(),
                                                         m.encode() + b"\xf4\x90\x80\x80"),
        IR, "not valid JSON", inv)
    add("utf8-cut", lambda m: j(base(m)).replace(m.encode(), m.encode() + b"\xe2\x82"),
        IR, "not valid JSON", inv)
    add("raw-crlf-in-string", lambda m: j(base(m)).replace(m.encode(), m.encode() + b"\r\nBcc: x"),
        IR, "not valid JSON", inv)
    add("raw-nul", lambda m: j(base(m)).replace(m.encode(), m.encode() + b"\x00"),
        IR, "not valid JSON", inv)
    add("trailing-data", lambda m: j(base(m)) + b" {}", IR, "not valid JSON", inv)
    add("trailing-comma", lambda m: j(base(m))[:-1] + b",}", IR, "not valid JSON", inv)
    add("single-quotes", lambda m: j(base(m)).replace(b'"', b"'"), IR, "not valid JSON", inv)
    add("comment", lambda m: b"/* x */" + j(base(m)), IR, "not valid JSON", inv)
    add("bom", lambda m: b"\xef\xbb\xbf" + j(base(m)), IR, "not valid JSON", inv)

    # message_id itself broken: the event cannot echo it.
    add("mid-missing", lambda m: j(with_(base(m), "message_id", DELETE)), IR,
        "message_id: required", inv)
    add("mid-null", lambda m: j(with_(base(m), "message_id", None)), IR,
        "message_id: required", inv)
    add("mid-empty", lambda m: j(with_(base(m), "message_id", "")), IR, "message_id", inv)
    add("mid-number", lambda m: raw_with(base(m), "message_id", "4711"), IR,
        "message_id: must be a string", inv)
    add("mid-too-long", lambda m: j(with_(base(m), "message_id", "m" * 129)), IR,
        "message_id", inv)
    add("mid-huge", lambda m: j(with_(base(m), "message_id", "m" * 600000)), IR,
        "message_id", inv)
    add("mid-nul", lambda m: j(with_(base(m), "message_id", m + "\u0000x")), IR,
        "NUL", inv)
    add("mid-object", lambda m: j(with_(base(m), "message_id", {"id": m})), IR,
        "message_id: must be a string", inv)

    # The rest of the common fields.
    add("org-missing", lambda m: j(with_(base(m), "org_id", DELETE)), IR, "org_id")
    add("org-null", lambda m: j(with_(base(m), "org_id", None)), IR, "org_id")
    add("org-number", lambda m: raw_with(base(m), "org_id", "42"), IR, "org_id")
    add("org-too-long", lambda m: j(with_(base(m), "org_id", "o" * 65)), IR, "org_id")
    add("org-crlf", lambda m: j(with_(base(m), "org_id", "o" * 60 + "\r\nX: y")), IR, "org_id")
    add("idem-too-long", lambda m: j(with_(base(m), "idempotency_key", "k" * 256)), IR,
        "idempotency_key")
    add("idem-empty", lambda m: j(with_(base(m), "idempotency_key", "")), IR, "idempotency_key")
    add("idem-number", lambda m: raw_with(base(m), "idempotency_key", "1e309"), IR,
        "idempotency_key")
    add("to-missing", lambda m: j(with_(base(m), "to", DELETE)), IR, "to: required")
    add("to-null", lambda m: j(with_(base(m), "to", None)), IR, "to: required")
    add("to-array", lambda m: j(with_(base(m), "to", ["jane@example.com"])), IR, "to")
    add("payload-missing", lambda m: j(with_(base(m), "payload", DELETE)), IR, "payload")
    add("payload-null", lambda m: j(with_(base(m), "payload", None)), IR, "payload")
    add("payload-string", lambda m: j(with_(base(m), "payload", "Hello")), IR, "payload")
    add("payload-array", lambda m: j(with_(base(m), "payload", [{"body": "x"}])), IR, "payload")
    add("metadata-too-big", lambda m: j(with_(base(m), "metadata", {"x": "y" * 4100})), IR,
        "metadata")
    add("metadata-array", lambda m: j(with_(base(m), "metadata", [1, 2])), IR, "metadata")
    add("metadata-string", lambda m: j(with_(base(m), "metadata", "x")), IR, "metadata")

    if channel == "email":
        IE = "INVALID_EMAIL"
        add("to-crlf-bcc", lambda m: j(with_(base(m), "to",
                                             "jane@example.com\r\nBcc: evil@evil.example")),
            IE, "to")
        add("to-lf-bcc", lambda m: j(with_(base(m), "to", "jane@example.com\nBcc: evil@evil.example")),
            IE, "to")
        add("to-display-crlf", lambda m: j(with_(base(m), "to",
                                                 '"Jane\r\nBcc: evil@evil.example" <jane@example.com>')),
            IE, "to")
        add("to-display-name", lambda m: j(with_(base(m), "to", "Jane Doe <jane@example.com>")),
            IE, "to")
        add("to-two", lambda m: j(with_(base(m), "to", "jane@example.com, evil@evil.example")),
            IE, "to")
        add("to-no-at", lambda m: j(with_(base(m), "to", "jane.example.com")), IE, "to")
        add("to-number", lambda m: raw_with(base(m), "to", "12345"), IR, "to")
        add("to-too-long", lambda m: j(with_(base(m), "to", "a" * 64 + "@" + "b" * 250 + ".com")),
            IE, "to")
        add("to-utf8-local", lambda m: j(with_(base(m), "to", "jäne@example.com")), IE, "to")
        add("subject-crlf-bcc", lambda m: j(with_(base(m), "subject",
                                                  "Hello\r\nBcc: evil@evil.example")),
            IR, "subject")
        add("subject-lf", lambda m: j(with_(base(m), "subject", "Hello\nBcc: evil@evil.example")),
            IR, "subject")
        add("subject-cr", lambda m: j(with_(base(m), "subject", "Hello\rBcc: evil@evil.example")),
            IR, "subject")
        add("subject-crlf-body", lambda m: j(with_(base(m), "subject",
                                                   "Hi\r\n\r\n<script>x</script>")),
            IR, "subject")
        add("subject-nul", lambda m: j(with_(base(m), "subject", "Hi\u0000there")), IR, "subject")
        add("subject-999", lambda m: j(with_(base(m), "subject", "s" * 999)), IR, "subject")
        add("subject-encoded-over", lambda m: j(with_(base(m), "subject", "é" * 700)), IR,
            "subject")
        add("subject-huge", lambda m: j(with_(base(m), "subject", "s" * 900000)), IR, "subject")
        add("subject-missing", lambda m: j(with_(base(m), "subject", DELETE)), IR, "subject")
        add("subject-null", lambda m: j(with_(base(m), "subject", None)), IR, "subject")
        add("subject-number", lambda m: raw_with(base(m), "subject", "1e309"), IR, "subject")
        add("cc-crlf-bcc", lambda m: j(with_(base(m), "payload.cc",
                                             "a@example.com\r\nBcc: evil@evil.example")),
            IE, "payload.cc")
        add("cc-display-crlf", lambda m: j(with_(base(m), "payload.cc",
                                                 ['"A\r\nBcc: evil@evil.example" <a@example.com>'])),
            IE, "payload.cc")
        add("cc-number", lambda m: j(with_(base(m), "payload.cc", [1])), IR, "payload.cc")
        add("cc-object", lambda m: j(with_(base(m), "payload.cc", {"a": "a@example.com"})), IR,
            "payload.cc")
        add("cc-empty-element", lambda m: j(with_(base(m), "payload.cc", "a@example.com,,b@example.com")),
            IE, "payload.cc")
        add("bcc-101", lambda m: j(with_(base(m), "payload.bcc",
                                         ["u%d@example.com" % i for i in range(101)])),
            IR, "payload.bcc")
        add("bcc-crlf", lambda m: j(with_(base(m), "payload.bcc",
                                          "audit@example.com\r\nX-Evil: 1")), IE, "payload.bcc")
        add("replyto-crlf", lambda m: j(with_(base(m), "payload.replyTo",
                                              "s@acme.example\r\nBcc: evil@evil.example")),
            IE, "payload.replyTo")
        add("replyto-display-crlf", lambda m: j(with_(base(m), "payload.replyTo",
                                                      '"Support\r\nBcc: evil@evil.example" <s@acme.example>')),
            IE, "payload.replyTo")
        add("replyto-array", lambda m: j(with_(base(m), "payload.replyTo", ["s@acme.example"])),
            IR, "payload.replyTo")
        add("no-body", lambda m: j(with_(base(m), "payload", {"cc": "a@example.com"})), IR,
            "payload")
        add("bodies-null", lambda m: j(with_(base(m), "payload",
                                             {"textBody": None, "htmlBody": None, "body": None})),
            IR, "payload")
        add("textbody-number", lambda m: raw_with(base(m), "payload.textBody", "-0"), IR,
            "payload.textBody")
        add("htmlbody-array", lambda m: j(with_(base(m), "payload.htmlBody", ["<p>"])), IR,
            "payload.htmlBody")
        add("body-nul", lambda m: j(with_(base(m), "payload.body", "a\u0000b")), IR,
            "payload.body")
        add("sms-on-email-topic", lambda m: j(base_request("twilio", m, org)), IE, "to")
        add("dup-to", lambda m: j(base(m))[:-1] + b', "to": "jane@example.com\\r\\nBcc: evil@evil.example"}',
            IE, "to")
    else:
        IP, TL = "INVALID_PHONE", "MESSAGE_TOO_LONG"
        for name, to in [("national", "4155550100"), ("plus-only", "+"), ("too-short", "+1"),
                         ("too-long", "+1" + "4" * 20), ("letters", "+1415555010a"),
                         ("crlf", "+14155550100\r\nX-Evil: 1"), ("empty", ""),
                         ("double-plus", "++14155550100"), ("zero-cc", "+04155550100"),
                         ("extension", "+1 (415) 555-0100 ext 5"),
                         ("fullwidth", "+１４１５５５５０１００"), ("email", "jane@example.com"),
                         ("sql", "+1'; DROP TABLE delivery_ledger;--"),
                         ("huge", "+" + "1" * 500000)]:
            add("phone-" + name, lambda m, to=to: j(with_(base(m), "to", to)), IP, "to")
        add("phone-number", lambda m: raw_with(base(m), "to", "14155550100"), IR, "to")
        add("phone-inf", lambda m: raw_with(base(m), "to", "1e309"), IR, "to")
        add("body-missing", lambda m: j(with_(base(m), "payload.body", DELETE)), IR,
            "payload.body")
        add("body-null", lambda m: j(with_(base(m), "payload.body", None)), IR, "payload.body")
        add("body-empty", lambda m: j(with_(base(m), "payload.body", "")), IR, "payload.body")
        add("body-number", lambda m: raw_with(base(m), "payload.body", "123456"), IR,
            "payload.body")
        add("body-nul", lambda m: j(with_(base(m), "payload.body", "a\u0000b")), IR,
            "payload.body")
        add("body-1601", lambda m: j(with_(base(m), "payload.body", "x" * 1601)), TL,
            "payload.body")
        add("body-1601-emoji", lambda m: j(with_(base(m), "payload.body", "\U0001F600" * 1601)),
            TL, "payload.body")
        add("body-huge", lambda m: j(with_(base(m), "payload.body", "x" * 900000)), TL,
            "payload.body")
        add("email-on-sms-topic", lambda m: j(base_request("email", m, org)), IP, "to")
        add("dup-to", lambda m: j(base(m))[:-1] + b', "to": "not a phone"}', IP, "to")
        if channel == "twilio":
            for name, raw in BAD_NUMBERS:
                add("validity-" + name,
                    lambda m, raw=raw: raw_with(base(m), "payload.validityPeriod", raw),
                    IR, "payload.validityPeriod")
            for name, url in [("javascript", "javascript:alert(1)"), ("file", "file:///etc/passwd"),
                              ("no-host", "https://"), ("crlf", "https://cb.example/x\r\nX-Evil: 1"),
                              ("port", "https://cb.example:99999/x"), ("space-host", "https://a b/"),
                              ("long", "https://cb.example/" + "a" * 2048)]:
                add("callback-" + name,
                    lambda m, url=url: j(with_(base(m), "payload.statusCallback", url)),
                    IR, "payload.statusCallback")
            add("callback-number", lambda m: raw_with(base(m), "payload.statusCallback", "1"),
                IR, "payload.statusCallback")
        else:
            for name, raw in [("number", "0.5"), ("letters", '"abc"'), ("negative", '"-1"'),
                              ("two-dots", '"0.5.0"'), ("exp", '"1e3"'),
                              ("too-many-digits", '"12345678901"'), ("space", '" 0.50"'),
                              ("inf", "1e309"), ("empty", '""'), ("crlf", '"0.50\\r\\nX: 1"')]:
                add("maxprice-" + name,
                    lambda m, raw=raw: raw_with(base(m), "payload.maxPrice", raw),
                    IR, "payload.maxPrice")
            for name, raw in [("case", '"promotional"'), ("other", '"Bulk"'), ("number", "1"),
                              ("array", '["Promotional"]')]:
                add("smstype-" + name,
                    lambda m, raw=raw: raw_with(base(m), "payload.smsType", raw),
                    IR, "payload.smsType")

    # Bad Kafka headers on a bad request: the pipeline must not trust them into a crash or
    # a silent hold; the request is still read (attempt 1) and fails on its own merits.
    bad_field = ("to", "jane@example.com\r\nBcc: x@y.example") if channel == "email" \
        else ("to", "not a phone")
    bad_code = "INVALID_EMAIL" if channel == "email" else "INVALID_PHONE"
    for name, headers in [
            ("attempt-text", [("x-attempt", b"abc")]),
            ("attempt-negative", [("x-attempt", b"-5")]),
            ("attempt-huge", [("x-attempt", b"99999999999999999999999")]),
            ("not-before-text", [("x-not-before", b"soon")]),
            ("not-before-negative", [("x-not-before", b"-1")]),
            ("original-binary", [("x-original-topic", b"\xff\x00\r\n"),
                                 ("x-original-partition", b"x"), ("x-original-offset", b"-")]),
            ("original-long", [("x-original-topic", b"t" * 5000)]),
            ("header-null", [("x-attempt", None), ("x-last-error-code", None)]),
            ("many-headers", [("h%d" % i, b"v") for i in range(500)])]:
        add("headers-" + name, lambda m: j(with_(base(m), *bad_field)), bad_code, "to",
            headers=headers)
    return cases


# --- reading the outcome -------------------------------------------------------------------


class RawRecord(ph.Record):
    """A record whose value is kept as bytes only: a dead-letter copy of 100 000 nested
    arrays is not for Python's json to parse."""

    def __init__(self, msg):
        self.topic = msg.topic()
        self.partition = msg.partition()
        self.offset = msg.offset()
        self.key = msg.key()
        self.value = msg.value()
        self.header_list = msg.headers() or []
        self.headers = {}
        for k, v in self.header_list:
            self.headers[k] = v.decode(errors="replace") if v is not None else None
        self.timestamp_ms = msg.timestamp()[1]
        self.event = None


class RawReader(ph.Reader):
    def poll(self, timeout=0.1):
        msgs = self.c.consume(num_messages=1000, timeout=timeout)
        for m in msgs:
            if not m.error():
                self.records.append(RawRecord(m))
        return len(msgs)


def norm(value):
    return value if value else b""


def check_requests(h, ctx, channel, cases, provider):
    """Each case: one FAILED event with its code, one DLQ copy of its exact bytes."""
    topics = ctx.topics[channel]
    status, dlq = ctx.status[channel], ctx.dlq[channel]
    n = len(cases)

    def enough():
        return len(status.records) >= n + 1 and len(dlq.records) >= n + 1

    try:
        status.until(enough, TIMEOUT, "%d status events and DLQ copies" % n,
                     step=lambda: dlq.poll(0.05))
    except CheckFailed as e:
        raise CheckFailed("%s: %s (got %d events, %d DLQ copies)" %
                          (channel, e, len(status.records), len(dlq.records)))
    # Anything more would be a duplicate: give it a moment to show.
    t_end = time.time() + 1.0
    while time.time() < t_end:
        status.poll(0.1)
        dlq.poll(0.1)
    problems = []
    events = [r.event for r in status.records]
    by_mid = {}
    anonymous = []
    for r, ev in zip(status.records, events):
        if not isinstance(ev, dict):
            problems.append("a status event that is not JSON: %r" % r.value[:200])
            continue
        try:
            ph.check_event_shape(ev, "event")
        except CheckFailed as e:
            problems.append("%s: %s" % (ev.get("message_id"), e))
        if ev.get("message_id") is None:
            anonymous.append(ev)
        else:
            by_mid.setdefault(ev["message_id"], []).append(ev)

    control_mid = ctx.control_mid[channel]
    for case in cases:
        if case.mid is None:
            continue
        evs = by_mid.pop(case.mid, [])
        got = [(e["status"], e["error_code"], e["retryable"], e["attempt"]) for e in evs]
        if got != [("FAILED", case.code, False, 1)]:
            problems.append("%s: expected one FAILED %s (not retryable, attempt 1), got %r %r" %
                            (case.name, case.code, got, [e.get("error_message") for e in evs]))
            continue
        ev = evs[0]
        if case.text not in (ev["error_message"] or ""):
            problems.append("%s: error_message %r does not name %r" %
                            (case.name, ev["error_message"], case.text))
        if (ev["channel"], ev["provider"]) != (("email", "SMTP") if channel == "email" else
                                               ("sms", provider)):
            problems.append("%s: channel/provider %r" % (case.name, (ev["channel"],
                                                                       ev["provider"])))
        if ev["org_id"] != ctx.org and case.name not in ("org-missing", "org-null", "org-number",
                                                         "org-too-long", "org-crlf"):
            problems.append("%s: org_id %r" % (case.name, ev["org_id"]))
    # The unreadable ones: the same multiset of (code, text), most specific text first.
    want = sorted([c for c in cases if c.mid is None], key=lambda c: -len(c.text))
    pool = list(anonymous)
    for case in want:
        match = next((e for e in pool if e["status"] == "FAILED" and e["error_code"] == case.code
                      and e["retryable"] is False and case.text in (e["error_message"] or "")),
                     None)
        if match is None:
            problems.append("%s: no anonymous FAILED %s event naming %r (left: %r)" %
                            (case.name, case.code, case.text,
                             [(e["error_code"], e["error_message"]) for e in pool][:8]))
        else:
            pool.remove(match)
    if pool:
        problems.append("anonymous events nobody expected: %r" %
                        [(e["status"], e["error_code"], e["error_message"]) for e in pool])
    control = by_mid.pop(control_mid, None)
    if by_mid:
        problems.append("events for message ids nobody sent: %r" % list(by_mid)[:5])

    # Dead letters: one copy per case, same key, same bytes, pipeline headers.
    copies = {}
    for r in dlq.records:
        copies.setdefault(r.key, []).append(r)
    for case in cases:
        got = copies.pop(case.key, [])
        if len(got) != 1:
            problems.append("%s: %d DLQ copies" % (case.name, len(got)))
            continue
        r = got[0]
        if norm(r.value) != norm(case.value):
            problems.append("%s: DLQ copy differs from the request (%d vs %d bytes)" %
                            (case.name, len(norm(r.value)), len(norm(case.value))))
        hd = r.headers
        if hd.get("x-attempt") != "1" or hd.get("x-original-topic") is None:
            problems.append("%s: DLQ headers %r" % (case.name, {k: hd.get(k) for k in (
                "x-attempt", "x-original-topic", "x-original-partition", "x-original-offset")}))
        elif not case.headers and (hd.get("x-original-topic"), hd.get("x-original-partition")) \
                != (case.topic or topics.base, "0"):
            problems.append("%s: DLQ x-original-* %r" % (case.name, hd))
    control_copies = copies.pop(ctx.control_key[channel], [])
    if copies:
        problems.append("DLQ copies nobody expected: %r" % list(copies)[:5])
    ctx.control_events[channel] = (control, control_copies)
    return problems


# --- the webhook corpus --------------------------------------------------------------------


def hmac_hex(secret, body, ts=None):
    data = (ts.encode() + b"." + body) if ts else body
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def twilio_sig(token, url, params):
    s = url
    for name in sorted(set(k for k, _ in params)):
        for value in sorted(set(v for k, v in params if k == name)):
            s += name + value
    return base64.b64encode(hmac.new(token.encode(), s.encode("utf-8", "surrogateescape"),
                                     hashlib.sha1).digest()).decode()


def http_raw(port, data, timeout=30):
    """Sends raw request bytes (a body the server may refuse half-way) and returns
    (status, header text) of the answer, or (None, reason)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as e:
        return None, str(e)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # refused before the end of the body: the answer is what counts
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        resp = b""
        while b"\r\n\r\n" not in resp:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    except OSError as e:
        return None, str(e)
    finally:
        s.close()
    head = resp.split(b"\r\n\r\n")[0].decode(errors="replace")
    try:
        return int(head.split(" ")[1]), head
    except (IndexError, ValueError):
        return None, head


def http_post(port, path, body, headers=(), ctype="application/json", chunked=False):
    lines = ["POST %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Connection: close",
             "Content-Type: " + ctype]
    hdr = b""
    for k, v in headers:
        hdr += k.encode() + b": " + (v if isinstance(v, bytes) else v.encode()) + b"\r\n"
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = b""
        for i in range(0, len(body), 65536):
            part = body[i:i + 65536]
            payload += b"%x\r\n" % len(part) + part + b"\r\n"
        payload += b"0\r\n\r\n"
    else:
        lines.append("Content-Length: %d" % len(body))
        payload = body
    data = ("\r\n".join(lines) + "\r\n").encode() + hdr + b"\r\n" + payload
    return http_raw(port, data)


def webhook_cases(ctx):
    """(name, path, body, headers, content type, expected status, chunked)."""
    org, lp = ctx.org, ctx.fetch.port
    es, ss, tok = SECRETS["email webhook secret"], SECRETS["sms webhook secret"], \
        SECRETS["twilio auth token"]
    now = str(int(time.time()))
    old = str(int(time.time()) - 3600)
    future = str(int(time.time()) + 3600)
    good = json.dumps({"message_id": "wh-" + TAG, "status": "delivered"}).encode()
    big = b'{"message_id": "x", "diagnostic": "' + b"a" * (1024 * 1024) + b'"}'
    malformed = [
        ("not-json", b"not json"),
        ("empty", b""),
        ("truncated", good[:-5]),
        ("deep-arrays", b"[" * DEEP),
        ("deep-objects", b'{"a":' * DEEP),
        ("deep-closed", b'{"message_id": "x", "status": "delivered", "x": ' + b"[" * DEEP
         + b"]" * DEEP + b"}"),
        ("bad-utf8", b'{"message_id": "x\xff\xfe", "status": "delivered"}'),
        ("overlong-utf8", b'{"message_id": "x\xc0\xaf", "status": "delivered"}'),
        ("raw-crlf", b'{"message_id": "x\r\nX: y", "status": "delivered"}'),
        ("json-array", b'[{"message_id": "x", "status": "delivered"}]'),
        ("json-null", b"null"),
        ("no-ids", b'{"status": "delivered"}'),
        ("id-number", b'{"message_id": 1e309, "status": "delivered"}'),
        ("id-object", b'{"provider_message_id": {"a": 1}, "status": "delivered"}'),
        ("status-unknown", b'{"message_id": "x", "status": "exploded"}'),
        ("status-number", b'{"message_id": "x", "status": 1}'),
        ("smtp-code-huge", b'{"message_id": "x", "status": "bounced", "smtp_code": 1e400}'),
        ("trailing", good + b" x"),
    ]
    cases = []
    routes = [("email-delivery", "/api/webhooks/email/%s/delivery", es),
              ("email-bounce", "/api/webhooks/email/%s/bounce", es),
              ("email-complaint", "/api/webhooks/email/%s/complaint", es),
              ("sms-generic", "/api/webhooks/sms/%s/delivery", ss)]
    for rname, tmpl, secret in routes:
        path = tmpl % org
        for name, body in malformed:
            # The complaint route has a default status, so a body without one is fine
            # there; every case here still breaks a rule on every route.
            cases.append((rname + " signed " + name, path, body,
                          [("X-Webhook-Signature", hmac_hex(secret, body))], "application/json",
                          400, False))
        cases += [
            (rname + " missing signature", path, good, [], "application/json", 401, False),
            (rname + " forged signature", path, good, [("X-Webhook-Signature", "0" * 64)],
             "application/json", 401, False),
            (rname + " forged sha256=", path, good,
             [("X-Webhook-Signature", "sha256=" + hmac_hex("guess", good))],
             "application/json", 401, False),
            (rname + " signature not hex", path, good,
             [("X-Webhook-Signature", "zz" * 32)], "application/json", 401, False),
            (rname + " signature huge", path, good,
             [("X-Webhook-Signature", "a" * 8000)], "application/json", 401, False),
            (rname + " other route's secret", path, good,
             [("X-Webhook-Signature", hmac_hex(ss if secret == es else es, good))],
             "application/json", 401, False),
            (rname + " replayed timestamp", path, good,
             [("X-Webhook-Signature", hmac_hex(secret, good, old)), ("X-Webhook-Timestamp", old)],
             "application/json", 401, False),
            (rname + " future timestamp", path, good,
             [("X-Webhook-Signature", hmac_hex(secret, good, future)),
              ("X-Webhook-Timestamp", future)], "application/json", 401, False),
            (rname + " timestamp not a number", path, good,
             [("X-Webhook-Signature", hmac_hex(secret, good, "1e9")),
              ("X-Webhook-Timestamp", "1e9")], "application/json", 401, False),
            (rname + " timestamp moved", path, good,
             [("X-Webhook-Signature", hmac_hex(secret, good, now)),
              ("X-Webhook-Timestamp", str(int(now) - 1))], "application/json", 401, False),
            (rname + " body over 1 MiB", path, big,
             [("X-Webhook-Signature", hmac_hex(secret, big))], "application/json", 413, False),
            (rname + " body over 1 MiB chunked", path, big,
             [("X-Webhook-Signature", hmac_hex(secret, big))], "application/json", 413, True),
            (rname + " unknown org", tmpl % ("nobody-" + TAG), good,
             [("X-Webhook-Signature", hmac_hex(secret, good))], "application/json", 404, False),
            (rname + " org crlf injection", tmpl % "x%0d%0aSet-Cookie:%20evil=1", good,
             [("X-Webhook-Signature", hmac_hex(secret, good))], "application/json", 404, False),
            (rname + " org traversal", tmpl % "..%2f..%2fetc", good,
             [("X-Webhook-Signature", hmac_hex(secret, good))], "application/json", 404, False),
            (rname + " org sql", tmpl % "x'%20OR%20'1'='1", good,
             [("X-Webhook-Signature", hmac_hex(secret, good))], "application/json", 404, False),
            (rname + " org huge", tmpl % ("o" * 4000), good,
             [("X-Webhook-Signature", hmac_hex(secret, good))], "application/json", 404, False),
        ]

    # Twilio: form bodies signed over PUBLIC_BASE_URL + path.
    tpath = "/api/webhooks/sms/%s/twilio/status" % org
    params = [("MessageSid", "SM" + TAG), ("MessageStatus", "delivered"),
              ("AccountSid", TWILIO_SID)]
    form = urllib.parse.urlencode(params).encode()
    sig = twilio_sig(tok, PUBLIC + tpath, params)
    FORM = "application/x-www-form-urlencoded"

    def signed_form(name, body, pairs, status):
        cases.append(("twilio " + name, tpath, body,
                      [("X-Twilio-Signature", twilio_sig(tok, PUBLIC + tpath, pairs))], FORM,
                      status, False))

    signed_form("signed no MessageSid", b"MessageStatus=delivered",
                [("MessageStatus", "delivered")], 400)
    signed_form("signed no status", b"MessageSid=SMx", [("MessageSid", "SMx")], 400)
    # A status Twilio may add tomorrow is acknowledged (a refusal only makes Twilio retry)
    # and turns into no event: the check of the status topic below covers the second half.
    signed_form("signed status unknown", b"MessageSid=SMx&MessageStatus=exploded",
                [("MessageSid", "SMx"), ("MessageStatus", "exploded")], 200)
    signed_form("signed empty", b"", [], 400)
    cases += [
        ("twilio missing signature", tpath, form, [], FORM, 401, False),
        ("twilio forged signature", tpath, form,
         [("X-Twilio-Signature", base64.b64encode(b"\0" * 20).decode())], FORM, 401, False),
        ("twilio signature not base64", tpath, form, [("X-Twilio-Signature", "!!!")], FORM, 401,
         False),
        ("twilio signature of another url", tpath, form,
         [("X-Twilio-Signature", twilio_sig(tok, "https://evil.example" + tpath, params))],
         FORM, 401, False),
        ("twilio signed with the webhook secret", tpath, form,
         [("X-Twilio-Signature", twilio_sig(ss, PUBLIC + tpath, params))], FORM, 401, False),
        # The form is read before its signature can be computed: malformed first.
        ("twilio bad percent-encoding forged", tpath, b"MessageSid=%zz&MessageStatus=%",
         [("X-Twilio-Signature", sig)], FORM, 400, False),
        ("twilio invalid utf-8 forged", tpath, b"MessageSid=SM%ff%fe&MessageStatus=delivered",
         [("X-Twilio-Signature", sig)], FORM, 400, False),
        ("twilio body over 1 MiB", tpath, form + b"&x=" + b"a" * (1024 * 1024),
         [("X-Twilio-Signature", sig)], FORM, 413, False),
        ("twilio unknown org", "/api/webhooks/sms/nobody-%s/twilio/status" % TAG, form,
         [("X-Twilio-Signature", sig)], FORM, 404, False),
        ("twilio json deep, forged hash", tpath + "?bodySHA256=" + "0" * 64, b"[" * DEEP,
         [("X-Twilio-Signature", twilio_sig(tok, PUBLIC + tpath + "?bodySHA256=" + "0" * 64,
                                            []))], "application/json", 401, False),
    ]
    # A form whose values decode to invalid UTF-8, correctly signed (over the decoded
    # bytes): a malformed body, 400; not a 503 that makes Twilio retry it for ever.
    bad_pairs_body = b"MessageSid=SM%ff%fe&MessageStatus=delivered"
    cases.append(("twilio invalid utf-8 signed", tpath, bad_pairs_body,
                  [("X-Twilio-Signature", twilio_sig(tok, PUBLIC + tpath,
                                                     [("MessageSid", "SM\udcff\udcfe"),
                                                      ("MessageStatus", "delivered")]))],
                  FORM, 400, False))

    # SNS: envelopes whose certificate URL must be refused before any fetch.
    spath = "/api/webhooks/sms/%s/aws-sns/delivery" % org
    record = json.dumps({"notification": {"messageId": "sns-" + TAG},
                         "delivery": {"destination": "+14155550100"}, "status": "SUCCESS"})

    def envelope(cert, kind="Notification", subscribe=None, version="2"):
        env = {"Type": kind, "MessageId": "00000000-0000-4000-8000-%012d" % len(cases),
               "TopicArn": SNS_TOPIC, "Message": record,
               "Timestamp": "2026-11-27T05:00:00.000Z", "SignatureVersion": version,
               "Signature": base64.b64encode(b"\1" * 256).decode(), "SigningCertURL": cert}
        if subscribe:
            env["SubscribeURL"] = subscribe
            env["Token"] = "t"
        return json.dumps(env).encode()

    ssrf = [
        "http://127.0.0.1:%d/SimpleNotificationService-x.pem" % lp,
        "https://127.0.0.1:%d/SimpleNotificationService-x.pem" % lp,
        "https://localhost:%d/SimpleNotificationService-x.pem" % lp,
        "https://[::1]:%d/SimpleNotificationService-x.pem" % lp,
        "https://2130706433:%d/SimpleNotificationService-x.pem" % lp,
        "https://0x7f.1:%d/SimpleNotificationService-x.pem" % lp,
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/x.pem",
        "http://169.254.169.254/latest/meta-data/x.pem",
        "https://sns.us-east-1.amazonaws.com@127.0.0.1:%d/x.pem" % lp,
        "https://sns.us-east-1.amazonaws.com:443@127.0.0.1:%d/x.pem" % lp,
        "https://sns.us-east-1.amazonaws.com%%40127.0.0.1:%d/x.pem" % lp,
        "https://127.0.0.1:%d\\@sns.us-east-1.amazonaws.com/x.pem" % lp,
        "https://127.0.0.1:%d#@sns.us-east-1.amazonaws.com/x.pem" % lp,
        "https://127.0.0.1:%d?@sns.us-east-1.amazonaws.com/x.pem" % lp,
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        "https://sns.us-east-1.amazonaws.com.127.0.0.1.nip.io:%d/x.pem" % lp,
        "https://evilsns.us-east-1.amazonaws.com.example/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.txt",
        "https://sns.us-east-1.amazonaws.com/x.pem\r\nHost: 127.0.0.1",
        "https://sns.us-east-1.amazonaws.com:%d/x.pem\r\n" % lp,
        "http://sns.us-east-1.amazonaws.com/x.pem",
        "ftp://sns.us-east-1.amazonaws.com/x.pem",
        "file:///etc/ssl/certs/x.pem",
        "gopher://127.0.0.1:%d/_x.pem" % lp,
        "//127.0.0.1:%d/x.pem" % lp,
        "https:///x.pem",
        "https://sns.us-east-1.amazonaws.com\u0000.127.0.0.1/x.pem",
        "https://SNS.US-EAST-1.AMAZONAWS.COM@127.0.0.1:%d/x.pem" % lp,
        "https://sns.us-east-1.amazonaws.com.:%d/x.pem" % lp,
        "https://sns.us-east-1.amazonaws.com:%d/x.pem" % lp,
        "https://sns.us-east-1.amazonaws.com:0/x.pem",
        "https://sns.us-east-1.amazonaws.com:99999/x.pem",
        "https://s%6es.us-east-1.amazonaws.com/x.pem",
        "https://xn--sns-.us-east-1.amazonaws.com/x.pem",
        "https://" + "a" * 5000 + ".amazonaws.com/x.pem",
    ]
    hdr = [("x-amz-sns-message-type", "Notification")]
    for url in ssrf:
        cases.append(("sns cert url %r" % url[:70], spath, envelope(url), hdr, "text/plain", 401,
                      False))
    sub_hdr = [("x-amz-sns-message-type", "SubscriptionConfirmation")]
    for url in ("http://169.254.169.254/latest/meta-data/",
                "https://127.0.0.1:%d/?Action=ConfirmSubscription" % lp):
        cases.append(("sns subscribe url %r" % url[:60], spath,
                      envelope("https://127.0.0.1:%d/x.pem" % lp, "SubscriptionConfirmation",
                               url), sub_hdr, "text/plain", 401, False))
    for name, body in malformed:
        if name in ("no-ids", "id-number", "id-object", "status-unknown", "status-number",
                    "smtp-code-huge"):
            continue
        cases.append(("sns " + name, spath, body, hdr, "text/plain", 400, False))
    cases += [
        ("sns envelope without signature", spath,
         json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": "a", "Message": "x",
                     "Timestamp": "t", "SigningCertURL": "https://127.0.0.1:%d/x.pem" % lp}
                    ).encode(), hdr, "text/plain", (400, 401), False),
        ("sns type unknown", spath, envelope("https://127.0.0.1:%d/x.pem" % lp, kind="Evil"),
         hdr, "text/plain", (400, 401), False),
        ("sns signature version 3", spath,
         envelope("https://127.0.0.1:%d/x.pem" % lp, version="3"), hdr, "text/plain",
         (400, 401), False),
        ("sns body over 1 MiB", spath, big, hdr, "text/plain", 413, False),
        ("sns unknown org", "/api/webhooks/sms/nobody-%s/aws-sns/delivery" % TAG,
         envelope("https://127.0.0.1:%d/x.pem" % lp), hdr, "text/plain", 404, False),
    ]
    return cases


def check_webhooks(h, ctx):
    problems = []
    port = ctx.ingest_port
    cases = webhook_cases(ctx)
    for name, path, body, headers, ctype, want, chunked in cases:
        st, head = http_post(port, path, body, headers, ctype, chunked)
        ok = st in want if isinstance(want, tuple) else st == want
        if not ok:
            problems.append("%s: expected HTTP %s, got %s (%s)" %
                            (name, want, st, head.splitlines()[0] if head else ""))
        if "evil=1" in head or "\nX-Evil" in head:
            problems.append("%s: the answer carries an injected header: %r" % (name, head))
        if not ctx.ingest.alive():
            problems.append("webhook-ingest died after %s" % name)
            break
    # Header injection in the request line / headers themselves (raw bytes).
    raw = [
        ("bare LF in header", b"POST /api/webhooks/email/%s/delivery HTTP/1.1\r\nHost: x\n"
         b"X-Webhook-Signature: 00\nContent-Length: 2\r\n\r\n{}" % ctx.org.encode(),
         (400, 401)),
        ("CR in header value", b"POST /api/webhooks/email/%s/delivery HTTP/1.1\r\nHost: x\r\n"
         b"X-Webhook-Signature: 00\rX-Evil: 1\r\nContent-Length: 2\r\n\r\n{}" % ctx.org.encode(),
         (400, 401)),
        ("huge header", b"POST /api/webhooks/email/%s/delivery HTTP/1.1\r\nHost: x\r\n"
         b"X-Webhook-Signature: " % ctx.org.encode() + b"a" * 200000
         + b"\r\nContent-Length: 2\r\n\r\n{}", (400, 401, 413, 431)),
        ("content-length negative", b"POST /api/webhooks/email/%s/delivery HTTP/1.1\r\nHost: x"
         b"\r\nContent-Length: -1\r\n\r\n{}" % ctx.org.encode(), (400, 401, 411, 413)),
        ("content-length huge", b"POST /api/webhooks/email/%s/delivery HTTP/1.1\r\nHost: x"
         b"\r\nContent-Length: 99999999999999999999\r\n\r\n{}" % ctx.org.encode(), (400, 413)),
        ("two content-lengths", b"POST /api/webhooks/email/%s/delivery HTTP/1.1\r\nHost: x"
         b"\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}" % ctx.org.encode(), (400, 401)),
        ("request line crlf", b"POST /api/webhooks/email/x%0d%0aX-Evil:%201/delivery HTTP/1.1"
         b"\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", (400, 401, 404)),
    ]
    for name, data, want in raw:
        st, head = http_raw(port, data)
        if st not in want:
            problems.append("raw %s: expected HTTP %s, got %s (%r)" % (name, want, st, head[:200]))
        if "evil" in head.lower():
            problems.append("raw %s: the answer carries an injected header: %r" % (name, head))
        if not ctx.ingest.alive():
            problems.append("webhook-ingest died after raw %s" % name)
            break
    st, _ = http_raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    if st != 200:
        problems.append("webhook-ingest /healthz after the corpus: %s" % st)
    time.sleep(1.0)
    if ctx.fetch.hits:
        problems.append("webhook-ingest made %d outbound connection(s) for refused callbacks: %r"
                        % (len(ctx.fetch.hits), [x[:120] for x in ctx.fetch.hits[:5]]))
    ctx.wh_status.poll(1.0)
    ctx.wh_status.poll(0.5)
    if ctx.wh_status.records:
        problems.append("webhook-ingest published %d event(s) for refused callbacks: %r" %
                        (len(ctx.wh_status.records),
                         [r.value[:200] for r in ctx.wh_status.records[:3]]))
    ctx.webhook_case_count = len(cases) + len(raw)
    return problems


# --- the secret scan -----------------------------------------------------------------------


def secret_forms(ctx):
    """Every planted secret and the forms it could leak in: text, base64 (with and without
    padding), hex (both cases), URL-encoded; plus the Basic credentials and AUTH PLAIN
    strings that carry the Twilio token and SMTP password, and the key ring's raw key."""
    forms = {}

    def add(name, raw):
        if isinstance(raw, str):
            raw = raw.encode()
        b64 = base64.b64encode(raw)
        forms[name] = raw
        forms[name + " (base64)"] = b64
        forms[name + " (base64, unpadded)"] = b64.rstrip(b"=")
        forms[name + " (base64url)"] = base64.urlsafe_b64encode(raw).rstrip(b"=")
        forms[name + " (hex)"] = raw.hex().encode()
        forms[name + " (HEX)"] = raw.hex().upper().encode()
        forms[name + " (url-encoded)"] = urllib.parse.quote(raw, safe="").encode()

    for name, value in SECRETS.items():
        add(name, value)
    add("twilio basic credentials", "%s:%s" % (TWILIO_SID, SECRETS["twilio auth token"]))
    add("smtp AUTH PLAIN", "\0%s\0%s" % (SMTP_USER, SECRETS["smtp password"]))
    key_b64 = ctx.keyring.keys.split(":", 1)[1]
    key = base64.b64decode(key_b64)
    add("secret key ring key", key)
    forms["secret key ring entry"] = key_b64.encode()
    # A base64 run that starts at another offset: its middle part is stable.
    for name, value in SECRETS.items():
        for shift in (1, 2):
            mid = base64.b64encode(b"x" * shift + value.encode())[4:-4]
            forms["%s (base64 at offset %d)" % (name, shift)] = mid
    return forms


def scan_for_secrets(h, ctx):
    forms = secret_forms(ctx)
    sources = []
    for b in ctx.binaries:
        sources.append(("%s stdout/stderr" % b.name, b.output()))
    for channel in ("email", "twilio", "sns"):
        for r in ctx.status[channel].records + ctx.dlq[channel].records:
            blob = norm(r.value) + b"\n" + norm(r.key)
            for k, v in r.header_list:
                blob += b"\n" + k.encode() + b"=" + norm(v)
            sources.append(("%s %s record" % (channel, r.topic), blob))
    for r in ctx.wh_status.records:
        sources.append(("webhook status record", norm(r.value)))
    problems = []
    for src, data in sources:
        low = data.lower()
        for name, needle in forms.items():
            # Hex may be written in either case; every other form is exact.
            hit = needle.lower() in low if "(hex)" in name.lower() else needle in data
            if hit:
                problems.append("%s appears in %s" % (name, src))
    total = sum(len(d) for _, d in sources)
    return problems, len(sources), total, len(forms)


# --- the test ------------------------------------------------------------------------------


class Ctx:
    pass


def setup(h):
    ctx = Ctx()
    h.hostile = ctx
    ctx.keyring = h.keyring
    ctx.binaries = []
    ctx.org = "hostile-" + TAG
    h.db.orgs.add(ctx.org)
    kr = h.keyring
    org = ctx.org

    ctx.twilio = Tripwire(twilio_refusal)
    ctx.sns = Tripwire(sns_refusal)
    ctx.smtp = SmtpServer(auth=(SMTP_USER, "the-right-password-is-not-planted")).start()
    ctx.fetch = FetchListener()

    enc = lambda col, v: kr.encrypt(org, col, v)  # noqa: E731
    h.db.q("INSERT INTO email_provider_config (org_id, smtp_host, smtp_port, smtp_username,"
           " smtp_password_encrypted, from_email, from_name, use_tls, use_ssl,"
           " webhook_secret_encrypted, pool_size) VALUES (%s, '127.0.0.1', %s, %s, %s,"
           " 'noreply@acme.example', 'Acme', false, false, %s, 1)",
           (org, ctx.smtp.port, SMTP_USER,
            enc("email_provider_config.smtp_password_encrypted", SECRETS["smtp password"]),
            enc("email_provider_config.webhook_secret_encrypted",
                SECRETS["email webhook secret"])))
    h.db.q("INSERT INTO sms_provider_config (org_id, provider_type, twilio_account_sid,"
           " twilio_auth_token_encrypted, twilio_from_number) VALUES (%s, 'TWILIO', %s, %s,"
           " '+15005550006')",
           (org, TWILIO_SID, enc("sms_provider_config.twilio_auth_token_encrypted",
                                 SECRETS["twilio auth token"])))
    h.db.q("INSERT INTO sms_provider_config (org_id, provider_type, aws_access_key_encrypted,"
           " aws_secret_key_encrypted, aws_region, aws_sender_id, webhook_secret_encrypted,"
           " sns_topic_arn_allowlist) VALUES (%s, 'AWS_SNS', %s, %s, 'us-east-1', 'Acme', %s, %s)",
           (org, enc("sms_provider_config.aws_access_key_encrypted", SECRETS["aws access key"]),
            enc("sms_provider_config.aws_secret_key_encrypted", SECRETS["aws secret key"]),
            enc("sms_provider_config.webhook_secret_encrypted", SECRETS["sms webhook secret"]),
            [SNS_TOPIC]))

    ctx.topics = {c: h.topics("hostile" + c, partitions=1) for c in ("email", "twilio", "sns")}
    specs = {"email": ("email-worker", "TOPIC_EMAIL", {}),
             "twilio": ("twilio-worker", "TOPIC_SMS_TWILIO",
                        {"TWILIO_API_BASE_URL": ctx.twilio.url, "TWILIO_TIMEOUT_MS": "3000"}),
             "sns": ("sns-worker", "TOPIC_SMS_SNS", {"SNS_ENDPOINT_URL": ctx.sns.url + "/"})}
    ctx.workers = {}
    for channel, (binary, key, extra) in specs.items():
        w = Binary(h, channel + "-worker", worker_env(h, ctx.topics[channel], key, **extra),
                   binary)
        h.workers.append(w)
        ctx.binaries.append(w)
        ctx.workers[channel] = w
        w.start()

    # webhook-ingest: every proxy variable libcurl reads points at the fetch listener, so
    # a fetch of any URL, on any host, shows up there.
    ctx.wh_topics = h.topics("hostilewh", partitions=1)
    ctx.ingest_port = ph_free_port()
    e = dict(h.env.base_env)
    e.update(kr.worker_env())
    proxy = "http://127.0.0.1:%d" % ctx.fetch.port
    e.update({"KAFKA_BOOTSTRAP_SERVERS": h.env.bootstrap, "DATABASE_URL": h.env.database_url,
              "TOPIC_STATUS": ctx.wh_topics.status, "HTTP_ADDR": "127.0.0.1:%d" % ctx.ingest_port,
              "LOG_LEVEL": "debug", "PUBLIC_BASE_URL": PUBLIC, "http_proxy": proxy,
              "https_proxy": proxy, "HTTPS_PROXY": proxy, "ALL_PROXY": proxy,
              "all_proxy": proxy, "NO_PROXY": "", "no_proxy": ""})
    ctx.ingest = Binary(h, "webhook-ingest", e, "webhook-ingest")
    h.workers.append(ctx.ingest)
    ctx.binaries.append(ctx.ingest)
    ctx.ingest.start()

    ctx.status = {c: h.status_reader(t) for c, t in ctx.topics.items()}
    ctx.dlq = {}
    for c, t in ctx.topics.items():
        ctx.dlq[c] = RawReader(h.env, [t.dlq])
        h.readers.append(ctx.dlq[c])
    ctx.wh_status = RawReader(h.env, [ctx.wh_topics.status])
    h.readers.append(ctx.wh_status)
    for w in ctx.workers.values():
        w.wait_assigned(5, 90)
    deadline = time.time() + 60
    while http_raw(ctx.ingest_port, b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close"
                   b"\r\n\r\n")[0] != 200:
        check(ctx.ingest.alive(), "webhook-ingest exited:\n" + ctx.ingest.tail())
        check(time.time() < deadline, "webhook-ingest not ready")
        time.sleep(0.2)
    ctx.control_mid, ctx.control_key, ctx.control_events = {}, {}, {}
    ctx.cases = {}
    return ctx


def ph_free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_requests_fail_precisely(h, ctx):
    """Every corpus case of every channel: one FAILED event with its code, one DLQ copy;
    and one good request per channel that reaches the provider stand-in (which refuses
    its credentials)."""
    for channel in ("email", "twilio", "sns"):
        cases = request_cases(channel, ctx.org)
        for i, case in enumerate(cases):
            case.key = ("%s-%03d-%s" % (channel, i, case.name)).encode()
            h.sender.produce(ctx.topics[channel].base, case.value, key=case.key, partition=0,
                             headers=case.headers)
        # The control request goes last: it is the one that uses the secrets.
        m = "h-%s-control-%s" % (channel, TAG)
        req = base_request(channel, m, ctx.org)
        if channel != "email":
            req["to"] = "+14155550123"
        ctx.control_mid[channel] = m
        ctx.control_key[channel] = ("%s-control" % channel).encode()
        h.sender.produce(ctx.topics[channel].base, req, key=ctx.control_key[channel], partition=0)
        ctx.cases[channel] = cases
    h.sender.flush()
    problems = []
    for channel, provider in (("email", "SMTP"), ("twilio", "TWILIO"), ("sns", "AWS_SNS")):
        problems += check_requests(h, ctx, channel, ctx.cases[channel], provider)
    total = sum(len(c) for c in ctx.cases.values())
    print("  request corpus: %d cases over 3 workers" % total)
    check(not problems, "%d problem(s):\n    %s" % (len(problems), "\n    ".join(problems)))


def test_controls_used_the_secrets(h, ctx):
    """The good request of each channel reached its provider stand-in, with the planted
    credentials, and failed on them: the secrets were decrypted and used, so the scan
    below covers the paths that handle them."""
    want = {"email": "AUTH_FAILED", "twilio": "TWILIO_20003", "sns": "AUTH_FAILED"}
    for channel, code in want.items():
        evs, copies = ctx.control_events.get(channel) or (None, [])
        got = [(e["status"], e["error_code"]) for e in (evs or [])]
        check_eq(got, [("FAILED", code)], "%s control request outcome" % channel)
        check_eq(len(copies), 1, "%s control request DLQ copies" % channel)
    tw = [r for r in ctx.twilio.requests if "+14155550123" in urllib.parse.unquote_plus(
        r[2].decode(errors="replace"))]
    check_eq(len(tw), len(ctx.twilio.requests), "requests at the Twilio stand-in that are not"
             " the control request")
    check(len(tw) >= 1, "the Twilio control request never reached the stand-in")
    basic = base64.b64encode(("%s:%s" % (TWILIO_SID, SECRETS["twilio auth token"])).encode())
    check(any(r[1].get("Authorization", "").endswith(basic.decode()) for r in tw),
          "the Twilio stand-in never saw the planted token")
    sn = [r for r in ctx.sns.requests if b"%2B14155550123" in r[2]]
    check_eq(len(sn), len(ctx.sns.requests), "requests at the SNS stand-in that are not the"
             " control request")
    check(len(sn) >= 1, "the SNS control request never reached the stand-in")
    check(any(SECRETS["aws access key"] in r[1].get("Authorization", "") for r in sn),
          "the SNS stand-in never saw the planted access key")
    check(len(ctx.smtp.auth_attempts) >= 1, "the SMTP control request never tried AUTH")
    check_eq(ctx.smtp.received(), [], "messages the SMTP stand-in accepted")


def test_webhooks_refuse_precisely(h, ctx):
    problems = check_webhooks(h, ctx)
    print("  webhook corpus: %d callbacks" % ctx.webhook_case_count)
    check(not problems, "%d problem(s):\n    %s" % (len(problems), "\n    ".join(problems)))


def test_far_future_not_before(h, ctx):
    """A request on the main topic that claims x-not-before in year 2286 must not hold its
    partition: the requests behind it are still answered. The other retry headers a
    producer may forge there (x-attempt, x-original-*) are ignored too: the request is a
    first attempt, and its dead-letter copy names where it really arrived."""
    channel = "sns"
    t = ctx.topics[channel]
    m1 = "h-nb-%s" % suffix()
    m2 = "h-nb-after-%s" % suffix()
    bad = base_request(channel, m1, ctx.org)
    bad["to"] = "not a phone"
    after = base_request(channel, m2, ctx.org)
    after["to"] = "also not a phone"
    h.sender.produce(t.base, bad, key=b"nb-1", partition=0,
                     headers=[("x-not-before", b"9999999999999"), ("x-attempt", b"5"),
                              ("x-original-topic", b"elsewhere"),
                              ("x-original-partition", b"3"), ("x-original-offset", b"77")])
    h.sender.produce(t.base, after, key=b"nb-2", partition=0)
    h.sender.flush()
    st = ctx.status[channel]
    try:
        st.until(lambda: st.statuses(m2) and st.statuses(m1), 20,
                 "both requests answered")
    except CheckFailed:
        raise CheckFailed("a forged x-not-before on %s holds the partition: events for the "
                          "request %r and the one behind it %r" %
                          (t.base, st.statuses(m1), st.statuses(m2)))
    check_eq(st.events(m1)[0]["error_code"], "INVALID_PHONE", "code of the forged request")
    check_eq(st.events(m1)[0]["attempt"], 1, "attempt of the request whose x-attempt said 5")
    dlq = ctx.dlq[channel]
    dlq.until(lambda: any(r.key == b"nb-1" for r in dlq.records), 20, "the dead-letter copy")
    copy = [r for r in dlq.records if r.key == b"nb-1"][0]
    check_eq((copy.headers.get("x-attempt"), copy.headers.get("x-original-topic"),
              copy.headers.get("x-original-partition")), ("1", t.base, "0"),
             "dead-letter copy headers of the request with forged retry headers")


def test_processes_alive_and_clean(h, ctx):
    for b in ctx.binaries:
        check(b.alive(), "%s exited (%s):\n%s" % (b.name, b.proc.poll(), b.tail()))
        rep = b.sanitizer_report()
        check(rep is None, "%s: sanitizer report:\n%s" % (b.name, (rep or "")[-4000:]))


def test_no_secret_anywhere(h, ctx):
    # Stopping flushes every log line; SIGTERM is also the clean exit each must make, and
    # under ASan the exit runs the leak check.
    for b in ctx.binaries:
        check_eq(b.stop(60), 0, "exit code of " + b.name)
    for channel in ("email", "twilio", "sns"):
        ctx.status[channel].poll(0.5)
        ctx.dlq[channel].poll(0.5)
    problems, n_sources, n_bytes, n_forms = scan_for_secrets(h, ctx)
    print("  secret scan: %d forms of %d secrets over %d sources (%d bytes)" %
          (n_forms, len(SECRETS) + 3, n_sources, n_bytes))
    check(n_bytes > 100000, "the scan had almost nothing to read (%d bytes)" % n_bytes)
    check(not problems, "%d leak(s):\n    %s" % (len(problems), "\n    ".join(problems[:40])))
    for b in ctx.binaries:
        rep = b.sanitizer_report()
        check(rep is None, "%s: sanitizer report at exit:\n%s" % (b.name, (rep or "")[-4000:]))


def cleanup(h):
    ctx = getattr(h, "hostile", None)
    if ctx is None:
        return
    for s in (getattr(ctx, "twilio", None), getattr(ctx, "sns", None),
              getattr(ctx, "smtp", None), getattr(ctx, "fetch", None)):
        if s is not None:
            try:
                s.stop()
            except Exception:
                pass


def main():
    holder = {}

    def setup_and_remember(h):
        holder["h"] = h
        return setup(h)

    cases = [test_requests_fail_precisely, test_controls_used_the_secrets,
             test_webhooks_refuse_precisely, test_far_future_not_before,
             test_processes_alive_and_clean, test_no_secret_anywhere]
    try:
        return ph.run(cases, "hostile_input", setup=setup_and_remember)
    finally:
        if "h" in holder:
            cleanup(holder["h"])


if __name__ == "__main__":
    sys.exit(main())
