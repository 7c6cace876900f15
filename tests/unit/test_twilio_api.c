/*
 * The Twilio request as it goes on the wire (URL, form bytes, idempotency header) and the
 * classification of Twilio's answers into the contract's codes and retry decisions.
 */
#include "testutil.h"

#include "formenc.h"
#include "request.h"
#include "twilio_api.h"

#include <string.h>

static request_t *parse_twilio(const char *json)
{
    request_t *req = NULL;
    char err[256];
    errcode_t rc =
        request_parse(json, strlen(json), REQUEST_CHANNEL_TWILIO, &req, err, sizeof(err));
    if (rc != ERRCODE_OK) {
        fprintf(stderr, "request_parse: %s\n", err);
        request_destroy(req);
        return NULL;
    }
    return req;
}

static void test_messages_url(void)
{
    char url[TWILIO_API_URL_MAX];
    CHECK_INT(twilio_api_messages_url("https://api.twilio.com", "AC0123", url, sizeof(url)), 0);
    CHECK_STR(url, "https://api.twilio.com/2010-04-01/Accounts/AC0123/Messages.json");
    CHECK_INT(twilio_api_messages_url("http://127.0.0.1:5000/", "AC0123", url, sizeof(url)), 0);
    CHECK_STR(url, "http://127.0.0.1:5000/2010-04-01/Accounts/AC0123/Messages.json");
    /* A corrupt SID cannot change the path. */
    CHECK_INT(twilio_api_messages_url("http://h", "AC/../x", url, sizeof(url)), 0);
    CHECK_STR(url, "http://h/2010-04-01/Accounts/AC%2F..%2Fx/Messages.json");
    CHECK_INT(twilio_api_messages_url("http://h", "", url, sizeof(url)), -1);
    CHECK_INT(twilio_api_messages_url("http://h", "AC1", url, 20), -1);
    CHECK_STR(url, "");
}

static void test_status_callback_url(void)
{
    char url[512];
    CHECK_INT(
        twilio_api_status_callback_url("https://hooks.example.com/", "acme", url, sizeof(url)), 0);
    CHECK_STR(url, "https://hooks.example.com/api/webhooks/sms/acme/twilio/status");
    CHECK_INT(twilio_api_status_callback_url("https://h.example/base", "a b/c", url, sizeof(url)),
              0);
    CHECK_STR(url, "https://h.example/base/api/webhooks/sms/a%20b%2Fc/twilio/status");
    CHECK_INT(twilio_api_status_callback_url("", "acme", url, sizeof(url)), -1);
}

static void test_form_full(void)
{
    request_t *req =
        parse_twilio("{\"message_id\":\"m1\",\"org_id\":\"acme\",\"to\":\"+1 (415) 555-0100\","
                     "\"payload\":{\"body\":\"Hi & bye = 100% \xE2\x82\xAC\","
                     "\"statusCallback\":\"https://cb.example/s?x=1\",\"validityPeriod\":600}}");
    REQUIRE(req);
    twilio_form_t *f = twilio_api_message_form(req, "+15005550006", "https://default.example/cb");
    REQUIRE(f);
    /* The request's own callback wins over the default; To is the E.164 form. */
    CHECK_STR(twilio_form_data(f), "To=%2B14155550100&From=%2B15005550006"
                                   "&Body=Hi+%26+bye+%3D+100%25+%E2%82%AC"
                                   "&StatusCallback=https%3A%2F%2Fcb.example%2Fs%3Fx%3D1"
                                   "&ValidityPeriod=600");
    CHECK_INT(twilio_form_len(f), strlen(twilio_form_data(f)));
    twilio_form_destroy(f);
    request_destroy(req);
}

static void test_form_minimal(void)
{
    request_t *req = parse_twilio("{\"message_id\":\"m1\",\"org_id\":\"acme\",\"to\":\"+"
                                  "14155550100\",\"payload\":{\"body\":\"x\"}}");
    REQUIRE(req);
    twilio_form_t *f = twilio_api_message_form(req, "+15005550006", NULL);
    REQUIRE(f);
    CHECK_STR(twilio_form_data(f), "To=%2B14155550100&From=%2B15005550006&Body=x");
    twilio_form_destroy(f);
    f = twilio_api_message_form(req, "+15005550006",
                                "https://h/api/webhooks/sms/acme/twilio/status");
    REQUIRE(f);
    CHECK_STR(twilio_form_data(f),
              "To=%2B14155550100&From=%2B15005550006&Body=x&StatusCallback="
              "https%3A%2F%2Fh%2Fapi%2Fwebhooks%2Fsms%2Facme%2Ftwilio%2Fstatus");
    twilio_form_destroy(f);
    request_destroy(req);
}

