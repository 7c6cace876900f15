"""The demo's traffic: produces a mix of send requests for the demo organisations, follows
delivery.status while they are delivered (a progress line every second or two), and ends
with a summary of what delivery.status says, per channel and provider. Exits 1 when a
request did not end the way it was meant to (or did not end before the timeout).

    traffic.py --orgs ORG_A,ORG_B --unknown-org ORG --run RUNID [--timeout S]

Environment: KAFKA_BOOTSTRAP_SERVERS; TOPIC_* overrides as the binaries read them.
"""
import argparse
import collections
import json
import os
import sys
import time

from confluent_kafka import Consumer, Producer

TOPIC_EMAIL = os.environ.get("TOPIC_EMAIL", "outbound.email")
TOPIC_TWILIO = os.environ.get("TOPIC_SMS_TWILIO", "outbound.sms.twilio")
TOPIC_SNS = os.environ.get("TOPIC_SMS_SNS", "outbound.sms.sns")
TOPIC_STATUS = os.environ.get("TOPIC_STATUS", "delivery.status")

# Phone numbers the demo's twilio-sim rules treat specially (scripts/demo sets the rules).
TWILIO_REJECTED = "+15005550001"     # Twilio's magic "invalid To" number: 400, 21211
TWILIO_FLAKY = "+14155550170"        # answered 500 twice per org, then accepted
TWILIO_UNDELIVERED = "+14155550180"  # accepted, the callbacks end in undelivered (30003)
EMAIL_GREYLISTED = "greylisted@customers.example"  # the mailbox answers 451 once
EMAIL_REJECTED = "nobody@customers.example"        # the mailbox answers 550 5.1.1

CHANNELS = [("email", "SMTP"), ("sms", "TWILIO"), ("sms", "AWS_SNS")]

WORKER_FINAL = {"SENT", "FAILED", "DUPLICATE"}
WEBHOOK_FINAL = {"DELIVERED", "UNDELIVERED", "FAILED", "BOUNCED"}


class Request:
    def __init__(self, topic, provider, value, expect, why):
        self.topic = topic
        self.provider = provider
        self.value = value
        self.mid = value["message_id"]
        # expect: ("SENT", None), ("DELIVERED", None), ("UNDELIVERED", code),
        #         ("FAILED", code or None)
        self.expect = expect
        self.why = why
        self.events = []

    def worker_final(self):
        for e in self.events:
            if e["source"] == "worker" and e["status"] in WORKER_FINAL:
                return e
        return None

    def webhook_final(self):
        for e in self.events:
            if e["source"] == "webhook" and e["status"] in WEBHOOK_FINAL:
                return e
        return None

    def done(self):
        w = self.worker_final()
        if w is None:
            return False
        if self.provider == "TWILIO" and w["status"] == "SENT":
            return self.webhook_final() is not None
        return True

    def outcome(self):
        w = self.worker_final()
        if w is None:
            return ("PENDING", None)
        if self.provider == "TWILIO" and w["status"] == "SENT":
            h = self.webhook_final()
            if h is None:
                return ("SENT", None)
            return (h["status"], h.get("error_code"))
        return (w["status"], w.get("error_code"))

    def retries(self):
        return sum(1 for e in self.events if e["status"] == "RETRY_SCHEDULED")

    def ok(self):
        got = self.outcome()
        if self.expect[0] != got[0]:
            return False
        return self.expect[1] is None or self.expect[1] == got[1]


