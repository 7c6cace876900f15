#include "request.h"
#include "testutil.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>

/* ---- helpers ---- */

/* printf into a malloc'd string. */
static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        abort();
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* `count` copies of `unit`, malloc'd. */
static char *rep(const char *unit, size_t count)
{
    size_t ulen = strlen(unit);
    char *s = malloc(ulen * count + 1);
    if (s == NULL)
        abort();
    for (size_t i = 0; i < count; i++)
        memcpy(s + i * ulen, unit, ulen);
    s[ulen * count] = '\0';
    return s;
}

/*
 * Parses `json` for `channel`. want == NULL: expects success and returns the request (the
 * caller destroys it). Otherwise expects exactly that errstr, and the returned code to be
 * the one the errstr names; returns NULL.
 */
static request_t *check_parse(int line, request_channel_t channel, const char *json, size_t len,
                              const char *want)
{
    char err[512] = "";
    request_t *req = NULL;
    errcode_t rc = request_parse(json, len, channel, &req, err, sizeof(err));

    if (want == NULL) {
        if (rc != ERRCODE_OK || req == NULL) {
            fprintf(stderr, "%s:%d: rejected: %s\n  %.200s\n", __FILE__, line, err, json);
            testutil_case_failed = 1;
            request_destroy(req);
            return NULL;
        }
        return req;
    }
    size_t name_len = strlen(errcode_name(rc));
    if (rc == ERRCODE_OK || strcmp(err, want) != 0 ||
        strncmp(want, errcode_name(rc), name_len) != 0 || want[name_len] != ':') {
        fprintf(stderr, "%s:%d: rc %s err '%s'\n  expected '%s'\n  %.200s\n", __FILE__, line,
                errcode_name(rc), err, want, json);
        testutil_case_failed = 1;
    }
    request_destroy(req);
    return NULL;
}

#define ACCEPT(ch, json)    check_parse(__LINE__, ch, json, strlen(json), NULL)
#define REJECT(ch, json, e) check_parse(__LINE__, ch, json, strlen(json), e)

/* Accepts and destroys; for rules where success is all there is to check. */
#define ACCEPT_ONLY(ch, json) request_destroy(ACCEPT(ch, json))

/* A valid email request with more top-level members appended (the argument must close
 * the object); malloc'd. */
#define EMAIL(...)                                                                  \
    strf("{\"message_id\":\"m-1\",\"org_id\":\"acme\",\"to\":\"user@example.com\"," \
         "\"subject\":\"Hi\",\"payload\":{\"textBody\":\"x\"}" __VA_ARGS__)
/* The same without payload, for callers that bring their own. */
#define EMAILP(...)                                                                 \
    strf("{\"message_id\":\"m-1\",\"org_id\":\"acme\",\"to\":\"user@example.com\"," \
         "\"subject\":\"Hi\"" __VA_ARGS__)
#define EM REQUEST_CHANNEL_EMAIL
#define TW REQUEST_CHANNEL_TWILIO
#define SN REQUEST_CHANNEL_SNS

/* A request of `channel` with the given top-level fields and payload members. */
static char *sms_json(const char *payload_members)
{
    return strf("{\"message_id\":\"s-1\",\"org_id\":\"acme\",\"to\":\"+14155550100\","
                "\"payload\":{%s}}",
                payload_members);
}

static void accept_sms(request_channel_t ch, const char *payload_members)
{
    char *json = sms_json(payload_members);
    request_destroy(check_parse(__LINE__, ch, json, strlen(json), NULL));
    free(json);
}

static void reject_sms_at(int line, request_channel_t ch, const char *payload_members,
                          const char *want)
{
    char *json = sms_json(payload_members);
    check_parse(line, ch, json, strlen(json), want);
    free(json);
}
#define REJECT_SMS(ch, members, want) reject_sms_at(__LINE__, ch, members, want)

/* ---- the whole value ---- */

