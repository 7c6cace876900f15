/*
 * Twilio status callbacks: POST /api/webhooks/sms/{orgId}/twilio/status.
 *
 * The signature covers the URL Twilio called, which behind a proxy is not the URL we see:
 * it is rebuilt from PUBLIC_BASE_URL and the raw request target (wh_called_url). Twilio
 * signs with the account's auth token; an organisation may also have set a webhook secret
 * for the same purpose, so either key is accepted.
 *
 * Twilio repeats callbacks (and may send them out of order); a repeat carries the same
 * I-Twilio-Idempotency-Token, or failing that the same sid, status and error code, and is
 * answered 200 without a second event.
 */
#include "wh.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "formenc.h"
#include "log.h"
#include "twiliosig.h"
#include "whstatus.h"

/* The callback's fields whatever the body's form; strings borrowed from the parsed body. */
typedef struct wh_twilio_fields_s {
    const char *sid;
    const char *status;
    const char *error_code;
} wh_twilio_fields_t;

static bool wh_twilio_signed(const provcfg_sms_t *cfg, const char *url,
                             const twiliosig_param_t *params, size_t n, const char *signature)
{
    const char *keys[2] = {cfg->webhook_secret, cfg->twilio_auth_token};
    bool ok = false;
    for (int i = 0; i < 2; i++)
        if (keys[i] && keys[i][0] &&
            twiliosig_validate(keys[i], strlen(keys[i]), url, params, n, signature))
            ok = true;
    return ok;
}

static const char *wh_twilio_json_string(json_object *root, const char *name)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(root, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

void wh_twilio_status(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
    wh_t *wh = opaque;
    const wh_route_t route = WH_ROUTE_SMS_TWILIO;
    char errstr[256];
    const provcfg_sms_t *cfg = NULL;
    formenc_t *form = NULL;
    twiliosig_param_t *params = NULL;
    json_object *root = NULL;
    char *url = NULL;
    const char *org = httpd_request_param(req, 0);
    wh_twilio_fields_t f = {NULL, NULL, NULL};

    provcfg_err_t perr =
        provcfg_get_sms(wh->provcfg, org, PROVCFG_SMS_TWILIO, &cfg, errstr, sizeof(errstr));
    if (perr == PROVCFG_ERR_DB) {
        wh_answer(wh, resp, route, 503, "unavailable", "database unavailable");
        goto out;
    } else if (perr == PROVCFG_ERR_CONFIG) {
        log_kv(LOG_LEVEL_ERROR, "twilio config unusable", "org_id", org, "error", errstr, NULL);
        wh_answer(wh, resp, route, 500, "config_error", "organisation configuration error");
        goto out;
    } else if (perr != PROVCFG_OK) {
        wh_answer(wh, resp, route, 404, "unknown_org", "unknown organisation");
        goto out;
    }
    const char *signature = httpd_request_header(req, "X-Twilio-Signature");
    if (signature == NULL) {
        wh_answer_unauthorized(wh, resp, route, "missing");
        goto out;
    }
    url = wh_called_url(wh, req);
    size_t len = 0;
    const char *body = httpd_request_body(req, &len);
    if (strstr(httpd_request_query(req), "bodySHA256=") != NULL) {
        /* JSON form: the URL alone is signed and carries the body's hash. */
        if (!wh_twilio_signed(cfg, url, NULL, 0, signature) ||
            !twiliosig_body_hash_ok(url, body, len)) {
            wh_answer_unauthorized(wh, resp, route, "mismatch");
            goto out;
        }
        root = json_tokener_parse(body);
        if (root == NULL || !json_object_is_type(root, json_type_object)) {
            wh_answer(wh, resp, route, 400, "malformed", "body is not a JSON object");
            goto out;
        }
        f.sid = wh_twilio_json_string(root, "MessageSid");
        f.status = wh_twilio_json_string(root, "MessageStatus");
        f.error_code = wh_twilio_json_string(root, "ErrorCode");
    } else {
        form = formenc_parse(body, len, errstr, sizeof(errstr));
        if (form == NULL) {
            wh_answer(wh, resp, route, 400, "malformed", errstr);
            goto out;
        }
        size_t n = formenc_count(form);
        params = calloc(n ? n : 1, sizeof(*params));
        if (params == NULL)
            abort();
        for (size_t i = 0; i < n; i++) {
            params[i].name = formenc_name(form, i);
            params[i].value = formenc_value(form, i);
        }
        if (!wh_twilio_signed(cfg, url, params, n, signature)) {
            wh_answer_unauthorized(wh, resp, route, "mismatch");
            goto out;
        }
        f.sid = formenc_get(form, "MessageSid");
        if (f.sid == NULL)
            f.sid = formenc_get(form, "SmsSid");
        f.status = formenc_get(form, "MessageStatus");
        if (f.status == NULL)
            f.status = formenc_get(form, "SmsStatus");
        f.error_code = formenc_get(form, "ErrorCode");
    }
    if (f.sid == NULL || f.sid[0] == '\0' || f.status == NULL) {
        wh_answer(wh, resp, route, 400, "malformed", "MessageSid and MessageStatus are required");
        goto out;
    }

    wh_callback_t cb = {.route = route,
                        .org_id = org,
                        .channel = EVENT_CHANNEL_SMS,
                        .provider = EVENT_PROVIDER_TWILIO,
                        .provider_message_id = f.sid};
    if (whstatus_map(WHSTATUS_TWILIO, f.status, &cb.status, &cb.retryable) != 0) {
        /* Twilio adds statuses without notice; one we cannot express is acknowledged (a
         * refusal would only make Twilio retry it) and counted, not turned into an event. */
        log_kv(LOG_LEVEL_WARN, "twilio status not mapped; callback ignored", "org_id", org,
               "status", f.status, NULL);
        wh_answer(wh, resp, route, 200, "ignored", "status not mapped");
        goto out;
    }
    char code_name[32];
    if (f.error_code && f.error_code[0]) {
        char *end = NULL;
        long code = strtol(f.error_code, &end, 10);
        bool retryable = false;
        if (end && *end == '\0' && code > 0 && code < 1000000 &&
            errcode_twilio_lookup((int)code, 0, code_name, sizeof(code_name), &retryable) >= 0) {
            cb.error_code = code_name;
            cb.error_message = errcode_twilio_description((int)code);
        }
    }
    char dedupe[256];
    const char *token = httpd_request_header(req, "I-Twilio-Idempotency-Token");
    if (token && token[0])
        snprintf(dedupe, sizeof(dedupe), "twilio:%s", token);
    else
        snprintf(dedupe, sizeof(dedupe), "twilio:%s/%s/%s", f.sid, f.status,
                 f.error_code ? f.error_code : "");
    cb.dedupe_key = dedupe;
    wh_deliver(wh, &cb, resp);
out:
    json_object_put(root);
    free(params);
    formenc_destroy(form);
    free(url);
    provcfg_sms_release(cfg);
}
