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
import time

from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
import psycopg2


def worker_cpu_seconds(pid):
    """User plus system CPU time of a process so far, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    topics = [base] + [base + s for s in (".retry.60s", ".retry.300s", ".retry.900s",
                                          ".retry.3600s", ".dlq")] + [status]
    for f in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
        f.result()

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000})
    t0 = time.monotonic()
    for i in range(n):
        value = json.dumps({"message_id": "%s-%d" % (tag, i), "org_id": org,
                            "to": "user%d@example.com" % i, "subject": "Benchmark",
                            "payload": {"textBody": "hello"}})
        while True:
            try:
                producer.produce(base, value=value, key=str(i))
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush()
    produce_rate = n / (time.monotonic() - t0)

    log = tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log", delete=False)
    wenv = dict(env, TOPIC_EMAIL=base, TOPIC_STATUS=status, CONSUMER_GROUP=tag,
                HTTP_ADDR="127.0.0.1:0", LOG_LEVEL="warn", TOPIC_AUTO_CREATE="false",
                MAX_IN_FLIGHT=os.environ.get("MAX_IN_FLIGHT", "20000"),
                MAX_IN_FLIGHT_PER_PARTITION=os.environ.get("MAX_IN_FLIGHT_PER_PARTITION", "5000"))
    worker = subprocess.Popen([build + "/test-worker"], env=wenv, stdout=log, stderr=log)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": tag + "-watch"})
    tps = [TopicPartition(status, p) for p in range(partitions)]
    first = None
    start = time.monotonic()
    done = 0
    try:
        while time.monotonic() - start < 600:
            done = sum(consumer.get_watermark_offsets(tp, timeout=5)[1] for tp in tps)
            now = time.monotonic()
            if first is None and done > 0:
                first, first_done = now, done
            if done >= n:
                break
            if worker.poll() is not None:
                raise SystemExit("test-worker exited with %d; log in %s" % (worker.returncode, log.name))
            time.sleep(0.05)
        end = time.monotonic()
        cpu = worker_cpu_seconds(worker.pid)
    finally:
        worker.terminate()
        worker.wait(60)
        consumer.close()
    if done < n:
        raise SystemExit("only %d of %d status events within the time limit" % (done, n))
    rate = (n - first_done) / (end - first) if end > first else float("inf")
    print("%-52s %12.0f msg/s" % ("pipeline, instant provider (1 worker, %d partitions)" % partitions, rate))
    print("%-52s %12.0f msg/s" % ("reference: producing the same requests (Kafka alone)", produce_rate))
    print("%-52s %12.1f us/msg" % ("worker CPU per request (all threads)", cpu * 1e6 / n))
    print("(%d requests; first to last status event in %.2f s; load average %.2f)"
          % (n, end - first, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
