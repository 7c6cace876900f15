#!/usr/bin/env python3
"""twilio-sim speaks Twilio's Messages API: Basic auth, Twilio's form validation and error
codes, the message resource it answers with, and the faults it can be told to inject.

Needs only the built twilio-sim (NOTIFY_BUILD_DIR), which the test starts on a free
loopback port and stops. Prints "N passed, N failed"; exits non-zero on a failure.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from testkit import check, summary  # noqa: E402

BUILD = os.environ["NOTIFY_BUILD_DIR"]
SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "secret-token"
FROM = "+15005550006"

class Sim:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def request(self, method, path, form=None, auth=(SID, TOKEN), raw=None):
        data = raw if raw is not None else (urllib.parse.urlencode(form).encode()
                                            if form is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if auth:
            token = base64.b64encode(("%s:%s" % auth).encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def create(self, form, auth=(SID, TOKEN), sid=SID):
        st, headers, body = self.request("POST", "/2010-04-01/Accounts/%s/Messages.json" % sid,
                                         form, auth)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        return st, headers, doc


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.calls = []
        self.lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        with self.server.lock:
            self.server.calls.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def own_signature(token, url, pairs):
    """providers.md section 3, independently of the C code."""
    by_name = {}
    for k, v in pairs:
        by_name.setdefault(k, set()).add(v)
    text = url + "".join(k + v for k in sorted(by_name) for v in sorted(by_name[k]))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def check_callbacks(sim, good):
    """Status callbacks to a URL with a query string: the exact URL is signed."""
    try:
        from twilio.request_validator import RequestValidator
    except ImportError:
        RequestValidator = None
    rx = Receiver()
    threading.Thread(target=rx.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/cb/status?org=a%%20b&x=1" % rx.server_address[1]
    try:
        st, _, doc = sim.create(dict(good, StatusCallback=url))
        check(st == 201, "a message with a StatusCallback (%d)" % st)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with rx.lock:
                if len(rx.calls) >= 3:
                    break
            time.sleep(0.05)
        with rx.lock:
            calls = list(rx.calls)
        statuses = []
        for path, headers, body in calls:
            pairs = urllib.parse.parse_qsl(body, keep_blank_values=True)
            params = dict(pairs)
            full = "http://127.0.0.1:%d%s" % (rx.server_address[1], path)
            sig = headers.get("X-Twilio-Signature")
            check(full == url, "the callback went to the exact URL (%s)" % full)
            check(sig == own_signature(TOKEN, url, pairs),
                  "signature matches an independent implementation (%r)" % params)
            if RequestValidator:
                check(RequestValidator(TOKEN).validate(url, params, sig),
                      "signature passes twilio's RequestValidator")
            check(params.get("MessageSid") == doc["sid"] and params.get("AccountSid") == SID,
                  "callback names the message and account (%r)" % params)
            statuses.append(params.get("MessageStatus"))
        check(statuses == ["queued", "sent", "delivered"], "statuses in order (%r)" % statuses)
    finally:
        rx.shutdown()


def expect_error(sim, form, status, code, what, **kw):
    st, headers, doc = sim.create(form, **kw)
    ok = st == status and doc is not None and doc.get("code") == code \
        and doc.get("status") == status \
        and doc.get("more_info") == "https://www.twilio.com/docs/errors/%d" % code \
        and isinstance(doc.get("message"), str)
    check(ok, "%s: expected %d/%d, got %d %r" % (what, status, code, st, doc))
    return headers


def main():
    tmp = tempfile.mkdtemp(prefix="twilio-sim-test-")
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([BUILD + "/twilio-sim", "--listen=127.0.0.1:0",
                             "--account=%s:%s" % (SID, TOKEN), "--port-file=" + port_file,
                             "--fault=to=%2B14155550199&status=503&count=1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        with open(port_file) as f:
            sim = Sim(int(f.read()))
        good = {"To": "+14155550100", "From": FROM, "Body": "Hello"}

        # Accepted: the message resource as Twilio returns it.
        st, _, doc = sim.create(dict(good, Body="x" * 161, ValidityPeriod="14400"))
        check(st == 201, "a valid message is created (%d)" % st)
        if doc:
            check(re.fullmatch(r"SM[0-9a-f]{32}", doc.get("sid", "")) is not None,
                  "sid is SM + 32 hex (%r)" % doc.get("sid"))
            check(doc.get("status") == "queued" and doc.get("direction") == "outbound-api"
                  and doc.get("account_sid") == SID and doc.get("to") == "+14155550100"
                  and doc.get("from") == FROM and doc.get("error_code") is None
                  and doc.get("price") is None and doc.get("api_version") == "2010-04-01",
                  "resource fields (%r)" % doc)
            check(doc.get("num_segments") == "2" and doc.get("num_media") == "0",
                  "num_segments and num_media are strings; 161 GSM characters are 2 (%r)" % doc)
            check(doc.get("uri") == "/2010-04-01/Accounts/%s/Messages/%s.json" % (SID, doc["sid"]),
                  "uri (%r)" % doc.get("uri"))
            check(re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000",
                               doc.get("date_created", "")) is not None,
                  "date_created is RFC 2822 (%r)" % doc.get("date_created"))
        st, _, doc = sim.create(dict(good, Body="\u00e9" * 1600))
        check(st == 201 and doc and doc["num_segments"] == "11",
              "1600 characters are accepted (%d %r)" % (st, doc and doc.get("num_segments")))

        check_callbacks(sim, good)

        # Authentication.
        headers = expect_error(sim, good, 401, 20003, "wrong token", auth=(SID, "nope"))
        check(headers.get("WWW-Authenticate", "").startswith("Basic"), "401 asks for Basic auth")
        expect_error(sim, good, 401, 20003, "no credentials", auth=None)
        expect_error(sim, good, 401, 20003, "another account's path",
                     sid="AC" + "f" * 32)

        # Validation, in Twilio's codes.
        expect_error(sim, {"From": FROM, "Body": "x"}, 400, 21604, "To missing")
        expect_error(sim, dict(good, To="4155550100"), 400, 21211, "To not E.164")
        expect_error(sim, dict(good, To="+0123"), 400, 21211, "To with a leading zero")
        expect_error(sim, {"To": "+14155550100", "Body": "x"}, 400, 21603, "From missing")
        expect_error(sim, dict(good, From="not a sender!"), 400, 21212, "From invalid")
        expect_error(sim, {"To": "+14155550100", "From": FROM}, 400, 21602, "Body missing")
        expect_error(sim, dict(good, Body="x" * 1601), 400, 21617, "Body over 1600")
        for v in ("0", "14401", "60.5", "abc"):
            expect_error(sim, dict(good, ValidityPeriod=v), 400, 21624, "ValidityPeriod " + v)
        expect_error(sim, dict(good, StatusCallback="ftp://x/"), 400, 21609, "StatusCallback")
        for to, code in (("+15005550001", 21211), ("+15005550002", 21612),
                         ("+15005550003", 21408), ("+15005550004", 21610),
                         ("+15005550009", 21614)):
            expect_error(sim, dict(good, To=to), 400, code, "magic number " + to)
        st, _, body = sim.request("POST", "/2010-04-01/Accounts/%s/Messages" % SID, good)
        check(st == 404 and json.loads(body).get("code") == 20404, "unknown path: 404 20404")

        # Faults: from the command line (a 503 once), then at run time.
        st, _, doc = sim.create(dict(good, To="+14155550199"))
        check(st == 503 and doc and doc.get("code") == 20503, "--fault 503 (%d %r)" % (st, doc))
        st, _, doc = sim.create(dict(good, To="+14155550199"))
        check(st == 201, "the fault was spent after count=1 (%d)" % st)

        st, _, _ = sim.request("POST", "/sim/rules", raw=b"to=%2B14155550198&status=429"
                               b"&retry_after=7&count=2", auth=None)
        check(st == 204, "POST /sim/rules (%d)" % st)
        headers = expect_error(sim, dict(good, To="+14155550198"), 429, 20429, "429 rule")
        check(headers.get("Retry-After") == "7", "Retry-After (%r)" % headers.get("Retry-After"))
        st, _, _ = sim.request("POST", "/sim/rules", raw=b"status=500&share=0", auth=None)
        st, _, _ = sim.request("POST", "/sim/rules", raw=b"to=%2B14155550197&status=502",
                               auth=None)
        st, _, doc = sim.create(dict(good, To="+14155550197"))
        check(st == 502 and doc and "code" not in doc and doc.get("status") == 502,
              "a status without a code answers without one, as a proxy would (%d %r)" % (st, doc))
        st, _, _ = sim.request("POST", "/sim/rules", raw=b"bogus=1", auth=None)
        check(st == 400, "an unknown rule field is refused (%d)" % st)

        st, _, _ = sim.request("POST", "/sim/rules", raw=b"to=%2B14155550196&delay_ms=400",
                               auth=None)
        t0 = time.monotonic()
        st, _, _ = sim.create(dict(good, To="+14155550196"))
        check(st == 201 and time.monotonic() - t0 >= 0.4, "a slow answer waits, then succeeds")

        st, _, _ = sim.request("POST", "/sim/rules", raw=b"to=%2B14155550195&drop=1", auth=None)
        try:
            sim.create(dict(good, To="+14155550195"))
            dropped = False
        except (urllib.error.URLError, ConnectionError, http_client_errors()):
            dropped = True
        check(dropped, "drop=1 closes the connection without an answer")

        st, _, _ = sim.request("DELETE", "/sim/rules", auth=None)
        st, _, doc = sim.create(dict(good, To="+14155550197"))
        check(st == 201, "DELETE /sim/rules clears the rules (%d)" % st)

        st, _, body = sim.request("GET", "/sim/stats", auth=None)
        stats = json.loads(body)
        check(stats["created"] == 6 and stats["auth_failed"] == 3 and stats["dropped"] == 1,
              "stats count what happened (%r)" % stats)
        st, _, body = sim.request("GET", "/sim/messages", auth=None)
        msgs = json.loads(body)
        check(len(msgs) == 6 and msgs[0]["form"].startswith("To=%2B14155550100&From=%2B15005550006"),
              "/sim/messages lists the raw forms (%r)" % msgs[:1])
    finally:
        proc.terminate()
        proc.wait(10)
        check(proc.returncode == 0, "twilio-sim stops cleanly on SIGTERM (%d)" % proc.returncode)

    return summary()


def http_client_errors():
    import http.client
    return http.client.HTTPException


if __name__ == "__main__":
    sys.exit(main())
