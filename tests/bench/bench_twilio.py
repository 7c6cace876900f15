#!/usr/bin/env python3
"""Messages per second through twilio-worker against the Twilio simulator, beside wrk's
request rate against the same simulator endpoint, measured in the same run.

1. twilio-sim starts on a free loopback port (no faults, no callbacks).
2. Reference ceiling: wrk POSTs the same create-message form, with the same Basic auth,
   to the same endpoint for a few seconds; its Requests/sec is what the simulator can
   answer on this machine.
3. End to end: N send requests are produced to a topic of P partitions, then one
   twilio-worker consumes them (config from PostgreSQL, ledger, quota leases, one HTTP
   request each to the simulator, a SENT status event each); the figure is status events
   per second from the first to the last.
4. Second reference: the same requests through the test-worker, the same pipeline with an
   instant scripted Twilio provider (no HTTP at all): the pipeline's own ceiling here, so
   the figure of step 3 can be read as "HTTP to the simulator costs this much".

    KAFKA_BOOTSTRAP_SERVERS=... DATABASE_URL=... NOTIFY_BUILD_DIR=<RelWithDebInfo build> \\
        python3 tests/bench/bench_twilio.py [N (100000)] [partitions (4)] [wrk connections (64)]

wrk is installed with apt-get when missing. A benchmark prints figures; it never fails on
a number.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic
import psycopg2

import benchlib

SID = "AC" + "%032x" % random.getrandbits(128)
TOKEN = "bench%016x" % random.getrandbits(64)
FROM = "+15005550006"


def ensure_wrk():
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True,
                       stdout=subprocess.DEVNULL)
    return shutil.which("wrk")


def wrk_rate(port, connections, seconds, tmp):
    """Requests/sec of wrk POSTing one create-message form to the simulator."""
    form = urllib.parse.urlencode({"To": "+14155550100", "From": FROM,
                                   "Body": "Benchmark message"})
    import base64
    auth = base64.b64encode(("%s:%s" % (SID, TOKEN)).encode()).decode()
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write('wrk.body = "%s"\n' % form)
        f.write('wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
        f.write('wrk.headers["Authorization"] = "Basic %s"\n' % auth)
        f.write('wrk.headers["Accept"] = "application/json"\n')
        # Any answer but 201 means the reference measured something else.
        f.write('bad = 0\nresponse = function(status, headers, body)\n'
                '  if status ~= 201 then bad = bad + 1 end\nend\n')
    url = "http://127.0.0.1:%d/2010-04-01/Accounts/%s/Messages.json" % (port, SID)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", "%ds" % seconds,
                          "-s", script, url], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit("wrk got %s non-2xx answers:\n%s" % (non2xx.group(1), out))
    return float(m.group(1))


def run_worker(cmd, base, org, n, partitions, env, tmp, procs, sim_pid):
    """Produces n requests to fresh topics under `base`, runs the worker `cmd` on them and
    returns (status events per second from the first to the last, {status: count},
    worker CPU seconds, simulator CPU seconds during the run)."""
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    status = base + ".status"
    tag = base.replace(".", "-")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = benchlib.channel_topics(base, status)
    for f in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
        f.result()
    benchlib.produce_all(bootstrap, base, (
        (str(i), json.dumps({"message_id": "%s-%d" % (tag, i), "org_id": org,
                             "to": "+1415555%04d" % (i % 10000),
                             "payload": {"body": "Benchmark message"}}))
        for i in range(n)))

    log = open(os.path.join(tmp, os.path.basename(cmd[0]) + ".log"), "w")
    wenv = dict(env, TOPIC_SMS_TWILIO=base, TOPIC_STATUS=status, CONSUMER_GROUP=tag,
                HTTP_ADDR="127.0.0.1:0", LOG_LEVEL="warn", TOPIC_AUTO_CREATE="false",
                MAX_IN_FLIGHT=os.environ.get("MAX_IN_FLIGHT", "20000"),
                MAX_IN_FLIGHT_PER_PARTITION=os.environ.get("MAX_IN_FLIGHT_PER_PARTITION", "5000"))
    sim_cpu0 = benchlib.cpu_seconds(sim_pid)
    worker = subprocess.Popen(cmd, env=wenv, stdout=log, stderr=log)
    procs.append(worker)
    try:
        rate, _ = benchlib.wait_status_events(bootstrap, status, partitions, n, worker,
                                              "%s (log in %s)" % (cmd[0], log.name))
        cpu = benchlib.cpu_seconds(worker.pid)
        rss = benchlib.peak_rss_kib(worker.pid)
        sim_cpu = benchlib.cpu_seconds(sim_pid) - sim_cpu0
    finally:
        worker.terminate()
        worker.wait(60)

    # Every event must be SENT for the figure to mean what it says.
    check = Consumer({"bootstrap.servers": bootstrap, "group.id": tag + "-check",
                      "auto.offset.reset": "earliest"})
    check.subscribe([status])
    counts, seen = {}, 0
    deadline = time.monotonic() + 120
    while seen < n and time.monotonic() < deadline:
        for m in check.consume(10000, 1.0):
            if m.error():
                continue
            st = json.loads(m.value())["status"]
            counts[st] = counts.get(st, 0) + 1
            seen += 1
    check.close()
    return rate, counts, cpu, sim_cpu, rss


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    partitions = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    connections = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    dburl = os.environ["DATABASE_URL"]
    build = os.environ["NOTIFY_BUILD_DIR"]
    tag = "benchtw%d" % random.randint(0, 1 << 30)
    base = tag + ".sms"
    org = tag + "-org"
    tmp = tempfile.mkdtemp(prefix="bench-twilio-")
    ensure_wrk()
    procs = []
    try:
        port_file = os.path.join(tmp, "sim.port")
        sim = subprocess.Popen([build + "/twilio-sim", "--listen=127.0.0.1:0",
                                "--account=%s:%s" % (SID, TOKEN), "--port-file=" + port_file],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(sim)
        for _ in range(100):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        with open(port_file) as f:
            port = int(f.read())

        wrk = wrk_rate(port, connections, 5, tmp)

        keys = subprocess.check_output([build + "/notifyctl", "keygen", "--id", "b1"]).decode().strip()
        env = dict(os.environ, SECRET_KEYS=keys, SECRET_ACTIVE_KEY="b1")
        secret = subprocess.run([build + "/notifyctl", "encrypt", "--org", org, "--column",
                                 "sms_provider_config.twilio_auth_token_encrypted"],
                                input=TOKEN.encode(), env=env, check=True,
                                capture_output=True).stdout.decode().strip()
        with psycopg2.connect(dburl) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO sms_provider_config (org_id, provider_type, twilio_account_sid,"
                        " twilio_auth_token_encrypted, twilio_from_number, enabled)"
                        " VALUES (%s, 'TWILIO', %s, %s, %s, true)", (org, SID, secret, FROM))
            cur.execute("INSERT INTO sms_rate_limit (org_id, provider_type, quota_limit)"
                        " VALUES (%s, 'TWILIO', 2000000000)", (org,))

        twilio_rate, counts, cpu, sim_cpu, rss = run_worker(
            [build + "/twilio-worker"], base, org, n, partitions,
            dict(env, TWILIO_API_BASE_URL="http://127.0.0.1:%d" % port,
                 TWILIO_MAX_CONNECTIONS=str(connections)),
            tmp, procs, sim.pid)
        # The pipeline's own ceiling on this machine now: the same requests through the
        # test-worker, whose scripted Twilio provider answers at once without any HTTP.
        ceiling, _, cpu_instant, _, rss_instant = run_worker(
            [build + "/test-worker"], base + "-instant", org, n, partitions,
            dict(env, NOTIFY_TEST_CHANNEL="twilio"), tmp, procs, sim.pid)

        print("%-62s %10.0f msg/s" % ("twilio-worker end to end (Kafka in, simulator, status out)",
                                      twilio_rate))
        print("%-62s %10.0f req/s" % ("reference: wrk -c%d against the same simulator endpoint"
                                      % connections, wrk))
        print("%-62s %10.0f msg/s" % ("reference: the pipeline with an instant Twilio provider",
                                      ceiling))
        print("ratio twilio-worker / wrk: %.0f%%; twilio-worker / instant pipeline: %.0f%%"
              % (100.0 * twilio_rate / wrk, 100.0 * twilio_rate / ceiling))
        print("CPU per message: twilio-worker %.1f us, instant pipeline %.1f us, simulator %.1f us"
              % (cpu * 1e6 / n, cpu_instant * 1e6 / n, sim_cpu * 1e6 / n))
        print("(%d requests, %d partitions, twilio-worker statuses %s; %d cores, load average %.1f)"
              % (n, partitions, counts, os.cpu_count(), os.getloadavg()[0]))
        benchlib.record("twilio, simulator", "status events", twilio_rate, "msg/s",
                        "wrk -c%d, simulator" % connections, wrk, "twilio-worker", rss,
                        cpu * 1e6 / n, target=">= 70% of wrk", met=twilio_rate >= 0.7 * wrk)
        benchlib.record("twilio, instant provider", "status events", ceiling, "msg/s",
                        "wrk -c%d, simulator" % connections, wrk, "test-worker", rss_instant,
                        cpu_instant * 1e6 / n)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


if __name__ == "__main__":
    main()
