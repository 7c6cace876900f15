"""Quota across worker processes: three replicas (one consumer group) share one org's quota.

The org's email_rate_limit row allows Q = 40 messages per window; the replicas take tokens
from it in leases. The row's messages_sent_count is sampled all along and must never exceed
Q. Phases:

  1. 150 requests: exactly Q reach the provider (the send logs) and get SENT, the other 110
     get RETRY_SCHEDULED with QUOTA_EXCEEDED (copies on the largest tier, the window's reset
     being a day away); the row counts Q.
  2. Throttled (throttle_until an hour ahead) while the window has also ended (reset_at in
     the past): 20 requests get RETRY_SCHEDULED with RATE_LIMIT, none is sent, and the row
     is untouched (still Q: a throttled org does not even start its new window).
  3. Throttle lifted, window still ended: sends resume. 30 requests are all SENT and the new
     window counts them; the replicas then stop (SIGTERM, exit code 0) and hand back the
     tokens they leased but did not use, so the row counts exactly 30.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_harness import (CheckFailed, check, check_eq, email_request, run,  # noqa: E402
                              TIER_SUFFIXES)

Q = 40
REPLICAS = 3
PARTITIONS = 4
# Copies scheduled here never come back while the test runs.
RETRY_DELAYS_MS = "100000,200000,300000,400000"
# How long a replica reuses a refusal of the database (quota.h: recheck_ms) before asking
# again; the test waits longer than that after changing the row.
RECHECK_S = 1.5


class Sampler:
    """Samples the row's messages_sent_count while the test waits."""

    def __init__(self, h, org):
        self.h = h
        self.org = org
        self.max = 0
        self.samples = 0
        self.last = None

    def sample(self):
        row = self.h.db.email_quota(self.org)
        if row is not None:
            self.last = row["messages_sent_count"]
            self.max = max(self.max, self.last)
            self.samples += 1
        return self.last