def build(orgs, unknown_org, run):
    reqs = []
    n = collections.Counter()

    def mid(kind):
        n[kind] += 1
        return "demo-%s-%s-%03d" % (run, kind, n[kind])

    def email(org, to, expect, why, cc=None, subject=None):
        m = mid("email")
        payload = {
            "htmlBody": "<html><body><h1>Your order has shipped</h1><p>Hello,</p>"
                        "<p>order <b>%s</b> is on its way. Track it "
                        "<a href=\"https://shop.example/track/%s\">here</a>.</p>"
                        "<p>Regards,<br>The %s team</p></body></html>" % (m[-3:], m[-3:], org),
            "textBody": "Hello,\n\norder %s is on its way: https://shop.example/track/%s\n\n"
                        "Regards,\nThe %s team\n" % (m[-3:], m[-3:], org),
        }
        if cc:
            payload["cc"] = cc
        reqs.append(Request(TOPIC_EMAIL, "SMTP", {
            "message_id": m, "org_id": org, "to": to,
            "subject": subject or "Your order %s has shipped" % m[-3:],
            "payload": payload, "metadata": {"demo": run, "case": why}}, expect, why))

    def twilio(org, to, expect, why, body=None):
        m = mid("twilio")
        reqs.append(Request(TOPIC_TWILIO, "TWILIO", {
            "message_id": m, "org_id": org, "to": to,
            "payload": {"body": body or "Your verification code is %s" % m[-3:].rjust(6, "4")},
            "metadata": {"demo": run, "case": why}}, expect, why))

    def sns(org, to, expect, why, body=None):
        m = mid("sns")
        reqs.append(Request(TOPIC_SNS, "AWS_SNS", {
            "message_id": m, "org_id": org, "to": to,
            "payload": {"body": body or "Your appointment is tomorrow at 10:00 (ref %s)"
                        % m[-3:], "smsType": "Transactional"},
            "metadata": {"demo": run, "case": why}}, expect, why))

    for i, org in enumerate(orgs):
        for k in range(6):
            email(org, "customer%d.%d@customers.example" % (i, k), ("SENT", None), "valid")
        email(org, "team%d@customers.example" % i, ("SENT", None), "valid, with cc",
              cc=["manager%d@customers.example" % i, "audit%d@customers.example" % i])
        email(org, "billing%d@customers.example" % i, ("SENT", None), "valid, with cc",
              cc="accounts%d@customers.example" % i, subject="Facture n° %d — reçu" % (100 + i))
        for k in range(6):
            twilio(org, "+1415555%04d" % (100 + 10 * i + k), ("DELIVERED", None), "valid")
        twilio(org, "+44 7700 900%03d" % (100 + i), ("DELIVERED", None), "valid, national format",
               body="Ihr Code lautet 4711 — gültig für 10 Minuten")
        for k in range(5):
            sns(org, "+1415555%04d" % (300 + 10 * i + k), ("SENT", None), "valid")
        sns(org, "+33 6 12 34 56 %02d" % (10 + i), ("SENT", None), "valid, national format")
    a, b = orgs[0], orgs[1]
    # Fail permanently.
    email(a, "not-an-address", ("FAILED", None), "invalid address")
    email(b, EMAIL_REJECTED, ("FAILED", "RECIPIENT_REJECTED"), "mailbox rejects it")
    email(unknown_org, "someone@customers.example", ("FAILED", "UNKNOWN_ORG"), "unknown org")
    twilio(a, TWILIO_REJECTED, ("FAILED", "TWILIO_21211"), "number Twilio rejects")
    twilio(b, TWILIO_REJECTED, ("FAILED", "TWILIO_21211"), "number Twilio rejects")
    twilio(unknown_org, "+14155550190", ("FAILED", "UNKNOWN_ORG"), "unknown org")
    sns(a, "12", ("FAILED", "INVALID_PHONE"), "invalid phone number")
    sns(unknown_org, "+14155550191", ("FAILED", "UNKNOWN_ORG"), "unknown org")
    # Retried, then delivered.
    email(a, EMAIL_GREYLISTED, ("SENT", None), "greylisted once (451), retried")
    twilio(a, TWILIO_FLAKY, ("DELIVERED", None), "simulator answers 500 twice, retried")
    twilio(b, TWILIO_FLAKY, ("DELIVERED", None), "simulator answers 500 twice, retried")
    # Accepted by the provider, not delivered to the handset.
    twilio(b, TWILIO_UNDELIVERED, ("UNDELIVERED", "TWILIO_30003"), "handset unreachable")
    return reqs


def fmt_codes(counter):
    return ", ".join("%s×%d" % (c, k) for c, k in sorted(counter.items())) or "-"


