#!/usr/bin/env python3
"""Messages per second through sns-worker against moto's server, beside moto's own ceiling.

End to end: N send requests are produced to the worker's topic first; then sns-worker
(the real pipeline: Kafka, ledger, quota leases, status events) signs and publishes each
to moto, and the figure is SENT status events per second, from the first to the last.

Reference, in the same run and against the same moto process: a Publish body POSTed
straight to moto as fast as moto answers, just before and just after the end-to-end run
(their mean is the ceiling), by wrk when it is installed (Debian's `wrk`, 64 connections,
5 s) or otherwise by a Python client (processes x keep-alive threads). moto is a Python server, so it is the ceiling of both; the ratio
says how much of it the worker uses.

    KAFKA_BOOTSTRAP_SERVERS=... DATABASE_URL=... NOTIFY_BUILD_DIR=<build> \\
        /usr/bin/python3 tests/bench/bench_sns.py [N (3000)] [partitions (4)]
"""
import http.client
import importlib.util
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")
sys.path.insert(0, INTEGRATION)

from pipeline_harness import Harness  # noqa: E402

import benchlib  # noqa: E402

_spec = importlib.util.spec_from_file_location("test_sns_moto",
                                               os.path.join(INTEGRATION, "test_sns_moto.py"))
sns = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sns)

# The shape the worker sends for the benchmark's requests (sender id, SMS type and
# idempotency key attributes), since moto's cost grows with the number of parameters.
BODY = ("Action=Publish&Version=2010-03-31&PhoneNumber=%2B14155550100"
        "&Message=bench%20message%201234"
        "&MessageAttributes.entry.1.Name=AWS.SNS.SMS.SenderID"
        "&MessageAttributes.entry.1.Value.DataType=String"
        "&MessageAttributes.entry.1.Value.StringValue=NotifyTest"
        "&MessageAttributes.entry.2.Name=AWS.SNS.SMS.SMSType"
        "&MessageAttributes.entry.2.Value.DataType=String"
        "&MessageAttributes.entry.2.Value.StringValue=Transactional"
        "&MessageAttributes.entry.3.Name=IdempotencyKey"
        "&MessageAttributes.entry.3.Value.DataType=String"
        "&MessageAttributes.entry.3.Value.StringValue=b-1234")
HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
           "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/sns/"
                            "aws4_request, SignedHeaders=content-type;host, Signature=00"}


def wrk_rate(url, seconds, connections, tmpdir):
    lua = os.path.join(tmpdir, "publish.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = "%s"\n' % BODY)
        for k, v in HEADERS.items():
            f.write('wrk.headers["%s"] = "%s"\n' % (k, v))
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", "%ds" % seconds,
                          "-s", lua, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=seconds + 60).stdout.decode()
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m is None or non2xx:
        raise RuntimeError("wrk failed or moto refused requests:\n" + out)
    return float(m.group(1))


def _py_client(port, n, threads, q):
    done = [0]
    lock = threading.Lock()

    def one():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if done[0] >= n:
                    return
                done[0] += 1
            c.request("POST", "/", BODY, HEADERS)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError("moto answered %d" % r.status)

    ts = [threading.Thread(target=one) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put(n)


def python_rate(port, n, procs=2, threads=8):
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=_py_client, args=(port, n // procs, threads, q))
          for _ in range(procs)]
    t0 = time.time()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    return sum(q.get() for _ in ps) / (time.time() - t0)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    partitions = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    h = Harness("bench_sns")
    moto = None
    try:
        moto = sns.Moto(h.tmpdir)
        # The reference is measured just before and just after the end-to-end run, and
        # their mean is the ceiling: on a shared machine the load changes under both.
        def reference():
            if shutil.which("wrk"):
                return wrk_rate(moto.url, 5, 64, h.tmpdir), "wrk, 64 connections, 5 s"
            return (python_rate(moto.port, 1000),
                    "Python client, 2 processes x 8 keep-alive threads, 1000 requests")

        ref_before, ref_how = reference()

        t = h.topics("benchsns", partitions)
        org = "bench-sns-" + sns.suffix()
        sns.add_sns_org(h, org, "AKIABENCH", "bench/secret+key")
        h.db.q("INSERT INTO sms_rate_limit (org_id, provider_type, quota_limit)"
               " VALUES (%s, 'AWS_SNS', 2000000000)", (org,))
        mids = ["b-%d" % i for i in range(n)]
        for i, mid in enumerate(mids):
            h.sender.produce(t.base, sns.sns_request(mid, org, "+1415555%04d" % (i % 10000),
                                                     "bench message %d" % i))
        h.sender.flush()

        status = h.status_reader(t)
        w = sns.SnsWorker(h, "bench-sns", sns.sns_env(h, t, moto.url, LOG_LEVEL="warn"))
        h.workers.append(w)
        w.start()
        first = last = None
        sent = set()
        deadline = time.time() + 600
        seen = 0
        while len(sent) < n:
            status.poll(0.2)
            for r in status.records[seen:]:
                e = r.event or {}
                if first is None:
                    first = r.timestamp_ms
                if e.get("status") == "SENT":
                    sent.add(e.get("message_id"))
                    last = r.timestamp_ms
                elif e.get("status") in ("FAILED", "RETRY_SCHEDULED"):
                    raise RuntimeError("not sent: %r" % e)
            seen = len(status.records)
            if time.time() > deadline or not w.alive():
                raise RuntimeError("%d of %d SENT; worker alive: %s\n%s" %
                                   (len(sent), n, w.alive(), w.tail()))
        cpu = benchlib.cpu_seconds(w.pid)
        rss = benchlib.peak_rss_kib(w.pid)
        w.stop(60)
        ref_after, _ = reference()
        ref = (ref_before + ref_after) / 2
        secs = max((last - first) / 1000.0, 0.001)
        rate = n / secs
        print("sns-worker end to end: %d messages SENT via moto in %.2f s = %.0f msg/s "
              "(%d partitions, build %s)" % (n, secs, rate, partitions, h.env.build_dir))
        print("sns-worker CPU: %.2f s in all, %.0f us per message" % (cpu, cpu * 1e6 / n))
        print("moto alone (%s): %.0f req/s before, %.0f req/s after" %
              (ref_how, ref_before, ref_after))
        print("ratio: %.0f%% of moto's ceiling (mean of before and after)" % (100.0 * rate / ref))
        benchlib.record("sns, moto", "status events", rate, "msg/s",
                        "moto alone, " + ref_how.split(",")[0], ref, "sns-worker", rss,
                        cpu * 1e6 / n, target=">= 70% of moto", met=rate >= 0.7 * ref)
        return 0
    finally:
        if moto:
            moto.stop()
        h.close()


if __name__ == "__main__":
    sys.exit(main())
