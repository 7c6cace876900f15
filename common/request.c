#include "request.h"

#include "base64.h"
#include "jsonstrict.h"
#include "phone.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest rule text: the details the helpers of other modules write fit as well. */
#define REQUEST_RULE_SIZE 256

/* RFC 2047: "=?UTF-8?B?" + base64 + "?=", at most 75 characters; 45 octets of text give
 * 60 characters of base64, the most that fits in whole groups of four. */
#define REQUEST_EW_PREFIX    "=?UTF-8?B?"
#define REQUEST_EW_OVERHEAD  12
#define REQUEST_EW_MAX_BYTES 45

/* Where an error goes while a request is read: the first one wins. */
typedef struct request_err_s {
    errcode_t code;
    char *errstr;
    size_t errstr_size;
} request_err_t;

/* Records an error unless one is already recorded; `detail` is "<path>: <rule>". Returns -1
 * so that callers can `return request_set(...)`. */
static int request_set(request_err_t *err, errcode_t code, const char *detail)
{
    if (err->code != ERRCODE_OK)
        return -1;
    err->code = code;
    if (err->errstr && err->errstr_size > 0)
        snprintf(err->errstr, err->errstr_size, "%s: %s", errcode_name(code), detail);
    return -1;
}

static int request_fail(request_err_t *err, errcode_t code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int request_fail(request_err_t *err, errcode_t code, const char *path, const char *fmt, ...)
{
    char detail[REQUEST_RULE_SIZE + 64];
    va_list ap;
    int n;

    if (err->code != ERRCODE_OK)
        return -1;
    n = snprintf(detail, sizeof(detail), "%s: ", path);
    if (n < 0 || (size_t)n >= sizeof(detail))
        n = 0;
    va_start(ap, fmt);
    vsnprintf(detail + n, sizeof(detail) - (size_t)n, fmt, ap);
    va_end(ap);
    return request_set(err, code, detail);
}

static char *request_strndup(const char *s, size_t len)
{
    char *copy = strndup(s, len);
    if (copy == NULL)
        abort(); /* out of memory: the daemon restarts and the message is redelivered */
    return copy;
}

/* Code points of valid UTF-8 (json-c has checked it): every byte but continuation bytes. */
static size_t request_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    }
    return n;
}

/* Length of the UTF-8 sequence that starts with `lead` (1 for a stray byte, so that a
 * caller always advances). */
static size_t request_utf8_seq_len(unsigned char lead)
{
    if (lead >= 0xF0)
        return 4;
    if (lead >= 0xE0)
        return 3;
    if (lead >= 0xC0)
        return 2;
    return 1;
}

/*
 * Looks up `key` in `obj`. Returns 1 with *value set when present and not null, 0 when
 * absent or null.
 */
static int request_member(json_object *obj, const char *key, json_object **value)
{
    *value = NULL;
    if (!json_object_object_get_ex(obj, key, value) || *value == NULL)
        return 0;
    return 1;
}

/*
 * Reads a string member. Returns 1 when present (then *s and *len are set), 0 when absent
 * or null and not required, or -1 after recording an error: required and absent, not a
 * string, a NUL inside, or a character count outside [min_chars, max_chars] (max_chars 0:
 * no limit).
 */
static int request_string(request_err_t *err, json_object *obj, const char *key, const char *path,
                          bool required, size_t min_chars, size_t max_chars, const char **s,
                          size_t *len)
{
    json_object *v;
    size_t chars;

    if (!request_member(obj, key, &v)) {
        if (!required)
            return 0;
        request_fail(err, ERRCODE_INVALID_REQUEST, path, "required");
        return -1;
    }
    if (!json_object_is_type(v, json_type_string))
        return request_fail(err, ERRCODE_INVALID_REQUEST, path, "must be a string");
    *s = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    if (memchr(*s, '\0', *len) != NULL)
        return request_fail(err, ERRCODE_INVALID_REQUEST, path, "must not contain NUL characters");
    if (min_chars > 0 || max_chars > 0) {
        chars = request_utf8_chars(*s, *len);
        if (chars < min_chars || (max_chars > 0 && chars > max_chars))
            return request_fail(err, ERRCODE_INVALID_REQUEST, path, "must be %zu-%zu characters",
                                min_chars, max_chars);
    }
    return 1;
}

