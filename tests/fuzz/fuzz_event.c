/*
 * Status events (event.h) as consumers read them. An event that parses must serialize
 * (every rule is checked both ways) and parse back to the same fields.
 */
#include "event.h"
#include "fuzz.h"

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    event_t ev;
    char err[256];
    memset(&ev, 0, sizeof ev);
    if (event_parse((const char *)data, size, &ev, err, sizeof err) != 0) {
        event_clear(&ev);
        return 0;
    }
    FUZZ_CHECK(event_status_allowed(ev.status, ev.source));
    FUZZ_CHECK((ev.next_attempt_at != EVENT_TIME_NULL) ==
               (ev.status == EVENT_STATUS_RETRY_SCHEDULED));
    char *text = event_serialize(&ev, err, sizeof err);
    if (text == NULL) {
        fprintf(stderr, "parsed event does not serialize: %s\n", err);
        abort();
    }
    event_t back;
    memset(&back, 0, sizeof back);
    FUZZ_CHECK(event_parse(text, strlen(text), &back, err, sizeof err) == 0);
    FUZZ_CHECK(strcmp(ev.event_id, back.event_id) == 0);
    FUZZ_CHECK(same(ev.message_id, back.message_id) && same(ev.org_id, back.org_id));
    FUZZ_CHECK(ev.channel == back.channel && ev.provider == back.provider);
    FUZZ_CHECK(ev.status == back.status && ev.attempt == back.attempt);
    FUZZ_CHECK(same(ev.provider_message_id, back.provider_message_id));
    FUZZ_CHECK(same(ev.error_code, back.error_code));
    FUZZ_CHECK(ev.retryable == back.retryable && ev.source == back.source);
    FUZZ_CHECK(ev.next_attempt_at == back.next_attempt_at);
    FUZZ_CHECK(ev.occurred_at == back.occurred_at && ev.segments == back.segments);
    FUZZ_CHECK((ev.metadata == NULL) == (back.metadata == NULL));
    event_clear(&back);
    free(text);
    event_clear(&ev);
    return 0;
}