def test_quota_shared_by_replicas(h):
    t = h.topics("quota", PARTITIONS)
    org = h.org("quota")
    h.db.add_email_org(org)
    h.db.set_email_quota(org, limit=Q)
    sampler = Sampler(h, org)
    logs = [h.send_log("quota-%d" % i) for i in range(REPLICAS)]
    workers = [h.worker("quota-%d" % i, h.worker_env(t, send_log=logs[i],
                                                     RETRY_DELAYS_MS=RETRY_DELAYS_MS)).start()
               for i in range(REPLICAS)]
    st = h.status_reader(t)
    tiers = h.reader(t.tiers)

    # The group settles: every partition of the five consumed topics held by someone.
    deadline = time.time() + 90
    while sum(w.assigned() for w in workers) != 5 * PARTITIONS or \
            any(w.assigned() == 0 for w in workers):
        for w in workers:
            check(w.alive(), "worker %s exited:\n%s" % (w.name, w.tail()))
        if time.time() > deadline:
            raise CheckFailed("the group did not settle: %s" % [w.assigned() for w in workers])
        time.sleep(0.2)

    def sends():
        out = []
        for lg in logs:
            out.extend(lg.lines())
        return out

    def wait_events(mids, what, timeout=90):
        deadline = time.time() + timeout
        while True:
            st.poll(0.05)
            sampler.sample()
            got = st.by_mid()
            if all(m in got for m in mids):
                return got
            for w in workers:
                check(w.alive(), "worker %s exited:\n%s" % (w.name, w.tail()))
            if time.time() > deadline:
                raise CheckFailed("%s: %d of %d requests have a status event after %ss" %
                                  (what, sum(1 for m in mids if m in got), len(mids), timeout))

    # Phase 1: more requests than quota.
    phase1 = ["p1-%03d" % i for i in range(150)]
    for mid in phase1:
        h.sender.produce(t.base, email_request(mid, org), key=mid)
    h.sender.flush()
    got = wait_events(phase1, "phase 1")
    time.sleep(0.5)  # a second event for any request would show up now
    st.poll(0.2)
    got = st.by_mid()
    sent = [m for m in phase1 if [e["status"] for e in got[m]] == ["SENT"]]
    refused = [m for m in phase1 if [(e["status"], e["error_code"]) for e in got[m]] ==
               [("RETRY_SCHEDULED", "QUOTA_EXCEEDED")]]
    check_eq((len(sent), len(refused)), (Q, 150 - Q),
             "phase 1: SENT and QUOTA_EXCEEDED requests (others: %s)" %
             sorted(set(phase1) - set(sent) - set(refused))[:5])
    for m in refused:
        e = got[m][0]
        check(e["retryable"] is True and e["attempt"] == 1, "phase 1: refusal of %s: %s" % (m, e))
    s1 = sends()
    check_eq(sorted(m for m, _, _ in s1), sorted(sent), "phase 1: sends in the logs")
    check(all(a == 1 and o == "OK" for _, a, o in s1), "phase 1: unexpected send lines")
    check_eq(sampler.sample(), Q, "phase 1: the row's count")
    tiers.until(lambda: len(tiers.records) >= 150 - Q, 30, "the refused requests' copies")
    check_eq(sorted({r.topic for r in tiers.records}), [t.base + TIER_SUFFIXES[3]],
             "phase 1: tier of the copies (the reset is a day away)")
    check_eq(len(tiers.records), 150 - Q, "phase 1: copies")
    per_worker = [len(lg.lines()) for lg in logs]
    print("  phase 1: sends per replica %s" % per_worker)

    # Phase 2: throttled, although the window has ended.
    h.db.q("UPDATE email_rate_limit SET throttle_until = now() + interval '1 hour',"
           " reset_at = now() - interval '1 second' WHERE org_id = %s", (org,))
    time.sleep(RECHECK_S)
    phase2 = ["p2-%03d" % i for i in range(20)]
    for mid in phase2:
        h.sender.produce(t.base, email_request(mid, org), key=mid)
    h.sender.flush()
    got = wait_events(phase2, "phase 2")
    for m in phase2:
        check_eq([(e["status"], e["error_code"]) for e in got[m]],
                 [("RETRY_SCHEDULED", "RATE_LIMIT")], "phase 2: events of " + m)
    check_eq(len(sends()), Q, "phase 2: sends while throttled")
    check_eq(sampler.sample(), Q, "phase 2: the row's count while throttled")

    # Phase 3: the throttle is lifted; the ended window restarts at the next lease.
    h.db.q("UPDATE email_rate_limit SET throttle_until = NULL WHERE org_id = %s", (org,))
    time.sleep(RECHECK_S)
    phase3 = ["p3-%03d" % i for i in range(30)]
    for mid in phase3:
        h.sender.produce(t.base, email_request(mid, org), key=mid)
    h.sender.flush()
    got = wait_events(phase3, "phase 3")
    for m in phase3:
        check_eq([e["status"] for e in got[m]], ["SENT"], "phase 3: events of " + m)
    s3 = [l for l in sends() if l[0].startswith("p3-")]
    check_eq(sorted(m for m, _, _ in s3), sorted(phase3), "phase 3: sends")
    before_stop = sampler.sample()
    check(30 <= before_stop <= Q, "phase 3: the row counts %s before the stop" % before_stop)

    rcs = []
    for w in workers:
        w.term()
    for w in workers:
        rcs.append(w.wait(90))
    check_eq(rcs, [0] * REPLICAS, "exit codes after SIGTERM")
    check_eq(sampler.sample(), 30, "the row's count once the replicas handed back their leases "
             "(%d before the stop)" % before_stop)
    check(sampler.max <= Q, "the row counted %d > Q = %d" % (sampler.max, Q))
    check_eq(len(sends()), Q + 30, "sends in all")
    print("  %d samples of the row, highest %d; %d before the stop, 30 after" %
          (sampler.samples, sampler.max, before_stop))


if __name__ == "__main__":
    sys.exit(run([test_quota_shared_by_replicas], "pipeline_quota"))