/* A string member copied into *dst when present. Returns 0, or -1 after an error. */
static int request_copy_string(request_err_t *err, json_object *obj, const char *key,
                               const char *path, bool required, size_t min_chars, size_t max_chars,
                               char **dst)
{
    const char *s;
    size_t len;
    int rc = request_string(err, obj, key, path, required, min_chars, max_chars, &s, &len);
    if (rc < 0)
        return -1;
    if (rc > 0)
        *dst = request_strndup(s, len);
    return 0;
}

static int request_object(request_err_t *err, json_object *obj, const char *key, const char *path,
                          bool required, json_object **value)
{
    if (!request_member(obj, key, value)) {
        if (required)
            request_fail(err, ERRCODE_INVALID_REQUEST, path, "required");
        return required ? -1 : 0;
    }
    if (!json_object_is_type(*value, json_type_object))
        return request_fail(err, ERRCODE_INVALID_REQUEST, path, "must be an object");
    return 1;
}

static int request_metadata(request_err_t *err, json_object *root, request_t *req)
{
    json_object *v;
    const char *text;
    size_t len;
    int rc = request_object(err, root, "metadata", "metadata", false, &v);

    if (rc <= 0)
        return rc;
    text = json_object_to_json_string_length(
        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (text == NULL)
        abort();
    if (len > REQUEST_METADATA_MAX)
        return request_fail(err, ERRCODE_INVALID_REQUEST, "metadata",
                            "larger than 4 KiB once serialised (%zu bytes)", len);
    req->metadata = request_strndup(text, len);
    return 0;
}

/* Printable ASCII and TAB: a subject that needs no encoding. */
static bool request_subject_is_plain(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7F)
            return false;
    }
    return true;
}

/* Octets of the next encoded word's text at s[start..len): whole characters, at most
 * REQUEST_EW_MAX_BYTES (a lone character is never longer than that). */
static size_t request_subject_chunk(const char *s, size_t len, size_t start)
{
    size_t chunk = 0;

    while (start + chunk < len) {
        size_t n = request_utf8_seq_len((unsigned char)s[start + chunk]);
        if (n > len - start - chunk)
            n = len - start - chunk;
        if (chunk + n > REQUEST_EW_MAX_BYTES)
            break;
        chunk += n;
    }
    return chunk;
}

size_t request_subject_encoded_len(const char *subject, size_t len)
{
    size_t total = 0, start, chunk;

    if (request_subject_is_plain(subject, len))
        return len;
    for (start = 0; start < len; start += chunk) {
        chunk = request_subject_chunk(subject, len, start);
        if (start > 0)
            total++; /* the space between two words */
        total += REQUEST_EW_OVERHEAD + base64_encoded_size(chunk);
    }
    return total;
}

char *request_subject_encode(const char *subject, size_t len, size_t *out_len)
{
    size_t total = request_subject_encoded_len(subject, len);
    size_t pos = 0, start, chunk;
    char *out = malloc(total + 1);

    if (out == NULL)
        abort(); /* out of memory: the daemon restarts and the message is redelivered */
    if (request_subject_is_plain(subject, len)) {
        memcpy(out, subject, len);
        pos = len;
        goto out;
    }
    for (start = 0; start < len; start += chunk) {
        chunk = request_subject_chunk(subject, len, start);
        if (start > 0)
            out[pos++] = ' ';
        memcpy(out + pos, REQUEST_EW_PREFIX, sizeof(REQUEST_EW_PREFIX) - 1);
        pos += sizeof(REQUEST_EW_PREFIX) - 1;
        if (base64_encode(subject + start, chunk, out + pos, total + 1 - pos) != 0)
            abort(); /* the buffer was sized by the same walk: cannot happen */
        pos += base64_encoded_size(chunk);
        out[pos++] = '?';
        out[pos++] = '=';
    }

out:
    out[pos] = '\0';
    if (out_len)
        *out_len = pos;
    return out;
}