static void test_value(void)
{
    request_t *req = (request_t *)1;
    char err[256];

    CHECK_INT(request_parse(NULL, 0, EM, &req, err, sizeof(err)), ERRCODE_INVALID_REQUEST);
    CHECK(req == NULL);
    CHECK_STR(err, "INVALID_REQUEST: value: empty");
    REJECT(EM,
           "{\"message_id\":", "INVALID_REQUEST: value: not valid JSON (unexpected end of data)");
    REJECT(EM, "{\"message_id\":\"m\"} x",
           "INVALID_REQUEST: value: not valid JSON (unexpected character)");
    REJECT(EM, "{\"message_id\":\"m\"}{}",
           "INVALID_REQUEST: value: not valid JSON (unexpected character)");
    REJECT(EM, "[1,2]", "INVALID_REQUEST: value: must be a JSON object");
    REJECT(EM, "42", "INVALID_REQUEST: value: must be a JSON object");
    REJECT(EM, "\"x\"", "INVALID_REQUEST: value: must be a JSON object");
    /* RFC 8259 only: no single quotes, no trailing commas. */
    REJECT(EM, "{'message_id':'m'}",
           "INVALID_REQUEST: value: not valid JSON (unexpected character)");
    REJECT(EM, "{\"a\":1,}", "INVALID_REQUEST: value: not valid JSON (unexpected character)");
    REJECT(EM, "{\"a\":\"\xff\"}", "INVALID_REQUEST: value: not valid JSON (invalid utf-8 string)");
    REJECT(EM, "{\"a\":\"\xc0\xaf\"}",
           "INVALID_REQUEST: value: not valid JSON (invalid utf-8 string)");

    /* What json-c alone would let through: encoded surrogates, code points above U+10FFFF,
     * raw control characters inside strings. */
    REJECT(EM, "{\"a\":\"\xed\xa0\x80\"}",
           "INVALID_REQUEST: value: not valid JSON (invalid utf-8 string)");
    REJECT(EM, "{\"a\":\"\xf4\x90\x80\x80\"}",
           "INVALID_REQUEST: value: not valid JSON (invalid utf-8 string)");
    REJECT(EM, "{\"a\":\"x\ny\"}",
           "INVALID_REQUEST: value: not valid JSON (control character in a string)");
    /* ... while escapes, an escaped quote and whitespace between tokens are fine. */
    char *ok = EMAIL(",\n\t\"note\":\"tab\\t \\\"quoted\\\" \\u00e9 \xc3\xa9 \xf0\x9f\x98\x80\"}");
    ACCEPT_ONLY(EM, ok);
    free(ok);

    /* Whitespace after the object is fine. */
    char *json = EMAIL("}\r\n\t ");
    ACCEPT_ONLY(EM, json);
    free(json);

    /* Nesting: 32 levels in all are accepted, 33 are not. */
    char *open = rep("{\"a\":", 30), *close = rep("}", 30);
    json = EMAIL(",\"metadata\":%s1%s}", open, close);
    ACCEPT_ONLY(EM, json);
    free(json);
    free(open);
    free(close);
    open = rep("{\"a\":", 31);
    close = rep("}", 31);
    json = EMAIL(",\"metadata\":%s1%s}", open, close);
    REJECT(EM, json, "INVALID_REQUEST: value: not valid JSON (nesting too deep)");
    free(json);
    free(open);
    free(close);
}

static void test_value_size(void)
{
    /* A valid request padded with spaces to exactly 26 MiB is read; one byte more is
     * refused before any parsing (the extra byte would be valid whitespace too). */
    char *head = EMAIL("}");
    size_t hl = strlen(head);
    char *big = malloc(REQUEST_MAX_VALUE_SIZE + 1);
    REQUIRE(big != NULL);
    memcpy(big, head, hl);
    memset(big + hl, ' ', REQUEST_MAX_VALUE_SIZE + 1 - hl);
    request_destroy(check_parse(__LINE__, EM, big, REQUEST_MAX_VALUE_SIZE, NULL));
    check_parse(__LINE__, EM, big, REQUEST_MAX_VALUE_SIZE + 1,
                "INVALID_REQUEST: value: larger than 26 MiB (27262977 bytes)");
    free(big);
    free(head);
}

/* ---- the common fields ---- */

static void test_message_id(void)
{
    char *id128 = rep("m", 128), *id129 = rep("m", 129), *uni128 = rep("é", 128);
    char *json;

    json = strf("{\"message_id\":\"%s\",\"org_id\":\"acme\",\"to\":\"u@example.com\","
                "\"subject\":\"s\",\"payload\":{\"body\":\"b\"}}",
                id128);
    request_t *req = ACCEPT(EM, json);
    if (req)
        CHECK_STR(req->message_id, id128);
    request_destroy(req);
    free(json);
    /* 128 characters of two octets each: characters count, not octets. */
    json = strf("{\"message_id\":\"%s\",\"org_id\":\"acme\",\"to\":\"u@example.com\","
                "\"subject\":\"s\",\"payload\":{\"body\":\"b\"}}",
                uni128);
    ACCEPT_ONLY(EM, json);
    free(json);
    json = strf("{\"message_id\":\"%s\",\"org_id\":\"acme\",\"to\":\"u@example.com\","
                "\"subject\":\"s\",\"payload\":{\"body\":\"b\"}}",
                id129);
    REJECT(EM, json, "INVALID_REQUEST: message_id: must be 1-128 characters");
    free(json);

    REJECT(EM, "{\"org_id\":\"acme\"}", "INVALID_REQUEST: message_id: required");
    REJECT(EM, "{\"message_id\":null,\"org_id\":\"acme\"}",
           "INVALID_REQUEST: message_id: required");
    REJECT(EM, "{\"message_id\":42,\"org_id\":\"acme\"}",
           "INVALID_REQUEST: message_id: must be a string");
    REJECT(EM, "{\"message_id\":\"\",\"org_id\":\"acme\"}",
           "INVALID_REQUEST: message_id: must be 1-128 characters");
    REJECT(EM, "{\"message_id\":\"m\\u0000x\",\"org_id\":\"acme\"}",
           "INVALID_REQUEST: message_id: must not contain NUL characters");
    free(id128);
    free(id129);
    free(uni128);
}

static void test_org_id(void)
{
    char *org64 = rep("o", 64), *org65 = rep("o", 65);
    char *json = strf("{\"message_id\":\"m\",\"org_id\":\"%s\",\"to\":\"u@example.com\","
                      "\"subject\":\"s\",\"payload\":{\"body\":\"b\"}}",
                      org64);
    ACCEPT_ONLY(EM, json);
    free(json);
    json = strf("{\"message_id\":\"m\",\"org_id\":\"%s\"}", org65);
    REJECT(EM, json, "INVALID_REQUEST: org_id: must be 1-64 characters");
    free(json);
    REJECT(EM, "{\"message_id\":\"m\"}", "INVALID_REQUEST: org_id: required");
    REJECT(EM, "{\"message_id\":\"m\",\"org_id\":[\"acme\"]}",
           "INVALID_REQUEST: org_id: must be a string");
    free(org64);
    free(org65);
}