def summary(reqs, events_seen, elapsed):
    print()
    print("Summary, read back from %s (%d events, %.0f s)" % (TOPIC_STATUS, events_seen, elapsed))
    print()
    hdr = "%-15s %8s %6s %10s %12s %8s %8s %7s  %s" % (
        "channel/prov.", "requests", "sent", "delivered", "undelivered", "retried",
        "retries", "failed", "codes (failed, undelivered)")
    print(hdr)
    print("-" * len(hdr))
    for ch, prov in CHANNELS:
        rs = [r for r in reqs if r.provider == prov]
        sent = sum(1 for r in rs if any(e["status"] == "SENT" and e["source"] == "worker"
                                         for e in r.events))
        delivered = sum(1 for r in rs if r.outcome()[0] == "DELIVERED")
        undelivered = sum(1 for r in rs if r.outcome()[0] == "UNDELIVERED")
        retried = sum(1 for r in rs if r.retries())
        retries = sum(r.retries() for r in rs)
        failed = collections.Counter()
        for r in rs:
            st, code = r.outcome()
            if st in ("FAILED", "UNDELIVERED", "BOUNCED"):
                failed[code or "?"] += 1
        nfailed = sum(1 for r in rs if r.outcome()[0] == "FAILED")
        print("%-15s %8d %6d %10s %12s %8d %8d %7d  %s" % (
            "%s/%s" % (ch, prov), len(rs), sent,
            delivered if prov == "TWILIO" else "n/a", undelivered if prov == "TWILIO" else "n/a",
            retried, retries, nfailed, fmt_codes(failed)))
    print()
    print("sent: accepted by the provider (worker); delivered/undelivered: the provider's "
          "status callback\n(webhook-ingest); retried: requests with at least one "
          "RETRY_SCHEDULED; retries: those events.")
    retry_codes = collections.Counter(e.get("error_code") or "?" for r in reqs for e in r.events
                                      if e["status"] == "RETRY_SCHEDULED")
    print("retry causes: %s" % fmt_codes(retry_codes))
    print()
    bad = [r for r in reqs if not r.ok()]
    print("Every request against what it asked for: %d of %d as expected"
          % (len(reqs) - len(bad), len(reqs)))
    for r in bad:
        print("  UNEXPECTED %s (%s, %s): expected %s, got %s; events %s" % (
            r.mid, r.provider, r.why, "/".join(x for x in r.expect if x),
            "/".join(x for x in r.outcome() if x),
            [(e["source"], e["status"], e.get("error_code")) for e in r.events]))
    return not bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orgs", required=True)
    ap.add_argument("--unknown-org", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--timeout", type=float, default=90)
    args = ap.parse_args()
    orgs = args.orgs.split(",")
    kafka = os.environ["KAFKA_BOOTSTRAP_SERVERS"]

    reqs = build(orgs, args.unknown_org, args.run)
    by_mid = {r.mid: r for r in reqs}
    print("producing %d requests: %d email, %d Twilio SMS, %d SNS SMS" % (
        len(reqs), sum(r.provider == "SMTP" for r in reqs),
        sum(r.provider == "TWILIO" for r in reqs), sum(r.provider == "AWS_SNS" for r in reqs)),
        flush=True)

    consumer = Consumer({"bootstrap.servers": kafka, "group.id": "demo-summary-" + args.run,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([TOPIC_STATUS])
    producer = Producer({"bootstrap.servers": kafka, "enable.idempotence": True,
                         "linger.ms": 5})
    start = time.time()
    # Spread the requests over a few seconds, as an application would send them.
    spread = 4.0
    produced = 0
    events_seen = 0
    next_progress = start + 1.5
    while True:
        now = time.time()
        due = min(len(reqs), int(len(reqs) * (now - start) / spread) + 1)
        while produced < due:
            r = reqs[produced]
            producer.produce(r.topic, key=r.mid, value=json.dumps(r.value).encode())
            produced += 1
        producer.poll(0)
        msg = consumer.poll(0.2)
        while msg is not None:
            if not msg.error():
                try:
                    e = json.loads(msg.value())
                except ValueError:
                    e = {}
                r = by_mid.get(e.get("message_id"))
                if r is not None:
                    r.events.append(e)
                    events_seen += 1
            msg = consumer.poll(0)
        now = time.time()
        final = sum(1 for r in reqs if r.done())
        if now >= next_progress or (produced == len(reqs) and final == len(reqs)):
            next_progress = now + 1.5
            retrying = sum(1 for r in reqs if not r.done() and r.events
                           and r.events[-1]["status"] == "RETRY_SCHEDULED")
            awaiting = sum(1 for r in reqs if not r.done() and r.worker_final() is not None)
            st = collections.Counter(r.outcome()[0] for r in reqs if r.done())
            print("[%3.0fs] produced %d/%d | final %d | retrying %d | awaiting callback %d | "
                  "sent %d, delivered %d, undelivered %d, failed %d" % (
                      now - start, produced, len(reqs), final, retrying, awaiting,
                      st["SENT"], st["DELIVERED"], st["UNDELIVERED"], st["FAILED"]),
                  flush=True)
        if produced == len(reqs) and final == len(reqs):
            break
        if now - start > args.timeout:
            print("timed out after %.0f s with %d requests not final" %
                  (args.timeout, len(reqs) - final), flush=True)
            break
    producer.flush(10)
    # Late duplicates of webhook callbacks do not change the answer; read what is there.
    end = time.time() + 1.0
    while time.time() < end:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            e = json.loads(msg.value())
            r = by_mid.get(e.get("message_id"))
            if r is not None:
                r.events.append(e)
                events_seen += 1
    consumer.close()
    ok = summary(reqs, events_seen, time.time() - start)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
