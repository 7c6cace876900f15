/* strptime() is XSI. */
#define _XOPEN_SOURCE 700

#include "twilio_api.h"

#include "errcode.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int twilio_api_messages_url(const char *base, const char *account_sid, char *out, size_t out_size)
{
    char sid[256];
    size_t blen = strlen(base);
    int n;

    if (out_size > 0)
        out[0] = '\0';
    if (account_sid == NULL || account_sid[0] == '\0')
        return -1;
    /* A SID is AC + 32 hex digits; escaping keeps a corrupt row from changing the path. */
    if (twilio_form_escape(account_sid, 0, sid, sizeof(sid)) < 0)
        return -1;
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    n = snprintf(out, out_size, "%.*s/2010-04-01/Accounts/%s/Messages.json", (int)blen, base, sid);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size > 0)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

int twilio_api_status_callback_url(const char *public_base, const char *org_id, char *out,
                                   size_t out_size)
{
    char org[3 * REQUEST_ORG_ID_MAX * 4 + 1];
    size_t blen;
    int n;

    if (out_size > 0)
        out[0] = '\0';
    if (public_base == NULL || public_base[0] == '\0')
        return -1;
    if (twilio_form_escape(org_id, 0, org, sizeof(org)) < 0)
        return -1;
    blen = strlen(public_base);
    while (blen > 0 && public_base[blen - 1] == '/')
        blen--;
    n = snprintf(out, out_size, "%.*s/api/webhooks/sms/%s/twilio/status", (int)blen, public_base,
                 org);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size > 0)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

int twilio_api_message_form_fill(twilio_form_t *form, const request_t *req, const char *from,
                                 const char *default_callback)
{
    const char *callback = req->sms.status_callback ? req->sms.status_callback : default_callback;
    char validity[16];
    int rc = -1;

    twilio_form_reset(form);
    if (twilio_form_add(form, "To", req->to) != 0 || twilio_form_add(form, "From", from) != 0 ||
        twilio_form_add(form, "Body", req->sms.body ? req->sms.body : "") != 0)
        goto out;
    if (callback && callback[0] && twilio_form_add(form, "StatusCallback", callback) != 0)
        goto out;
    if (req->sms.validity_period > 0) {
        snprintf(validity, sizeof(validity), "%d", req->sms.validity_period);
        if (twilio_form_add(form, "ValidityPeriod", validity) != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        twilio_form_reset(form);
    return rc;
}

twilio_form_t *twilio_api_message_form(const request_t *req, const char *from,
                                       const char *default_callback)
{
    twilio_form_t *form = twilio_form_new();

    if (twilio_api_message_form_fill(form, req, from, default_callback) != 0) {
        twilio_form_destroy(form);
        form = NULL;
    }
    return form;
}

int twilio_api_idempotency_header(const char *key, char *out, size_t out_size)
{
    static const char hexdig[] = "0123456789ABCDEF";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        bool plain = *p > 0x20 && *p < 0x7f && *p != '%';
        if (o + (plain ? 1 : 3) >= out_size)
            goto toolong;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hexdig[*p >> 4];
            out[o++] = hexdig[*p & 15];
        }
    }
    if (out_size == 0)
        return -1;
    out[o] = '\0';
    return 0;

toolong:
    if (out_size > 0)
        out[0] = '\0';
    return -1;
}

int64_t twilio_api_retry_after_ms(const char *value, int64_t now_ms)
{
    struct tm tm;
    const char *end;
    char *num_end;
    long long secs;

    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        errno = 0;
        secs = strtoll(value, &num_end, 10);
        while (*num_end == ' ' || *num_end == '\t')
            num_end++;
        if (errno != 0 || *num_end != '\0' || secs > 86400LL * 365)
            return -1;
        return (int64_t)secs * 1000;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    int64_t at = (int64_t)timegm(&tm) * 1000;
    return at > now_ms ? at - now_ms : 0;
}

/* The code Twilio documents for an HTTP status, for an answer without a JSON code. */
static int twilio_api_status_code(long status)
{
    static const struct {
        long status;
        int code;
    } table[] = {
        {401, 20003}, {403, 20403}, {404, 20404}, {429, 20429}, {503, 20503},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].status == status)
            return table[i].code;
    }
    if (status >= 500 && status <= 599)
        return 20500;
    return (int)status;
}

void twilio_api_classify(long status, const char *body, size_t len, const char *retry_after,
                         int64_t now_ms, sender_result_t *result)
{
    json_tokener *tok = NULL;
    json_object *doc = NULL, *v;
    const char *message = NULL;
    int code = 0;
    bool retryable = false;

    memset(result, 0, sizeof(*result));
    if (body && len > 0 && len < 1024 * 1024) {
        tok = json_tokener_new();
        if (tok == NULL)
            abort();
        doc = json_tokener_parse_ex(tok, body, (int)len);
        if (doc && !json_object_is_type(doc, json_type_object)) {
            json_object_put(doc);
            doc = NULL;
        }
    }

    if (status >= 200 && status <= 299) {
        result->ok = true;
        if (doc && json_object_object_get_ex(doc, "sid", &v) &&
            json_object_is_type(v, json_type_string))
            snprintf(result->provider_message_id, sizeof(result->provider_message_id), "%s",
                     json_object_get_string(v));
        goto out;
    }

    if (doc && json_object_object_get_ex(doc, "code", &v)) {
        /* An int, or (in some proxies' rewrites) a numeric string. */
        if (json_object_is_type(v, json_type_int))
            code = (int)json_object_get_int64(v);
        else if (json_object_is_type(v, json_type_string))
            code = (int)strtol(json_object_get_string(v), NULL, 10);
    }
    if (doc && json_object_object_get_ex(doc, "message", &v) &&
        json_object_is_type(v, json_type_string))
        message = json_object_get_string(v);
    if (code <= 0)
        code = twilio_api_status_code(status);
    if (errcode_twilio_lookup(code, (int)status, result->error_code, sizeof(result->error_code),
                              &retryable) < 0) {
        code = twilio_api_status_code(status);
        errcode_twilio_lookup(code, (int)status, result->error_code, sizeof(result->error_code),
                              &retryable);
    }
    /* 401 is a credential problem whatever code came with it: never worth retrying. */
    if (status == 401)
        retryable = false;
    result->retryable = retryable;
    if (status == 429 || code == 20429) {
        int64_t ms = twilio_api_retry_after_ms(retry_after, now_ms);
        result->throttled = true;
        result->retryable = true;
        result->retry_after_ms = ms > 0 ? ms : 0;
    }
    snprintf(result->error_message, sizeof(result->error_message), "Twilio answered HTTP %ld: %s",
             status,
             message ? message
                     : (errcode_twilio_description(code) ? errcode_twilio_description(code)
                                                         : "no error message"));

out:
    json_object_put(doc);
    if (tok)
        json_tokener_free(tok);
}

void twilio_api_classify_failure(twilio_api_fail_t kind, const char *detail,
                                 sender_result_t *result)
{
    errcode_t code = kind == TWILIO_API_FAIL_TLS       ? ERRCODE_TLS_FAILED
                     : kind == TWILIO_API_FAIL_TIMEOUT ? ERRCODE_TIMEOUT
                                                       : ERRCODE_CONNECTION_FAILED;
    memset(result, 0, sizeof(*result));
    snprintf(result->error_code, sizeof(result->error_code), "%s", errcode_name(code));
    result->retryable = errcode_retryable(code);
    snprintf(result->error_message, sizeof(result->error_message), "Twilio request failed: %s",
             detail ? detail : errcode_description(code));
}