static void test_idempotency_key(void)
{
    char *k255 = rep("k", 255), *k256 = rep("k", 256), *json;
    request_t *req;

    json = EMAIL("}");
    req = ACCEPT(EM, json);
    if (req)
        CHECK_STR(req->idempotency_key, "m-1"); /* defaults to message_id */
    request_destroy(req);
    free(json);
    json = EMAIL(",\"idempotency_key\":null}");
    req = ACCEPT(EM, json);
    if (req)
        CHECK_STR(req->idempotency_key, "m-1");
    request_destroy(req);
    free(json);
    json = EMAIL(",\"idempotency_key\":\"%s\"}", k255);
    req = ACCEPT(EM, json);
    if (req)
        CHECK_STR(req->idempotency_key, k255);
    request_destroy(req);
    free(json);
    json = EMAIL(",\"idempotency_key\":\"%s\"}", k256);
    REJECT(EM, json, "INVALID_REQUEST: idempotency_key: must be 1-255 characters");
    free(json);
    json = EMAIL(",\"idempotency_key\":\"\"}");
    REJECT(EM, json, "INVALID_REQUEST: idempotency_key: must be 1-255 characters");
    free(json);
    json = EMAIL(",\"idempotency_key\":7}");
    REJECT(EM, json, "INVALID_REQUEST: idempotency_key: must be a string");
    free(json);
    free(k255);
    free(k256);
}

static void test_to_email(void)
{
    request_t *req = ACCEPT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"\\\"a b\\\"@[IPv6:"
                                "2001:db8::1]\",\"subject\":\"s\",\"payload\":{\"body\":\"b\"}}");
    if (req)
        CHECK_STR(req->to, "\"a b\"@[IPv6:2001:db8::1]");
    request_destroy(req);
    REJECT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"a.@example.com\"}",
           "INVALID_EMAIL: to: local part must not end with '.'");
    REJECT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"a@example.com\\nBcc: b@x.org\"}",
           "INVALID_EMAIL: to: must not contain CR or LF");
    REJECT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\"}", "INVALID_REQUEST: to: required");
    REJECT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":[\"a@example.com\"]}",
           "INVALID_REQUEST: to: must be a string");
}

static void test_to_phone(void)
{
    request_t *req =
        ACCEPT(TW, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"+1 (415) 555-0100\","
                   "\"payload\":{\"body\":\"b\"}}");
    if (req)
        CHECK_STR(req->to, "+14155550100");
    request_destroy(req);
    req = ACCEPT(SN, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"0044 7700 900123\","
                     "\"payload\":{\"body\":\"b\"}}");
    if (req)
        CHECK_STR(req->to, "+447700900123");
    request_destroy(req);
    REJECT(TW, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"4155550100\"}",
           "INVALID_PHONE: to: must start with '+' or 00 (national numbers are not accepted)");
    REJECT(SN, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"+1234567\"}",
           "INVALID_PHONE: to: fewer than 8 digits");
    REJECT(SN, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"user@example.com\"}",
           "INVALID_PHONE: to: must not contain letters");
    REJECT(TW, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":14155550100}",
           "INVALID_REQUEST: to: must be a string");
    REJECT(TW, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":null}",
           "INVALID_REQUEST: to: required");
}

/* ---- email ---- */

static char *email_with_subject(const char *subject)
{
    return strf(
        "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":\"%s\","
        "\"payload\":{\"body\":\"b\"}}",
        subject);
}

static void test_subject(void)
{
    char *a998 = rep("a", 998), *a999 = rep("a", 999), *tail610 = rep("a", 610);
    char *tail611 = rep("a", 611), *s, *json;
    request_t *req;

    json = email_with_subject(a998);
    ACCEPT_ONLY(EM, json);
    free(json);
    json = email_with_subject(a999);
    REJECT(EM, json, "INVALID_REQUEST: subject: longer than 998 octets once encoded (999)");
    free(json);
    /* Non-ASCII: 612 octets become 13 full encoded words of 72 and one of 48, with 13
     * spaces: 997. One octet more needs a longer last word: 1001. */
    s = strf("é%s", tail610);
    json = email_with_subject(s);
    req = ACCEPT(EM, json);
    if (req)
        CHECK_STR(req->email.subject, s);
    request_destroy(req);
    free(json);
    free(s);
    s = strf("é%s", tail611);
    json = email_with_subject(s);
    REJECT(EM, json, "INVALID_REQUEST: subject: longer than 998 octets once encoded (1001)");
    free(json);
    free(s);

    json = email_with_subject("tab\\tok");
    ACCEPT_ONLY(EM, json);
    free(json);
    json = email_with_subject("Hi\\r\\nBcc: x@evil.example");
    REJECT(EM, json,
           "INVALID_REQUEST: subject: must not contain CR, LF or other control characters");
    free(json);
    json = email_with_subject("bell\\u0007");
    REJECT(EM, json,
           "INVALID_REQUEST: subject: must not contain CR, LF or other control characters");
    free(json);
    REJECT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\"}",
           "INVALID_REQUEST: subject: required");
    REJECT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":1}",
           "INVALID_REQUEST: subject: must be a string");
    /* SMS channels ignore it. */
    accept_sms(TW, "\"body\":\"b\"");
    free(a998);
    free(a999);
    free(tail610);
    free(tail611);
}

