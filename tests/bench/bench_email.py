#!/usr/bin/env python3
"""Email messages per second end to end: Kafka in, email-worker, Postfix's smtp-sink out,
status events produced; beside the rate of Postfix's own load generator against the same
sink in the same run (the reference ceiling of the sink and the machine).

    KAFKA_BOOTSTRAP_SERVERS=... DATABASE_URL=... NOTIFY_BUILD_DIR=<RelWithDebInfo build> \\
        /usr/bin/python3 tests/bench/bench_email.py [N (20000)] [pool size (8)] [partitions (4)]

The reference is `smtp-source -d -s 8 -m 20000 -l 2048` (8 sessions, each kept open across
messages, 2 KB messages), the median of three runs. The worker sends N requests of one
organisation whose pool has the given number of SMTP sessions (8: the same as
smtp-source's), with bodies that make messages of about 2 KB; its figure is status events
acknowledged per second from the first to the last. The two rates and their ratio are
printed.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from confluent_kafka.admin import AdminClient, NewTopic
import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support", "smtp"))
from smtp_servers import SmtpSink  # noqa: E402

import benchlib  # noqa: E402


def smtp_source_rate(port, count=20000, runs=3):
    """smtp-source's rate against the sink: the median of `runs` runs of about a second
    each, which move by a third from one to the next on a shared machine."""
    rates = []
    for _ in range(runs):
        t0 = time.monotonic()
        subprocess.run(["smtp-source", "-d", "-s", "8", "-m", str(count), "-l", "2048",
                        "127.0.0.1:%d" % port], check=True, stdout=subprocess.DEVNULL)
        rates.append(count / (time.monotonic() - t0))
    print("smtp-source runs: %s msg/s" % " / ".join("%.0f" % r for r in rates))
    return sorted(rates)[len(rates) // 2]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    pool = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    partitions = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    dburl = os.environ["DATABASE_URL"]
    build = os.environ["NOTIFY_BUILD_DIR"]
    tag = "ebench%d" % random.randint(0, 1 << 30)
    base, status = tag + ".email", tag + ".status"
    org = tag + "-org"

    sink = SmtpSink().start()
    worker = None
    try:
        reference = smtp_source_rate(sink.port)

        keys = subprocess.check_output([build + "/notifyctl", "keygen", "--id", "b1"]).decode().strip()
        env = dict(os.environ, SECRET_KEYS=keys, SECRET_ACTIVE_KEY="b1")
        with psycopg2.connect(dburl) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO email_provider_config (org_id, smtp_host, smtp_port,"
                        " from_email, from_name, use_tls, use_ssl, pool_size, enabled) VALUES"
                        " (%s, '127.0.0.1', %s, 'bench@example.com', 'Bench', false, false, %s,"
                        " true)", (org, sink.port, pool))
            cur.execute("INSERT INTO email_rate_limit (org_id, quota_limit) VALUES (%s, 2000000000)",
                        (org,))

        admin = AdminClient({"bootstrap.servers": bootstrap})
        topics = benchlib.channel_topics(base, status)
        for f in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
            f.result()

        body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30)[:1600]
        benchlib.produce_all(bootstrap, base, (
            (str(i), json.dumps({"message_id": "%s-%d" % (tag, i), "org_id": org,
                                 "to": "user%d@example.com" % i, "subject": "Benchmark %d" % i,
                                 "payload": {"textBody": body}}))
            for i in range(n)))

        log = tempfile.NamedTemporaryFile(prefix="bench-email-", suffix=".log", delete=False)
        wenv = dict(env, TOPIC_EMAIL=base, TOPIC_STATUS=status, CONSUMER_GROUP=tag,
                    HTTP_ADDR="127.0.0.1:0", LOG_LEVEL="warn", TOPIC_AUTO_CREATE="false",
                    MAX_IN_FLIGHT=os.environ.get("MAX_IN_FLIGHT", "20000"),
                    MAX_IN_FLIGHT_PER_PARTITION=os.environ.get("MAX_IN_FLIGHT_PER_PARTITION",
                                                               "5000"))
        worker = subprocess.Popen([build + "/email-worker"], env=wenv, stdout=log, stderr=log)
        rate, seconds = benchlib.wait_status_events(bootstrap, status, partitions, n, worker,
                                                    "email-worker (log in %s)" % log.name)
        cpu = benchlib.cpu_seconds(worker.pid)
        rss = benchlib.peak_rss_kib(worker.pid)
        print("%-58s %10.0f msg/s" % ("email-worker: Kafka -> smtp-sink -> status (pool %d)" % pool,
                                      rate))
        print("%-58s %10.0f msg/s" % ("reference: smtp-source -d -s 8 -m 20000 -l 2048 (median)",
                                      reference))
        print("%-58s %10.2f" % ("ratio worker / smtp-source", rate / reference))
        print("%-58s %10.1f us/msg" % ("email-worker CPU per message (all threads)",
                                       cpu * 1e6 / n))
        print("(%d requests, %d partitions; first to last status event in %.2f s; load %.2f)"
              % (n, partitions, seconds, os.getloadavg()[0]))
        benchlib.record("email, SMTP sink", "status events", rate, "msg/s",
                        "smtp-source", reference, "email-worker", rss, cpu * 1e6 / n,
                        target=">= 50% of smtp-source", met=rate >= 0.5 * reference)
    finally:
        if worker and worker.poll() is None:
            worker.terminate()
            worker.wait(60)
        sink.stop()
        with psycopg2.connect(dburl) as conn, conn.cursor() as cur:
            for table in ("email_provider_config", "email_rate_limit", "delivery_ledger"):
                cur.execute("DELETE FROM %s WHERE org_id = %%s" % table, (org,))
        try:
            AdminClient({"bootstrap.servers": bootstrap}).delete_topics(
                benchlib.channel_topics(base, status))
        except Exception:
            pass


if __name__ == "__main__":
    main()
