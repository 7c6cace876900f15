"""sns-worker through Kafka and PostgreSQL against AWS SNS stand-ins.

Three sns-worker processes run the real pipeline, each on its own topics:

  - worker "moto" talks to moto's server (PyPI moto[server], installed by this test into a
    virtual environment it creates or reuses under
    ${XDG_CACHE_HOME:-~/.cache}/notify-delivery/venv, started on a free loopback port).
    A request is SENT with the MessageId moto recorded for exactly that phone number and
    text (read back from moto's /moto-api/data.json), the ledger keeps that id; an org whose
    sender id moto refuses gets FAILED with AWS_INVALID_PARAMETER, not retried.
  - worker "scripted" talks to a small server in this process that answers what moto
    cannot: Throttling with Retry-After (RETRY_SCHEDULED with AWS_THROTTLING, the org's
    throttle_until set, then SENT), InternalError 500 (RETRY_SCHEDULED, then SENT on the
    second attempt) and SignatureDoesNotMatch (FAILED with AUTH_FAILED and an error log an
    operator can act on, without any secret in it). It records every request, and
    botocore's SigV4 signer (moto's dependency, run in the venv) re-signs one of them for
    the same time, credentials and session token: the Authorization header must be
    identical.
  - worker "tls" is pointed at the same kind of server behind HTTPS with a self-signed
    certificate: nothing is sent, the attempt fails with TLS_FAILED.

Prints "N passed, N failed"; exits non-zero on failure.
"""

import base64
import fcntl
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_harness import (CheckFailed, Worker, check, check_eq, check_event_shape,  # noqa: E402
                              run, suffix)
from testkit import free_port  # noqa: E402

TIMEOUT = 60
RETRY_DELAYS_MS = "1000,2000,3000,4000"
PARTITIONS = 2
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+test/token=="

# --- moto in its own virtual environment --------------------------------------------------


def venv_dir():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "notify-delivery", "venv")


def ensure_moto():
    """The venv's python and moto_server, creating the venv and installing moto[server]
    from PyPI when missing. A lock keeps parallel tests from installing at once."""
    venv = venv_dir()
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    py = os.path.join(venv, "bin", "python")
    server = os.path.join(venv, "bin", "moto_server")
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.access(server, os.X_OK):
            subprocess.run(["/usr/bin/python3", "-m", "venv", venv], check=True, timeout=300)
            subprocess.run([py, "-m", "pip", "install", "--quiet", "moto[server]"], check=True,
                           timeout=900)
    return py, server


class Moto:
    """moto_server on a free loopback port, stopped by stop()."""

    def __init__(self, tmpdir):
        self.python, server = ensure_moto()
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.log = open(os.path.join(tmpdir, "moto.log"), "wb")
        self.proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + "moto-api/data.json", timeout=2).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("moto_server did not start (see moto.log)")
                time.sleep(0.2)

    def sms(self):
        """What moto recorded: {message_id: (phone_number, message)}."""
        data = json.loads(urllib.request.urlopen(self.url + "moto-api/data.json",
                                                 timeout=10).read())
        return {m["message_id"]: (m["phone_number"], m["message"])
                for m in data.get("sns", {}).get("SMS", [])}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


# --- a scripted SNS for the answers moto cannot give ----------------------------------------

PUBLISH_OK = ('<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
              '<PublishResult><MessageId>%s</MessageId></PublishResult>'
              '<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>'
              '</PublishResponse>')
ERROR = ('<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
         '<Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>'
         '<RequestId>%s</RequestId></ErrorResponse>')

# Phone number -> the answer per attempt (the last one repeats): (status, type, code,
# message, Retry-After) or "OK".
SCRIPTS = {
    "+14155550101": [(400, "Sender", "Throttling", "Rate exceeded", "1"), "OK"],
    "+14155550102": [(500, "Receiver", "InternalError", "Internal Error", None), "OK"],
    "+14155550103": [(403, "Sender", "SignatureDoesNotMatch", "The request signature we "
                      "calculated does not match the signature you provided.", None)],
    "+14155550104": ["OK"],
}


def form_attr(form, name):
    """The StringValue of the message attribute `name` in a decoded Publish form."""
    for i in range(1, 11):
        p = "MessageAttributes.entry.%d." % i
        if form.get(p + "Name") == name:
            return form.get(p + "Value.StringValue")
    return None


