"""webhook-ingest through the real binary, against the stack's Kafka and PostgreSQL.

Every route with valid, tampered, missing and replayed signatures; the answers the
contract names (200 only once the event is on the topic, 401, 400, 404, 413, 503); ledger
correlation; duplicate Twilio and SNS callbacks giving one event; SNS messages signed here
with a locally made certificate (v1 and v2), served by a local HTTPS server whose CA is
made at run time; certificate URLs on a wrong host, plain http or a non-.pem path refused
without any fetch; SubscriptionConfirmation confirmed by a GET of SubscribeURL.

Twilio callbacks are signed by an implementation written here from Twilio's description
(and by the twilio package's RequestValidator when it is installed).
"""
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import psycopg2
from confluent_kafka import Consumer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from testkit import check_named as check, free_port, summary  # noqa: E402

BUILD = os.environ["NOTIFY_BUILD_DIR"]
KAFKA = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
DB = os.environ["DATABASE_URL"]
RUN = uuid.uuid4().hex[:8]
TOPIC = f"test.webhook.status.{RUN}"
ORG = f"wh-{RUN}"
ORG_SMS_ONLY = f"wh-sms-{RUN}"
PUBLIC = "https://hooks.example.com/notify"
EMAIL_SECRET = "email-secret-" + RUN
SMS_SECRET = "sms-secret-" + RUN
AUTH_TOKEN = "twilio-token-" + RUN
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:sms-status-" + RUN

# ---------------------------------------------------------------- keys and certificates

def make_ca_and_server(tmp):
    """A CA and a server certificate for 127.0.0.1 signed by it; returns file paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {k: os.path.join(tmp, k) for k in ("ca.pem", "server.pem", "server.key")}
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["server.pem"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["server.key"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return paths


def make_signing_cert():
    """The SNS signing key pair and its (self-signed) certificate in PEM."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM)


class CertServer:
    """HTTPS server for the signing certificate and SubscribeURL; records every request."""

    def __init__(self, paths, cert_pem):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                if self.path.endswith(".pem"):
                    body = cert_pem
                else:
                    body = b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(paths["server.pem"], paths["server.key"])
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


# ---------------------------------------------------------------- signing (independent)

def twilio_signature(token, url, params):
    """Twilio's algorithm as documented: URL + sorted names, each name's sorted distinct
    values, HMAC-SHA1, base64."""
    s = url
    for name in sorted(set(k for k, _ in params)):
        for value in sorted(set(v for k, v in params if k == name)):
            s += name + value
    return base64.b64encode(hmac.new(token.encode(), s.encode(), hashlib.sha1).digest()).decode()


def twilio_signature_reference(token, url, params):
    """The twilio package's RequestValidator, when installed; else None."""
    try:
        from twilio.request_validator import RequestValidator  # noqa: PLC0415
    except ImportError:
        return None
    return RequestValidator(token).compute_signature(url, dict(params))


def hmac_hex(secret, body, timestamp=None):
    data = (timestamp.encode() + b"." + body) if timestamp else body
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


SNS_NOTIFICATION_KEYS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
SNS_CONFIRMATION_KEYS = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                         "TopicArn", "Type"]


def sns_sign(key, env, version):
    keys = SNS_NOTIFICATION_KEYS if env["Type"] == "Notification" else SNS_CONFIRMATION_KEYS
    text = "".join(f"{k}\n{env[k]}\n" for k in keys if k in env)
    digest = hashes.SHA256() if version == 2 else hashes.SHA1()
    env["SignatureVersion"] = str(version)
    env["Signature"] = base64.b64encode(
        key.sign(text.encode(), padding.PKCS1v15(), digest)).decode()
    return env


# ---------------------------------------------------------------- stack set-up