static int request_email_subject(request_err_t *err, json_object *root, request_t *req)
{
    const char *s;
    size_t len, encoded;

    if (request_string(err, root, "subject", "subject", true, 0, 0, &s, &len) < 0)
        return -1;
    /* A line break in a header value would start a new header (injection); other control
     * characters have no place in a subject either. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return request_fail(err, ERRCODE_INVALID_REQUEST, "subject",
                                "must not contain CR, LF or other control characters");
    }
    encoded = request_subject_encoded_len(s, len);
    if (encoded > REQUEST_SUBJECT_MAX_OCTETS)
        return request_fail(err, ERRCODE_INVALID_REQUEST, "subject",
                            "longer than 998 octets once encoded (%zu)", encoded);
    req->email.subject = request_strndup(s, len);
    return 0;
}

static int request_email_address(request_err_t *err, json_object *obj, const char *key,
                                 const char *path, bool required, char **dst)
{
    char rule[REQUEST_RULE_SIZE];
    const char *s;
    size_t len;
    int rc = request_string(err, obj, key, path, required, 0, 0, &s, &len);

    if (rc <= 0)
        return rc;
    if (emailaddr_validate(s, len, rule, sizeof(rule)) != 0)
        return request_fail(err, ERRCODE_INVALID_EMAIL, path, "%s", rule);
    *dst = request_strndup(s, len);
    return 0;
}

static int request_email_list(request_err_t *err, json_object *payload, const char *key,
                              const char *path, emailaddr_list_t *list)
{
    char detail[REQUEST_RULE_SIZE + 64];
    json_object *v = NULL;
    int rc;

    json_object_object_get_ex(payload, key, &v);
    rc = emailaddr_list_add_json(list, path, v, detail, sizeof(detail));
    if (rc == 0)
        return 0;
    /* The list's message already starts with the path, down to the element. */
    return request_set(
        err, rc == EMAILADDR_ERR_ADDRESS ? ERRCODE_INVALID_EMAIL : ERRCODE_INVALID_REQUEST, detail);
}

static int request_email_payload(request_err_t *err, json_object *payload, request_t *req)
{
    if (request_copy_string(err, payload, "htmlBody", "payload.htmlBody", false, 0, 0,
                            &req->email.html_body) < 0 ||
        request_copy_string(err, payload, "textBody", "payload.textBody", false, 0, 0,
                            &req->email.text_body) < 0 ||
        request_copy_string(err, payload, "body", "payload.body", false, 0, 0, &req->email.body) <
            0)
        return -1;
    if (!req->email.html_body && !req->email.text_body && !req->email.body)
        return request_fail(err, ERRCODE_INVALID_REQUEST, "payload",
                            "one of htmlBody, textBody or body is required");
    if (request_email_list(err, payload, "cc", "payload.cc", &req->email.cc) < 0)
        return -1;
    if (1 + req->email.cc.count > EMAILADDR_LIST_MAX)
        return request_fail(err, ERRCODE_INVALID_REQUEST, "payload.cc",
                            "more than %d recipients in to, cc and bcc together",
                            EMAILADDR_LIST_MAX);
    if (request_email_list(err, payload, "bcc", "payload.bcc", &req->email.bcc) < 0)
        return -1;
    if (1 + req->email.cc.count + req->email.bcc.count > EMAILADDR_LIST_MAX)
        return request_fail(err, ERRCODE_INVALID_REQUEST, "payload.bcc",
                            "more than %d recipients in to, cc and bcc together",
                            EMAILADDR_LIST_MAX);
    return request_email_address(err, payload, "replyTo", "payload.replyTo", false,
                                 &req->email.reply_to);
}

