#!/usr/bin/env python3
"""email-worker through the real pipeline against Postfix's smtp-sink and its faults.

Real Kafka and PostgreSQL from the stack, the email-worker from NOTIFY_BUILD_DIR, one
smtp-sink per fault on free loopback ports (tests/support/smtp/smtp_servers.py), short
retry delays and a short provider-config cache so a test can move an organisation to
another server between attempts. It checks:

  - 4xx to RCPT (-r RCPT): RETRY_SCHEDULED SMTP_450, retryable;
  - 5xx to RCPT (-f RCPT -B "550 5.1.1 ..."): FAILED RECIPIENT_REJECTED;
  - 5xx to the message (-f . -B "554 5.7.1 ... spam"): FAILED SPAM_DETECTED;
  - 421 and a disconnect at MAIL (-Q MAIL): RETRY_SCHEDULED SMTP_421;
  - a disconnect after the message without a reply (-q .): RETRY_SCHEDULED, never lost:
    once the organisation points at a working server, attempt 2 is SENT and the message
    arrives there;
  - a plain smtp-sink: SENT.

Prints "N passed, N failed"; exits non-zero on a failure.
"""
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support", "smtp"))

import pipeline_harness as ph  # noqa: E402
from smtp_servers import SmtpServer, SmtpSink  # noqa: E402
from testkit import check, summary  # noqa: E402


def main():
    h = ph.Harness("esink")
    procs = []
    try:
        h.env.worker_bin = os.path.join(h.env.build_dir, "email-worker")

        def sink(*options):
            s = SmtpSink(*options).start()
            procs.append(s)
            return s

        sinks = {
            "ok": sink(),
            "soft": sink("-r", "RCPT"),
            "hard": sink("-f", "RCPT", "-B", "550 5.1.1 <bob@example.org>: User unknown"),
            "spam": sink("-f", ".", "-B", "554 5.7.1 Message rejected as spam"),
            "closing": sink("-Q", "MAIL"),
            "drop": sink("-q", "."),
        }
        good = SmtpServer().start()
        procs.append(good)
        orgs = {}
        for name, s in sinks.items():
            org = h.org("es-" + name)
            h.db.q("INSERT INTO email_provider_config (org_id, smtp_host, smtp_port, from_email,"
                   " use_tls, use_ssl, enabled) VALUES (%s, '127.0.0.1', %s,"
                   " 'noreply@acme.example', false, false, true)", (org, s.port))
            orgs[name] = org

        t = h.topics("esink", partitions=2)
        env = h.worker_env(t, RETRY_DELAYS_MS="3000,60000,60001,60002",
                           PROVIDER_CONFIG_TTL_MS="200", SMTP_TIMEOUT_MS="5000")
        status = h.status_reader(t)
        w = h.worker("email-worker", env).start()
        w.wait_assigned(1, timeout=60)

        tag = ph.suffix()
        mids = {}
        for name in sinks:
            mid = "%s-%s" % (name, tag)
            mids[name] = mid
            h.sender.produce(t.base, {"message_id": mid, "org_id": orgs[name],
                                      "to": "bob@example.org", "subject": "sink " + name,
                                      "payload": {"textBody": "body of " + mid}}, key=mid)
        h.sender.flush()

        def first(mid):
            evs = [e for e in status.events(mid) if isinstance(e, dict)]
            return evs[0] if evs else None

        status.until(lambda: all(first(m) is not None for m in mids.values()), 60,
                     "a first status event for every request")

        def expect(name, st, code, retryable):
            ev = first(mids[name])
            check(ev["status"] == st and ev["error_code"] == code and ev["retryable"] is retryable,
                  "%s: %s %s retryable=%r, expected %s %s %r (%s)" %
                  (name, ev["status"], ev["error_code"], ev["retryable"], st, code, retryable,
                   ev["error_message"]))

        check(first(mids["ok"])["status"] == "SENT", "ok: SENT")
        expect("soft", "RETRY_SCHEDULED", "SMTP_450", True)
        expect("hard", "FAILED", "RECIPIENT_REJECTED", False)
        expect("spam", "FAILED", "SPAM_DETECTED", False)
        expect("closing", "RETRY_SCHEDULED", "SMTP_421", True)
        expect("drop", "RETRY_SCHEDULED", "CONNECTION_FAILED", True)
        ev = first(mids["drop"])
        check("may have kept it" in (ev["error_message"] or ""),
              "drop: the message says the server may have it: %r" % ev["error_message"])

        # Never lost: the organisation moves to a working server; attempt 2 delivers.
        h.db.q("UPDATE email_provider_config SET smtp_port = %s WHERE org_id = %s",
               (good.port, orgs["drop"]))
        sent = status.wait_status(mids["drop"], "SENT", 30)
        check(sent["attempt"] == 2, "drop: SENT on attempt %r" % sent["attempt"])
        got = [m for m in good.received() if ("body of " + mids["drop"]).encode() in m[2]]
        check(len(got) == 1, "drop: the message arrived at the working server (%d)" % len(got))

        rc = w.stop(60)
        check(rc == 0, "email-worker exits 0 on SIGTERM (%s)" % rc)
        reports = h.sanitizer_reports()
        check(not reports, "sanitizer reports: %s" % reports)
    except Exception:
        traceback.print_exc()
        check(False, "test raised")
    finally:
        for p in procs:
            p.stop()
        h.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