static void check_encode(const char *subject, const char *want)
{
    size_t len = 0;
    char *got = request_subject_encode(subject, strlen(subject), &len);
    CHECK_STR(got, want);
    CHECK_INT(len, strlen(want));
    CHECK_INT(request_subject_encoded_len(subject, strlen(subject)), strlen(want));
    free(got);
}

static void test_subject_encoding(void)
{
    check_encode("", "");
    check_encode("Plain ASCII\tsubject", "Plain ASCII\tsubject");
    check_encode("Votre commande n°42 est confirmée",
                 "=?UTF-8?B?Vm90cmUgY29tbWFuZGUgbsKwNDIgZXN0IGNvbmZpcm3DqWU=?=");
    /* 44 + 3 octets: the euro sign does not fit the first word and is not split. */
    check_encode("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa€",
                 "=?UTF-8?B?YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=?= "
                 "=?UTF-8?B?4oKs?=");
    /* 45 + 3: the first word is full (60 base64 characters, 72 in all). */
    check_encode("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa€",
                 "=?UTF-8?B?YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh?= "
                 "=?UTF-8?B?4oKs?=");
}

static void test_email_bodies(void)
{
    char *json;
    request_t *req;

    req = ACCEPT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":"
                     "\"s\",\"payload\":{\"htmlBody\":\"<p>h</p>\"}}");
    if (req) {
        CHECK_STR(req->email.html_body, "<p>h</p>");
        CHECK(req->email.text_body == NULL && req->email.body == NULL);
    }
    request_destroy(req);
    req = ACCEPT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":"
                     "\"s\",\"payload\":{\"textBody\":\"t\",\"body\":\"f\",\"htmlBody\":null}}");
    if (req) {
        CHECK_STR(req->email.text_body, "t");
        CHECK_STR(req->email.body, "f");
        CHECK(req->email.html_body == NULL);
    }
    request_destroy(req);
    json = strf("{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":\"s\","
                "\"payload\":{\"cc\":\"a@example.com\"}}");
    REJECT(EM, json, "INVALID_REQUEST: payload: one of htmlBody, textBody or body is required");
    free(json);
    REJECT(EM,
           "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":\"s\","
           "\"payload\":{\"htmlBody\":null,\"textBody\":null}}",
           "INVALID_REQUEST: payload: one of htmlBody, textBody or body is required");
    REJECT(EM,
           "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":\"s\","
           "\"payload\":{\"htmlBody\":1}}",
           "INVALID_REQUEST: payload.htmlBody: must be a string");
    REJECT(EM,
           "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":\"s\","
           "\"payload\":{\"textBody\":\"a\\u0000b\"}}",
           "INVALID_REQUEST: payload.textBody: must not contain NUL characters");
    REJECT(EM, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":\"s\"}",
           "INVALID_REQUEST: payload: required");
    REJECT(EM,
           "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"u@example.com\",\"subject\":\"s\","
           "\"payload\":[]}",
           "INVALID_REQUEST: payload: must be an object");
}

/* cc and bcc lists of n generated addresses, as JSON arrays. */
static char *address_array(const char *prefix, int n)
{
    size_t cap = (size_t)n * 40 + 3, pos = 0;
    char *s = malloc(cap);
    if (s == NULL)
        abort();
    s[pos++] = '[';
    for (int i = 0; i < n; i++)
        pos +=
            (size_t)snprintf(s + pos, cap - pos, "%s\"%s%d@example.com\"", i ? "," : "", prefix, i);
    s[pos++] = ']';
    s[pos] = '\0';
    return s;
}

static void test_cc_bcc(void)
{
    char *json, *cc, *bcc;
    request_t *req;

    json = EMAILP(",\"payload\":{\"body\":\"b\",\"cc\":\"a@example.com, \\\"x,y\\\"@example.org\","
                  "\"bcc\":[\"c@example.com\"]}}");
    req = ACCEPT(EM, json);
    if (req) {
        CHECK_INT(req->email.cc.count, 2);
        CHECK_STR(req->email.cc.addrs[1], "\"x,y\"@example.org");
        CHECK_INT(req->email.bcc.count, 1);
        CHECK_STR(req->email.bcc.addrs[0], "c@example.com");
    }
    request_destroy(req);
    free(json);

    json = EMAILP(",\"payload\":{\"body\":\"b\",\"cc\":\"a@example.com,,b@example.com\"}}");
    REJECT(EM, json, "INVALID_EMAIL: payload.cc[1]: address must not be empty");
    free(json);
    json = EMAILP(",\"payload\":{\"body\":\"b\",\"bcc\":[\"ok@example.com\",\"bad@-x.org\"]}}");
    REJECT(EM, json, "INVALID_EMAIL: payload.bcc[1]: domain label must not start with '-'");
    free(json);
    json = EMAILP(",\"payload\":{\"body\":\"b\",\"cc\":{\"a\":1}}}");
    REJECT(EM, json, "INVALID_REQUEST: payload.cc: must be a string or an array of strings");
    free(json);

    /* 1 + 50 + 49 = 100 recipients: the limit. */
    cc = address_array("c", 50);
    bcc = address_array("b", 49);
    json = EMAILP(",\"payload\":{\"body\":\"b\",\"cc\":%s,\"bcc\":%s}}", cc, bcc);
    req = ACCEPT(EM, json);
    if (req)
        CHECK_INT(req->email.cc.count + req->email.bcc.count, 99);
    request_destroy(req);
    free(json);
    free(bcc);
    bcc = address_array("b", 50);
    json = EMAILP(",\"payload\":{\"body\":\"b\",\"cc\":%s,\"bcc\":%s}}", cc, bcc);
    REJECT(EM, json,
           "INVALID_REQUEST: payload.bcc: more than 100 recipients in to, cc and bcc together");
    free(json);
    free(cc);
    free(bcc);
    cc = address_array("c", 100);
    json = EMAILP(",\"payload\":{\"body\":\"b\",\"cc\":%s}}", cc);
    REJECT(EM, json,
           "INVALID_REQUEST: payload.cc: more than 100 recipients in to, cc and bcc together");
    free(json);
    free(cc);
}