static bool request_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* scheme "://" [userinfo "@"] host [":" port] [path, query, fragment] */
static int request_url(request_err_t *err, const char *path, const char *s, size_t len)
{
    const char *p, *auth_end, *host, *host_end, *port = NULL;
    size_t i;

    if (len > REQUEST_URL_MAX)
        return request_fail(err, ERRCODE_INVALID_REQUEST, path, "longer than 2048 octets");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7F)
            return request_fail(err, ERRCODE_INVALID_REQUEST, path,
                                "must not contain spaces, control or non-ASCII characters");
    }
    if (len >= 7 && strncasecmp(s, "http://", 7) == 0)
        p = s + 7;
    else if (len >= 8 && strncasecmp(s, "https://", 8) == 0)
        p = s + 8;
    else
        return request_fail(err, ERRCODE_INVALID_REQUEST, path, "must be an http or https URL");

    for (auth_end = p; auth_end < s + len; auth_end++) {
        if (*auth_end == '/' || *auth_end == '?' || *auth_end == '#')
            break;
    }
    host = p;
    for (const char *q = p; q < auth_end; q++) {
        if (*q == '@')
            host = q + 1;
    }
    if (host < auth_end && *host == '[') {
        char text[64];
        unsigned char addr[16];
        const char *close = memchr(host, ']', (size_t)(auth_end - host));
        size_t n = close ? (size_t)(close - host - 1) : 0;
        if (close == NULL || n == 0 || n >= sizeof(text))
            return request_fail(err, ERRCODE_INVALID_REQUEST, path, "host is not valid");
        memcpy(text, host + 1, n);
        text[n] = '\0';
        if (inet_pton(AF_INET6, text, addr) != 1)
            return request_fail(err, ERRCODE_INVALID_REQUEST, path, "host is not valid");
        host_end = close + 1;
        if (host_end < auth_end && *host_end != ':')
            return request_fail(err, ERRCODE_INVALID_REQUEST, path, "host is not valid");
    } else {
        for (host_end = host; host_end < auth_end && *host_end != ':'; host_end++) {
            char c = *host_end;
            /* Twilio refuses host names with underscores, so they fail here already. */
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || request_is_digit(c) ||
                  c == '-' || c == '.'))
                return request_fail(err, ERRCODE_INVALID_REQUEST, path,
                                    "host may contain only letters, digits, '-' and '.'");
        }
    }
    if (host_end == host)
        return request_fail(err, ERRCODE_INVALID_REQUEST, path, "must have a host");
    if (host_end < auth_end) {
        long value = 0;
        port = host_end + 1;
        if (port == auth_end || auth_end - port > 5)
            return request_fail(err, ERRCODE_INVALID_REQUEST, path, "port must be 1-65535");
        for (const char *q = port; q < auth_end; q++) {
            if (!request_is_digit(*q))
                return request_fail(err, ERRCODE_INVALID_REQUEST, path, "port must be 1-65535");
            value = value * 10 + (*q - '0');
        }
        if (value < 1 || value > 65535)
            return request_fail(err, ERRCODE_INVALID_REQUEST, path, "port must be 1-65535");
    }
    return 0;
}

/* digits{1,10} ["." digits{1,10}] */
static bool request_decimal(const char *s, size_t len)
{
    size_t i = 0, n = 0;

    while (i < len && request_is_digit(s[i]))
        i++;
    if (i == 0 || i > 10)
        return false;
    if (i == len)
        return true;
    if (s[i++] != '.')
        return false;
    while (i + n < len && request_is_digit(s[i + n]))
        n++;
    return n >= 1 && n <= 10 && i + n == len;
}

static int request_sms_body(request_err_t *err, json_object *payload, request_t *req)
{
    const char *s;
    size_t len, chars;

    if (request_string(err, payload, "body", "payload.body", true, 0, 0, &s, &len) < 0)
        return -1;
    if (len == 0)
        return request_fail(err, ERRCODE_INVALID_REQUEST, "payload.body", "must not be empty");
    chars = request_utf8_chars(s, len);
    if (chars > SMSSEG_MAX_CHARS)
        return request_fail(err, ERRCODE_MESSAGE_TOO_LONG, "payload.body",
                            "longer than 1600 characters (%zu)", chars);
    if (smsseg_analyze(s, len, &req->sms.seg) != 0)
        return request_fail(err, ERRCODE_INVALID_REQUEST, "payload.body", "must be valid UTF-8");
    req->sms.body = request_strndup(s, len);
    return 0;
}