static void test_form_escaping(void)
{
    char err[128];
    twilio_form_t *f = twilio_form_new();
    CHECK_INT(twilio_form_add(f, "To", "+14155550100"), 0);
    CHECK_INT(twilio_form_add(f, "Body", "a b&c=d%e~\xC3\xA9\n"), 0);
    CHECK_STR(twilio_form_data(f), "To=%2B14155550100&Body=a+b%26c%3Dd%25e~%C3%A9%0A");
    /* What the form says is what a reader decodes (formenc.h, as the simulator reads it). */
    formenc_t *p = formenc_parse(twilio_form_data(f), twilio_form_len(f), err, sizeof(err));
    REQUIRE(p);
    CHECK_STR(formenc_get(p, "Body"), "a b&c=d%e~\xC3\xA9\n");
    CHECK_STR(formenc_get(p, "To"), "+14155550100");
    formenc_destroy(p);
    twilio_form_destroy(f);

    /* The cap: a form never grows past TWILIO_FORM_MAX, and a refused add changes nothing. */
    static char big[TWILIO_FORM_MAX / 2];
    memset(big, '&', sizeof(big) - 1);
    f = twilio_form_new();
    CHECK_INT(twilio_form_add(f, "A", "1"), 0);
    CHECK_INT(twilio_form_add(f, "Big", big), -1);
    CHECK_STR(twilio_form_data(f), "A=1");
    twilio_form_destroy(f);

    char seg[16];
    CHECK_INT(twilio_form_escape("a b/c", 0, seg, sizeof(seg)), 9);
    CHECK_STR(seg, "a%20b%2Fc");
    CHECK_INT(twilio_form_escape("abcdef", 0, seg, 4), -1);
}

static void test_idempotency_header(void)
{
    char out[64];
    CHECK_INT(twilio_api_idempotency_header("order-42:a", out, sizeof(out)), 0);
    CHECK_STR(out, "order-42:a");
    /* CR LF cannot start a new header; '%' itself is escaped so decoding is unambiguous. */
    CHECK_INT(twilio_api_idempotency_header("a\r\nX-Evil: 1%", out, sizeof(out)), 0);
    CHECK_STR(out, "a%0D%0AX-Evil:%201%25");
    CHECK_INT(twilio_api_idempotency_header("abcdef", out, 4), -1);
}

static void classify(long status, const char *body, const char *retry_after, sender_result_t *r)
{
    twilio_api_classify(status, body, body ? strlen(body) : 0, retry_after, 1700000000000LL, r);
}

static void test_classify_created(void)
{
    sender_result_t r;
    classify(201,
             "{\"sid\":\"SM0123456789abcdef0123456789abcdef\",\"status\":\"queued\","
             "\"num_segments\":\"1\",\"error_code\":null}",
             NULL, &r);
    CHECK(r.ok);
    CHECK_STR(r.provider_message_id, "SM0123456789abcdef0123456789abcdef");
    CHECK_STR(r.error_code, "");
    /* Accepted without a readable sid is still accepted: sending again would duplicate. */
    classify(201, "not json", NULL, &r);
    CHECK(r.ok);
    CHECK_STR(r.provider_message_id, "");
}

static void test_classify_errors(void)
{
    sender_result_t r;
    classify(400,
             "{\"code\":21211,\"message\":\"The 'To' number +1555 is not a valid phone number.\","
             "\"more_info\":\"https://www.twilio.com/docs/errors/21211\",\"status\":400}",
             NULL, &r);
    CHECK(!r.ok);
    CHECK_STR(r.error_code, "TWILIO_21211");
    CHECK(!r.retryable);
    CHECK(!r.throttled);
    CHECK(strstr(r.error_message, "not a valid phone number") != NULL);

    classify(401, "{\"code\":20003,\"message\":\"Authenticate\",\"status\":401}", NULL, &r);
    CHECK_STR(r.error_code, "TWILIO_20003");
    CHECK(!r.retryable);
    /* A 401 without a body is the same credential failure. */
    classify(401, "", NULL, &r);
    CHECK_STR(r.error_code, "TWILIO_20003");
    CHECK(!r.retryable);

    classify(400, "{\"code\":21612,\"message\":\"not routable\"}", NULL, &r);
    CHECK_STR(r.error_code, "TWILIO_21612");
    CHECK(r.retryable); /* the seed's flag */

    classify(404, "{\"code\":20404,\"message\":\"not found\"}", NULL, &r);
    CHECK_STR(r.error_code, "TWILIO_20404");
    CHECK(!r.retryable);

    /* A code Twilio added later: its name travels, 4xx decides "not retryable". */
    classify(400, "{\"code\":21999,\"message\":\"new\"}", NULL, &r);
    CHECK_STR(r.error_code, "TWILIO_21999");
    CHECK(!r.retryable);
}

