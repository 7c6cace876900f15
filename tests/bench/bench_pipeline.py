#!/usr/bin/env python3
"""Messages per second through the whole pipeline with an instant provider.

The real test-worker (the pipeline with the scripted provider, which accepts every request
at once) consumes N send requests from a topic of P partitions, reserves each in the
ledger, takes quota in leases, and publishes a SENT status event for each; the figure is
status events acknowledged per second, measured from the first to the last. As a reference
measured in the same run, the same requests are first produced by this script, and the rate
of that produce (Kafka alone, batched) is printed beside it.

    KAFKA_BOOTSTRAP_SERVERS=... DATABASE_URL=... NOTIFY_BUILD_DIR=<RelWithDebInfo build> \\
        python3 tests/bench/bench_pipeline.py [N (200000)] [partitions (4)]
"""
import json
import os
import random
import subprocess
import sys
import tempfile

from confluent_kafka.admin import AdminClient, NewTopic
import psycopg2

import benchlib


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    partitions = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    dburl = os.environ["DATABASE_URL"]
    build = os.environ["NOTIFY_BUILD_DIR"]
    tag = "bench%d" % random.randint(0, 1 << 30)
    base, status = tag + ".email", tag + ".status"
    org = tag + "-org"

    keys = subprocess.check_output([build + "/notifyctl", "keygen", "--id", "b1"]).decode().strip()
    env = dict(os.environ, SECRET_KEYS=keys, SECRET_ACTIVE_KEY="b1")
    secret = subprocess.run([build + "/notifyctl", "encrypt", "--org", org, "--column",
                             "email_provider_config.smtp_password_encrypted"],
                            input=b"bench", env=env, check=True,
                            capture_output=True).stdout.decode().strip()
    with psycopg2.connect(dburl) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO email_provider_config (org_id, provider_type, smtp_host,"
                    " smtp_port, smtp_username, smtp_password_encrypted, from_email, enabled)"
                    " VALUES (%s, 'SMTP', 'localhost', 25, 'bench', %s, 'bench@example.com', true)",
                    (org, secret))
        cur.execute("INSERT INTO email_rate_limit (org_id, quota_limit) VALUES (%s, 2000000000)",
                    (org,))

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = benchlib.channel_topics(base, status)
    for f in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
        f.result()

    produce_rate = benchlib.produce_all(bootstrap, base, (
        (str(i), json.dumps({"message_id": "%s-%d" % (tag, i), "org_id": org,
                             "to": "user%d@example.com" % i, "subject": "Benchmark",
                             "payload": {"textBody": "hello"}}))
        for i in range(n)))

    log = tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log", delete=False)
    wenv = dict(env, TOPIC_EMAIL=base, TOPIC_STATUS=status, CONSUMER_GROUP=tag,
                HTTP_ADDR="127.0.0.1:0", LOG_LEVEL="warn", TOPIC_AUTO_CREATE="false",
                MAX_IN_FLIGHT=os.environ.get("MAX_IN_FLIGHT", "20000"),
                MAX_IN_FLIGHT_PER_PARTITION=os.environ.get("MAX_IN_FLIGHT_PER_PARTITION", "5000"))
    worker = subprocess.Popen([build + "/test-worker"], env=wenv, stdout=log, stderr=log)
    try:
        rate, seconds = benchlib.wait_status_events(bootstrap, status, partitions, n, worker,
                                                    "test-worker (log in %s)" % log.name)
        cpu = benchlib.cpu_seconds(worker.pid)
        rss = benchlib.peak_rss_kib(worker.pid)
    finally:
        worker.terminate()
        worker.wait(60)
    print("%-52s %12.0f msg/s" % ("pipeline, instant provider (1 worker, %d partitions)" % partitions, rate))
    print("%-52s %12.0f msg/s" % ("reference: producing the same requests (Kafka alone)", produce_rate))
    print("%-52s %12.1f us/msg" % ("worker CPU per request (all threads)", cpu * 1e6 / n))
    print("(%d requests; first to last status event in %.2f s; load average %.2f)"
          % (n, seconds, os.getloadavg()[0]))
    benchlib.record("pipeline, instant provider", "status events", rate, "msg/s",
                    "Kafka produce alone", produce_rate, "test-worker", rss, cpu * 1e6 / n,
                    target=">= 20,000 msg/s", met=rate >= 20000)


if __name__ == "__main__":
    main()
