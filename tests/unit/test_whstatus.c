/* The provider-status table of webhook-ingest: every provider status the references name
 * maps to a status webhook events may carry. */
#include "testutil.h"

#include "whstatus.h"

static void expect(whstatus_source_t source, const char *name, event_status_t want,
                   bool want_retryable)
{
    event_status_t got = EVENT_STATUS__COUNT;
    bool retryable = !want_retryable;
    CHECK_INT(whstatus_map(source, name, &got, &retryable), 0);
    if (got != want)
        fprintf(stderr, "  %s -> %s, expected %s\n", name,
                got < EVENT_STATUS__COUNT ? event_status_name(got) : "?", event_status_name(want));
    CHECK_INT(got, want);
    CHECK(retryable == want_retryable);
    CHECK(event_status_allowed(got, EVENT_SOURCE_WEBHOOK));
}

static void test_twilio(void)
{
    expect(WHSTATUS_TWILIO, "queued", EVENT_STATUS_QUEUED, false);
    expect(WHSTATUS_TWILIO, "accepted", EVENT_STATUS_QUEUED, false);
    expect(WHSTATUS_TWILIO, "sending", EVENT_STATUS_SENDING, false);
    expect(WHSTATUS_TWILIO, "sent", EVENT_STATUS_SENDING, false);
    expect(WHSTATUS_TWILIO, "delivered", EVENT_STATUS_DELIVERED, false);
    expect(WHSTATUS_TWILIO, "undelivered", EVENT_STATUS_UNDELIVERED, false);
    expect(WHSTATUS_TWILIO, "failed", EVENT_STATUS_FAILED, false);
    expect(WHSTATUS_TWILIO, "read", EVENT_STATUS_READ, false);
    expect(WHSTATUS_TWILIO, "canceled", EVENT_STATUS_FAILED, false);
}

static void test_sns_and_generic(void)
{
    expect(WHSTATUS_SNS, "SUCCESS", EVENT_STATUS_DELIVERED, false);
    expect(WHSTATUS_SNS, "FAILURE", EVENT_STATUS_FAILED, false);
    expect(WHSTATUS_GENERIC, "delivered", EVENT_STATUS_DELIVERED, false);
    expect(WHSTATUS_GENERIC, "bounced", EVENT_STATUS_BOUNCED, false);
    expect(WHSTATUS_GENERIC, "bounced/permanent", EVENT_STATUS_BOUNCED, false);
    expect(WHSTATUS_GENERIC, "bounced/transient", EVENT_STATUS_BOUNCED, true);
    expect(WHSTATUS_GENERIC, "complained", EVENT_STATUS_COMPLAINED, false);
    expect(WHSTATUS_GENERIC, "undelivered", EVENT_STATUS_UNDELIVERED, false);
    expect(WHSTATUS_GENERIC, "failed", EVENT_STATUS_FAILED, false);
}

static void test_unknown_names(void)
{
    event_status_t s;
    bool r;
    /* Case matters, and each source has only its own names. */
    CHECK_INT(whstatus_map(WHSTATUS_TWILIO, "Delivered", &s, &r), -1);
    CHECK_INT(whstatus_map(WHSTATUS_TWILIO, "SUCCESS", &s, &r), -1);
    CHECK_INT(whstatus_map(WHSTATUS_SNS, "success", &s, &r), -1);
    CHECK_INT(whstatus_map(WHSTATUS_GENERIC, "bounced/soft", &s, &r), -1);
    CHECK_INT(whstatus_map(WHSTATUS_GENERIC, "receiving", &s, &r), -1);
}

int main(void)
{
    TEST_RUN(test_twilio);
    TEST_RUN(test_sns_and_generic);
    TEST_RUN(test_unknown_names);
    return TEST_EXIT();
}
