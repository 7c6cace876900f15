#!/usr/bin/env python3
"""email-worker through the real pipeline against real SMTP servers (aiosmtpd).

Real Kafka and PostgreSQL from the stack (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL), the
email-worker from NOTIFY_BUILD_DIR. The test makes a throwaway PKI with openssl, starts its
own aiosmtpd servers on free loopback ports (tests/support/smtp/smtp_servers.py) and one
email-worker with short retry delays; topics, org ids and the consumer group carry a
random tag. It checks:

  - STARTTLS + AUTH with the organisation's CA file: SENT; the message arrives once, with
    the envelope covering to, cc and bcc, and parses with Python's `email` package into
    multipart/alternative (text/plain then text/html, UTF-8), the encoded-word subject and
    display name, To, Cc, Reply-To, Date, MIME-Version, X-Idempotency-Key and a Message-ID
    of the form <key-random@from-domain> equal to the event's provider_message_id; no Bcc
    header; CRLF lines of at most 998 octets and no empty line added at the end;
  - implicit TLS + AUTH: SENT, a single text/plain part from the `body` fallback;
  - a wrong password: FAILED AUTH_FAILED, not retryable, nothing delivered;
  - a certificate from an untrusted CA, and one for another host name: RETRY_SCHEDULED
    TLS_FAILED, and that server never sees AUTH nor a message; the same untrusted server
    with its CA named as the organisation's CA file: SENT;
  - STARTTLS required but not offered: TLS_FAILED (no plaintext fallback);
  - a server offering only AUTH LOGIN: SENT through LOGIN;
  - a server that never greets: RETRY_SCHEDULED TIMEOUT after SMTP_TIMEOUT_MS;
  - a recipient refused (550 5.1.1) among accepted ones: SENT to the others; the only
    recipient refused: FAILED RECIPIENT_REJECTED (this server advertises PIPELINING, so
    the envelope goes pipelined; the pool's server does not, so it goes command by command);
  - a message over the server's advertised SIZE: FAILED MESSAGE_TOO_LARGE before sending;
  - bad requests (an invalid cc address, no body): FAILED INVALID_EMAIL / INVALID_REQUEST;
    a disabled organisation and one without configuration: FAILED PROVIDER_DISABLED /
    UNKNOWN_ORG; a row whose from address is not one (a header injection): CONFIG_ERROR;
  - the pool: 12 messages of one organisation with pool_size 2 use at most 2 connections;
    a kept connection the server dropped while idle is replaced without a retry (both
    messages SENT on attempt 1, over two connections).

Prints "N passed, N failed"; exits non-zero on a failure.
"""
import email
import email.policy
import email.utils
import os
import re
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support", "smtp"))

import pipeline_harness as ph  # noqa: E402
from smtp_servers import Pki, SilentServer, SmtpServer  # noqa: E402
from testkit import check, summary  # noqa: E402


def add_org(h, org, port, use_tls=False, use_ssl=False, user=None, password=None,
            ca_file=None, from_name="Acme Støtte", reply_to=None, pool_size=2):
    h.db.orgs.add(org)
    enc = None
    if user:
        enc = h.keyring.encrypt(org, "email_provider_config.smtp_password_encrypted", password)
    h.db.q("INSERT INTO email_provider_config (org_id, smtp_host, smtp_port, smtp_username,"
           " smtp_password_encrypted, from_email, from_name, reply_to_email, use_tls, use_ssl,"
           " pool_size, ca_file, enabled) VALUES (%s, 'localhost', %s, %s, %s, %s, %s, %s, %s,"
           " %s, %s, %s, true)",
           (org, port, user, enc, "noreply@mail.acme.example", from_name, reply_to, use_tls,
            use_ssl, pool_size, ca_file))


def lines_ok(raw):
    """CRLF only, every line at most 998 octets."""
    if b"\n" in raw.replace(b"\r\n", b"") or b"\r" in raw.replace(b"\r\n", b""):
        return False
    return all(len(l) <= 998 for l in raw.split(b"\r\n"))


