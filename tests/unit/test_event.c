#include "event.h"
#include "redact.h"
#include "testutil.h"
#include "timefmt.h"

#include <json-c/json.h>
#include <stdlib.h>

/* The source tree: NOTIFY_SOURCE_DIR when set, else derived from this file's path, which
 * CMake passes to the compiler in full. */
static const char *source_dir(void)
{
    static char dir[4096];
    const char *env = getenv("NOTIFY_SOURCE_DIR");
    const char *suffix = "/tests/unit/test_event.c";
    const char *file = __FILE__; /* a pointer, so that clang sees no arithmetic on a literal */
    size_t flen = strlen(file), slen = strlen(suffix);

    if (env && env[0])
        return env;
    if (flen > slen && flen - slen < sizeof(dir) && strcmp(file + flen - slen, suffix) == 0) {
        memcpy(dir, file, flen - slen);
        dir[flen - slen] = '\0';
        return dir;
    }
    return ".";
}

/* A file of tests/data/events, without its final newline; malloc'd, NULL if unreadable. */
static char *read_data(const char *name)
{
    char path[4200];
    size_t cap = 1 << 16, len;
    char *buf;
    FILE *f;

    snprintf(path, sizeof(path), "%s/tests/data/events/%s", source_dir(), name);
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "  cannot read %s\n", path);
        return NULL;
    }
    buf = malloc(cap);
    if (buf == NULL)
        abort();
    len = fread(buf, 1, cap - 1, f);
    fclose(f);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    return buf;
}

/* 2026-11-27T04:21:59.123Z */
#define T0 1795753319123LL

/* The event of tests/data/events/worker-retry-sms.json, built by hand. */
static void retry_event(event_t *ev)
{
    event_init(ev, EVENT_SOURCE_WORKER);
    memcpy(ev->event_id, "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab", UUID4_TEXT_SIZE);
    ev->message_id = "s-1";
    ev->org_id = "acme";
    ev->channel = EVENT_CHANNEL_SMS;
    ev->provider = EVENT_PROVIDER_TWILIO;
    ev->status = EVENT_STATUS_RETRY_SCHEDULED;
    ev->attempt = 2;
    ev->error_code = "TWILIO_30003";
    ev->error_message = "Unreachable destination handset";
    ev->retryable = true;
    ev->next_attempt_at = T0 + 300000;
    ev->occurred_at = T0;
    ev->segments = 1;
    ev->metadata = "{\"user\": \"u-9\"}";
}

static void test_golden(void)
{
    event_t ev;
    char err[256] = "";
    char *want, *got;

    retry_event(&ev);
    got = event_serialize(&ev, err, sizeof(err));
    want = read_data("worker-retry-sms.json");
    REQUIRE(want != NULL);
    CHECK_STR(got, want);
    free(got);
    free(want);

    event_init(&ev, EVENT_SOURCE_WORKER);
    memcpy(ev.event_id, "0b7e4a52-9c1d-4f3e-a2b6-5d8c7e9f1a20", UUID4_TEXT_SIZE);
    ev.message_id = "m-1";
    ev.org_id = "acme";
    ev.channel = EVENT_CHANNEL_EMAIL;
    ev.provider = EVENT_PROVIDER_SMTP;
    ev.status = EVENT_STATUS_SENT;
    ev.provider_message_id = "<order-42-k3j4h5@mail.example.com>";
    ev.occurred_at = T0;
    ev.metadata = "{\"campaign\":\"orders\",\"n\":3}";
    got = event_serialize(&ev, err, sizeof(err));
    want = read_data("worker-sent-email.json");
    REQUIRE(want != NULL);
    CHECK_STR(got, want);
    free(got);
    free(want);
}