static int request_twilio_payload(request_err_t *err, json_object *payload, request_t *req)
{
    json_object *v;
    const char *s;
    size_t len;
    int rc;

    if (request_sms_body(err, payload, req) < 0)
        return -1;
    rc = request_string(err, payload, "statusCallback", "payload.statusCallback", false, 0, 0, &s,
                        &len);
    if (rc < 0 || (rc > 0 && request_url(err, "payload.statusCallback", s, len) < 0))
        return -1;
    if (rc > 0)
        req->sms.status_callback = request_strndup(s, len);

    if (request_member(payload, "validityPeriod", &v)) {
        /* json-c types a number by its spelling: 60 is an int, 60.0 and 6e1 are doubles. */
        int64_t n = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
        if (n < 1 || n > REQUEST_VALIDITY_MAX)
            return request_fail(err, ERRCODE_INVALID_REQUEST, "payload.validityPeriod",
                                "must be an integer from 1 to 14400");
        req->sms.validity_period = (int)n;
    }
    return 0;
}

static int request_sns_payload(request_err_t *err, json_object *payload, request_t *req)
{
    json_object *v;

    if (request_sms_body(err, payload, req) < 0)
        return -1;
    if (request_member(payload, "maxPrice", &v)) {
        if (!json_object_is_type(v, json_type_string) ||
            !request_decimal(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
            return request_fail(err, ERRCODE_INVALID_REQUEST, "payload.maxPrice",
                                "must be a decimal string such as \"0.50\"");
        req->sms.max_price =
            request_strndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
    }
    req->sms.type = REQUEST_SMS_TRANSACTIONAL;
    if (request_member(payload, "smsType", &v)) {
        const char *t = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (strcmp(t, "Transactional") == 0)
            req->sms.type = REQUEST_SMS_TRANSACTIONAL;
        else if (strcmp(t, "Promotional") == 0)
            req->sms.type = REQUEST_SMS_PROMOTIONAL;
        else
            return request_fail(err, ERRCODE_INVALID_REQUEST, "payload.smsType",
                                "must be \"Transactional\" or \"Promotional\"");
    }
    return 0;
}

static int request_to(request_err_t *err, json_object *root, request_t *req)
{
    char rule[REQUEST_RULE_SIZE];
    char e164[PHONE_E164_SIZE];
    const char *s;
    size_t len;

    if (req->channel == REQUEST_CHANNEL_EMAIL)
        return request_email_address(err, root, "to", "to", true, &req->to);
    if (request_string(err, root, "to", "to", true, 0, 0, &s, &len) < 0)
        return -1;
    if (phone_normalize_e164(s, e164, sizeof(e164), rule, sizeof(rule)) != 0)
        return request_fail(err, ERRCODE_INVALID_PHONE, "to", "%s", rule);
    req->to = request_strndup(e164, strlen(e164));
    return 0;
}

/* Parses the value into a JSON object, or records why it is not one. */
static json_object *request_read_json(request_err_t *err, const char *value, size_t len)
{
    json_object *root = NULL;
    char reason[128];
    switch (
        jsonstrict_parse_object(value, len, REQUEST_JSON_DEPTH, &root, reason, sizeof(reason))) {
    case JSONSTRICT_OK:
        break;
    case JSONSTRICT_ERR_NOT_OBJECT:
        request_fail(err, ERRCODE_INVALID_REQUEST, "value", "must be a JSON object");
        break;
    case JSONSTRICT_ERR_SYNTAX:
        request_fail(err, ERRCODE_INVALID_REQUEST, "value", "not valid JSON (%s)", reason);
        break;
    }
    return root;
}

static void request_free_fields(request_t *req, bool keep_echo)
{
    if (!keep_echo) {
        free(req->message_id);
        free(req->org_id);
        free(req->metadata);
        req->message_id = req->org_id = req->metadata = NULL;
    }
    free(req->idempotency_key);
    free(req->to);
    free(req->email.subject);
    free(req->email.html_body);
    free(req->email.text_body);
    free(req->email.body);
    free(req->email.reply_to);
    emailaddr_list_clear(&req->email.cc);
    emailaddr_list_clear(&req->email.bcc);
    free(req->sms.body);
    free(req->sms.status_callback);
    free(req->sms.max_price);
    req->idempotency_key = req->to = NULL;
    memset(&req->email, 0, sizeof(req->email));
    memset(&req->sms, 0, sizeof(req->sms));
}

errcode_t request_parse(const char *value, size_t len, request_channel_t channel, request_t **out,
                        char *errstr, size_t errstr_size)
{
    request_err_t err = {ERRCODE_OK, errstr, errstr_size};
    request_err_t meta_err = {ERRCODE_OK, NULL, 0};
    char meta_errstr[REQUEST_RULE_SIZE + 64] = "";
    request_t *req = NULL;
    json_object *root = NULL, *payload;

    *out = NULL;
    if (errstr && errstr_size > 0)
        errstr[0] = '\0';
    if (value == NULL || len == 0) {
        /* A tombstone or an empty value: nothing to read. */
        request_fail(&err, ERRCODE_INVALID_REQUEST, "value", "empty");
        goto out;
    }
    if (len > REQUEST_MAX_VALUE_SIZE) {
        request_fail(&err, ERRCODE_INVALID_REQUEST, "value", "larger than 26 MiB (%zu bytes)", len);
        goto out;
    }
    root = request_read_json(&err, value, len);
    if (root == NULL)
        goto out;

    req = calloc(1, sizeof(*req));
    if (req == NULL)
        abort();
    req->channel = channel;

    /* The fields a status event echoes are read first and each on its own, so that they
     * are there even when another field, or another of them, fails. request_fail() keeps
     * the first error, so org_id is still read after message_id failed; the metadata
     * error is held back so that errors come in the order of the contract's table. */
    meta_err.errstr = meta_errstr;
    meta_err.errstr_size = sizeof(meta_errstr);
    request_metadata(&meta_err, root, req);
    request_copy_string(&err, root, "message_id", "message_id", true, 1, REQUEST_MESSAGE_ID_MAX,
                        &req->message_id);
    request_copy_string(&err, root, "org_id", "org_id", true, 1, REQUEST_ORG_ID_MAX, &req->org_id);
    if (err.code != ERRCODE_OK)
        goto out;

    if (request_copy_string(&err, root, "idempotency_key", "idempotency_key", false, 1,
                            REQUEST_IDEMPOTENCY_KEY_MAX, &req->idempotency_key) < 0)
        goto out;
    if (req->idempotency_key == NULL)
        req->idempotency_key = request_strndup(req->message_id, strlen(req->message_id));
    if (request_to(&err, root, req) < 0)
        goto out;
    if (channel == REQUEST_CHANNEL_EMAIL && request_email_subject(&err, root, req) < 0)
        goto out;
    if (request_object(&err, root, "payload", "payload", true, &payload) < 0)
        goto out;
    switch (channel) {
    case REQUEST_CHANNEL_EMAIL:
        request_email_payload(&err, payload, req);
        break;
    case REQUEST_CHANNEL_TWILIO:
        request_twilio_payload(&err, payload, req);
        break;
    case REQUEST_CHANNEL_SNS:
        request_sns_payload(&err, payload, req);
        break;
    default:
        request_fail(&err, ERRCODE_INVALID_REQUEST, "value", "unknown channel");
        break;
    }
    if (err.code == ERRCODE_OK && meta_err.code != ERRCODE_OK) {
        err.code = meta_err.code;
        if (errstr && errstr_size > 0)
            snprintf(errstr, errstr_size, "%s", meta_errstr);
    }

out:
    json_object_put(root);
    if (req && err.code != ERRCODE_OK)
        request_free_fields(req, true);
    *out = req;
    return err.code;
}

void request_destroy(request_t *req)
{
    if (req == NULL)
        return;
    request_free_fields(req, false);
    free(req);
}

static const char *const request_channel_names[] = {"email", "twilio", "sns"};

const char *request_channel_name(request_channel_t channel)
{
    if ((int)channel < 0 || (size_t)channel >= sizeof(request_channel_names) / sizeof(char *))
        return "unknown";
    return request_channel_names[channel];
}

int request_channel_parse(const char *name, request_channel_t *channel)
{
    for (size_t i = 0; name && i < sizeof(request_channel_names) / sizeof(char *); i++) {
        if (strcmp(name, request_channel_names[i]) == 0) {
            *channel = (request_channel_t)i;
            return 0;
        }
    }
    return -1;
}

const char *request_sms_type_name(request_sms_type_t type)
{
    return type == REQUEST_SMS_PROMOTIONAL ? "Promotional" : "Transactional";
}