def self_signed_context(tmpdir):
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1, which no
    CA store trusts."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path = os.path.join(tmpdir, "selfsigned.pem")
    key_path = os.path.join(tmpdir, "selfsigned.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


class ScriptedSns:
    def __init__(self, tls_context=None):
        self.lock = threading.Lock()
        self.requests = []  # (headers dict, body bytes, form dict)
        self.attempts = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
                with owner.lock:
                    owner.requests.append((dict(self.headers.items()), body, form))
                    key = form_attr(form, "IdempotencyKey") or form.get("Message")
                    idx = owner.attempts.get(key, 0)
                    owner.attempts[key] = idx + 1
                script = SCRIPTS.get(form.get("PhoneNumber"), ["OK"])
                step = script[min(idx, len(script) - 1)]
                rid = str(uuid.uuid4())
                headers = {"Content-Type": "text/xml"}
                if step == "OK":
                    status, text = 200, PUBLISH_OK % ("scripted-" + str(uuid.uuid4()), rid)
                else:
                    status, typ, code, msg, retry_after = step
                    text = ERROR % (typ, code, msg, rid)
                    if retry_after:
                        headers["Retry-After"] = retry_after
                data = text.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/" % self.port
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
            self.url = "https://127.0.0.1:%d/" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def requests_for(self, phone):
        with self.lock:
            return [r for r in self.requests if r[2].get("PhoneNumber") == phone]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


BOTOCORE_SIGN = r"""
import base64, datetime, json, sys
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
a = json.load(sys.stdin)
when = datetime.datetime.strptime(a["amz_date"], "%Y%m%dT%H%M%SZ")
botocore.auth.get_current_datetime = lambda *args, **kw: when
req = AWSRequest(method="POST", url=a["url"], data=base64.b64decode(a["body"]),
                 headers={"Content-Type": a["content_type"]})
creds = Credentials(a["access_key"], a["secret_key"], a.get("token"))
botocore.auth.SigV4Auth(creds, "sns", a["region"]).add_auth(req)
print(req.headers["Authorization"])
"""

# --- the worker ---------------------------------------------------------------------------


class SnsWorker(Worker):
    """Worker (pipeline_harness) running sns-worker instead of test-worker."""

    def start(self):
        self.starts += 1
        self.log_path = os.path.join(self.h.tmpdir, "%s.%d.log" % (self.name, self.starts))
        self.err_path = os.path.join(self.h.tmpdir, "%s.%d.err" % (self.name, self.starts))
        binary = os.path.join(self.h.env.build_dir, "sns-worker")
        with open(self.log_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([binary], env=self.env, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL)
        self.started_at = time.time()
        return self


def sns_env(h, topics, endpoint, **extra):
    e = h.worker_env(topics, RETRY_DELAYS_MS=RETRY_DELAYS_MS)
    for k in ("TOPIC_EMAIL", "NOTIFY_TEST_CHANNEL", "NOTIFY_TEST_SEND_LOG"):
        e.pop(k, None)
    e["TOPIC_SMS_SNS"] = topics.base
    e["SNS_ENDPOINT_URL"] = endpoint
    for k, v in extra.items():
        e[k] = str(v)
    return e


def add_sns_org(h, org, access, secret, region="us-east-1", sender_id="NotifyTest",
                token=None):
    kr = h.keyring
    ak = kr.encrypt(org, "sms_provider_config.aws_access_key_encrypted", access)
    sk = kr.encrypt(org, "sms_provider_config.aws_secret_key_encrypted", secret)
    tk = kr.encrypt(org, "sms_provider_config.aws_session_token_encrypted", token) \
        if token else None
    h.db.orgs.add(org)
    h.db.q("INSERT INTO sms_provider_config (org_id, provider_type, aws_access_key_encrypted,"
           " aws_secret_key_encrypted, aws_session_token_encrypted, aws_region, aws_sender_id,"
           " enabled) VALUES (%s, 'AWS_SNS', %s, %s, %s, %s, %s, true)",
           (org, ak, sk, tk, region, sender_id))


def sns_request(mid, org, to, body="Your code is 123456", **payload):
    p = {"body": body}
    p.update(payload)
    return {"message_id": mid, "org_id": org, "to": to, "payload": p,
            "metadata": {"case": mid}}


class Ctx:
    pass


def setup(h):
    ctx = Ctx()
    ctx.moto = None
    ctx.scripted = None
    ctx.untrusted = None
    h.sns_ctx = ctx
    ctx.moto = Moto(h.tmpdir)
    ctx.scripted = ScriptedSns()
    ctx.untrusted = ScriptedSns(self_signed_context(h.tmpdir))
    ctx.tm = h.topics("snsmoto", PARTITIONS)
    ctx.ts = h.topics("snsscripted", PARTITIONS)
    ctx.tt = h.topics("snstls", PARTITIONS)
    ctx.secret = "secret/" + suffix() + "+Key"
    ctx.access = "AKIA" + suffix().upper()
    ctx.org = "sns-ok-" + suffix()
    ctx.org_bad = "sns-badsender-" + suffix()
    ctx.org_tok = "sns-token-" + suffix()
    ctx.org_thr = "sns-throttle-" + suffix()
    add_sns_org(h, ctx.org, ctx.access, ctx.secret)
    # An empty sender id is a configuration mistake that AWS (and moto) refuse.
    add_sns_org(h, ctx.org_bad, ctx.access, ctx.secret, sender_id="")
    add_sns_org(h, ctx.org_tok, ctx.access, ctx.secret, region="eu-west-1", token=SESSION_TOKEN)
    add_sns_org(h, ctx.org_thr, ctx.access, ctx.secret)
    ctx.wm = SnsWorker(h, "sns-moto", sns_env(h, ctx.tm, ctx.moto.url))
    ctx.ws = SnsWorker(h, "sns-scripted", sns_env(h, ctx.ts, ctx.scripted.url))
    ctx.wt = SnsWorker(h, "sns-tls", sns_env(h, ctx.tt, ctx.untrusted.url))
    h.workers += [ctx.wm, ctx.ws, ctx.wt]
    ctx.wm.start()
    ctx.ws.start()
    ctx.wt.start()
    ctx.st_m = h.status_reader(ctx.tm)
    ctx.st_s = h.status_reader(ctx.ts)
    ctx.wm.wait_assigned(5 * PARTITIONS, 90)
    ctx.ws.wait_assigned(5 * PARTITIONS, 90)
    ctx.wt.wait_assigned(5 * PARTITIONS, 90)
    ctx.st_t = h.status_reader(ctx.tt)
    return ctx


def wait_final(ctx, reader, mid, n=1, timeout=TIMEOUT):
    """The status events of `mid` once it has n of them and the last is final."""
    def done():
        evs = reader.events(mid)
        return len(evs) >= n and evs[-1]["status"] in ("SENT", "FAILED", "DUPLICATE")
    reader.until(done, timeout, "a final status of %s (so far %s)" %
                 (mid, [e["status"] for e in reader.events(mid)]))
    evs = reader.events(mid)
    for e in evs:
        check_event_shape(e, mid)
        check_eq(e["provider"], "AWS_SNS", mid + ": provider")
        check_eq(e["channel"], "sms", mid + ": channel")
    return evs


def test_sent_with_moto_message_id(h, ctx):
    mid = "m-sent-" + suffix()
    body = "Code 123456 + caf\u00e9 & 50% off = \u2713"
    h.sender.produce(ctx.tm.base, sns_request(mid, ctx.org, "+44 7700 900123", body,
                                              maxPrice="0.50", smsType="Promotional"))
    h.sender.flush()
    evs = wait_final(ctx, ctx.st_m, mid)
    check_eq([e["status"] for e in evs], ["SENT"], "statuses")
    pmid = evs[0]["provider_message_id"]
    sms = ctx.moto.sms()
    check(pmid in sms, "moto has no SMS with MessageId %r" % pmid)
    check_eq(sms[pmid], ("+447700900123", body), "what moto recorded")
    check_eq(evs[0]["segments"], 1, "segments")
    check_eq(evs[0]["metadata"], {"case": mid}, "metadata")
    row = h.db.ledger_row(ctx.org, mid, channel="sms")
    check(row is not None, "no ledger row")
    check_eq((row["state"], row["provider_message_id"]), ("SENT", pmid), "ledger")


def test_many_in_flight(h, ctx):
    mids = ["m-many-%d-%s" % (i, suffix()) for i in range(60)]
    for i, mid in enumerate(mids):
        h.sender.produce(ctx.tm.base, sns_request(mid, ctx.org, "+1415555%04d" % (1000 + i),
                                                  "message %d" % i))
    h.sender.flush()
    ctx.st_m.until(lambda: ctx.st_m.final_count(mids) == len(mids), TIMEOUT,
                   "60 final statuses")
    sms = ctx.moto.sms()
    ids = set()
    for i, mid in enumerate(mids):
        ev = ctx.st_m.events(mid)[-1]
        check_eq(ev["status"], "SENT", mid)
        check_eq(sms.get(ev["provider_message_id"]), ("+1415555%04d" % (1000 + i),
                                                      "message %d" % i), mid + " in moto")
        ids.add(ev["provider_message_id"])
    check_eq(len(ids), len(mids), "distinct MessageIds")


def test_bad_parameter_failed(h, ctx):
    mid = "m-bad-" + suffix()
    h.sender.produce(ctx.tm.base, sns_request(mid, ctx.org_bad, "+14155550199"))
    h.sender.flush()
    evs = wait_final(ctx, ctx.st_m, mid)
    check_eq([e["status"] for e in evs], ["FAILED"], "statuses")
    check_eq(evs[0]["error_code"], "AWS_INVALID_PARAMETER", "error_code")
    check_eq(evs[0]["retryable"], False, "retryable")
    check("InvalidParameter" in (evs[0]["error_message"] or ""),
          "error_message names AWS's code: %r" % evs[0]["error_message"])
    row = h.db.ledger_row(ctx.org_bad, mid, channel="sms")
    check_eq(row["state"] if row else None, "FAILED", "ledger state")


def test_signature_matches_botocore(h, ctx):
    mid = "m-sig-" + suffix()
    phone = "+14155550104"
    h.sender.produce(ctx.ts.base, sns_request(mid, ctx.org_tok, phone, "Sig test +1 \u00e9",
                                              maxPrice="0.25"))
    h.sender.flush()
    evs = wait_final(ctx, ctx.st_s, mid)
    check_eq([e["status"] for e in evs], ["SENT"], "statuses")
    check(evs[0]["provider_message_id"].startswith("scripted-"), "provider_message_id")
    reqs = [r for r in ctx.scripted.requests_for(phone)
            if form_attr(r[2], "IdempotencyKey") == mid]
    check_eq(len(reqs), 1, "requests seen")
    headers, body, form = reqs[0]
    check_eq(form.get("Action"), "Publish", "Action")
    check_eq(form.get("Version"), "2010-03-31", "Version")
    check_eq(form.get("Message"), "Sig test +1 \u00e9", "Message")
    want_attrs = [("AWS.SNS.SMS.SenderID", "String", "NotifyTest"),
                  ("AWS.SNS.SMS.SMSType", "String", "Transactional"),
                  ("AWS.SNS.SMS.MaxPrice", "Number", "0.25"),
                  ("IdempotencyKey", "String", mid)]
    for i, (name, dt, val) in enumerate(want_attrs, 1):
        p = "MessageAttributes.entry.%d." % i
        check_eq((form.get(p + "Name"), form.get(p + "Value.DataType"),
                  form.get(p + "Value.StringValue")), (name, dt, val), "attribute %d" % i)
    check(b"PhoneNumber=%2B14155550104" in body, "'+' sent as %2B")
    check_eq(headers.get("X-Amz-Security-Token"), SESSION_TOKEN, "session token header")
    args = {"url": ctx.scripted.url, "body": base64.b64encode(body).decode(),
            "content_type": headers.get("Content-Type"), "amz_date": headers.get("X-Amz-Date"),
            "access_key": ctx.access, "secret_key": ctx.secret, "token": SESSION_TOKEN,
            "region": "eu-west-1"}
    out = subprocess.run([ctx.moto.python, "-c", BOTOCORE_SIGN], input=json.dumps(args).encode(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(out.returncode == 0, "botocore signer failed: %s" % out.stderr.decode()[-2000:])
    want = out.stdout.decode().strip()
    check("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token," in want,
          "botocore signed: %s" % want)
    check_eq(headers.get("Authorization"), want, "Authorization against botocore's")


def test_internal_error_then_sent(h, ctx):
    mid = "m-500-" + suffix()
    h.sender.produce(ctx.ts.base, sns_request(mid, ctx.org, "+14155550102"))
    h.sender.flush()
    evs = wait_final(ctx, ctx.st_s, mid, n=2)
    check_eq([e["status"] for e in evs], ["RETRY_SCHEDULED", "SENT"], "statuses")
    check_eq((evs[0]["error_code"], evs[0]["retryable"], evs[0]["attempt"]),
             ("AWS_INTERNAL_ERROR", True, 1), "first attempt")
    check_eq(evs[1]["attempt"], 2, "second attempt")


def test_throttling(h, ctx):
    mid = "m-thr-" + suffix()
    t0 = time.time()
    h.sender.produce(ctx.ts.base, sns_request(mid, ctx.org_thr, "+14155550101"))
    h.sender.flush()
    evs = wait_final(ctx, ctx.st_s, mid, n=2)
    first = evs[0]
    check_eq((first["status"], first["error_code"], first["retryable"]),
             ("RETRY_SCHEDULED", "AWS_THROTTLING", True), "first attempt")
    check_eq(evs[-1]["status"], "SENT", "final status")
    rows = h.db.q("SELECT extract(epoch from throttle_until) AS t FROM sms_rate_limit"
                  " WHERE org_id = %s", (ctx.org_thr,))
    check(rows and rows[0]["t"] is not None, "throttle_until was not set")
    # Retry-After: 1 -> throttled for about a second from the answer.
    t = float(rows[0]["t"])
    check(t0 + 0.5 <= t <= time.time() + 1.5, "throttle_until %.1f s after the request"
          % (t - t0))


def test_auth_failure(h, ctx):
    mid = "m-auth-" + suffix()
    h.sender.produce(ctx.ts.base, sns_request(mid, ctx.org, "+14155550103"))
    h.sender.flush()
    evs = wait_final(ctx, ctx.st_s, mid)
    check_eq([e["status"] for e in evs], ["FAILED"], "statuses")
    check_eq((evs[0]["error_code"], evs[0]["retryable"]), ("AUTH_FAILED", False), "outcome")
    ctx.ws.wait_log(lambda l: l.get("level") == "error" and l.get("org_id") == ctx.org
                    and l.get("aws_error") == "SignatureDoesNotMatch" and l.get("action"),
                    10, "an operator's error log")
    with open(ctx.ws.log_path, "rb") as f:
        text = f.read().decode(errors="replace")
    for name, secret in (("secret key", ctx.secret), ("session token", SESSION_TOKEN)):
        check(secret not in text, "the worker logged the %s" % name)
    check("Signature=" not in text, "the worker logged a signature")


def test_tls_verifies_certificate(h, ctx):
    """An HTTPS endpoint whose certificate no CA vouches for is not spoken to: the attempt
    fails with TLS_FAILED (retryable) and the server never sees a request."""
    mid = "m-tls-" + suffix()
    h.sender.produce(ctx.tt.base, sns_request(mid, ctx.org, "+14155550104"))
    h.sender.flush()
    ctx.st_t.until(lambda: len(ctx.st_t.events(mid)) >= 1, TIMEOUT, "a status of " + mid)
    ev = ctx.st_t.events(mid)[0]
    check_event_shape(ev, mid)
    check_eq((ev["status"], ev["error_code"], ev["retryable"]),
             ("RETRY_SCHEDULED", "TLS_FAILED", True), "first attempt")
    check_eq(len(ctx.untrusted.requests), 0, "requests that reached the untrusted server")


def test_clean_shutdown(h, ctx):
    """SIGTERM drains and exits 0 (under ASan this also runs the leak check, whose report
    run() turns into a failure)."""
    for w in (ctx.wm, ctx.ws, ctx.wt):
        check_eq(w.stop(60), 0, "exit code of " + w.name)


def cleanup(h):
    ctx = getattr(h, "sns_ctx", None)
    if ctx is None:
        return
    for server in (ctx.scripted, ctx.untrusted):
        if server:
            server.stop()
    if ctx.moto:
        ctx.moto.stop()


def main():
    cases = [test_sent_with_moto_message_id, test_bad_parameter_failed,
             test_signature_matches_botocore, test_internal_error_then_sent, test_throttling,
             test_auth_failure, test_tls_verifies_certificate, test_many_in_flight,
             test_clean_shutdown]
    holder = {}

    def setup_and_remember(h):
        holder["h"] = h
        return setup(h)

    try:
        return run(cases, "sns_moto", setup=setup_and_remember)
    finally:
        if "h" in holder:
            cleanup(holder["h"])


if __name__ == "__main__":
    sys.exit(main())