static void test_nulls_explicit(void)
{
    static const char *const keys[] = {
        "event_id",   "message_id",    "org_id",    "channel",
        "provider",   "status",        "attempt",   "provider_message_id",
        "error_code", "error_message", "retryable", "next_attempt_at",
        "source",     "occurred_at",   "segments",  "metadata"};
    static const char *const nulls[] = {"message_id", "org_id",        "provider_message_id",
                                        "error_code", "error_message", "next_attempt_at",
                                        "segments",   "metadata"};
    event_t ev;
    char err[256] = "";
    json_object *obj, *v;
    char *text;

    /* A worker that could not read the request at all. */
    event_init(&ev, EVENT_SOURCE_WORKER);
    ev.channel = EVENT_CHANNEL_EMAIL;
    ev.provider = EVENT_PROVIDER_SMTP;
    ev.status = EVENT_STATUS_FAILED;
    text = event_serialize(&ev, err, sizeof(err));
    REQUIRE(text != NULL);
    obj = json_tokener_parse(text);
    REQUIRE(obj != NULL);
    CHECK_INT(json_object_object_length(obj), 16);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        CHECK(json_object_object_get_ex(obj, keys[i], &v));
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        v = (json_object *)1;
        CHECK(json_object_object_get_ex(obj, nulls[i], &v) && v == NULL);
    }
    CHECK(json_object_object_get_ex(obj, "retryable", &v) &&
          json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v));
    CHECK(json_object_object_get_ex(obj, "attempt", &v) && json_object_get_int(v) == 1);
    CHECK(json_object_object_get_ex(obj, "source", &v) &&
          strcmp(json_object_get_string(v), "worker") == 0);
    json_object_put(obj);
    free(text);
}

static void test_init(void)
{
    event_t a, b;
    int64_t before = timefmt_now_ms();
    event_init(&a, EVENT_SOURCE_WORKER);
    event_init(&b, EVENT_SOURCE_WEBHOOK);
    CHECK_INT(strlen(a.event_id), 36);
    CHECK(strcmp(a.event_id, b.event_id) != 0);
    CHECK(a.occurred_at >= before && a.occurred_at <= timefmt_now_ms());
    CHECK_INT(a.attempt, 1);
    CHECK_INT(b.attempt, 0);
    CHECK_INT(b.source, EVENT_SOURCE_WEBHOOK);
    CHECK(a.next_attempt_at == EVENT_TIME_NULL);
    CHECK_INT(a.segments, EVENT_SEGMENTS_NULL);
    CHECK(a.message_id == NULL && a.metadata == NULL && !a.retryable);
}

static void test_redaction(void)
{
    event_t ev;
    char err[256] = "";
    char *text;

    redact_clear();
    redact_register("Zq8vKx3mW9tLr2");
    retry_event(&ev);
    ev.error_message = "auth failed: password=hunter2 with token Zq8vKx3mW9tLr2 at edge";
    text = event_serialize(&ev, err, sizeof(err));
    REQUIRE(text != NULL);
    CHECK(strstr(text, "hunter2") == NULL);
    CHECK(strstr(text, "Zq8vKx3mW9tLr2") == NULL);
    CHECK(strstr(text, "***") != NULL);
    CHECK(strstr(text, "auth failed") != NULL); /* the rest of the message stays */
    free(text);
    redact_clear();
}

static void test_sanitised_text(void)
{
    event_t ev, back;
    char err[256] = "";
    char *long_msg = malloc(4001);
    char *text;

    REQUIRE(long_msg != NULL);
    /* 2000 two-octet characters: cut at 1024 octets at most, never inside a character. */
    for (int i = 0; i < 2000; i++)
        memcpy(long_msg + 2 * i, "\xc3\xa9", 2);
    long_msg[4000] = '\0';
    retry_event(&ev);
    ev.error_message = long_msg;
    ev.provider_message_id = "id-\xff\xfe-latin1-\xe9t\xe9"; /* not UTF-8 */
    text = event_serialize(&ev, err, sizeof(err));
    REQUIRE(text != NULL);
    REQUIRE(event_parse(text, strlen(text), &back, err, sizeof(err)) == 0);
    CHECK(strlen(back.error_message) <= EVENT_ERROR_MESSAGE_MAX);
    CHECK(strlen(back.error_message) >= EVENT_ERROR_MESSAGE_MAX - 3);
    CHECK_INT(strlen(back.error_message) % 2, 0);
    CHECK_STR(back.provider_message_id,
              "id-\xef\xbf\xbd\xef\xbf\xbd-latin1-\xef\xbf\xbdt\xef\xbf\xbd");
    event_clear(&back);
    free(text);
    free(long_msg);
}