static void test_reply_to(void)
{
    char *json = EMAILP(",\"payload\":{\"body\":\"b\",\"replyTo\":\"support@example.com\"}}");
    request_t *req = ACCEPT(EM, json);
    if (req)
        CHECK_STR(req->email.reply_to, "support@example.com");
    request_destroy(req);
    free(json);
    json = EMAILP(",\"payload\":{\"body\":\"b\",\"replyTo\":\"support\"}}");
    REJECT(EM, json, "INVALID_EMAIL: payload.replyTo: missing '@'");
    free(json);
    json = EMAILP(",\"payload\":{\"body\":\"b\",\"replyTo\":[\"a@example.com\"]}}");
    REJECT(EM, json, "INVALID_REQUEST: payload.replyTo: must be a string");
    free(json);
}

/* ---- SMS ---- */

static void test_sms_body(void)
{
    char *a1600 = rep("a", 1600), *a1601 = rep("a", 1601), *emoji = rep("\xf0\x9f\x98\x80", 1600);
    char *m;
    request_t *req;

    m = strf("\"body\":\"%s\"", a1600);
    accept_sms(TW, m);
    free(m);
    m = strf("\"body\":\"%s\"", a1601);
    REJECT_SMS(TW, m, "MESSAGE_TOO_LONG: payload.body: longer than 1600 characters (1601)");
    REJECT_SMS(SN, m, "MESSAGE_TOO_LONG: payload.body: longer than 1600 characters (1601)");
    free(m);
    /* 1600 emoji are 1600 characters (6400 octets, 3200 UCS-2 units). */
    m = strf("{\"message_id\":\"s\",\"org_id\":\"o\",\"to\":\"+14155550100\",\"payload\":{\"body\":"
             "\"%s\"}}",
             emoji);
    req = ACCEPT(SN, m);
    if (req) {
        CHECK_INT(req->sms.seg.chars, 1600);
        CHECK_INT(req->sms.seg.units, 3200);
        CHECK_INT(req->sms.seg.encoding, SMSSEG_UCS2);
        /* 33 surrogate pairs fill a 67-unit part (a 34th would straddle it): 49 parts. */
        CHECK_INT(req->sms.seg.segments, 49);
    }
    request_destroy(req);
    free(m);

    m = sms_json("\"body\":\"Hi {you}\"");
    req = ACCEPT(TW, m);
    if (req) {
        CHECK_STR(req->sms.body, "Hi {you}");
        CHECK_INT(req->sms.seg.encoding, SMSSEG_GSM7);
        CHECK_INT(req->sms.seg.units, 10);
        CHECK_INT(req->sms.seg.segments, 1);
    }
    request_destroy(req);
    free(m);

    REJECT_SMS(TW, "\"statusCallback\":\"https://example.com\"",
               "INVALID_REQUEST: payload.body: required");
    REJECT_SMS(SN, "\"body\":null", "INVALID_REQUEST: payload.body: required");
    REJECT_SMS(SN, "\"body\":\"\"", "INVALID_REQUEST: payload.body: must not be empty");
    REJECT_SMS(TW, "\"body\":42", "INVALID_REQUEST: payload.body: must be a string");
    REJECT(TW, "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"+14155550100\"}",
           "INVALID_REQUEST: payload: required");
    free(a1600);
    free(a1601);
    free(emoji);
}

