/*
 * The generic routes: email delivery, bounce and complaint from any relay, and the generic
 * SMS route. The body is the contract's generic JSON; the signature is whsig.h's.
 */
#include "wh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "log.h"
#include "timefmt.h"
#include "whbody.h"
#include "whsig.h"
#include "whstatus.h"

/* The secret check shared by the generic routes: WHSIG_OK or the reason. */
static whsig_result_t wh_generic_verify(wh_t *wh, const httpd_request_t *req, const char *secret)
{
    size_t len = 0;
    const char *body = httpd_request_body(req, &len);
    if (secret == NULL || secret[0] == '\0')
        return WHSIG_ERR_MISMATCH;
    return whsig_verify(secret, strlen(secret), body, len,
                        httpd_request_header(req, "X-Webhook-Signature"),
                        httpd_request_header(req, "X-Webhook-Timestamp"), timefmt_now_ms() / 1000,
                        wh->replay_window_s);
}

/*
 * Fills cb from the body: status (the route's default when the body has none), error code
 * from smtp_code, message from diagnostic. Returns 0, or -1 with errstr (400).
 */
static int wh_generic_fill(wh_callback_t *cb, const whbody_t *b, const char *default_status,
                           char *errstr, size_t errstr_size)
{
    const char *status = b->status ? b->status : default_status;
    char key[64];
    if (status == NULL) {
        snprintf(errstr, errstr_size, "status is required");
        return -1;
    }
    if (strcmp(status, "bounced") == 0 && b->bounce_type)
        snprintf(key, sizeof(key), "bounced/%s", b->bounce_type);
    else
        snprintf(key, sizeof(key), "%s", status);
    if (whstatus_map(WHSTATUS_GENERIC, key, &cb->status, &cb->retryable) != 0) {
        snprintf(errstr, errstr_size, "status or bounce_type: not a known value");
        return -1;
    }
    cb->provider_message_id =
        b->provider_message_id && b->provider_message_id[0] ? b->provider_message_id : NULL;
    cb->message_id = b->message_id && b->message_id[0] ? b->message_id : NULL;
    cb->error_message = b->diagnostic;
    cb->occurred_at = b->occurred_at;
    return 0;
}

static void wh_generic_email(const httpd_request_t *req, httpd_response_t *resp, wh_t *wh,
                             wh_route_t route, const char *default_status)
{
    char errstr[256];
    const provcfg_email_t *cfg = NULL;
    whbody_t b = {0};
    const char *org = httpd_request_param(req, 0);

    provcfg_err_t perr = provcfg_get_email(wh->provcfg, org, &cfg, errstr, sizeof(errstr));
    if (perr == PROVCFG_ERR_DB) {
        wh_answer(wh, resp, route, 503, "unavailable", "database unavailable");
        goto out;
    } else if (perr == PROVCFG_ERR_CONFIG) {
        log_kv(LOG_LEVEL_ERROR, "email config unusable", "org_id", org, "error", errstr, NULL);
        wh_answer(wh, resp, route, 500, "config_error", "organisation configuration error");
        goto out;
    } else if (perr != PROVCFG_OK) {
        wh_answer(wh, resp, route, 404, "unknown_org", "unknown organisation");
        goto out;
    }
    whsig_result_t sig = wh_generic_verify(wh, req, cfg->webhook_secret);
    if (sig != WHSIG_OK) {
        wh_answer_unauthorized(wh, resp, route, whsig_result_name(sig));
        goto out;
    }
    size_t len = 0;
    const char *body = httpd_request_body(req, &len);
    int parsed = whbody_parse(body, len, &b, errstr, sizeof(errstr));
    wh_callback_t cb = {.route = route,
                        .org_id = org,
                        .channel = EVENT_CHANNEL_EMAIL,
                        .provider = EVENT_PROVIDER_SMTP};
    if (parsed != 0 || wh_generic_fill(&cb, &b, default_status, errstr, sizeof(errstr)) != 0) {
        wh_answer(wh, resp, route, 400, "malformed", errstr);
        goto out;
    }
    /* SMTP_<code> when the error table knows it; otherwise the diagnostic says it all. */
    char code[32];
    bool retryable_code;
    if (b.smtp_code) {
        snprintf(code, sizeof(code), "SMTP_%s", b.smtp_code);
        if (errcode_classify(code, &retryable_code) == 0)
            cb.error_code = code;
    }
    wh_deliver(wh, &cb, resp);
out:
    whbody_free(&b);
    provcfg_email_release(cfg);
}