static void test_round_trip(void)
{
    event_t ev, back;
    char err[256] = "";
    char *text, *again;

    retry_event(&ev);
    ev.provider_message_id = "SM0123456789abcdef0123456789abcdef";
    text = event_serialize(&ev, err, sizeof(err));
    REQUIRE(text != NULL);
    REQUIRE(event_parse(text, strlen(text), &back, err, sizeof(err)) == 0);
    CHECK_STR(back.event_id, ev.event_id);
    CHECK_STR(back.message_id, "s-1");
    CHECK_STR(back.org_id, "acme");
    CHECK_INT(back.channel, EVENT_CHANNEL_SMS);
    CHECK_INT(back.provider, EVENT_PROVIDER_TWILIO);
    CHECK_INT(back.status, EVENT_STATUS_RETRY_SCHEDULED);
    CHECK_INT(back.attempt, 2);
    CHECK_STR(back.provider_message_id, "SM0123456789abcdef0123456789abcdef");
    CHECK_STR(back.error_code, "TWILIO_30003");
    CHECK_STR(back.error_message, "Unreachable destination handset");
    CHECK(back.retryable);
    CHECK_INT(back.next_attempt_at, T0 + 300000);
    CHECK_INT(back.source, EVENT_SOURCE_WORKER);
    CHECK_INT(back.occurred_at, T0);
    CHECK_INT(back.segments, 1);
    CHECK_STR(back.metadata, "{\"user\":\"u-9\"}");
    again = event_serialize(&back, err, sizeof(err));
    CHECK_STR(again, text);
    free(again);
    event_clear(&back);
    CHECK(back.storage == NULL && back.message_id == NULL);
    free(text);
}

static void expect_serialize_error(const event_t *ev, const char *want)
{
    char err[256] = "";
    char *text = event_serialize(ev, err, sizeof(err));
    if (text != NULL || strcmp(err, want) != 0) {
        fprintf(stderr, "  got '%s' (%s), expected '%s'\n", err, text ? text : "NULL", want);
        testutil_case_failed = 1;
    }
    free(text);
}

static void test_serialize_rules(void)
{
    event_t ev;

    retry_event(&ev);
    ev.status = EVENT_STATUS_DELIVERED;
    ev.next_attempt_at = EVENT_TIME_NULL;
    expect_serialize_error(&ev, "status: DELIVERED is not a worker status");
    retry_event(&ev);
    ev.source = EVENT_SOURCE_WEBHOOK;
    expect_serialize_error(&ev, "status: RETRY_SCHEDULED is not a webhook status");
    retry_event(&ev);
    ev.next_attempt_at = EVENT_TIME_NULL;
    expect_serialize_error(&ev, "next_attempt_at: set exactly when the status is RETRY_SCHEDULED");
    retry_event(&ev);
    ev.status = EVENT_STATUS_FAILED;
    expect_serialize_error(&ev, "next_attempt_at: set exactly when the status is RETRY_SCHEDULED");
    retry_event(&ev);
    ev.provider = EVENT_PROVIDER_SMTP;
    expect_serialize_error(&ev, "provider: SMTP does not serve channel sms");
    retry_event(&ev);
    ev.attempt = 0;
    expect_serialize_error(&ev, "attempt: must be at least 1");
    retry_event(&ev);
    ev.segments = 0;
    expect_serialize_error(&ev, "segments: null for email, null or at least 1 for SMS");
    retry_event(&ev);
    ev.error_code = "TWILIO_BUSY";
    expect_serialize_error(&ev, "error_code: unknown code \"TWILIO_BUSY\"");
    retry_event(&ev);
    ev.metadata = "[1]";
    expect_serialize_error(&ev, "metadata: must be a JSON object");
    retry_event(&ev);
    ev.next_attempt_at = 400000000000000LL; /* year 14645 */
    expect_serialize_error(&ev, "next_attempt_at: outside years 0000-9999");
    retry_event(&ev);
    ev.event_id[8] = 'x';
    expect_serialize_error(&ev, "event_id: must be a UUID");

    /* Webhook events: attempt 0 (unknown) is fine, FAILED too. */
    event_init(&ev, EVENT_SOURCE_WEBHOOK);
    ev.channel = EVENT_CHANNEL_SMS;
    ev.provider = EVENT_PROVIDER_AWS_SNS;
    ev.status = EVENT_STATUS_FAILED;
    ev.error_code = "AWS_OPTED_OUT";
    char err[256] = "";
    char *text = event_serialize(&ev, err, sizeof(err));
    CHECK(text != NULL);
    free(text);
}