static void test_status_callback(void)
{
    char *long_url = rep("a", 2048 - 20), *m;
    request_t *req;

    m = sms_json("\"body\":\"b\",\"statusCallback\":\"https://hooks.example.com:8443/t?org=a#x\"");
    req = ACCEPT(TW, m);
    if (req)
        CHECK_STR(req->sms.status_callback, "https://hooks.example.com:8443/t?org=a#x");
    request_destroy(req);
    free(m);
    accept_sms(TW, "\"body\":\"b\",\"statusCallback\":\"HTTP://user:pw@[2001:db8::1]:80/cb\"");
    accept_sms(TW, "\"body\":\"b\",\"statusCallback\":null");
    m = strf("\"body\":\"b\",\"statusCallback\":\"https://example.com/%s\"", long_url);
    accept_sms(TW, m); /* exactly 2048 octets */
    free(m);
    m = strf("\"body\":\"b\",\"statusCallback\":\"https://example.com/%sa\"", long_url);
    REJECT_SMS(TW, m, "INVALID_REQUEST: payload.statusCallback: longer than 2048 octets");
    free(m);

    REJECT_SMS(TW, "\"body\":\"b\",\"statusCallback\":\"ftp://example.com/cb\"",
               "INVALID_REQUEST: payload.statusCallback: must be an http or https URL");
    REJECT_SMS(TW, "\"body\":\"b\",\"statusCallback\":\"example.com/cb\"",
               "INVALID_REQUEST: payload.statusCallback: must be an http or https URL");
    REJECT_SMS(TW, "\"body\":\"b\",\"statusCallback\":\"https:///cb\"",
               "INVALID_REQUEST: payload.statusCallback: must have a host");
    REJECT_SMS(TW, "\"body\":\"b\",\"statusCallback\":\"https://my_host.example.com/cb\"",
               "INVALID_REQUEST: payload.statusCallback: host may contain only letters, digits, "
               "'-' and '.'");
    REJECT_SMS(TW, "\"body\":\"b\",\"statusCallback\":\"https://example.com:0/cb\"",
               "INVALID_REQUEST: payload.statusCallback: port must be 1-65535");
    REJECT_SMS(TW, "\"body\":\"b\",\"statusCallback\":\"https://example.com:65536/cb\"",
               "INVALID_REQUEST: payload.statusCallback: port must be 1-65535");
    REJECT_SMS(TW, "\"body\":\"b\",\"statusCallback\":\"https://[::1/cb\"",
               "INVALID_REQUEST: payload.statusCallback: host is not valid");
    REJECT_SMS(TW, "\"body\":\"b\",\"statusCallback\":\"https://example.com/a b\"",
               "INVALID_REQUEST: payload.statusCallback: must not contain spaces, control or "
               "non-ASCII characters");
    REJECT_SMS(TW, "\"body\":\"b\",\"statusCallback\":true",
               "INVALID_REQUEST: payload.statusCallback: must be a string");
    /* SNS has no status callback: the field is ignored there. */
    accept_sms(SN, "\"body\":\"b\",\"statusCallback\":\"ftp://example.com/cb\"");
    free(long_url);
}

static void test_validity_period(void)
{
    char *m = sms_json("\"body\":\"b\",\"validityPeriod\":14400");
    request_t *req = ACCEPT(TW, m);
    if (req)
        CHECK_INT(req->sms.validity_period, 14400);
    request_destroy(req);
    free(m);
    m = sms_json("\"body\":\"b\"");
    req = ACCEPT(TW, m);
    if (req)
        CHECK_INT(req->sms.validity_period, 0);
    request_destroy(req);
    free(m);
    accept_sms(TW, "\"body\":\"b\",\"validityPeriod\":1");
    accept_sms(TW, "\"body\":\"b\",\"validityPeriod\":null");

    static const char *const bad[] = {"0",    "14401", "-5",   "\"60\"", "1.5",
                                      "60.0", "6e1",   "true", "[60]",   "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *members = strf("\"body\":\"b\",\"validityPeriod\":%s", bad[i]);
        REJECT_SMS(TW, members,
                   "INVALID_REQUEST: payload.validityPeriod: must be an integer from 1 to 14400");
        free(members);
    }
}

static void test_max_price(void)
{
    char *m = sms_json("\"body\":\"b\",\"maxPrice\":\"0.50\"");
    request_t *req = ACCEPT(SN, m);
    if (req)
        CHECK_STR(req->sms.max_price, "0.50");
    request_destroy(req);
    free(m);
    accept_sms(SN, "\"body\":\"b\",\"maxPrice\":\"5\"");
    accept_sms(SN, "\"body\":\"b\",\"maxPrice\":\"1234567890.1234567890\"");
    accept_sms(SN, "\"body\":\"b\",\"maxPrice\":null");
    static const char *const bad[] = {
        "0.5",  "\"1.\"", "\".5\"",  "\"-1\"",          "\"1e2\"",
        "\"\"", "\" 1\"", "\"1,5\"", "\"12345678901\"", "\"1.12345678901\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *members = strf("\"body\":\"b\",\"maxPrice\":%s", bad[i]);
        REJECT_SMS(SN, members,
                   "INVALID_REQUEST: payload.maxPrice: must be a decimal string such as \"0.50\"");
        free(members);
    }
}

static void test_sms_type(void)
{
    char *m = sms_json("\"body\":\"b\"");
    request_t *req = ACCEPT(SN, m);
    if (req)
        CHECK_INT(req->sms.type, REQUEST_SMS_TRANSACTIONAL);
    request_destroy(req);
    free(m);
    m = sms_json("\"body\":\"b\",\"smsType\":\"Promotional\"");
    req = ACCEPT(SN, m);
    if (req) {
        CHECK_INT(req->sms.type, REQUEST_SMS_PROMOTIONAL);
        CHECK_STR(request_sms_type_name(req->sms.type), "Promotional");
    }
    request_destroy(req);
    free(m);
    accept_sms(SN, "\"body\":\"b\",\"smsType\":\"Transactional\"");
    REJECT_SMS(SN, "\"body\":\"b\",\"smsType\":\"promotional\"",
               "INVALID_REQUEST: payload.smsType: must be \"Transactional\" or \"Promotional\"");
    REJECT_SMS(SN, "\"body\":\"b\",\"smsType\":1",
               "INVALID_REQUEST: payload.smsType: must be \"Transactional\" or \"Promotional\"");
}

/* ---- metadata, unknown fields, echo ---- */

