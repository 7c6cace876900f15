"""Retry copies wait for their time, and waiting holds up nothing else.

With RETRY_DELAYS_MS 4000,5000,6000,7000 three requests fail once (retryably) 2 s apart, so
their copies land on the first retry tier: X and Z (keys chosen for it) on one partition of
the tier, Y on another. Their due times (x-not-before) are in the order X, Y, Z.
Meanwhile fresh requests go to every partition of the main topic, several a second.

Checked:
  - no copy is processed before its x-not-before: the attempt-2 line never appears in the
    scripted provider's send log (watched every few milliseconds) before that time, and the
    attempt-2 SENT event's occurred_at is not earlier;
  - each copy is processed promptly once due;
  - Y, alone on its tier partition, is processed when due although Z, on X's partition, is
    still waiting: a partition that waits does not hold up the others;
  - fresh requests are SENT promptly and exactly once; those produced early in X's wait are
    sent seconds before X is due: the main topic is not held up either.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_harness import (CheckFailed, check, check_eq, email_request,  # noqa: E402
                              key_for_partition, kafka_partition_for_key, now_ms, parse_time_ms,
                              run)

DELAYS = [4000, 5000, 6000, 7000]
PARTITIONS = 4
SPACING_S = 2.0
FRESH_EVERY_S = 0.25


def test_retry_waits_and_nothing_else_does(h):
    # Promptness bounds: generous for a worker built with sanitizers on a busy machine,
    # still far below the 4 s a held-up request would wait.
    prompt_ms = 2500 if h.env.sanitized else 1500
    fresh_max_ms = 3000 if h.env.sanitized else 2000
    median_ms = 1000 if h.env.sanitized else 500
    t = h.topics("timing", PARTITIONS)
    org = h.org("timing")
    h.db.add_email_org(org)
    log = h.send_log("timing")
    w = h.worker("timing", h.worker_env(t, send_log=log,
                                        RETRY_DELAYS_MS=",".join(map(str, DELAYS)))).start()
    st = h.status_reader(t)
    copies = h.reader([t.tiers[0]])
    w.wait_assigned(5 * PARTITIONS, 90)

    keys = {"X": key_for_partition("x", 0, PARTITIONS), "Y": key_for_partition("y", 1, PARTITIONS),
            "Z": key_for_partition("z", 0, PARTITIONS)}
    mids = {n: "m-%s" % n for n in keys}
    fresh = []  # (mid, produced record)
    # The send log is read every few milliseconds. A line seen by a read that ended at t was
    # written before t; a line missing from a read that began at t was written after t.
    first_seen = {}  # name -> end of the first read that showed its attempt-2 send
    last_absent = {}  # name -> start of the last read that did not

    def watch_log():
        t_start = now_ms()
        lines = log.lines()
        t_end = now_ms()
        for n, mid in mids.items():
            if any(m == mid and a == 2 for m, a, _ in lines):
                first_seen.setdefault(n, t_end)
            else:
                last_absent[n] = t_start

    next_fresh = [time.time()]

    def produce_fresh():
        if time.time() < next_fresh[0]:
            return
        next_fresh[0] += FRESH_EVERY_S
        for p in range(PARTITIONS):
            mid = "fresh-%d" % len(fresh)
            fresh.append((mid, h.sender.produce(t.base, email_request(mid, org), key=mid,
                                                partition=p)))
        h.sender.p.poll(0)

    produced = {}
    start = time.time()
    for i, n in enumerate(("X", "Y", "Z")):
        while time.time() < start + i * SPACING_S:
            produce_fresh()
            watch_log()
            st.poll(0.01)
        produced[n] = h.sender.produce(
            t.base, email_request(mids[n], org, script=["RETRY:SMTP_421", "OK"]), key=keys[n])
        h.sender.p.poll(0)

    def all_done():
        return (all("SENT" in st.statuses(mids[n]) for n in mids) and
                all("SENT" in st.statuses(mid) for mid, _ in fresh))

    deadline = time.time() + 60
    stop_fresh_at = None
    while not all_done():
        check(w.alive(), "the worker exited:\n" + w.tail())
        if time.time() > deadline:
            missing = [n for n in mids if "SENT" not in st.statuses(mids[n])]
            raise CheckFailed("not every request was sent within 60 s (missing %s, fresh %d/%d)"
                              % (missing, sum(1 for m, _ in fresh if "SENT" in st.statuses(m)),
                                 len(fresh)))
        # Fresh requests keep coming until the last copy is due.
        due_z = st.events(mids["Z"])[0].get("next_attempt_at") if st.events(mids["Z"]) else None
        if stop_fresh_at is None and due_z:
            stop_fresh_at = parse_time_ms(due_z)
        if stop_fresh_at is None or now_ms() < stop_fresh_at:
            produce_fresh()
        watch_log()
        st.poll(0.005)
        copies.poll(0.005)
    h.sender.flush()
    watch_log()
    copies.until(lambda: len(copies.records) >= 3, 30, "the three retry copies")

    due = {}
    for n in mids:
        evs = st.events(mids[n])
        check_eq([e["status"] for e in evs], ["RETRY_SCHEDULED", "SENT"], "statuses of " + n)
        due[n] = parse_time_ms(evs[0]["next_attempt_at"])
        (copy,) = [r for r in copies.records if r.key == keys[n]]
        check_eq(int(copy.headers["x-not-before"]), due[n], n + ": x-not-before is the event's "
                 "next_attempt_at")
        check_eq(copy.partition, kafka_partition_for_key(keys[n], PARTITIONS),
                 n + ": the copy's tier partition (the setup of this test)")
        check_eq(due[n] - parse_time_ms(evs[0]["occurred_at"]), DELAYS[0], n + ": delay")
        check_eq(evs[1]["attempt"], 2, n + ": attempt of the SENT event")
    check(due["X"] < due["Y"] < due["Z"], "due times not in the order X, Y, Z: %s" % due)

    for n in mids:
        sent_at = parse_time_ms(st.events(mids[n])[1]["occurred_at"])
        check(sent_at >= due[n], "%s: attempt 2 decided at %d, before its x-not-before %d"
              % (n, sent_at, due[n]))
        check(n in first_seen, n + ": attempt 2 not in the send log")
        check(first_seen[n] >= due[n], "%s: attempt 2 was in the send log at %d, before its "
              "x-not-before %d" % (n, first_seen[n], due[n]))
        # The log was watched closely up to the due time, so the check above is tight.
        check(last_absent[n] >= due[n] - 300,
              "%s: the send log was not watched closely before the due time (last read without "
              "the send %d ms before it)" % (n, due[n] - last_absent[n]))
        check(sent_at - due[n] <= prompt_ms, "%s: processed %d ms after it was due" %
              (n, sent_at - due[n]))
    y_sent = parse_time_ms(st.events(mids["Y"])[1]["occurred_at"])
    check(y_sent < due["Z"], "Y (due %d) was processed at %d, not before Z (due %d) on another "
          "partition: a waiting partition held it up" % (due["Y"], y_sent, due["Z"]))

    # Fresh requests: sent promptly (the median), none waited for long, and those produced
    # early in the first copy's wait were sent before that copy was due, with seconds to
    # spare: a main topic held up by a waiting retry would send them only after it.
    check(len(fresh) >= 40, "only %d fresh requests were produced" % len(fresh))
    x_retry_at = parse_time_ms(st.events(mids["X"])[0]["occurred_at"])
    latencies = []
    early = 0
    for mid, p in fresh:
        evs = st.events(mid)
        check_eq([e["status"] for e in evs], ["SENT"], "statuses of " + mid)
        at = parse_time_ms(evs[0]["occurred_at"])
        latencies.append(at - p.produced_ms)
        check(at - p.produced_ms <= fresh_max_ms, "%s (partition %d) sent %d ms after it was "
              "produced" % (mid, p.partition, at - p.produced_ms))
        if x_retry_at <= p.produced_ms <= due["X"] - 3000:
            early += 1
            check(at < due["X"], "%s (partition %d), produced %d ms before the retry copy X was "
                  "due, was sent only %d ms after it" % (mid, p.partition,
                                                        due["X"] - p.produced_ms, at - due["X"]))
    latencies.sort()
    median = latencies[len(latencies) // 2]
    check(early >= 2 * PARTITIONS, "only %d fresh requests were produced early in the wait" % early)
    check(median <= median_ms, "fresh requests: median time to SENT %d ms" % median)
    check_eq(sorted({p.partition for _, p in fresh}), list(range(PARTITIONS)),
             "fresh requests on every partition")
    counts = log.counts()
    twice = [m for m, c in counts.items() if m.startswith("fresh-") and c != 1]
    check_eq(twice, [], "fresh requests not sent exactly once")
    late = {n: parse_time_ms(st.events(mids[n])[1]["occurred_at"]) - due[n] for n in mids}
    print("  %d fresh requests, median %d ms, slowest %d ms; copies processed %s ms after due"
          % (len(fresh), median, latencies[-1], late))
    check_eq(w.stop(), 0, "exit code after SIGTERM")


if __name__ == "__main__":
    sys.exit(run([test_retry_waits_and_nothing_else_does], "pipeline_retry_timing"))