def notifyctl(args, stdin=None, env=None):
    out = subprocess.run([os.path.join(BUILD, "notifyctl")] + args, input=stdin,
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def setup_db(env):
    def enc(org, column, value):
        return notifyctl(["encrypt", "--org", org, "--column", column], stdin=value, env=env)

    conn = psycopg2.connect(DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(
        "INSERT INTO email_provider_config (org_id, smtp_host, from_email, "
        "webhook_secret_encrypted) VALUES (%s, 'smtp.invalid', 'a@b.example', %s)",
        (ORG, enc(ORG, "email_provider_config.webhook_secret_encrypted", EMAIL_SECRET)))
    cur.execute(
        "INSERT INTO sms_provider_config (org_id, provider_type, twilio_account_sid, "
        "twilio_auth_token_encrypted, twilio_from_number) VALUES (%s, 'TWILIO', 'AC1', %s, "
        "'+15005550006')",
        (ORG, enc(ORG, "sms_provider_config.twilio_auth_token_encrypted", AUTH_TOKEN)))
    cur.execute(
        "INSERT INTO sms_provider_config (org_id, provider_type, aws_access_key_encrypted, "
        "aws_secret_key_encrypted, aws_region, webhook_secret_encrypted, "
        "sns_topic_arn_allowlist) VALUES (%s, 'AWS_SNS', %s, %s, 'us-east-1', %s, %s)",
        (ORG, enc(ORG, "sms_provider_config.aws_access_key_encrypted", "AKIA"),
         enc(ORG, "sms_provider_config.aws_secret_key_encrypted", "secret"),
         enc(ORG, "sms_provider_config.webhook_secret_encrypted", SMS_SECRET), [TOPIC_ARN]))
    ledger = [("email", "SMTP", f"<m-email-{RUN}@x>", f"msg-email-{RUN}"),
              ("sms", "TWILIO", f"SM{RUN}", f"msg-twilio-{RUN}"),
              ("sms", "AWS_SNS", f"sns-{RUN}", f"msg-sns-{RUN}"),
              ("sms", "AWS_SNS", f"sns-generic-{RUN}", f"msg-generic-{RUN}")]
    for channel, provider, pmid, mid in ledger:
        cur.execute(
            "INSERT INTO delivery_ledger (org_id, channel, idempotency_key, message_id, state, "
            "provider, provider_message_id, attempts) VALUES (%s, %s, %s, %s, 'SENT', %s, %s, 1)",
            (ORG, channel, mid, mid, provider, pmid))
    return conn


def cleanup_db(conn):
    cur = conn.cursor()
    for table in ("email_provider_config", "sms_provider_config", "delivery_ledger",
                  "webhook_callback_dedupe"):
        cur.execute(f"DELETE FROM {table} WHERE org_id LIKE %s", (f"%{RUN}",))
    conn.close()


def start_ingest(env, port, **extra):
    e = dict(env)
    e.update({"HTTP_ADDR": f"127.0.0.1:{port}", "TOPIC_STATUS": TOPIC, "LOG_LEVEL": "warn"})
    e.update(extra)
    log = open(os.path.join(e["WH_TMP"], f"ingest-{port}.log"), "w")
    proc = subprocess.Popen([os.path.join(BUILD, "webhook-ingest")], env=e, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"webhook-ingest did not become ready (see ingest-{port}.log)")


def post(port, path, body, headers=None, content_type="application/json"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST")
    req.add_header("Content-Type", content_type)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def read_events(expected_min, timeout_s=20):
    c = Consumer({"bootstrap.servers": KAFKA, "group.id": "test-webhook-" + RUN,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([TOPIC])
    events = []
    deadline = time.time() + timeout_s
    idle_after = None
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            if len(events) >= expected_min:
                idle_after = idle_after or time.time()
                if time.time() - idle_after > 3:
                    break
            continue
        if m.error():
            continue
        idle_after = None
        events.append(json.loads(m.value()))
    c.close()
    return events


# ---------------------------------------------------------------- the cases

def main():
    tmp = tempfile.mkdtemp(prefix="wh-test-")
    env = dict(os.environ)
    ring = notifyctl(["keygen"], env=env)
    env.update({"SECRET_KEYS": ring, "SECRET_ACTIVE_KEY": ring.split(":")[0], "WH_TMP": tmp})
    paths = make_ca_and_server(tmp)
    sns_key, sns_pem = make_signing_cert()
    certsrv = CertServer(paths, sns_pem)
    conn = setup_db(env)
    procs = []
    try:
        port = free_port()
        procs.append(start_ingest(env, port, PUBLIC_BASE_URL=PUBLIC,
                                  SNS_CERT_HOST_PATTERN=r"^127\.0\.0\.1:[0-9]+$",
                                  SNS_CERT_CA_FILE=paths["ca.pem"], WEBHOOK_BODY_LIMIT="4096"))
        expected = run_cases(port, certsrv, sns_key)
        events = read_events(len(expected))
        check_events(events, expected)
        check_metrics(port)
        check_kafka_down(env)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        certsrv.stop()
        cleanup_db(conn)
    return summary()


def run_cases(port, certsrv, sns_key):
    """Posts every case; returns the events expected on the topic (by a tag)."""
    expected = []
    em = f"/api/webhooks/email/{ORG}"

    # Email delivery, plain hex: correlated through the ledger.
    body = json.dumps({"provider_message_id": f"<m-email-{RUN}@x>", "status": "delivered",
                       "recipient": "r@x.example"}).encode()
    st, _ = post(port, em + "/delivery", body, {"X-Webhook-Signature": hmac_hex(EMAIL_SECRET, body)})
    check("email delivery signed: 200", st == 200, st)
    expected.append(("DELIVERED", f"msg-email-{RUN}", "SMTP", None))

    # sha256= prefix with the timestamp form: a transient bounce.
    body = json.dumps({"message_id": f"ours-{RUN}", "bounce_type": "transient",
                       "smtp_code": 450, "diagnostic": "mailbox busy"}).encode()
    ts = str(int(time.time()))
    st, _ = post(port, em + "/bounce", body, {
        "X-Webhook-Signature": "sha256=" + hmac_hex(EMAIL_SECRET, body, ts),
        "X-Webhook-Timestamp": ts})
    check("email bounce, timestamp form: 200", st == 200, st)
    expected.append(("BOUNCED", f"ours-{RUN}", "SMTP", "SMTP_450"))

    # Replayed (old timestamp), tampered, missing, wrong secret: 401 and no event.
    old = str(int(time.time()) - 3600)
    st, _ = post(port, em + "/bounce", body, {
        "X-Webhook-Signature": hmac_hex(EMAIL_SECRET, body, old), "X-Webhook-Timestamp": old})
    check("replayed timestamp: 401", st == 401, st)
    st, _ = post(port, em + "/bounce", body, {
        "X-Webhook-Signature": hmac_hex(EMAIL_SECRET, body, ts), "X-Webhook-Timestamp": str(int(ts) + 1)})
    check("moved timestamp: 401", st == 401, st)
    st, _ = post(port, em + "/complaint", body + b" ", {"X-Webhook-Signature": hmac_hex(EMAIL_SECRET, body)})
    check("tampered body: 401", st == 401, st)
    st, _ = post(port, em + "/complaint", body)
    check("missing signature: 401", st == 401, st)
    st, _ = post(port, em + "/complaint", body, {"X-Webhook-Signature": hmac_hex("wrong", body)})
    check("wrong secret: 401", st == 401, st)

    # Complaint (route default status), uncorrelated provider id: still published.
    body = json.dumps({"provider_message_id": f"<unknown-{RUN}@x>"}).encode()
    st, _ = post(port, em + "/complaint", body, {"X-Webhook-Signature": hmac_hex(EMAIL_SECRET, body)})
    check("complaint uncorrelated: 200", st == 200, st)
    expected.append(("COMPLAINED", None, "SMTP", None))

    # Malformed (signed) bodies: 400; unknown org: 404; too large: 413.
    for bad in (b"not json", b"{}", json.dumps({"message_id": "x", "status": "lost"}).encode()):
        st, _ = post(port, em + "/delivery", bad, {"X-Webhook-Signature": hmac_hex(EMAIL_SECRET, bad)})
        check(f"malformed {bad[:20]!r}: 400", st == 400, st)
    body = json.dumps({"message_id": "x"}).encode()
    st, _ = post(port, f"/api/webhooks/email/nobody-{RUN}/delivery", body,
                 {"X-Webhook-Signature": hmac_hex(EMAIL_SECRET, body)})
    check("unknown org: 404", st == 404, st)
    big = b"{" + b" " * 5000 + b"}"
    st, _ = post(port, em + "/delivery", big, {"X-Webhook-Signature": hmac_hex(EMAIL_SECRET, big)})
    check("body over the limit: 413", st == 413, st)

    # Generic SMS route: the AWS_SNS row's webhook secret verifies it.
    body = json.dumps({"provider_message_id": f"sns-generic-{RUN}", "status": "undelivered"}).encode()
    st, _ = post(port, f"/api/webhooks/sms/{ORG}/delivery", body,
                 {"X-Webhook-Signature": hmac_hex(SMS_SECRET, body)})
    check("generic sms: 200", st == 200, st)
    expected.append(("UNDELIVERED", f"msg-generic-{RUN}", "AWS_SNS", None))
    st, _ = post(port, f"/api/webhooks/sms/{ORG}/delivery", body,
                 {"X-Webhook-Signature": hmac_hex(EMAIL_SECRET, body)})
    check("generic sms, other secret: 401", st == 401, st)
    st, _ = post(port, f"/api/webhooks/sms/{ORG}/delivery", body)
    check("generic sms, missing signature: 401", st == 401, st)
    st, _ = post(port, f"/api/webhooks/sms/{ORG}/delivery", body + b"\n",
                 {"X-Webhook-Signature": hmac_hex(SMS_SECRET, body)})
    check("generic sms, tampered body: 401", st == 401, st)
    st, _ = post(port, f"/api/webhooks/sms/{ORG}/delivery", body,
                 {"X-Webhook-Signature": hmac_hex(SMS_SECRET, body, old),
                  "X-Webhook-Timestamp": old})
    check("generic sms, replayed timestamp: 401", st == 401, st)
    st, _ = post(port, f"/api/webhooks/sms/{ORG_SMS_ONLY}/delivery", body,
                 {"X-Webhook-Signature": hmac_hex(SMS_SECRET, body)})
    check("generic sms, unknown org: 404", st == 404, st)

    # Twilio: form body signed over PUBLIC_BASE_URL + target.
    path = f"/api/webhooks/sms/{ORG}/twilio/status?x=1"
    url = PUBLIC + path
    params = [("MessageSid", f"SM{RUN}"), ("SmsSid", f"SM{RUN}"), ("MessageStatus", "delivered"),
              ("AccountSid", "AC1"), ("To", "+14155550100"), ("From", "+15005550006"),
              ("ApiVersion", "2010-04-01"), ("RawDlrDoneDate", "2611270500")]
    form = urllib.parse.urlencode(params).encode()
    sig = twilio_signature(AUTH_TOKEN, url, params)
    ref = twilio_signature_reference(AUTH_TOKEN, url, params)
    if ref is not None:
        # The package's signature is the one sent, so the server is checked against it.
        check("our Twilio signer agrees with RequestValidator", ref == sig, (ref, sig))
        sig = ref
    else:
        print("note: the twilio package is not installed; signing with this file's signer")
    hdr = {"X-Twilio-Signature": sig, "I-Twilio-Idempotency-Token": "tok-" + RUN}
    ctype = "application/x-www-form-urlencoded"
    st, _ = post(port, path, form, hdr, ctype)
    check("twilio delivered: 200", st == 200, st)
    expected.append(("DELIVERED", f"msg-twilio-{RUN}", "TWILIO", None))
    st, text = post(port, path, form, hdr, ctype)
    check("twilio repeat (same token): 200 without a second event", st == 200 and "duplicate" in text,
          (st, text))
    # Without the token the key is (sid, status, error code): published once more, then
    # its own repeat is a duplicate.
    st, text = post(port, path, form, {"X-Twilio-Signature": sig}, ctype)
    check("twilio without token: 200", st == 200 and "duplicate" not in text, (st, text))
    expected.append(("DELIVERED", f"msg-twilio-{RUN}", "TWILIO", None))
    st, text = post(port, path, form, {"X-Twilio-Signature": sig}, ctype)
    check("twilio repeat without token (same sid/status): duplicate",
          st == 200 and "duplicate" in text, (st, text))
    # One callback sent by many connections at once: the copies arrive while the first is
    # still in flight (in the same relay pass, or waiting for Kafka), and only one of them
    # makes an event; every copy gets 200.
    bparams = [(k, "sent" if k == "MessageStatus" else v) for k, v in params]
    bform = urllib.parse.urlencode(bparams).encode()
    bhdr = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, bparams),
            "I-Twilio-Idempotency-Token": "burst-" + RUN}
    copies = 24
    barrier = threading.Barrier(copies)
    answers = [None] * copies

    def send_copy(i):
        barrier.wait()
        answers[i] = post(port, path, bform, bhdr, ctype)

    threads = [threading.Thread(target=send_copy, args=(i,)) for i in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("twilio burst of one callback: every copy 200", all(a[0] == 200 for a in answers),
          answers)
    check("twilio burst of one callback: one published, the rest duplicates",
          sum("duplicate" not in a[1] for a in answers) == 1, answers)
    expected.append(("SENDING", f"msg-twilio-{RUN}", "TWILIO", None))  # Twilio's "sent"
    # Signed for another host: refused.
    p2 = [("MessageSid", f"SM{RUN}"), ("MessageStatus", "failed"), ("ErrorCode", "30003")]
    sig2 = twilio_signature(AUTH_TOKEN, "https://other.example.com/notify" + path, p2)
    st, _ = post(port, path, urllib.parse.urlencode(p2).encode(), {"X-Twilio-Signature": sig2}, ctype)
    check("twilio signed for another URL: 401", st == 401, st)
    # Tampered parameter, missing signature, another token.
    tampered = urllib.parse.urlencode([(k, "undelivered" if k == "MessageStatus" else v)
                                       for k, v in params]).encode()
    st, _ = post(port, path, tampered, {"X-Twilio-Signature": sig}, ctype)
    check("twilio tampered: 401", st == 401, st)
    st, _ = post(port, path, form, {}, ctype)
    check("twilio missing signature: 401", st == 401, st)
    st, _ = post(port, path, form, {"X-Twilio-Signature": twilio_signature("other", url, params)}, ctype)
    check("twilio other token: 401", st == 401, st)
    # Failed with an error code, signed over the URL with the default port (:443) added.
    url443 = "https://hooks.example.com:443/notify" + path
    sig3 = twilio_signature(AUTH_TOKEN, url443, p2)
    st, _ = post(port, path, urllib.parse.urlencode(p2).encode(), {"X-Twilio-Signature": sig3}, ctype)
    check("twilio failed with ErrorCode: 200", st == 200, st)
    expected.append(("FAILED", f"msg-twilio-{RUN}", "TWILIO", "TWILIO_30003"))
    # JSON body with bodySHA256.
    jbody = json.dumps({"MessageSid": f"SM{RUN}", "MessageStatus": "read"}).encode()
    jpath = f"/api/webhooks/sms/{ORG}/twilio/status?bodySHA256=" + hashlib.sha256(jbody).hexdigest()
    jsig = twilio_signature(AUTH_TOKEN, PUBLIC + jpath, [])
    st, _ = post(port, jpath, jbody, {"X-Twilio-Signature": jsig})
    check("twilio JSON with bodySHA256: 200", st == 200, st)
    expected.append(("READ", f"msg-twilio-{RUN}", "TWILIO", None))
    st, _ = post(port, jpath, jbody.replace(b"read", b"sent"), {"X-Twilio-Signature": jsig})
    check("twilio JSON body not matching its hash: 401", st == 401, st)
    st, _ = post(port, f"/api/webhooks/sms/nobody-{RUN}/twilio/status", form,
                 {"X-Twilio-Signature": sig}, ctype)
    check("twilio unknown org: 404", st == 404, st)

    # SNS: Notification v1 and v2, signed with the local certificate.
    cert_url = f"https://127.0.0.1:{certsrv.port}/SimpleNotificationService-{RUN}.pem"
    spath = f"/api/webhooks/sms/{ORG}/aws-sns/delivery"

    def notification(status, version, message_id=None, cert=cert_url, topic=TOPIC_ARN):
        record = {"notification": {"messageId": f"sns-{RUN}",
                                   "timestamp": "2026-11-27 05:00:00.123"},
                  "delivery": {"destination": "+14155550100",
                               "providerResponse": "Unknown error attempting to reach phone"},
                  "status": status}
        env = {"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()),
               "TopicArn": topic, "Message": json.dumps(record),
               "Timestamp": "2026-11-27T05:00:00.200Z", "SigningCertURL": cert,
               "UnsubscribeURL": "https://127.0.0.1/unsub"}
        return sns_sign(sns_key, env, version)

    hdr = {"x-amz-sns-message-type": "Notification"}
    n1 = notification("SUCCESS", 1)
    st, text = post(port, spath, json.dumps(n1).encode(), hdr, "text/plain; charset=UTF-8")
    check("sns notification v1: 200", st == 200, (st, text))
    expected.append(("DELIVERED", f"msg-sns-{RUN}", "AWS_SNS", None))
    fetches = sum(1 for r in certsrv.requests if r.endswith(".pem"))
    st, text = post(port, spath, json.dumps(n1).encode(), hdr)
    check("sns repeated MessageId: 200 duplicate", st == 200 and "duplicate" in text, (st, text))
    n2 = notification("FAILURE", 2)
    st, text = post(port, spath, json.dumps(n2).encode(), hdr)
    check("sns notification v2: 200", st == 200, (st, text))
    expected.append(("FAILED", f"msg-sns-{RUN}", "AWS_SNS", None))
    check("certificate cached (one fetch)",
          sum(1 for r in certsrv.requests if r.endswith(".pem")) == fetches == 1, certsrv.requests)
    bad = dict(n2)
    bad["Message"] = bad["Message"].replace("FAILURE", "SUCCESS")
    st, _ = post(port, spath, json.dumps(bad).encode(), hdr)
    check("sns tampered Message: 401", st == 401, st)
    bad = dict(n2)
    bad["SignatureVersion"] = "1"
    st, _ = post(port, spath, json.dumps(bad).encode(), hdr)
    check("sns v2 signature claimed as v1: 401", st == 401, st)
    before = len(certsrv.requests)
    for wrong in (f"http://127.0.0.1:{certsrv.port}/c.pem",
                  f"https://127.0.0.1:{certsrv.port}/c.txt",
                  f"https://localhost:{certsrv.port}/c.pem",
                  "https://sns.us-east-1.amazonaws.com.evil.example/c.pem"):
        st, _ = post(port, spath, json.dumps(notification("SUCCESS", 2, cert=wrong)).encode(), hdr)
        check(f"sns certificate URL {wrong}: 401", st == 401, st)
    check("refused certificate URLs were never fetched", len(certsrv.requests) == before,
          certsrv.requests[before:])
    st, _ = post(port, spath, json.dumps(notification("SUCCESS", 2, topic=TOPIC_ARN + "x")).encode(), hdr)
    check("sns topic not in the allow-list: 401", st == 401, st)
    st, _ = post(port, spath, b'{"Type":"Notification"}', hdr)
    check("sns malformed envelope: 400", st == 400, st)
    st, _ = post(port, f"/api/webhooks/sms/{ORG_SMS_ONLY}/aws-sns/delivery", json.dumps(n1).encode(), hdr)
    check("sns unknown org: 404", st == 404, st)

    # SubscriptionConfirmation: verified, then confirmed with a GET of SubscribeURL.
    sub_url = f"https://127.0.0.1:{certsrv.port}/?Action=ConfirmSubscription&Token=t-{RUN}"
    conf = sns_sign(sns_key, {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()),
                              "Token": "t-" + RUN, "TopicArn": TOPIC_ARN,
                              "Message": "You have chosen to subscribe.",
                              "SubscribeURL": sub_url, "Timestamp": "2026-11-27T05:00:00.000Z",
                              "SigningCertURL": cert_url}, 2)
    st, text = post(port, spath, json.dumps(conf).encode(),
                    {"x-amz-sns-message-type": "SubscriptionConfirmation"})
    check("sns subscription confirmed: 200", st == 200, (st, text))
    check("SubscribeURL was fetched", any(f"Token=t-{RUN}" in r for r in certsrv.requests),
          certsrv.requests)
    forged = dict(conf)
    forged["SubscribeURL"] = sub_url + "&evil=1"
    st, _ = post(port, spath, json.dumps(forged).encode())
    check("sns forged SubscribeURL: 401", st == 401, st)
    return expected


def check_events(events, expected):
    got = sorted((e["status"], e["message_id"], e["provider"], e["error_code"]) for e in events)
    want = sorted(expected, key=lambda t: tuple("" if x is None else x for x in t))
    got_sorted = sorted(got, key=lambda t: tuple("" if x is None else x for x in t))
    check("exactly the expected events on the topic (none forged, none twice)",
          got_sorted == want, f"\n  got:  {got_sorted}\n  want: {want}")
    for e in events:
        check("webhook source", e["source"] == "webhook", e)
        check("org from the URL", e["org_id"] == ORG, e)
        if e["message_id"] is None:
            check("uncorrelated event marked", e["metadata"] == {"uncorrelated": True}, e)
        if e["status"] == "BOUNCED":
            check("transient bounce is retryable", e["retryable"] is True, e)


def check_metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    check("signature failures counted",
          'notify_webhook_signature_failures_total{route="sms_sns"}' in text, "")
    check("callbacks counted by outcome",
          'notify_webhook_callbacks_total{route="sms_twilio",outcome="duplicate"}' in text, "")


def check_kafka_down(env):
    """No broker: the callback is answered 503 (never 2xx) once the produce times out."""
    port = free_port()
    dead = free_port()
    proc = start_ingest(env, port, KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead}",
                        TOPIC_AUTO_CREATE="false", WEBHOOK_KAFKA_TIMEOUT_MS="2000")
    try:
        body = json.dumps({"message_id": f"down-{RUN}", "status": "delivered"}).encode()
        t0 = time.time()
        st, _ = post(port, f"/api/webhooks/email/{ORG}/delivery", body,
                     {"X-Webhook-Signature": hmac_hex(EMAIL_SECRET, body)})
        check("kafka unavailable: 503", st == 503, st)
        check("503 within the Kafka timeout", time.time() - t0 < 10, time.time() - t0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