static void test_classify_server_errors(void)
{
    sender_result_t r;
    classify(500, "<html>oops</html>", NULL, &r);
    CHECK_STR(r.error_code, "TWILIO_20500");
    CHECK(r.retryable);
    CHECK(!r.throttled);
    classify(503, NULL, NULL, &r);
    CHECK_STR(r.error_code, "TWILIO_20503");
    CHECK(r.retryable);
    classify(502, "{\"code\":20500,\"message\":\"Internal\"}", NULL, &r);
    CHECK_STR(r.error_code, "TWILIO_20500");
    CHECK(r.retryable);
}

static void test_classify_throttling(void)
{
    sender_result_t r;
    classify(429, "{\"code\":20429,\"message\":\"Too Many Requests\",\"status\":429}", "7", &r);
    CHECK(!r.ok);
    CHECK_STR(r.error_code, "TWILIO_20429");
    CHECK(r.retryable);
    CHECK(r.throttled);
    CHECK_INT(r.retry_after_ms, 7000);
    /* No Retry-After: 0, which the pipeline reads as its default wait. */
    classify(429, "", NULL, &r);
    CHECK_STR(r.error_code, "TWILIO_20429");
    CHECK(r.throttled);
    CHECK_INT(r.retry_after_ms, 0);
    /* An HTTP date, 90 s after "now". */
    classify(429, "", "Tue, 14 Nov 2023 22:14:50 GMT", &r);
    CHECK_INT(r.retry_after_ms, 90000);
    classify(429, "", "soon", &r);
    CHECK_INT(r.retry_after_ms, 0);
}

static void test_retry_after(void)
{
    CHECK_INT(twilio_api_retry_after_ms("120", 0), 120000);
    CHECK_INT(twilio_api_retry_after_ms(" 0 ", 0), 0);
    CHECK_INT(twilio_api_retry_after_ms("-1", 0), -1);
    CHECK_INT(twilio_api_retry_after_ms("12x", 0), -1);
    CHECK_INT(twilio_api_retry_after_ms(NULL, 0), -1);
    CHECK_INT(twilio_api_retry_after_ms("Thu, 01 Jan 1970 00:00:10 GMT", 4000), 6000);
    CHECK_INT(twilio_api_retry_after_ms("Thu, 01 Jan 1970 00:00:10 GMT", 20000), 0);
}

static void test_classify_failure(void)
{
    sender_result_t r;
    twilio_api_classify_failure(TWILIO_API_FAIL_TIMEOUT, "Operation timed out", &r);
    CHECK_STR(r.error_code, "TIMEOUT");
    CHECK(r.retryable);
    CHECK(strstr(r.error_message, "timed out") != NULL);
    twilio_api_classify_failure(TWILIO_API_FAIL_CONNECT, NULL, &r);
    CHECK_STR(r.error_code, "CONNECTION_FAILED");
    CHECK(r.retryable);
    twilio_api_classify_failure(TWILIO_API_FAIL_TLS, "certificate", &r);
    CHECK_STR(r.error_code, "TLS_FAILED");
    CHECK(r.retryable);
    twilio_api_classify_failure(TWILIO_API_FAIL_OTHER, "reset", &r);
    CHECK_STR(r.error_code, "CONNECTION_FAILED");
}

int main(void)
{
    TEST_RUN(test_messages_url);
    TEST_RUN(test_status_callback_url);
    TEST_RUN(test_form_full);
    TEST_RUN(test_form_minimal);
    TEST_RUN(test_form_escaping);
    TEST_RUN(test_idempotency_header);
    TEST_RUN(test_classify_created);
    TEST_RUN(test_classify_errors);
    TEST_RUN(test_classify_server_errors);
    TEST_RUN(test_classify_throttling);
    TEST_RUN(test_retry_after);
    TEST_RUN(test_classify_failure);
    return TEST_EXIT();
}