static void test_metadata(void)
{
    char *json, *blob;
    request_t *req;

    json = EMAIL(",\"metadata\":{\"campaign\":\"x/y\",\"n\":1.50,\"tags\":[\"a\"],\"o\":{}}}");
    req = ACCEPT(EM, json);
    if (req)
        CHECK_STR(req->metadata, "{\"campaign\":\"x/y\",\"n\":1.50,\"tags\":[\"a\"],\"o\":{}}");
    request_destroy(req);
    free(json);
    json = EMAIL(",\"metadata\":null}");
    req = ACCEPT(EM, json);
    if (req)
        CHECK(req->metadata == NULL);
    request_destroy(req);
    free(json);

    /* {"b":"..."} is 8 octets around the string: 4088 + 8 = 4096 is the limit. */
    blob = rep("x", 4088);
    json = EMAIL(",\"metadata\":{\"b\":\"%s\"}}", blob);
    ACCEPT_ONLY(EM, json);
    free(json);
    free(blob);
    blob = rep("x", 4089);
    json = EMAIL(",\"metadata\":{\"b\":\"%s\"}}", blob);
    REJECT(EM, json, "INVALID_REQUEST: metadata: larger than 4 KiB once serialised (4097 bytes)");
    free(json);
    free(blob);
    json = EMAIL(",\"metadata\":\"campaign\"}");
    REJECT(EM, json, "INVALID_REQUEST: metadata: must be an object");
    free(json);
}

static void test_unknown_fields_ignored(void)
{
    char *json = EMAIL(",\"priority\":\"high\",\"extra\":{\"deep\":[1,2,3]}}");
    ACCEPT_ONLY(EM, json);
    free(json);
    /* Other channels' payload fields are not looked at. */
    accept_sms(TW, "\"body\":\"b\",\"maxPrice\":7,\"smsType\":\"nope\",\"htmlBody\":false");
    accept_sms(SN, "\"body\":\"b\",\"validityPeriod\":\"60\"");
}

static void test_echo_on_failure(void)
{
    char err[256];
    request_t *req = NULL;
    const char *json;
    errcode_t rc;

    /* A later field fails: the echo fields are there, the rest is not. */
    json = "{\"message_id\":\"m-9\",\"org_id\":\"acme\",\"to\":\"0612345678\","
           "\"metadata\":{\"k\":\"v\"},\"payload\":{\"body\":\"b\"}}";
    rc = request_parse(json, strlen(json), TW, &req, err, sizeof(err));
    CHECK_INT(rc, ERRCODE_INVALID_PHONE);
    REQUIRE(req != NULL);
    CHECK_STR(req->message_id, "m-9");
    CHECK_STR(req->org_id, "acme");
    CHECK_STR(req->metadata, "{\"k\":\"v\"}");
    CHECK(req->to == NULL && req->idempotency_key == NULL && req->sms.body == NULL);
    request_destroy(req);

    /* message_id fails: org_id and metadata are still read. */
    json = "{\"message_id\":\"\",\"org_id\":\"acme\",\"metadata\":{\"k\":1}}";
    rc = request_parse(json, strlen(json), EM, &req, err, sizeof(err));
    CHECK_INT(rc, ERRCODE_INVALID_REQUEST);
    CHECK_STR(err, "INVALID_REQUEST: message_id: must be 1-128 characters");
    REQUIRE(req != NULL);
    CHECK(req->message_id == NULL);
    CHECK_STR(req->org_id, "acme");
    CHECK_STR(req->metadata, "{\"k\":1}");
    request_destroy(req);

    /* metadata fails: the ids are still read; its error comes after the other fields'. */
    json = "{\"message_id\":\"m\",\"org_id\":\"o\",\"metadata\":[1]}";
    rc = request_parse(json, strlen(json), EM, &req, err, sizeof(err));
    CHECK_STR(err, "INVALID_REQUEST: to: required");
    REQUIRE(req != NULL);
    CHECK_STR(req->message_id, "m");
    CHECK(req->metadata == NULL);
    request_destroy(req);
    json = "{\"message_id\":\"m\",\"org_id\":\"o\",\"to\":\"+14155550100\",\"metadata\":[1],"
           "\"payload\":{\"body\":\"b\"}}";
    rc = request_parse(json, strlen(json), SN, &req, err, sizeof(err));
    CHECK_INT(rc, ERRCODE_INVALID_REQUEST);
    CHECK_STR(err, "INVALID_REQUEST: metadata: must be an object");
    REQUIRE(req != NULL);
    CHECK_STR(req->org_id, "o");
    request_destroy(req);

    /* Not readable at all: no request. */
    req = (request_t *)1;
    rc = request_parse("{", 1, EM, &req, err, sizeof(err));
    CHECK_INT(rc, ERRCODE_INVALID_REQUEST);
    CHECK(req == NULL);
}

