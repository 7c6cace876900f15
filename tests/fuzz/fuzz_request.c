/*
 * The send request codec (request.h). The first byte picks the channel, the rest is the
 * Kafka value. A request that parses must satisfy every limit of the contract, and its
 * subject's encoded form must match the length the 998-octet rule measured.
 */
#include "fuzz.h"
#include "request.h"

static void check_ok(const request_t *req)
{
    FUZZ_CHECK(req->message_id != NULL && req->org_id != NULL);
    size_t n = fuzz_utf8_chars(req->message_id);
    FUZZ_CHECK(n >= 1 && n <= REQUEST_MESSAGE_ID_MAX);
    n = fuzz_utf8_chars(req->org_id);
    FUZZ_CHECK(n >= 1 && n <= REQUEST_ORG_ID_MAX);
    FUZZ_CHECK(req->idempotency_key != NULL);
    n = fuzz_utf8_chars(req->idempotency_key);
    FUZZ_CHECK(n >= 1 && n <= REQUEST_IDEMPOTENCY_KEY_MAX);
    FUZZ_CHECK(req->to != NULL);
    FUZZ_CHECK(req->metadata == NULL || strlen(req->metadata) <= REQUEST_METADATA_MAX);
    FUZZ_CHECK(req->metadata == NULL || req->metadata[0] == '{');

    if (req->channel == REQUEST_CHANNEL_EMAIL) {
        FUZZ_CHECK(req->email.subject != NULL);
        FUZZ_CHECK(req->email.html_body || req->email.text_body || req->email.body);
        FUZZ_CHECK(1 + req->email.cc.count + req->email.bcc.count <= EMAILADDR_LIST_MAX);
        FUZZ_CHECK(strchr(req->to, '\r') == NULL && strchr(req->to, '\n') == NULL);
        size_t slen = strlen(req->email.subject);
        size_t want = request_subject_encoded_len(req->email.subject, slen);
        FUZZ_CHECK(want <= REQUEST_SUBJECT_MAX_OCTETS);
        size_t got = 0;
        char *enc = request_subject_encode(req->email.subject, slen, &got);
        FUZZ_CHECK(enc != NULL && got == want && strlen(enc) == got);
        for (size_t i = 0; i < got; i++) {
            /* The header value never carries a line break or other control byte. */
            FUZZ_CHECK(enc[i] == '\t' || (enc[i] >= 0x20 && enc[i] < 0x7f));
        }
        free(enc);
        return;
    }
    /* SMS: E.164, a body within the limit, segments counted. */
    FUZZ_CHECK(req->to[0] == '+');
    size_t digits = strlen(req->to + 1);
    FUZZ_CHECK(digits >= 8 && digits <= 15);
    FUZZ_CHECK(req->sms.body != NULL);
    n = fuzz_utf8_chars(req->sms.body);
    FUZZ_CHECK(n >= 1 && n <= 1600 && n == req->sms.seg.chars);
    FUZZ_CHECK(req->sms.seg.segments >= 1);
    FUZZ_CHECK(req->sms.validity_period >= 0 && req->sms.validity_period <= REQUEST_VALIDITY_MAX);
    FUZZ_CHECK(req->sms.status_callback == NULL ||
               strlen(req->sms.status_callback) <= REQUEST_URL_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    request_channel_t channel = (request_channel_t)(data[0] % 3);
    request_t *req = NULL;
    char err[256] = "";
    errcode_t rc = request_parse((const char *)data + 1, size - 1, channel, &req, err, sizeof err);
    if (rc == ERRCODE_OK) {
        FUZZ_CHECK(req != NULL && req->channel == channel);
        check_ok(req);
    } else {
        /* Errors always say what was wrong, starting with the code's name. */
        const char *name = errcode_name(rc);
        FUZZ_CHECK(name != NULL && strncmp(err, name, strlen(name)) == 0);
    }
    request_destroy(req);
    return 0;
}
