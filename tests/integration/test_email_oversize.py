#!/usr/bin/env python3
"""email-worker refuses a message over 25 MB once encoded, before the ledger and the quota.

Real Kafka and PostgreSQL from the stack, the email-worker from NOTIFY_BUILD_DIR, an
aiosmtpd server that must receive nothing. The request (a 25.5 MB text body, within the
request's own 26 MiB limit) travels through Kafka on topics that allow such messages
(max.message.bytes), with the worker's librdkafka allowed the same (KAFKA_MESSAGE_MAX_BYTES),
as an operator carrying 25 MB emails would configure them. It checks: FAILED
MESSAGE_TOO_LARGE, not retryable; the dead-letter copy holds the request; no ledger row and
no quota taken; nothing reached the server.

Prints "N passed, N failed"; exits non-zero on a failure.
"""
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support", "smtp"))

import pipeline_harness as ph  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from smtp_servers import SmtpServer  # noqa: E402
from testkit import check, summary  # noqa: E402

MAX_BYTES = "40000000"


def main():
    h = ph.Harness("eover")
    srv = None
    try:
        h.env.worker_bin = os.path.join(h.env.build_dir, "email-worker")
        srv = SmtpServer().start()
        org = h.org("eo")
        h.db.q("INSERT INTO email_provider_config (org_id, smtp_host, smtp_port, from_email,"
               " use_tls, use_ssl, enabled) VALUES (%s, '127.0.0.1', %s, 'no@acme.example',"
               " false, false, true)", (org, srv.port))
        h.db.set_email_quota(org, 100)

        t = ph.Topics("eover")
        admin = AdminClient({"bootstrap.servers": h.env.bootstrap})
        futures = admin.create_topics([NewTopic(n, 1, 1, config={"max.message.bytes": MAX_BYTES})
                                       for n in t.all()])
        for f in futures.values():
            f.result(timeout=60)
        h.topic_sets.append(t)

        env = h.worker_env(t, KAFKA_MESSAGE_MAX_BYTES=MAX_BYTES, TOPIC_AUTO_CREATE="false")
        status = h.status_reader(t)
        dlq = h.reader([t.dlq])
        w = h.worker("email-worker", env).start()
        w.wait_assigned(1, timeout=60)

        mid = "oversize-" + ph.suffix()
        value = json.dumps({"message_id": mid, "org_id": org, "to": "bob@example.org",
                            "subject": "big", "payload": {"textBody": "a" * 25500000}}).encode()
        p = Producer({"bootstrap.servers": h.env.bootstrap, "message.max.bytes": MAX_BYTES})
        p.produce(t.base, value=value, key=mid)
        check(p.flush(60) == 0, "the 25.5 MB request was produced")

        ev = status.wait_status(mid, "FAILED", 90)
        check(ev["error_code"] == "MESSAGE_TOO_LARGE" and ev["retryable"] is False,
              "FAILED MESSAGE_TOO_LARGE, not retryable (%s %r)" % (ev["error_code"],
                                                                   ev["retryable"]))
        dlq.until(lambda: len(dlq.on(t.dlq)) >= 1, 60, "the dead-letter copy")
        check(dlq.on(t.dlq)[0].value == value, "the dead-letter copy holds the request")
        check(h.db.ledger(org) == [], "no ledger row: refused before the reservation")
        q = h.db.email_quota(org)
        check(q is not None and q["messages_sent_count"] == 0, "no quota taken (%r)" % q)
        time.sleep(0.5)
        check(srv.received() == [], "nothing reached the SMTP server")
        rc = w.stop(60)
        check(rc == 0, "email-worker exits 0 on SIGTERM (%s)" % rc)
        reports = h.sanitizer_reports()
        check(not reports, "sanitizer reports: %s" % reports)
    except Exception:
        traceback.print_exc()
        check(False, "test raised")
    finally:
        if srv:
            srv.stop()
        h.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