static void test_full_success(void)
{
    const char *json =
        "{\"message_id\":\"m-2\",\"org_id\":\"acme\",\"idempotency_key\":\"k\","
        "\"to\":\"u@example.com\",\"subject\":\"S\",\"payload\":{\"htmlBody\":\"<p>h</p>\","
        "\"textBody\":\"t\",\"cc\":\"a@example.com\",\"bcc\":[\"b@example.com\"],"
        "\"replyTo\":\"r@example.com\"},\"metadata\":{\"x\":1}}";
    char err[256] = "unchanged";
    request_t *req = NULL;
    CHECK_INT(request_parse(json, strlen(json), EM, &req, err, sizeof(err)), ERRCODE_OK);
    CHECK_STR(err, "");
    REQUIRE(req != NULL);
    CHECK_INT(req->channel, REQUEST_CHANNEL_EMAIL);
    CHECK_STR(req->message_id, "m-2");
    CHECK_STR(req->org_id, "acme");
    CHECK_STR(req->idempotency_key, "k");
    CHECK_STR(req->to, "u@example.com");
    CHECK_STR(req->email.subject, "S");
    CHECK_STR(req->email.html_body, "<p>h</p>");
    CHECK_STR(req->email.text_body, "t");
    CHECK(req->email.body == NULL);
    CHECK_STR(req->email.cc.addrs[0], "a@example.com");
    CHECK_STR(req->email.bcc.addrs[0], "b@example.com");
    CHECK_STR(req->email.reply_to, "r@example.com");
    CHECK_STR(req->metadata, "{\"x\":1}");
    request_destroy(req);
    request_destroy(NULL);
}

static void test_channel_names(void)
{
    request_channel_t ch;
    CHECK_STR(request_channel_name(REQUEST_CHANNEL_EMAIL), "email");
    CHECK_STR(request_channel_name(REQUEST_CHANNEL_TWILIO), "twilio");
    CHECK_STR(request_channel_name(REQUEST_CHANNEL_SNS), "sns");
    CHECK(request_channel_parse("sns", &ch) == 0 && ch == REQUEST_CHANNEL_SNS);
    CHECK(request_channel_parse("SMS", &ch) == -1);
    CHECK_STR(request_sms_type_name(REQUEST_SMS_TRANSACTIONAL), "Transactional");
}

/* ---- the examples shared with the schema test (tests/data/requests) ---- */

/* The source tree: NOTIFY_SOURCE_DIR when set, else derived from this file's path, which
 * CMake passes to the compiler in full. */
static const char *source_dir(void)
{
    static char dir[4096];
    const char *env = getenv("NOTIFY_SOURCE_DIR");
    const char *suffix = "/tests/unit/test_request.c";
    size_t flen = strlen(__FILE__), slen = strlen(suffix);

    if (env && env[0])
        return env;
    if (flen > slen && flen - slen < sizeof(dir) && strcmp(__FILE__ + flen - slen, suffix) == 0) {
        memcpy(dir, __FILE__, flen - slen);
        dir[flen - slen] = '\0';
        return dir;
    }
    return ".";
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 1 << 20;

    if (f == NULL)
        return NULL;
    buf = malloc(cap);
    if (buf == NULL)
        abort();
    *len = fread(buf, 1, cap - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void test_shared_examples(void)
{
    char path[4200];
    size_t len, checked = 0;
    char *text;
    json_object *cases;

    snprintf(path, sizeof(path), "%s/tests/data/requests/cases.json", source_dir());
    text = read_file(path, &len);
    if (text == NULL) {
        fprintf(stderr, "  cannot read %s\n", path);
        testutil_case_failed = 1;
        return;
    }
    cases = json_tokener_parse(text);
    free(text);
    REQUIRE(cases != NULL && json_object_is_type(cases, json_type_array));
    for (size_t i = 0; i < json_object_array_length(cases); i++) {
        json_object *c = json_object_array_get_idx(cases, i), *v;
        const char *file = NULL, *errstr = NULL;
        request_channel_t ch = REQUEST_CHANNEL_EMAIL;
        bool valid = false;

        if (json_object_object_get_ex(c, "file", &v))
            file = json_object_get_string(v);
        if (json_object_object_get_ex(c, "channel", &v))
            CHECK(request_channel_parse(json_object_get_string(v), &ch) == 0);
        if (json_object_object_get_ex(c, "valid", &v))
            valid = json_object_get_boolean(v);
        if (json_object_object_get_ex(c, "errstr", &v))
            errstr = json_object_get_string(v);
        REQUIRE(file != NULL && (valid || errstr != NULL));
        snprintf(path, sizeof(path), "%s/tests/data/requests/%s", source_dir(), file);
        text = read_file(path, &len);
        if (text == NULL) {
            fprintf(stderr, "  cannot read %s\n", path);
            testutil_case_failed = 1;
            continue;
        }
        fprintf(stderr, "  %s\n", file);
        request_destroy(check_parse(__LINE__, ch, text, len, valid ? NULL : errstr));
        free(text);
        checked++;
    }
    CHECK(checked >= 20);
    json_object_put(cases);
}

int main(void)
{
    TEST_RUN(test_value);
    TEST_RUN(test_value_size);
    TEST_RUN(test_message_id);
    TEST_RUN(test_org_id);
    TEST_RUN(test_idempotency_key);
    TEST_RUN(test_to_email);
    TEST_RUN(test_to_phone);
    TEST_RUN(test_subject);
    TEST_RUN(test_subject_encoding);
    TEST_RUN(test_email_bodies);
    TEST_RUN(test_cc_bcc);
    TEST_RUN(test_reply_to);
    TEST_RUN(test_sms_body);
    TEST_RUN(test_status_callback);
    TEST_RUN(test_validity_period);
    TEST_RUN(test_max_price);
    TEST_RUN(test_sms_type);
    TEST_RUN(test_metadata);
    TEST_RUN(test_unknown_fields_ignored);
    TEST_RUN(test_echo_on_failure);
    TEST_RUN(test_full_success);
    TEST_RUN(test_channel_names);
    TEST_RUN(test_shared_examples);
    return TEST_EXIT();
}
