"""Crash safety of the pipeline: a worker killed, stopped or rebalanced mid-run loses nothing
and sends again only what it had in flight.

A slow scripted provider (test_delay_ms) and a few thousand requests (fewer under the
sanitizers); the worker's in-flight bound is MAX_IN_FLIGHT. Each scenario has its own
topics, org and consumer group:

  kill          SIGKILL mid-run (the moment a send is logged), restart, four times. In the
                end every request has a final status (SENT or DUPLICATE; none FAILED, none
                without one). A request sent more than once (the scripted provider's send
                log) was in flight at a kill (sent before it, no final status published
                before it), once per extra send, and no kill has more than MAX_IN_FLIGHT
                such requests. A request replayed after a kill whose outcome was already in
                the ledger is reported DUPLICATE after its SENT (accepted, counted and
                printed); no request has two SENT events.
  term          SIGTERM mid-run (exit code 0), restart: nothing is sent twice, and every
                request has exactly one status event, SENT.
  drain timeout SIGTERM when the in-flight requests cannot finish within DRAIN_GRACE_MS:
                exit code 0, and nothing is lost (see the test).
  early term    SIGTERM while the worker is still starting: exit code 0.
  rebalance     a second replica joins mid-run and later leaves with SIGTERM (exit code 0)
                while the first keeps going: nothing sent twice, nothing lost, exactly one
                SENT event per request, and the second replica did take over some work.

The term and rebalance scenarios use a provider whose sends take 100 ms to 1 s, mixed, so
that there is always work in flight when the worker stops or the partitions move.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_harness import (FINAL_STATUSES, CheckFailed, check, check_eq,  # noqa: E402
                              email_request, now_ms, parse_time_ms, run)

PARTITIONS = 4
MAX_IN_FLIGHT = 200
# Every partition of the main topic can fill its window at once, so all of them advance
# together (and a rebalance moves partitions that are mid-way).
MAX_IN_FLIGHT_PER_PARTITION = MAX_IN_FLIGHT // PARTITIONS
DELAY_MS = 30


def UNEVEN_DELAY_MS(i):
    """Sends of 100 ms to 1 s, mixed: completions never come all at once, so a partition
    always has some in flight."""
    return 100 + (i * 337) % 900


def sizes(h):
    """Requests per scenario: fewer under the sanitizers."""
    return 2000 if h.env.sanitized else 3000


def setup_scenario(h, name, n, delay_ms=DELAY_MS):
    t = h.topics(name, PARTITIONS)
    org = h.org(name)
    h.db.add_email_org(org)
    h.db.set_email_quota(org, limit=1000000)
    mids = ["%s-%05d" % (name, i) for i in range(n)]
    for i, mid in enumerate(mids):
        delay = delay_ms(i) if callable(delay_ms) else delay_ms
        h.sender.produce(t.base, email_request(mid, org, delay_ms=delay), key=mid)
    h.sender.flush()
    return t, org, mids


def worker_env(h, t, log):
    return h.worker_env(t, send_log=log, MAX_IN_FLIGHT=MAX_IN_FLIGHT,
                        MAX_IN_FLIGHT_PER_PARTITION=MAX_IN_FLIGHT_PER_PARTITION,
                        DRAIN_GRACE_MS=30000)


def wait_lines(log, n, workers, timeout=120):
    """Waits until the send log has at least n lines."""
    deadline = time.time() + timeout
    while len(log.lines()) < n:
        for w in workers:
            check(w.alive(), "worker %s exited (%s):\n%s" % (w.name, w.proc.poll(), w.tail()))
        if time.time() > deadline:
            raise CheckFailed("the send log has %d lines after %ss, waiting for %d" %
                              (len(log.lines()), timeout, n))
        time.sleep(0.01)


def kill_on_send(log, w):
    """SIGKILLs the worker the moment its send log grows: the sends just logged are likely
    still on their way to the ledger, the window in which a crash makes a duplicate."""
    size = log.size()
    deadline = time.time() + 30
    while log.size() == size and time.time() < deadline:
        pass
    kill_ms = now_ms()
    w.kill()
    return kill_ms


def wait_all_final(st, mids, workers, timeout=180):
    deadline = time.time() + timeout
    want = set(mids)
    while True:
        st.poll(0.1)
        done = set()
        for r in st.records:
            e = r.event
            if isinstance(e, dict) and e.get("status") in FINAL_STATUSES:
                done.add(e.get("message_id"))
        if want <= done:
            return
        for w in workers:
            check(w.alive(), "worker %s exited (%s):\n%s" % (w.name, w.proc.poll(), w.tail()))
        if time.time() > deadline:
            raise CheckFailed("%d of %d requests have no final status after %ss" %
                              (len(want - done), len(want), timeout))


def settle(st, seconds=1.0):
    """Reads on for a moment, so an event that should not exist has time to show up."""
    end = time.time() + seconds
    while time.time() < end:
        st.poll(0.1)


def check_exactly_once(st, mids, sends, what):
    """Every request sent exactly once and reported exactly once, SENT."""
    by = st.by_mid()
    counts = {}
    for mid, _, _ in sends:
        counts[mid] = counts.get(mid, 0) + 1
    twice = sorted(m for m, c in counts.items() if c > 1)
    check_eq(twice[:10], [], "%s: requests sent more than once (%d in all)" % (what, len(twice)))
    never = sorted(set(mids) - set(counts))
    check_eq(never[:10], [], "%s: requests never sent (%d in all)" % (what, len(never)))
    check_eq(sorted(set(counts) - set(mids))[:10], [], what + ": sends of unknown requests")
    bad = [(m, [e["status"] for e in by.get(m, [])]) for m in mids
           if [e["status"] for e in by.get(m, [])] != ["SENT"]]
    check_eq(bad[:10], [], "%s: requests without exactly one event, SENT (%d in all)"
             % (what, len(bad)))
    for m in mids:
        e = by[m][0]
        check_eq(e["provider_message_id"], "scripted-%s-1" % m, what + ": provider_message_id")


def test_sigkill(h):
    n = sizes(h)
    t, org, mids = setup_scenario(h, "kill", n)
    log = h.send_log("kill")
    w = h.worker("kill", worker_env(h, t, log))
    st = h.status_reader(t)
    kills = []  # (kill time ms, send log size at the kill, the run's first byte)
    run_start = 0
    w.start()
    for frac in (0.15, 0.35, 0.55, 0.75):
        wait_lines(log, int(n * frac), [w])
        kill_ms = kill_on_send(log, w)
        kills.append((kill_ms, log.size(), run_start))
        run_start = log.size()
        w.start()
    wait_all_final(st, mids, [w])
    settle(st)
    check_eq(w.stop(), 0, "exit code after SIGTERM at the end")

    by = st.by_mid()
    lines = log.lines()
    counts = {}
    for mid, attempt, outcome in lines:
        check_eq((attempt, outcome), (1, "OK"), "send line of " + mid)
        counts[mid] = counts.get(mid, 0) + 1
    check_eq(sorted(set(mids) - set(counts))[:10], [], "requests never sent")
    check_eq(sorted(set(counts) - set(mids))[:10], [], "sends of unknown requests")

    sent_then_dup = 0
    extra_finals = 0
    for m in mids:
        statuses = [e["status"] for e in by.get(m, [])]
        check(statuses and all(s in ("SENT", "DUPLICATE") for s in statuses),
              "events of %s: %s" % (m, statuses))
        check(statuses.count("SENT") <= 1, "%s has two SENT events: %s" % (m, statuses))
        extra_finals += len(statuses) - 1
        if "SENT" in statuses and "DUPLICATE" in statuses:
            check_eq(statuses.index("SENT"), 0, "%s: DUPLICATE before SENT: %s" % (m, statuses))
            sent_then_dup += 1
        for e in by[m]:
            check(e["provider_message_id"] is not None and
                  e["provider_message_id"].startswith("scripted-%s-" % m),
                  "%s: provider_message_id %r" % (m, e["provider_message_id"]))

    # In flight at kill k: sent during run k before the kill, without a final status
    # published before the kill.
    final_at = {}
    for m in mids:
        final_at[m] = min(parse_time_ms(e["occurred_at"]) for e in by[m])
    in_flight = []
    for kill_ms, size, start in kills:
        seg = log.lines_before(size)
        # lines_before counts from the start of the file; keep this run's part.
        before_run = len(log.lines_before(start))
        run_lines = seg[before_run:]
        f = {m for m, _, _ in run_lines if final_at.get(m, 1 << 62) >= kill_ms}
        in_flight.append(f)
    twice = {m: c for m, c in counts.items() if c > 1}
    for m, c in twice.items():
        at_kills = sum(1 for f in in_flight if m in f)
        check(at_kills >= c - 1, "%s was sent %d times but in flight at only %d kills" %
              (m, c, at_kills))
    for i, f in enumerate(in_flight):
        resent = [m for m in twice if m in f]
        check(len(resent) <= MAX_IN_FLIGHT, "kill %d: %d requests sent again, more than the "
              "in-flight bound %d" % (i + 1, len(resent), MAX_IN_FLIGHT))
        check(len(f) <= MAX_IN_FLIGHT, "kill %d: %d requests in flight, more than the bound %d"
              % (i + 1, len(f), MAX_IN_FLIGHT))

    # The ledger agrees: every key SENT once, and each request sent again is marked resend.
    rows = {r["idempotency_key"]: r for r in h.db.ledger(org)}
    check_eq(len(rows), n, "ledger rows")
    not_sent = [k for k, r in rows.items() if r["state"] != "SENT"]
    check_eq(not_sent[:10], [], "ledger rows not SENT")
    unmarked = [m for m in twice if not rows[m]["resend"]]
    check_eq(unmarked[:10], [], "requests sent again whose ledger row is not marked resend")
    print("  %d requests, %d kills: in flight at each kill %s; sent twice %d; "
          "SENT then DUPLICATE %d; extra final events %d" %
          (n, len(kills), [len(f) for f in in_flight], len(twice), sent_then_dup, extra_finals))


def test_sigterm(h):
    n = sizes(h) // 2
    t, org, mids = setup_scenario(h, "term", n, delay_ms=UNEVEN_DELAY_MS)
    log = h.send_log("term")
    w = h.worker("term", worker_env(h, t, log))
    st = h.status_reader(t)
    w.start()
    wait_lines(log, n // 3, [w])
    t0 = time.time()
    at_term = len(log.lines())
    w.term()
    rc = w.wait(60)
    stop_s = time.time() - t0
    check_eq(rc, 0, "exit code after SIGTERM mid-run")
    stopped_at = len(log.lines())
    check(stopped_at > at_term, "nothing was in flight at the SIGTERM: the premise of this test "
          "did not hold")
    check(stopped_at < n, "the worker finished everything before it was stopped")
    w.start()
    wait_all_final(st, mids, [w])
    settle(st)
    check_eq(w.stop(), 0, "exit code after the final SIGTERM")
    check_exactly_once(st, mids, log.lines(), "after SIGTERM")
    print("  %d requests; SIGTERM after %d sends, %d more while draining; stopped in %.1fs"
          % (n, at_term, stopped_at - at_term, stop_s))


def test_sigterm_drain_timeout(h):
    """SIGTERM when the in-flight requests cannot finish within DRAIN_GRACE_MS: the worker
    still exits 0 and what did not finish is delivered again, so nothing is lost.

    Half of the requests are slow at the provider (long), half fast (short), interleaved on
    every partition. The test holds the ledger rows locked (SELECT ... FOR UPDATE) from
    before the short sends complete until after the stop, so their outcomes cannot be
    recorded within the grace; the long ones are still at the provider. The worker stops
    with both unfinished; what the database stage records once the lock goes is published,
    the rest is left for Kafka to deliver again, and the offsets stored for the former must
    not skip the latter. A request sent but not recorded by the stop is sent again after
    the restart (the ledger's honest window, as after a crash), but none is lost and none
    gets two SENT events.
    """
    n = 200
    short_ms, long_ms = 1500, 8000
    t = h.topics("grace", PARTITIONS)
    org = h.org("grace")
    h.db.add_email_org(org)
    h.db.set_email_quota(org, limit=1000000)
    mids = ["grace-%04d" % i for i in range(n)]
    long_mids = set(mids[1::2])
    for mid in mids:
        h.sender.produce(t.base, email_request(mid, org, delay_ms=long_ms if mid in long_mids
                                               else short_ms), key=mid)
    h.sender.flush()
    log = h.send_log("grace")
    w = h.worker("grace", h.worker_env(t, send_log=log, MAX_IN_FLIGHT=2 * n,
                                       MAX_IN_FLIGHT_PER_PARTITION=n, DRAIN_GRACE_MS=1000))
    st = h.status_reader(t)
    w.start()

    # Every request reserved (SENDING) and at the provider, before any short one is back.
    deadline = time.time() + 60
    while h.db.q("SELECT count(*) AS n FROM delivery_ledger WHERE org_id = %s AND state ="
                 " 'SENDING'", (org,))[0]["n"] < n:
        check(w.alive(), "the worker exited:\n" + w.tail())
        if time.time() > deadline:
            raise CheckFailed("the requests were not all reserved within 60 s")
        time.sleep(0.02)
    check_eq(len(log.lines()), 0, "sends before the ledger rows were locked (the setup is too "
             "slow for this test)")
    import psycopg2
    locker = psycopg2.connect(h.env.database_url)
    try:
        locker.cursor().execute("SELECT 1 FROM delivery_ledger WHERE org_id = %s FOR UPDATE",
                                (org,))
        wait_lines(log, n // 2, [w], timeout=30)
        time.sleep(0.3)
        stop_ms = now_ms()
        w.term()
        time.sleep(3)  # past the grace: the worker is shutting down, blocked on the lock
    finally:
        locker.rollback()
        locker.close()
    check_eq(w.wait(60), 0, "exit code after SIGTERM")
    check(any(l.get("msg", "").startswith("not every in-flight message finished") for l in w.log()),
          "the drain finished within DRAIN_GRACE_MS: the premise of this test did not hold")
    w.start()
    wait_all_final(st, mids, [w], timeout=90)
    settle(st)
    check_eq(w.stop(), 0, "exit code after the final SIGTERM")

    by = st.by_mid()
    counts = log.counts()
    check_eq(sorted(set(mids) - set(counts))[:10], [], "requests never sent")
    check(all(c <= 2 for c in counts.values()), "a request was sent more than twice")
    twice = sorted(m for m, c in counts.items() if c > 1)
    finished = {m for m in mids if any(parse_time_ms(e["occurred_at"]) < stop_ms for e in by[m])}
    check_eq([m for m in twice if m in finished], [],
             "requests sent twice although their outcome was published before the stop")
    for m in mids:
        statuses = [e["status"] for e in by[m]]
        check(statuses.count("SENT") == 1 and set(statuses) <= {"SENT", "DUPLICATE"},
              "events of %s: %s" % (m, statuses))
    print("  %d requests; %d finished before the stop; sent again (unrecorded at the stop) %d"
          % (n, len(finished), len(twice)))


def test_sigterm_during_start(h):
    """A SIGTERM that comes while the worker is still starting (connecting, joining the
    group) stops it cleanly too: exit code 0, and the group is free for the next one."""
    t, org, mids = setup_scenario(h, "early", 50)
    log = h.send_log("early")
    w = h.worker("early", worker_env(h, t, log))
    rcs = []
    # The first tenths of a second hold the group join, where librdkafka 2.0.2 aborted in
    # rd_kafka_destroy() for a member that had joined but had no assignment yet (see
    # kafka_consumer_destroy()): several stops land there.
    delays = (0, 0, 0.02, 0.05, 0.1, 0.2, 0.3, 1.0)
    for delay in delays:
        w.start()
        # Past the process's own start (a process killed before main() has joined nothing):
        # its threads show that main() is setting up the database stage and Kafka clients.
        deadline = time.time() + 30
        while w.threads() < 2 and w.alive() and time.time() < deadline:
            time.sleep(0.001)
        time.sleep(delay)
        w.term()
        rcs.append(w.wait(60))
    check_eq(rcs, [0] * len(rcs), "exit codes of SIGTERM %s s after the start-up began" %
             ", ".join("%g" % d for d in delays))
    st = h.status_reader(t)
    w.start()
    wait_all_final(st, mids, [w], timeout=60)
    settle(st, 0.5)
    check_eq(w.stop(), 0, "exit code of the last run")
    check_exactly_once(st, mids, log.lines(), "after the early stops")


def test_rebalance(h):
    # The uneven provider: there are sends at the provider whenever the partitions move,
    # so a revocation that does not wait for them would be caught.
    n = sizes(h) // 2
    t, org, mids = setup_scenario(h, "rebal", n, delay_ms=UNEVEN_DELAY_MS)
    log_a = h.send_log("rebal-a")
    log_b = h.send_log("rebal-b")
    a = h.worker("rebal-a", worker_env(h, t, log_a))
    b = h.worker("rebal-b", worker_env(h, t, log_b))
    st = h.status_reader(t)
    a.start()
    wait_lines(log_a, n // 5, [a])
    b.start()
    b.wait_assigned(1, 60)

    def total():
        return len(log_a.lines()) + len(log_b.lines())

    # The second replica leaves mid-way through its partitions.
    wait_lines(log_b, n // 8, [a, b])
    b_sent = len(log_b.lines())
    rc = b.stop(60)
    check_eq(rc, 0, "exit code of the replica that left")
    check(total() < n, "everything was sent before the replica left")
    wait_all_final(st, mids, [a])
    settle(st)
    check_eq(a.stop(), 0, "exit code of the replica that stayed")
    check_exactly_once(st, mids, log_a.lines() + log_b.lines(), "rebalance")
    check(b_sent > 0, "the second replica sent nothing")
    print("  %d requests; replica b sent %d, a %d" % (n, len(log_b.lines()), len(log_a.lines())))


if __name__ == "__main__":
    sys.exit(run([test_sigkill, test_sigterm, test_sigterm_drain_timeout, test_sigterm_during_start,
                  test_rebalance],
                 "pipeline_crash"))