def main():
    h = ph.Harness("email")
    servers = []
    try:
        h.env.worker_bin = os.path.join(h.env.build_dir, "email-worker")
        pki = Pki(h.tmpdir)
        ca, rogue = pki.ca[0], pki.rogue[0]
        user, pw = "acme", "s3cret-pw"

        def server(**kw):
            s = SmtpServer(**kw).start()
            servers.append(s)
            return s

        s_starttls = server(tls="starttls", cert=pki.server, auth=(user, pw), pipelining=True,
                            reject={"gone@example.org": "550 5.1.1 <gone@example.org>: "
                                                        "Recipient address rejected: User "
                                                        "unknown"})
        s_implicit = server(tls="implicit", cert=pki.server, auth=(user, pw))
        s_rogue = server(tls="starttls", cert=pki.rogue_server, auth=(user, pw))
        s_wrong = server(tls="starttls", cert=pki.wrong_host, auth=(user, pw))
        s_plain = server()
        s_small = server(size=4000)
        s_pool = server()
        s_idle = server(idle_timeout=1)
        s_login = server(tls="starttls", cert=pki.server, auth=(user, pw),
                         exclude_auth=["PLAIN"])
        s_silent = SilentServer()
        servers.append(s_silent)

        orgs = {}
        for name, port, kw in [
            ("starttls", s_starttls.port, dict(use_tls=True, user=user, password=pw, ca_file=ca,
                                               reply_to="support@acme.example")),
            ("implicit", s_implicit.port, dict(use_ssl=True, user=user, password=pw,
                                               ca_file=ca, from_name="Plain Name")),
            ("badpw", s_starttls.port, dict(use_tls=True, user=user, password="wrong",
                                            ca_file=ca)),
            ("rogue", s_rogue.port, dict(use_tls=True, user=user, password=pw, ca_file=ca)),
            ("roguetrusted", s_rogue.port, dict(use_tls=True, user=user, password=pw,
                                                ca_file=rogue)),
            ("wronghost", s_wrong.port, dict(use_tls=True, user=user, password=pw, ca_file=ca)),
            ("notls", s_plain.port, dict(use_tls=True, ca_file=ca)),
            ("small", s_small.port, dict()),
            ("pool", s_pool.port, dict(pool_size=2)),
            ("idle", s_idle.port, dict(pool_size=1)),
            ("login", s_login.port, dict(use_tls=True, user=user, password=pw, ca_file=ca)),
            ("silent", s_silent.port, dict()),
        ]:
            org = h.org("em-" + name)
            add_org(h, org, port, **kw)
            orgs[name] = org

        disabled = h.org("em-disabled")
        add_org(h, disabled, s_plain.port)
        h.db.q("UPDATE email_provider_config SET enabled = false WHERE org_id = %s", (disabled,))
        unknown = h.org("em-unknown")
        badfrom = h.org("em-badfrom")
        add_org(h, badfrom, s_plain.port)
        h.db.q("UPDATE email_provider_config SET from_email = %s WHERE org_id = %s",
               ("a@acme.example\r\nBcc: spy@evil.example", badfrom))

        t = h.topics("email", partitions=2)
        env = h.worker_env(t, RETRY_DELAYS_MS="60000,60001,60002,60003",
                           SMTP_TIMEOUT_MS="3000")
        status = h.status_reader(t)
        w = h.worker("email-worker", env).start()
        w.wait_assigned(1, timeout=60)

        tag = ph.suffix()
        subject = "Votre commande n°42 — confirmée ✓"
        text = "Bonjour Zoë,\nvotre commande est confirmée.\n.ligne avec un point\n"
        html = "<p>Bonjour <b>Zoë</b></p>\n<p>" + "x" * 2000 + "</p>"
        key = "order 42/ü-" + tag
        reqs = {
            "full": dict(org_id=orgs["starttls"], to="bob@example.org", subject=subject,
                         idempotency_key=key,
                         payload={"textBody": text, "htmlBody": html,
                                  "cc": "c1@example.org, c2@example.org",
                                  "bcc": ["hidden@example.org"],
                                  "replyTo": "orders@acme.example"}),
            "implicit": dict(org_id=orgs["implicit"], to="eve@example.org", subject="Plain",
                             payload={"body": "fallback body"}),
            "badpw": dict(org_id=orgs["badpw"], to="bob@example.org", subject="x",
                          payload={"textBody": "x"}),
            "rogue": dict(org_id=orgs["rogue"], to="bob@example.org", subject="x",
                          payload={"textBody": "x"}),
            "roguetrusted": dict(org_id=orgs["roguetrusted"], to="bob@example.org",
                                 subject="x", payload={"textBody": "trusted"}),
            "wronghost": dict(org_id=orgs["wronghost"], to="bob@example.org", subject="x",
                              payload={"textBody": "x"}),
            "notls": dict(org_id=orgs["notls"], to="bob@example.org", subject="x",
                          payload={"textBody": "x"}),
            "login": dict(org_id=orgs["login"], to="bob@example.org", subject="login",
                          payload={"textBody": "login"}),
            "silent": dict(org_id=orgs["silent"], to="bob@example.org", subject="silent",
                           payload={"textBody": "silent"}),
            "disabled": dict(org_id=disabled, to="bob@example.org", subject="x",
                             payload={"textBody": "x"}),
            "unknown": dict(org_id=unknown, to="bob@example.org", subject="x",
                            payload={"textBody": "x"}),
            "badfrom": dict(org_id=badfrom, to="bob@example.org", subject="x",
                            payload={"textBody": "x"}),
            "partial": dict(org_id=orgs["starttls"], to="bob@example.org", subject="partial",
                            payload={"textBody": "partial", "cc": "gone@example.org"}),
            "rejected": dict(org_id=orgs["starttls"], to="gone@example.org", subject="rej",
                             payload={"textBody": "rejected"}),
            "toolarge": dict(org_id=orgs["small"], to="bob@example.org", subject="big",
                             payload={"textBody": "y" * 8000}),
            "badcc": dict(org_id=orgs["starttls"], to="bob@example.org", subject="x",
                          payload={"textBody": "x", "cc": "not an address"}),
            "nobody": dict(org_id=orgs["starttls"], to="bob@example.org", subject="x",
                           payload={"cc": "c@example.org"}),
        }
        mids = {}
        for name, r in reqs.items():
            mid = "%s-%s" % (name, tag)
            mids[name] = mid
            r = dict(r, message_id=mid)
            h.sender.produce(t.base, r, key=mid)
        h.sender.flush()

        def first(mid):
            evs = [e for e in status.events(mid) if isinstance(e, dict)]
            return evs[0] if evs else None

        status.until(lambda: all(first(m) is not None for m in mids.values()), 90,
                     "a status event for every request")

        def expect(name, st, code=None, retryable=None):
            ev = first(mids[name])
            check(ev["status"] == st, "%s: status %s, expected %s (%s: %s)" %
                  (name, ev["status"], st, ev["error_code"], ev["error_message"]))
            if code is not None:
                check(ev["error_code"] == code, "%s: error_code %s, expected %s (%s)" %
                      (name, ev["error_code"], code, ev["error_message"]))
            if retryable is not None:
                check(ev["retryable"] is retryable, "%s: retryable %r" % (name, ev["retryable"]))
            return ev

        # --- the full message over STARTTLS + AUTH ------------------------------------
        ev = expect("full", "SENT")
        full = [m for m in s_starttls.received()
                if m[1] == ["bob@example.org", "c1@example.org", "c2@example.org",
                            "hidden@example.org"]]
        check(len(full) == 1, "full: delivered once with to, cc and bcc in the envelope "
              "(got %r)" % [(m[0], m[1]) for m in s_starttls.received()])
        if full:
            mail_from, rcpts, raw = full[0]
            check(mail_from == "noreply@mail.acme.example", "full: MAIL FROM %r" % mail_from)
            check(lines_ok(raw), "full: CRLF lines of at most 998 octets")
            check(raw.endswith(b"\r\n") and not raw.endswith(b"\r\n\r\n"),
                  "full: no empty line added at the end: %r" % raw[-20:])
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            check(msg["Subject"] == subject, "full: Subject %r" % msg["Subject"])
            check(raw.count(b"=?UTF-8?B?") >= 2, "full: encoded-words in the raw headers")
            frm = msg["From"].addresses[0]
            check(frm.display_name == "Acme Støtte" and
                  frm.addr_spec == "noreply@mail.acme.example", "full: From %r" % msg["From"])
            check(str(msg["To"]) == "bob@example.org", "full: To %r" % msg["To"])
            check([a.addr_spec for a in msg["Cc"].addresses] == ["c1@example.org",
                                                                 "c2@example.org"],
                  "full: Cc %r" % msg["Cc"])
            check(str(msg["Reply-To"]) == "orders@acme.example",
                  "full: Reply-To (the request's, over the org's) %r" % msg["Reply-To"])
            check(msg["Bcc"] is None and b"hidden@example.org" not in raw,
                  "full: no Bcc header and the bcc address nowhere in the message")
            check(msg["X-Idempotency-Key"] == key, "full: X-Idempotency-Key %r" %
                  msg["X-Idempotency-Key"])
            check(msg["MIME-Version"] == "1.0", "full: MIME-Version")
            check(email.utils.parsedate_to_datetime(msg["Date"]) is not None, "full: Date")
            mid_hdr = msg["Message-ID"]
            enc_key = "order=2042/=C3=BC-" + tag
            check(re.fullmatch(r"<%s-[0-9a-f]{24}@mail\.acme\.example>" % re.escape(enc_key),
                               mid_hdr or "") is not None, "full: Message-ID %r" % mid_hdr)
            check(ev["provider_message_id"] == (mid_hdr or "")[1:-1],
                  "full: provider_message_id %r is the Message-ID" % ev["provider_message_id"])
            check(msg.get_content_type() == "multipart/alternative", "full: multipart/alternative")
            parts = list(msg.iter_parts())
            check([p.get_content_type() for p in parts] == ["text/plain", "text/html"],
                  "full: parts %r" % [p.get_content_type() for p in parts])
            check(all(p.get_content_charset() == "utf-8" for p in parts), "full: charsets")
            if len(parts) == 2:
                check(parts[0].get_content().replace("\r\n", "\n") == text,
                      "full: text part %r" % parts[0].get_content())
                check(parts[1].get_content().replace("\r\n", "\n") == html,
                      "full: html part")
                check(parts[0]["Content-Transfer-Encoding"] == "quoted-printable",
                      "full: text part is quoted-printable")

        # --- implicit TLS, single part from `body` ------------------------------------
        ev = expect("implicit", "SENT")
        imp = s_implicit.received()
        check(len(imp) == 1, "implicit: one message received (%d)" % len(imp))
        if imp:
            msg = email.message_from_bytes(imp[0][2], policy=email.policy.default)
            check(msg.get_content_type() == "text/plain" and not msg.is_multipart(),
                  "implicit: a single text/plain part")
            check(msg.get_content().replace("\r\n", "\n").rstrip("\n") == "fallback body",
                  "implicit: body %r" % msg.get_content())
            check(msg["From"].addresses[0].display_name == "Plain Name", "implicit: From")

        # --- credentials and TLS --------------------------------------------------------
        expect("badpw", "FAILED", "AUTH_FAILED", False)
        expect("rogue", "RETRY_SCHEDULED", "TLS_FAILED", True)
        expect("wronghost", "RETRY_SCHEDULED", "TLS_FAILED", True)
        ev = first(mids["wronghost"])
        check("mismatch" in (ev["error_message"] or ""),
              "wronghost: message names the host mismatch: %r" % ev["error_message"])
        # The rogue server also serves the org that trusts its CA: one AUTH, from that one.
        check(len(s_rogue.auth_attempts) == 1 and s_wrong.auth_attempts == [],
              "untrusted servers never saw AUTH (%r %r)" % (s_rogue.auth_attempts,
                                                           s_wrong.auth_attempts))
        check(s_wrong.received() == [], "wronghost: nothing delivered")
        expect("roguetrusted", "SENT")
        check(len([m for m in s_rogue.received() if b"trusted" in m[2]]) == 1,
              "roguetrusted: delivered with the organisation's own CA file")
        expect("notls", "RETRY_SCHEDULED", "TLS_FAILED", True)
        check(s_plain.received() == [], "notls: nothing sent in plaintext")

        expect("login", "SENT")
        check(s_login.auth_attempts == [("LOGIN", True)],
              "login: authenticated with LOGIN (%r)" % s_login.auth_attempts)
        expect("silent", "RETRY_SCHEDULED", "TIMEOUT", True)

        # --- recipients, size, bad requests ----------------------------------------------
        expect("partial", "SENT")
        check(any(m[1] == ["bob@example.org"] and b"partial" in m[2]
                  for m in s_starttls.received()), "partial: sent to the accepted recipient")
        w.wait_log(lambda l: l.get("msg", "").startswith("recipient refused")
                   and l.get("recipient") == "gone@example.org", 10, "the refused recipient log")
        expect("rejected", "FAILED", "RECIPIENT_REJECTED", False)
        # The refused transaction was ended with RSET and its connection kept: everything
        # this organisation sent went over at most its pool_size (2) connections.
        check(len(s_starttls.resets) >= 1, "rejected: RSET after the refused transaction")
        check(1 <= len(set(s_starttls.peers)) <= 2,
              "starttls: connections reused (%d)" % len(set(s_starttls.peers)))
        expect("toolarge", "FAILED", "MESSAGE_TOO_LARGE", False)
        check(s_small.received() == [], "toolarge: nothing sent over SIZE")
        expect("badcc", "FAILED", "INVALID_EMAIL", False)
        expect("nobody", "FAILED", "INVALID_REQUEST", False)
        expect("disabled", "FAILED", "PROVIDER_DISABLED", False)
        expect("unknown", "FAILED", "UNKNOWN_ORG", False)
        expect("badfrom", "FAILED", "CONFIG_ERROR", False)

        # --- the pool -----------------------------------------------------------------------
        pool_mids = []
        for i in range(12):
            mid = "pool-%d-%s" % (i, tag)
            pool_mids.append(mid)
            h.sender.produce(t.base, dict(message_id=mid, org_id=orgs["pool"], subject="p",
                                          to="p%d@example.org" % i,
                                          payload={"textBody": "pool %d" % i}), key=mid)
        h.sender.flush()
        status.until(lambda: all(first(m) is not None for m in pool_mids), 60, "pool events")
        check(all(first(m)["status"] == "SENT" for m in pool_mids), "pool: all SENT")
        check(len(s_pool.received()) == 12, "pool: 12 received (%d)" % len(s_pool.received()))
        peers = set(s_pool.peers)
        check(1 <= len(peers) <= 2, "pool: at most pool_size connections (%d)" % len(peers))

        idle_mids = []
        for i in range(2):
            mid = "idle-%d-%s" % (i, tag)
            idle_mids.append(mid)
            h.sender.produce(t.base, dict(message_id=mid, org_id=orgs["idle"], subject="i",
                                          to="bob@example.org", payload={"textBody": "i"}),
                             key=mid)
            h.sender.flush()
            status.until(lambda: first(mid) is not None, 30, "idle event %d" % i)
            if i == 0:
                time.sleep(2.5)  # the server drops the kept connection meanwhile
        for mid in idle_mids:
            ev = first(mid)
            check(ev["status"] == "SENT" and ev["attempt"] == 1,
                  "idle: %s SENT on attempt 1 (%s %s)" % (mid, ev["status"], ev["error_message"]))
        check(len(set(s_idle.peers)) == 2 and len(s_idle.received()) == 2,
              "idle: two messages over two connections (%r)" % s_idle.peers)

        rc = w.stop(60)
        check(rc == 0, "email-worker exits 0 on SIGTERM (%s)" % rc)
        reports = h.sanitizer_reports()
        check(not reports, "sanitizer reports: %s" % reports)
        log_text = open(w.log_path, "rb").read()
        check(pw.encode() not in log_text, "the SMTP password never appears in the log")
    except Exception:
        traceback.print_exc()
        check(False, "test raised")
    finally:
        for s in servers:
            s.stop()
        h.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
