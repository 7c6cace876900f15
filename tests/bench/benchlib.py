"""What the benchmark scripts share: a process's CPU time and peak memory from /proc, the
wait for N status events on a topic, the topic set of one channel, and the result record
that scripts/bench gathers into its table.

A benchmark prints its own figures as it goes. When NOTIFY_BENCH_RESULTS names a file,
record() also appends one JSON line per figure to it; tests/bench/bench_report.py turns
those lines into the one table scripts/bench prints (and the README shows).
"""
import json
import os
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

TIER_SUFFIXES = (".retry.60s", ".retry.300s", ".retry.900s", ".retry.3600s")


def channel_topics(base, status):
    """The topics one worker uses: its input, the retry tiers, the dead-letter topic and
    the status topic."""
    return [base] + [base + s for s in TIER_SUFFIXES] + [base + ".dlq", status]


def cpu_seconds(pid):
    """User plus system CPU time of a process so far (all its threads), from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid):
    """The process's peak resident set size so far (VmHWM) in KiB; None once it is gone.
    Read it before the process is stopped."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _edge_timestamp(consumer, status, partition, offset):
    """The timestamp (ms) of the record at `offset` of one partition."""
    consumer.assign([TopicPartition(status, partition, offset)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            return msg.timestamp()[1]
    raise SystemExit("no record at %s[%d]@%d" % (status, partition, offset))


def wait_status_events(bootstrap, status, partitions, n, proc, what, timeout=600):
    """Waits until the status topic holds n events, watching its high watermarks, and
    returns (rate, seconds): events per second between the first and the last event and
    the time between them, both from the events' own timestamps (set by the worker's
    producer), so the polling interval does not enter the figure. Raises SystemExit when
    `proc` (a Popen) exits first or time runs out."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "enable.auto.commit": False,
                         "group.id": "bench-watch-%d" % os.getpid()})
    tps = [TopicPartition(status, p) for p in range(partitions)]
    start = time.monotonic()
    try:
        while True:
            try:
                highs = [consumer.get_watermark_offsets(tp, timeout=5)[1] for tp in tps]
            except KafkaException:
                # A topic created a moment ago may have no leader yet: ask again.
                highs = [0]
            if sum(highs) >= n:
                break
            if proc.poll() is not None:
                raise SystemExit("%s exited with %d" % (what, proc.returncode))
            if time.monotonic() - start > timeout:
                raise SystemExit("%s: only %d of %d status events within %d s"
                                 % (what, sum(highs), n, timeout))
            time.sleep(0.05)
        used = [p for p in range(partitions) if highs[p] > 0]
        first = min(_edge_timestamp(consumer, status, p, 0) for p in used)
        last = max(_edge_timestamp(consumer, status, p, highs[p] - 1) for p in used)
    finally:
        consumer.close()
    seconds = (last - first) / 1000.0
    if seconds <= 0:
        return float("inf"), 0.0
    return (n - 1) / seconds, seconds


def record(bench, figure, value, unit, reference=None, reference_value=None, binary=None,
           peak_rss=None, cpu_us=None, note=None, target=None, met=None):
    """Appends one result line for scripts/bench's table (when NOTIFY_BENCH_RESULTS is set).
    `reference`/`reference_value`: what the figure is compared with, measured in the same
    run; `binary`/`peak_rss` (KiB): the process measured and its peak memory; `cpu_us`: its
    CPU time per unit of work; `target`/`met`: the goal set for this figure (text) and
    whether the run reached it."""
    path = os.environ.get("NOTIFY_BENCH_RESULTS")
    if not path:
        return
    line = {"bench": bench, "figure": figure, "value": value, "unit": unit,
            "reference": reference, "reference_value": reference_value, "binary": binary,
            "peak_rss_kib": peak_rss, "cpu_us": cpu_us, "note": note,
            "target": target, "met": met}
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")


def produce_all(bootstrap, topic, values):
    """Produces each (key, value) of `values` to `topic` in large batches, waits for every
    acknowledgement and returns the rate in messages per second."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000})
    n = 0
    t0 = time.monotonic()
    for key, value in values:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
    producer.flush()
    return n / max(time.monotonic() - t0, 1e-6)