void wh_generic_email_delivery(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
    wh_generic_email(req, resp, opaque, WH_ROUTE_EMAIL_DELIVERY, "delivered");
}

void wh_generic_email_bounce(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
    wh_generic_email(req, resp, opaque, WH_ROUTE_EMAIL_BOUNCE, "bounced");
}

void wh_generic_email_complaint(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
    wh_generic_email(req, resp, opaque, WH_ROUTE_EMAIL_COMPLAINT, "complained");
}

/*
 * The generic SMS route: an organisation may have a Twilio row, an SNS row or both, each
 * with its own webhook secret. The row whose secret verifies names the provider.
 */
void wh_generic_sms(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
    wh_t *wh = opaque;
    char errstr[256];
    const provcfg_sms_t *cfgs[2] = {NULL, NULL};
    static const provcfg_sms_type_t types[2] = {PROVCFG_SMS_TWILIO, PROVCFG_SMS_AWS_SNS};
    whbody_t b = {0};
    const char *org = httpd_request_param(req, 0);
    bool any = false;

    for (int i = 0; i < 2; i++) {
        provcfg_err_t perr =
            provcfg_get_sms(wh->provcfg, org, types[i], &cfgs[i], errstr, sizeof(errstr));
        if (perr == PROVCFG_ERR_DB) {
            wh_answer(wh, resp, WH_ROUTE_SMS_GENERIC, 503, "unavailable", "database unavailable");
            goto out;
        }
        if (perr == PROVCFG_ERR_CONFIG)
            log_kv(LOG_LEVEL_ERROR, "sms config unusable", "org_id", org, "error", errstr, NULL);
        any = any || perr == PROVCFG_OK;
    }
    if (!any) {
        wh_answer(wh, resp, WH_ROUTE_SMS_GENERIC, 404, "unknown_org", "unknown organisation");
        goto out;
    }
    int verified = -1;
    whsig_result_t sig = WHSIG_ERR_MISMATCH;
    for (int i = 0; i < 2 && verified < 0; i++) {
        if (cfgs[i] == NULL)
            continue;
        sig = wh_generic_verify(wh, req, cfgs[i]->webhook_secret);
        if (sig == WHSIG_OK)
            verified = i;
    }
    if (verified < 0) {
        wh_answer_unauthorized(wh, resp, WH_ROUTE_SMS_GENERIC, whsig_result_name(sig));
        goto out;
    }
    size_t len = 0;
    const char *body = httpd_request_body(req, &len);
    int parsed = whbody_parse(body, len, &b, errstr, sizeof(errstr));
    wh_callback_t cb = {
        .route = WH_ROUTE_SMS_GENERIC,
        .org_id = org,
        .channel = EVENT_CHANNEL_SMS,
        .provider =
            types[verified] == PROVCFG_SMS_TWILIO ? EVENT_PROVIDER_TWILIO : EVENT_PROVIDER_AWS_SNS,
    };
    if (parsed != 0 || wh_generic_fill(&cb, &b, NULL, errstr, sizeof(errstr)) != 0) {
        wh_answer(wh, resp, WH_ROUTE_SMS_GENERIC, 400, "malformed", errstr);
        goto out;
    }
    wh_deliver(wh, &cb, resp);
out:
    whbody_free(&b);
    for (int i = 0; i < 2; i++)
        if (cfgs[i])
            provcfg_sms_release(cfgs[i]);
}
