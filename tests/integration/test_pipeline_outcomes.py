"""Every outcome path of the delivery pipeline, through a real worker process.

One email worker and one Twilio worker (test-worker with the scripted provider) run against
their own topics; the requests of every case are produced up front so the cases wait in
parallel, then each case checks, exactly:

  - the status events of its request, in order, with every contract field (event_id a
    UUID, occurred_at RFC 3339 with milliseconds, source worker, channel and provider,
    attempt, metadata echoed verbatim, error_code / error_message / retryable, and on
    RETRY_SCHEDULED a next_attempt_at equal to the retry copy's x-not-before);
  - the retry-tier and DLQ copies: on which topic, the value and key untouched, and the
    pipeline headers x-attempt, x-not-before, x-original-topic/-partition/-offset and
    x-last-error-code (and no others);
  - what reached the provider (the scripted provider's send log), the ledger row, and the
    quota row where the case is about quota.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline_harness import (  # noqa: E402
    CheckFailed, canonical, check, check_eq, check_event_shape, email_request, now_ms,
    parse_time_ms, run, twilio_request)

# Tier delays, shrunk. The gaps between them leave room for the wait-based tier choices:
# a 5000 ms throttle or quota wait lands on the third tier (6000 ms) as long as it is
# decided within 3 s.
DELAYS = [1000, 2000, 6000, 7000]
RETRY_DELAYS_MS = ",".join(str(d) for d in DELAYS)
WAIT_MS = 5000
WAIT_TIER = 2
TIMEOUT = 60

METADATA = {
    "tenant": "t-1",
    "count": 1,
    "ratio": 1.5,
    "nested": {"list": [1, "two", None, True, {"deep": "é ✓"}], "empty": {}},
    "flag": False,
}


class Ctx:
    pass


def pump(ctx):
    ctx.status.poll(0.05)
    ctx.copies.poll(0.05)
    ctx.sms_status.poll(0.05)
    ctx.sms_copies.poll(0.05)


def wait(ctx, pred, what, timeout=TIMEOUT):
    deadline = time.time() + timeout
    while not pred():
        for w in (ctx.email, ctx.sms):
            check(w.alive(), "worker %s exited (%s):\n%s" % (w.name, w.proc.poll(), w.tail()))
        if time.time() > deadline:
            raise CheckFailed("timed out after %ss waiting for %s" % (timeout, what))
        pump(ctx)


def events_of(ctx, mid, n, sms=False, timeout=TIMEOUT):
    """Waits for the first n status events of `mid` and returns them in order."""
    st = ctx.sms_status if sms else ctx.status
    wait(ctx, lambda: len(st.events(mid)) >= n,
         "%d status events of %s (have %s)" % (n, mid, [e["status"] for e in st.events(mid)]),
         timeout)
    return st.events(mid)[:n]


def copies_of(ctx, key, n, sms=False, timeout=TIMEOUT):
    rd = ctx.sms_copies if sms else ctx.copies
    wait(ctx, lambda: len([r for r in rd.records if r.key == key]) >= n,
         "%d retry/DLQ copies with key %r" % (n, key), timeout)
    return [r for r in rd.records if r.key == key]


def copy_of(ctx, key, sms=False):
    """The one retry or DLQ copy of a request."""
    recs = copies_of(ctx, key, 1, sms)
    check_eq([(r.topic, r.headers.get("x-attempt")) for r in recs][1:], [],
             "further copies with key %r after the first" % key)
    return recs[0]


def check_event(ev, req, status, attempt, what, channel="email", provider="SMTP",
                produced_ms=None):
    """The fields every worker event of a readable request has."""
    check_event_shape(ev, what)
    check_eq(ev["status"], status, what + ": status")
    check_eq(ev["attempt"], attempt, what + ": attempt")
    check_eq(ev["message_id"], req["message_id"], what + ": message_id")
    check_eq(ev["org_id"], req["org_id"], what + ": org_id")
    check_eq(ev["channel"], channel, what + ": channel")
    check_eq(ev["provider"], provider, what + ": provider")
    check_eq(canonical(ev["metadata"]), canonical(req.get("metadata")), what + ": metadata")
    if channel == "email":
        check_eq(ev["segments"], None, what + ": segments of an email")
    if produced_ms is not None:
        at = parse_time_ms(ev["occurred_at"])
        check(produced_ms - 1000 <= at <= now_ms() + 1000,
              "%s: occurred_at %s is not between the produce and now" % (what, ev["occurred_at"]))


def check_sent(ev, mid, attempt, what):
    check_eq(ev["provider_message_id"], "scripted-%s-%d" % (mid, attempt),
             what + ": provider_message_id")
    check_eq(ev["error_code"], None, what + ": error_code")
    check_eq(ev["error_message"], None, what + ": error_message")
    check_eq(ev["retryable"], False, what + ": retryable")


def check_error(ev, code, message, retryable, what, prefix=False):
    check_eq(ev["error_code"], code, what + ": error_code")
    if prefix:
        check(isinstance(ev["error_message"], str) and ev["error_message"].startswith(message),
              "%s: error_message %r does not start with %r" % (what, ev["error_message"],
                                                               message))
    else:
        check_eq(ev["error_message"], message, what + ": error_message")
    check_eq(ev["retryable"], retryable, what + ": retryable")
    check_eq(ev["provider_message_id"], None, what + ": provider_message_id")


def check_copy(rec, produced, topic, attempt, code, what, not_before=None):
    """A retry copy (not_before given) or a DLQ copy of the produced request."""
    check_eq(rec.topic, topic, what + ": topic")
    check_eq(rec.value, produced.value, what + ": value (must be untouched)")
    check_eq(rec.key, produced.key, what + ": key")
    names = [k for k, _ in rec.header_list]
    expected = {"x-attempt", "x-original-topic", "x-original-partition", "x-original-offset",
                "x-last-error-code"}
    if not_before is not None:
        expected.add("x-not-before")
    check_eq(sorted(names), sorted(expected), what + ": header names (each once)")
    hd = rec.headers
    check_eq(hd["x-attempt"], str(attempt), what + ": x-attempt")
    check_eq(hd["x-original-topic"], produced.topic, what + ": x-original-topic")
    check_eq(hd["x-original-partition"], str(produced.partition), what + ": x-original-partition")
    check_eq(hd["x-original-offset"], str(produced.offset), what + ": x-original-offset")
    check_eq(hd["x-last-error-code"], code, what + ": x-last-error-code")
    if not_before is not None:
        check_eq(hd["x-not-before"], str(not_before), what + ": x-not-before")


def check_retry(ev, rec, produced, topics, tier, attempt, code, what, delay=None):
    """A RETRY_SCHEDULED event and its copy: next_attempt_at is the copy's x-not-before,
    the copy is on `tier` for the next attempt; `delay` (when the tier was not chosen by a
    wait) is next_attempt_at - occurred_at."""
    next_at = parse_time_ms(ev["next_attempt_at"])
    at = parse_time_ms(ev["occurred_at"])
    if delay is not None:
        check_eq(next_at - at, delay, what + ": next_attempt_at - occurred_at")
    check_copy(rec, produced, topics.tiers[tier], attempt + 1, code, what + " copy", next_at)


def sends(log, mid):
    return [(a, o) for m, a, o in log.lines() if m == mid]


# --- setup: orgs, workers, and every case's requests --------------------------------------


def setup(h):
    ctx = Ctx()
    ctx.t = h.topics("outcomes")
    ctx.ts = h.topics("outcomes-sms")
    ctx.log = h.send_log("email")
    ctx.sms_log = h.send_log("sms")
    db = h.db

    ctx.org = h.org("acme")
    db.add_email_org(ctx.org)
    ctx.org_disabled = h.org("disabled")
    db.add_email_org(ctx.org_disabled, enabled=False)
    ctx.org_badsecret = h.org("badsecret")
    db.add_email_org(ctx.org_badsecret, secret_org=ctx.org)
    ctx.org_unknown = h.org("unknown")
    ctx.org_throttle = h.org("throttle")
    db.add_email_org(ctx.org_throttle)
    ctx.org_q0 = h.org("quota0")
    db.add_email_org(ctx.org_q0)
    db.set_email_quota(ctx.org_q0, limit=0)
    ctx.org_qreset = h.org("quotareset")
    db.add_email_org(ctx.org_qreset)
    ctx.org_sms = h.org("sms")
    db.add_twilio_org(ctx.org_sms)

    ctx.email = h.worker("email", h.worker_env(ctx.t, send_log=ctx.log,
                                               RETRY_DELAYS_MS=RETRY_DELAYS_MS)).start()
    ctx.sms = h.worker("twilio", h.worker_env(ctx.ts, channel="twilio", send_log=ctx.sms_log,
                                              RETRY_DELAYS_MS=RETRY_DELAYS_MS)).start()
    ctx.status = h.status_reader(ctx.t)
    ctx.copies = h.reader(ctx.t.tiers + [ctx.t.dlq])
    ctx.sms_status = h.status_reader(ctx.ts)
    ctx.sms_copies = h.reader(ctx.ts.tiers + [ctx.ts.dlq])
    # 4 partitions on each of 5 consumed topics.
    ctx.email.wait_assigned(20, 90)
    ctx.sms.wait_assigned(20, 90)

    ctx.req = {}
    ctx.prod = {}

    def produce(name, req, raw=None, sms=False):
        mid = req["message_id"] if req else name
        ctx.req[name] = req
        ctx.prod[name] = h.sender.produce((ctx.ts if sms else ctx.t).base,
                                          raw if raw is not None else req,
                                          key="key-%s" % mid)

    produce("sent", email_request("m-sent", ctx.org, metadata=METADATA))
    produce("retry_sent", email_request("m-retry-sent", ctx.org, script=["RETRY:SMTP_421", "OK"],
                                        metadata=METADATA))
    produce("exhaust", email_request("m-exhaust", ctx.org, script=["RETRY:SMTP_421"]))
    produce("permanent", email_request("m-permanent", ctx.org, script=["FAIL:SMTP_550"],
                                       metadata=METADATA))
    produce("dup_first", email_request("m-dup-1", ctx.org, idempotency_key="idem-dup"))
    produce("notjson", None, raw=b'{"message_id":')
    produce("bad_to", email_request("m-bad-to", ctx.org, metadata=METADATA,
                                    to="user@@example.com"))
    bad_subject = email_request("m-no-subject", ctx.org)
    del bad_subject["subject"]
    produce("no_subject", bad_subject)
    produce("unknown", email_request("m-unknown", ctx.org_unknown, metadata=METADATA))
    produce("disabled", email_request("m-disabled", ctx.org_disabled))
    produce("badsecret", email_request("m-badsecret", ctx.org_badsecret))
    produce("throttle", email_request("m-throttle", ctx.org_throttle,
                                      script=["THROTTLE:%d" % WAIT_MS, "OK"]))
    produce("quota0", email_request("m-quota0", ctx.org_q0, metadata=METADATA))

    produce("sms_sent", twilio_request("s-sent", ctx.org_sms, metadata=METADATA), sms=True)
    produce("sms_long", twilio_request("s-long", ctx.org_sms, body="a" * 161), sms=True)
    produce("sms_ucs2", twilio_request("s-ucs2", ctx.org_sms, body="Привет " * 10 + "!"),
            sms=True)
    produce("sms_retry", twilio_request("s-retry", ctx.org_sms,
                                        script=["RETRY:TWILIO_20429", "OK"]), sms=True)
    produce("sms_badphone", twilio_request("s-badphone", ctx.org_sms, to="0123"), sms=True)
    h.sender.flush()
    for name, p in ctx.prod.items():
        check(p.error is None and p.offset is not None,
              "produce of %s failed: %s" % (name, p.error))
    return ctx


# --- the cases ----------------------------------------------------------------------------


def test_sent(h, ctx):
    req, p = ctx.req["sent"], ctx.prod["sent"]
    (ev,) = events_of(ctx, "m-sent", 1)
    check_event(ev, req, "SENT", 1, "SENT", produced_ms=p.produced_ms)
    check_sent(ev, "m-sent", 1, "SENT")
    check_eq(sends(ctx.log, "m-sent"), [(1, "OK")], "sends of m-sent")
    row = h.db.ledger_row(ctx.org, "m-sent")
    check(row is not None, "no ledger row for m-sent")
    check_eq((row["state"], row["message_id"], row["provider"], row["provider_message_id"],
              row["attempts"]), ("SENT", "m-sent", "SMTP", "scripted-m-sent-1", 1), "ledger row")


def test_retry_then_sent(h, ctx):
    req, p = ctx.req["retry_sent"], ctx.prod["retry_sent"]
    evs = events_of(ctx, "m-retry-sent", 2)
    check_eq([e["status"] for e in evs], ["RETRY_SCHEDULED", "SENT"], "statuses")
    check_event(evs[0], req, "RETRY_SCHEDULED", 1, "RETRY", produced_ms=p.produced_ms)
    check_error(evs[0], "SMTP_421", "scripted retryable failure on attempt 1", True, "RETRY")
    copy = copy_of(ctx, p.key)
    check_retry(evs[0], copy, p, ctx.t, 0, 1, "SMTP_421", "RETRY", delay=DELAYS[0])
    check_event(evs[1], req, "SENT", 2, "SENT on attempt 2")
    check_sent(evs[1], "m-retry-sent", 2, "SENT on attempt 2")
    check(parse_time_ms(evs[1]["occurred_at"]) >= parse_time_ms(evs[0]["next_attempt_at"]),
          "attempt 2 decided before its copy was due")
    check_eq(sends(ctx.log, "m-retry-sent"), [(1, "SMTP_421"), (2, "OK")], "sends")
    row = h.db.ledger_row(ctx.org, "m-retry-sent")
    check_eq((row["state"], row["attempts"], row["provider_message_id"], row["last_error_code"]),
             ("SENT", 2, "scripted-m-retry-sent-2", "SMTP_421"), "ledger row")


def test_retryable_on_every_attempt(h, ctx):
    req, p = ctx.req["exhaust"], ctx.prod["exhaust"]
    evs = events_of(ctx, "m-exhaust", 5, timeout=TIMEOUT + sum(DELAYS) / 1000)
    check_eq([e["status"] for e in evs], ["RETRY_SCHEDULED"] * 4 + ["FAILED"], "statuses")
    copies = copies_of(ctx, p.key, 5)
    check_eq([c.topic for c in copies], ctx.t.tiers + [ctx.t.dlq],
             "copies: the four tiers in order, then the DLQ")
    for i in range(4):
        what = "attempt %d" % (i + 1)
        check_event(evs[i], req, "RETRY_SCHEDULED", i + 1, what)
        check_error(evs[i], "SMTP_421", "scripted retryable failure on attempt %d" % (i + 1), True,
                    what)
        check_retry(evs[i], copies[i], p, ctx.t, i, i + 1, "SMTP_421", what, delay=DELAYS[i])
        check(parse_time_ms(evs[i + 1]["occurred_at"]) >= parse_time_ms(evs[i]["next_attempt_at"]),
              "attempt %d decided before its copy was due" % (i + 2))
    check_event(evs[4], req, "FAILED", 5, "attempt 5")
    check_error(evs[4], "SMTP_421", "scripted retryable failure on attempt 5", True, "attempt 5")
    check_copy(copies[4], p, ctx.t.dlq, 5, "SMTP_421", "DLQ copy")
    check_eq(sends(ctx.log, "m-exhaust"), [(a, "SMTP_421") for a in range(1, 6)], "sends")
    row = h.db.ledger_row(ctx.org, "m-exhaust")
    check_eq((row["state"], row["attempts"], row["last_error_code"]), ("FAILED", 5, "SMTP_421"),
             "ledger row")


def test_permanent_failure(h, ctx):
    req, p = ctx.req["permanent"], ctx.prod["permanent"]
    (ev,) = events_of(ctx, "m-permanent", 1)
    check_event(ev, req, "FAILED", 1, "FAILED", produced_ms=p.produced_ms)
    check_error(ev, "SMTP_550", "scripted failure on attempt 1", False, "FAILED")
    copy = copy_of(ctx, p.key)
    check_copy(copy, p, ctx.t.dlq, 1, "SMTP_550", "DLQ copy")
    check_eq(sends(ctx.log, "m-permanent"), [(1, "SMTP_550")], "sends")
    row = h.db.ledger_row(ctx.org, "m-permanent")
    check_eq((row["state"], row["last_error_code"]), ("FAILED", "SMTP_550"), "ledger row")


def test_duplicate(h, ctx):
    first = events_of(ctx, "m-dup-1", 1)[0]
    check_eq(first["status"], "SENT", "first request")
    req = email_request("m-dup-2", ctx.org, idempotency_key="idem-dup", metadata={"second": True})
    p = h.sender.produce(ctx.t.base, req, key="key-m-dup-2")
    h.sender.flush()
    (ev,) = events_of(ctx, "m-dup-2", 1)
    check_event(ev, req, "DUPLICATE", 1, "DUPLICATE", produced_ms=p.produced_ms)
    check_eq(ev["provider_message_id"], "scripted-m-dup-1-1",
             "DUPLICATE: provider_message_id of the first send")
    check_eq((ev["error_code"], ev["error_message"], ev["retryable"]), (None, None, False),
             "DUPLICATE: error fields")
    check_eq(sends(ctx.log, "m-dup-1"), [(1, "OK")], "sends of the first request")
    check_eq(sends(ctx.log, "m-dup-2"), [], "sends of the duplicate")
    row = h.db.ledger_row(ctx.org, "idem-dup")
    check_eq((row["state"], row["message_id"], row["provider_message_id"]),
             ("SENT", "m-dup-1", "scripted-m-dup-1-1"), "ledger row keeps the first send")
    check_eq([r for r in ctx.copies.records if r.key == p.key], [], "copies of the duplicate")


def test_not_json(h, ctx):
    p = ctx.prod["notjson"]
    wait(ctx, lambda: any(e.get("message_id") is None for e in ctx.status.events()),
         "the event of the unreadable request")
    evs = [e for e in ctx.status.events() if e.get("message_id") is None]
    check_eq(len(evs), 1, "events without a message_id")
    ev = evs[0]
    check_event_shape(ev, "unreadable")
    check_eq((ev["status"], ev["attempt"], ev["org_id"], ev["metadata"], ev["channel"],
              ev["provider"]), ("FAILED", 1, None, None, "email", "SMTP"), "unreadable: fields")
    check_error(ev, "INVALID_REQUEST", "INVALID_REQUEST: value: not valid JSON (unexpected end of "
                "data)", False, "unreadable")
    copy = copy_of(ctx, p.key)
    check_copy(copy, p, ctx.t.dlq, 1, "INVALID_REQUEST", "DLQ copy")
    key = [r.key for r in ctx.status.records if r.event is ev]
    check_eq(key, [None], "status event key of a request without message_id")


def test_invalid_field(h, ctx):
    for name, mid, code, message in [
        ("bad_to", "m-bad-to", "INVALID_EMAIL",
         "INVALID_EMAIL: to: domain may contain only letters, digits, '-' and '.'"),
        ("no_subject", "m-no-subject", "INVALID_REQUEST", "INVALID_REQUEST: subject: required"),
    ]:
        req, p = ctx.req[name], ctx.prod[name]
        (ev,) = events_of(ctx, mid, 1)
        check_event(ev, req, "FAILED", 1, name, produced_ms=p.produced_ms)
        check_error(ev, code, message, False, name)
        copy = copy_of(ctx, p.key)
        check_copy(copy, p, ctx.t.dlq, 1, code, name + " DLQ copy")
        check_eq(sends(ctx.log, mid), [], "sends of " + mid)
        check_eq(h.db.ledger_row(ctx.org, mid), None, "ledger row of " + mid)


def test_config_outcomes(h, ctx):
    cases = [
        ("unknown", "m-unknown", ctx.org_unknown, "UNKNOWN_ORG",
         "org %s has no email provider config" % ctx.org_unknown, False),
        ("disabled", "m-disabled", ctx.org_disabled, "PROVIDER_DISABLED",
         "email_provider_config of org %s is disabled" % ctx.org_disabled, False),
        ("badsecret", "m-badsecret", ctx.org_badsecret, "CONFIG_ERROR",
         "email_provider_config.smtp_password_encrypted for org %s does not decrypt"
         % ctx.org_badsecret, True),
    ]
    for name, mid, org, code, message, prefix in cases:
        req, p = ctx.req[name], ctx.prod[name]
        (ev,) = events_of(ctx, mid, 1)
        check_event(ev, req, "FAILED", 1, name, produced_ms=p.produced_ms)
        check_error(ev, code, message, False, name, prefix=prefix)
        check("smtp-secret" not in ev["error_message"] and "v1:" not in ev["error_message"],
              name + ": the error message shows the secret: " + ev["error_message"])
        copy = copy_of(ctx, p.key)
        check_copy(copy, p, ctx.t.dlq, 1, code, name + " DLQ copy")
        check_eq(sends(ctx.log, mid), [], "sends of " + mid)
        check_eq(h.db.ledger_row(org, mid), None, "ledger row of " + mid)


def expected_tier(wait_ms):
    for i, d in enumerate(DELAYS):
        if d >= wait_ms:
            return i
    return len(DELAYS) - 1


def test_throttle(h, ctx):
    req, p = ctx.req["throttle"], ctx.prod["throttle"]
    (ev,) = events_of(ctx, "m-throttle", 1)
    check_event(ev, req, "RETRY_SCHEDULED", 1, "THROTTLE", produced_ms=p.produced_ms)
    check_error(ev, "RATE_LIMIT", "scripted throttling", True, "THROTTLE")
    copy = copy_of(ctx, p.key)
    check_retry(ev, copy, p, ctx.t, WAIT_TIER, 1, "RATE_LIMIT", "THROTTLE")
    row = h.db.email_quota(ctx.org_throttle)
    throttle_ms = int(row["throttle_ms"])
    at = parse_time_ms(ev["occurred_at"])
    check(at - 2000 <= throttle_ms - WAIT_MS <= at,
          "throttle_until %d is not the provider's %d ms from the send (decided %d)"
          % (throttle_ms, WAIT_MS, at))
    check_eq(row["messages_sent_count"], 1, "quota count after the throttled send (lease back)")

    # While throttled, another request of the org fails at once, consuming nothing.
    req2 = email_request("m-throttled-2", ctx.org_throttle)
    p2 = h.sender.produce(ctx.t.base, req2, key="key-m-throttled-2")
    h.sender.flush()
    (ev2,) = events_of(ctx, "m-throttled-2", 1)
    at2 = parse_time_ms(ev2["occurred_at"])
    check(at2 < throttle_ms - DELAYS[WAIT_TIER - 1],
          "the second request came too late for this check (%d ms before the throttle ends)"
          % (throttle_ms - at2))
    check_event(ev2, req2, "RETRY_SCHEDULED", 1, "while throttled", produced_ms=p2.produced_ms)
    check_error(ev2, "RATE_LIMIT", "the provider throttled this organisation; waiting", True,
                "while throttled")
    copy2 = copy_of(ctx, p2.key)
    check_retry(ev2, copy2, p2, ctx.t, WAIT_TIER, 1, "RATE_LIMIT", "while throttled")
    check_eq(sends(ctx.log, "m-throttled-2"), [], "sends while throttled")
    check_eq(h.db.email_quota(ctx.org_throttle)["messages_sent_count"], 1,
             "quota count while throttled")

    # After the throttle, the first request's copy is sent.
    evs = events_of(ctx, "m-throttle", 2)
    check_event(evs[1], req, "SENT", 2, "after the throttle")
    check(parse_time_ms(evs[1]["occurred_at"]) >= throttle_ms,
          "sent again before the throttle ended")
    check_eq(sends(ctx.log, "m-throttle"), [(1, "RATE_LIMIT"), (2, "OK")], "sends")


def test_quota_exhausted(h, ctx):
    req, p = ctx.req["quota0"], ctx.prod["quota0"]
    evs = events_of(ctx, "m-quota0", 2, timeout=TIMEOUT + DELAYS[3] / 1000)
    copies = copies_of(ctx, p.key, 2)
    for i in range(2):
        what = "quota attempt %d" % (i + 1)
        check_event(evs[i], req, "RETRY_SCHEDULED", i + 1, what)
        check_error(evs[i], "QUOTA_EXCEEDED", "the organisation's quota is used up until its reset",
                    True, what)
        # The window reset is a day away: the largest tier.
        check_retry(evs[i], copies[i], p, ctx.t, 3, i + 1, "QUOTA_EXCEEDED", what,
                    delay=DELAYS[3])
    check_eq(sends(ctx.log, "m-quota0"), [], "sends with no quota")
    check_eq(h.db.email_quota(ctx.org_q0)["messages_sent_count"], 0, "quota count")
    row = h.db.ledger_row(ctx.org_q0, "m-quota0")
    check_eq((row["state"], row["last_error_code"]), ("RESERVED", "QUOTA_EXCEEDED"), "ledger row")


def test_quota_reset(h, ctx):
    # Quota used up until a reset WAIT_MS from now: the copy goes to the smallest tier that
    # reaches the reset, and is sent after it, in the new window.
    h.db.set_email_quota(ctx.org_qreset, limit=1, count=1, reset_in_ms=WAIT_MS)
    reset_ms = int(h.db.email_quota(ctx.org_qreset)["reset_ms"])
    req = email_request("m-quota-reset", ctx.org_qreset, metadata=METADATA)
    p = h.sender.produce(ctx.t.base, req, key="key-m-quota-reset")
    h.sender.flush()
    evs = events_of(ctx, "m-quota-reset", 2)
    at = parse_time_ms(evs[0]["occurred_at"])
    check(reset_ms - at > DELAYS[WAIT_TIER - 1],
          "the request was decided too late for this check (%d ms before the reset)"
          % (reset_ms - at))
    check_event(evs[0], req, "RETRY_SCHEDULED", 1, "quota wait", produced_ms=p.produced_ms)
    check_error(evs[0], "QUOTA_EXCEEDED", "the organisation's quota is used up until its reset",
                True, "quota wait")
    copy = copy_of(ctx, p.key)
    check_eq(expected_tier(reset_ms - at), WAIT_TIER, "tier for the wait (test's own logic)")
    check_retry(evs[0], copy, p, ctx.t, WAIT_TIER, 1, "QUOTA_EXCEEDED", "quota wait")
    check_event(evs[1], req, "SENT", 2, "after the reset")
    check_sent(evs[1], "m-quota-reset", 2, "after the reset")
    check(parse_time_ms(evs[1]["occurred_at"]) >= reset_ms, "sent before the reset")
    check_eq(sends(ctx.log, "m-quota-reset"), [(2, "OK")], "sends")
    row = h.db.email_quota(ctx.org_qreset)
    check_eq(row["messages_sent_count"], 1, "quota count in the new window")
    check(int(row["reset_ms"]) > reset_ms + 86000 * 1000, "a new window was not opened")


def test_twilio(h, ctx):
    for name, mid, segments in [("sms_sent", "s-sent", 1), ("sms_long", "s-long", 2),
                                ("sms_ucs2", "s-ucs2", 2)]:
        req, p = ctx.req[name], ctx.prod[name]
        (ev,) = events_of(ctx, mid, 1, sms=True)
        check_event(ev, req, "SENT", 1, name, channel="sms", provider="TWILIO",
                    produced_ms=p.produced_ms)
        check_sent(ev, mid, 1, name)
        check_eq(ev["segments"], segments, name + ": segments")
        check_eq(sends(ctx.sms_log, mid), [(1, "OK")], "sends of " + mid)
        row = h.db.ledger_row(ctx.org_sms, mid, channel="sms")
        check_eq((row["state"], row["provider"], row["provider_message_id"]),
                 ("SENT", "TWILIO", "scripted-%s-1" % mid), "ledger row of " + mid)

    req, p = ctx.req["sms_retry"], ctx.prod["sms_retry"]
    evs = events_of(ctx, "s-retry", 2, sms=True)
    check_event(evs[0], req, "RETRY_SCHEDULED", 1, "sms retry", channel="sms",
                provider="TWILIO")
    check_error(evs[0], "TWILIO_20429", "scripted retryable failure on attempt 1", True,
                "sms retry")
    check_eq(evs[0]["segments"], 1, "sms retry: segments")
    copy = copy_of(ctx, p.key, sms=True)
    check_retry(evs[0], copy, p, ctx.ts, 0, 1, "TWILIO_20429", "sms retry", delay=DELAYS[0])
    check_event(evs[1], req, "SENT", 2, "sms retry sent", channel="sms", provider="TWILIO")
    check_eq(evs[1]["segments"], 1, "sms retry sent: segments")

    req, p = ctx.req["sms_badphone"], ctx.prod["sms_badphone"]
    (ev,) = events_of(ctx, "s-badphone", 1, sms=True)
    check_event(ev, req, "FAILED", 1, "bad phone", channel="sms", provider="TWILIO")
    check_error(ev, "INVALID_PHONE", "INVALID_PHONE: to: ", False, "bad phone", prefix=True)
    copy = copy_of(ctx, p.key, sms=True)
    check_copy(copy, p, ctx.ts.dlq, 1, "INVALID_PHONE", "bad phone DLQ copy")
    check_eq(sends(ctx.sms_log, "s-badphone"), [], "sends of a bad phone number")


def test_event_ids_unique(h, ctx):
    ids = [r.event["event_id"] for rd in (ctx.status, ctx.sms_status) for r in rd.records]
    check(len(ids) >= 30, "only %d events read" % len(ids))
    check_eq(len(set(ids)), len(ids), "distinct event_ids")


def test_no_unexpected_events(h, ctx):
    """Nothing was sent twice and no request got an event it should not have."""
    counts = ctx.log.counts()
    for mid, n in counts.items():
        attempts = [a for a, _ in sends(ctx.log, mid)]
        check_eq(len(set(attempts)), n, "sends of %s per attempt" % mid)
    for mid in ("m-sent", "m-permanent", "m-bad-to", "m-unknown", "m-disabled", "m-badsecret",
                "m-dup-2"):
        check_eq(len(ctx.status.events(mid)), 1, "events of " + mid)


def test_worker_stops_cleanly(h, ctx):
    for w in (ctx.email, ctx.sms):
        check(w.alive(), "worker %s died:\n%s" % (w.name, w.tail()))
        check_eq(w.stop(), 0, "exit code of %s after SIGTERM" % w.name)


CASES = [test_sent, test_retry_then_sent, test_permanent_failure, test_duplicate, test_not_json,
         test_invalid_field, test_config_outcomes, test_twilio, test_throttle, test_quota_reset,
         test_quota_exhausted, test_retryable_on_every_attempt, test_event_ids_unique,
         test_no_unexpected_events, test_worker_stops_cleanly]

if __name__ == "__main__":
    sys.exit(run(CASES, "pipeline_outcomes", setup))