static void test_status_table(void)
{
    event_status_t st;
    CHECK_STR(event_status_name(EVENT_STATUS_RETRY_SCHEDULED), "RETRY_SCHEDULED");
    CHECK(event_status_parse("COMPLAINED", &st) == 0 && st == EVENT_STATUS_COMPLAINED);
    CHECK(event_status_parse("sent", &st) == -1);
    CHECK(event_status_allowed(EVENT_STATUS_FAILED, EVENT_SOURCE_WORKER));
    CHECK(event_status_allowed(EVENT_STATUS_FAILED, EVENT_SOURCE_WEBHOOK));
    CHECK(event_status_allowed(EVENT_STATUS_DUPLICATE, EVENT_SOURCE_WORKER));
    CHECK(!event_status_allowed(EVENT_STATUS_DUPLICATE, EVENT_SOURCE_WEBHOOK));
    CHECK(event_status_allowed(EVENT_STATUS_READ, EVENT_SOURCE_WEBHOOK));
    CHECK(!event_status_allowed(EVENT_STATUS_READ, EVENT_SOURCE_WORKER));
    CHECK_STR(event_status_name(EVENT_STATUS__COUNT), "UNKNOWN");
    CHECK_STR(event_channel_name(EVENT_CHANNEL_SMS), "sms");
    CHECK_STR(event_provider_name(EVENT_PROVIDER_AWS_SNS), "AWS_SNS");
    CHECK_STR(event_source_name(EVENT_SOURCE_WEBHOOK), "webhook");
}

static void test_parse_rejects(void)
{
    event_t ev;
    char err[256] = "";
    CHECK_INT(event_parse("[]", 2, &ev, err, sizeof(err)), -1);
    CHECK_STR(err, "value: not a JSON object");
    event_clear(&ev);
    CHECK_INT(event_parse("{}", 2, &ev, err, sizeof(err)), -1);
    CHECK_STR(err, "event_id: required");
    CHECK(ev.message_id == NULL && ev.storage == NULL);
    event_clear(&ev);
}

/* tests/data/events/cases.json: each valid file parses and serialises back to itself;
 * each invalid one is refused with its errstr. The schema test reads the same files. */
static void test_shared_examples(void)
{
    char *text = read_data("cases.json");
    json_object *cases;
    size_t checked = 0;

    REQUIRE(text != NULL);
    cases = json_tokener_parse(text);
    free(text);
    REQUIRE(cases != NULL);
    for (size_t i = 0; i < json_object_array_length(cases); i++) {
        json_object *c = json_object_array_get_idx(cases, i), *v;
        const char *file = NULL, *want = NULL;
        bool valid = false;
        event_t ev;
        char err[256] = "";

        if (json_object_object_get_ex(c, "file", &v))
            file = json_object_get_string(v);
        if (json_object_object_get_ex(c, "valid", &v))
            valid = json_object_get_boolean(v);
        if (json_object_object_get_ex(c, "errstr", &v))
            want = json_object_get_string(v);
        REQUIRE(file != NULL);
        text = read_data(file);
        if (text == NULL) {
            testutil_case_failed = 1;
            continue;
        }
        int rc = event_parse(text, strlen(text), &ev, err, sizeof(err));
        if (valid) {
            char *again = rc == 0 ? event_serialize(&ev, err, sizeof(err)) : NULL;
            if (again == NULL || strcmp(again, text) != 0) {
                fprintf(stderr, "  %s: rc %d err '%s'\n  got  %s\n  want %s\n", file, rc, err,
                        again ? again : "NULL", text);
                testutil_case_failed = 1;
            }
            free(again);
        } else if (rc != -1 || want == NULL || strcmp(err, want) != 0) {
            fprintf(stderr, "  %s: rc %d err '%s', expected '%s'\n", file, rc, err,
                    want ? want : "(none)");
            testutil_case_failed = 1;
        }
        event_clear(&ev);
        free(text);
        checked++;
    }
    CHECK(checked >= 10);
    json_object_put(cases);
}

int main(void)
{
    TEST_RUN(test_golden);
    TEST_RUN(test_nulls_explicit);
    TEST_RUN(test_init);
    TEST_RUN(test_redaction);
    TEST_RUN(test_sanitised_text);
    TEST_RUN(test_round_trip);
    TEST_RUN(test_serialize_rules);
    TEST_RUN(test_status_table);
    TEST_RUN(test_parse_rejects);
    TEST_RUN(test_shared_examples);
    return TEST_EXIT();
}
