/*
 * AWS SNS: POST /api/webhooks/sms/{orgId}/aws-sns/delivery.
 *
 * Order of checks: the organisation (404), the envelope (400), the TopicArn against the
 * org's allow-list and the SigningCertURL against the host pattern (401, before anything
 * is fetched), the certificate (503 when it cannot be fetched: SNS retries), the signature
 * (401). Only then is the message trusted:
 *   - SubscriptionConfirmation: confirmed by GETting SubscribeURL when its host is an SNS
 *     host (SNS_SUBSCRIBE_MODE=confirm), or returned to the caller in the answer (return);
 *   - UnsubscribeConfirmation: logged;
 *   - Notification: its Message is an SMS delivery-status log record
 *     (notification.messageId, delivery.destination, delivery.providerResponse, status),
 *     published once per SNS MessageId.
 */
#include "wh.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snssig.h"
#include "timefmt.h"
#include "whstatus.h"

static bool wh_sns_topic_allowed(const provcfg_sms_t *cfg, const char *arn)
{
    for (size_t i = 0; i < cfg->sns_topic_arn_allowlist.count; i++)
        if (strcmp(cfg->sns_topic_arn_allowlist.items[i], arn) == 0)
            return true;
    return false;
}

/* A string at root.a.b (b may be NULL for root.a), or NULL. */
static const char *wh_sns_path(json_object *root, const char *a, const char *b)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(root, a, &v))
        return NULL;
    if (b != NULL && !json_object_object_get_ex(v, b, &v))
        return NULL;
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The log record's timestamps read "2026-11-27 05:00:00.123" (UTC, no zone): epoch ms, or
 * 0 when the text is in neither that form nor RFC 3339. */
static int64_t wh_sns_time(const char *text)
{
    char buf[64];
    int64_t ms = 0;
    if (text == NULL || strlen(text) >= sizeof(buf) - 1)
        return 0;
    snprintf(buf, sizeof(buf), "%s", text);
    if (strlen(buf) > 10 && buf[10] == ' ')
        buf[10] = 'T';
    if (strchr(buf + 10, 'Z') == NULL && strchr(buf + 10, '+') == NULL) {
        size_t n = strlen(buf);
        buf[n] = 'Z';
        buf[n + 1] = '\0';
    }
    return timefmt_parse_rfc3339(buf, &ms) == 0 ? ms : 0;
}

static void wh_sns_notification(wh_t *wh, const char *org, const snssig_msg_t *msg,
                                httpd_response_t *resp)
{
    const wh_route_t route = WH_ROUTE_SMS_SNS;
    const char *message = snssig_field(msg, "Message");
    json_object *rec = json_tokener_parse(message);
    if (rec == NULL || !json_object_is_type(rec, json_type_object)) {
        wh_answer(wh, resp, route, 400, "malformed", "Message is not a delivery-status record");
        goto out;
    }
    const char *pmid = wh_sns_path(rec, "notification", "messageId");
    const char *status = wh_sns_path(rec, "status", NULL);
    if (pmid == NULL || pmid[0] == '\0' || status == NULL) {
        wh_answer(wh, resp, route, 400, "malformed",
                  "record lacks notification.messageId or status");
        goto out;
    }
    wh_callback_t cb = {.route = route,
                        .org_id = org,
                        .channel = EVENT_CHANNEL_SMS,
                        .provider = EVENT_PROVIDER_AWS_SNS,
                        .provider_message_id = pmid};
    if (whstatus_map(WHSTATUS_SNS, status, &cb.status, &cb.retryable) != 0) {
        wh_answer(wh, resp, route, 400, "malformed", "status is not SUCCESS or FAILURE");
        goto out;
    }
    if (cb.status != EVENT_STATUS_DELIVERED)
        cb.error_message = wh_sns_path(rec, "delivery", "providerResponse");
    cb.occurred_at = wh_sns_time(wh_sns_path(rec, "notification", "timestamp"));
    char dedupe[256];
    snprintf(dedupe, sizeof(dedupe), "sns:%s", snssig_field(msg, "MessageId"));
    cb.dedupe_key = dedupe;
    wh_deliver(wh, &cb, resp);
out:
    json_object_put(rec);
}

static void wh_sns_subscribe(wh_t *wh, const char *org, const snssig_msg_t *msg,
                             httpd_response_t *resp)
{
    const wh_route_t route = WH_ROUTE_SMS_SNS;
    char errstr[256];
    const char *url = snssig_field(msg, "SubscribeURL");
    if (!wh->sns_confirm) {
        /* Handed to whoever set up the subscription, to confirm by hand. */
        json_object *o = json_object_new_object();
        json_object_object_add(o, "SubscribeURL", json_object_new_string(url));
        json_object_object_add(o, "TopicArn",
                               json_object_new_string(snssig_field(msg, "TopicArn")));
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        httpd_response_set(resp, 200, "application/json", text, strlen(text));
        metrics_counter_inc(
            metrics_counter_with(wh->callbacks, wh_route_name(route), "subscription_returned"));
        json_object_put(o);
        return;
    }
    if (snssig_check_url(url, cfg_str(wh->cfg, CFG_SNS_CERT_HOST_PATTERN), false, errstr,
                         sizeof(errstr)) != 0) {
        wh_answer_unauthorized(wh, resp, route, errstr);
        return;
    }
    if (wh_certs_get_url(wh->certs, url, errstr, sizeof(errstr)) != 0) {
        log_kv(LOG_LEVEL_WARN, "SNS subscription not confirmed", "org_id", org, "error", errstr,
               NULL);
        wh_answer(wh, resp, route, 503, "unavailable", "subscription confirmation failed");
        return;
    }
    log_kv(LOG_LEVEL_INFO, "SNS subscription confirmed", "org_id", org, "topic_arn",
           snssig_field(msg, "TopicArn"), NULL);
    wh_answer(wh, resp, route, 200, "subscription_confirmed", "subscription confirmed");
}

void wh_sns_delivery(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
    wh_t *wh = opaque;
    const wh_route_t route = WH_ROUTE_SMS_SNS;
    char errstr[256];
    const provcfg_sms_t *cfg = NULL;
    snssig_msg_t *msg = NULL;
    char *pem = NULL;
    const char *org = httpd_request_param(req, 0);

    provcfg_err_t perr =
        provcfg_get_sms(wh->provcfg, org, PROVCFG_SMS_AWS_SNS, &cfg, errstr, sizeof(errstr));
    if (perr == PROVCFG_ERR_DB) {
        wh_answer(wh, resp, route, 503, "unavailable", "database unavailable");
        goto out;
    } else if (perr != PROVCFG_OK && perr != PROVCFG_ERR_CONFIG) {
        wh_answer(wh, resp, route, 404, "unknown_org", "unknown organisation");
        goto out;
    } else if (perr == PROVCFG_ERR_CONFIG) {
        log_kv(LOG_LEVEL_ERROR, "sns config unusable", "org_id", org, "error", errstr, NULL);
        wh_answer(wh, resp, route, 500, "config_error", "organisation configuration error");
        goto out;
    }
    size_t len = 0;
    const char *body = httpd_request_body(req, &len);
    msg = snssig_parse(body, len, errstr, sizeof(errstr));
    if (msg == NULL) {
        /* Raw message delivery has no envelope and no signature: nothing to trust. */
        wh_answer(wh, resp, route, 400, "malformed", errstr);
        goto out;
    }
    if (!wh_sns_topic_allowed(cfg, snssig_field(msg, "TopicArn"))) {
        wh_answer_unauthorized(wh, resp, route, "topic not allowed");
        goto out;
    }
    const char *cert_url = snssig_field(msg, "SigningCertURL");
    if (snssig_check_url(cert_url, cfg_str(wh->cfg, CFG_SNS_CERT_HOST_PATTERN), true, errstr,
                         sizeof(errstr)) != 0) {
        wh_answer_unauthorized(wh, resp, route, errstr);
        goto out;
    }
    size_t pem_len = 0;
    pem = wh_certs_get(wh->certs, cert_url, &pem_len, errstr, sizeof(errstr));
    if (pem == NULL) {
        log_kv(LOG_LEVEL_WARN, "SNS signing certificate not fetched", "error", errstr, NULL);
        wh_answer(wh, resp, route, 503, "unavailable", "signing certificate unavailable");
        goto out;
    }
    if (snssig_verify(msg, pem, pem_len, errstr, sizeof(errstr)) != 0) {
        wh_answer_unauthorized(wh, resp, route, errstr);
        goto out;
    }
    switch (snssig_type(msg)) {
    case SNSSIG_NOTIFICATION:
        wh_sns_notification(wh, org, msg, resp);
        break;
    case SNSSIG_SUBSCRIPTION_CONFIRMATION:
        wh_sns_subscribe(wh, org, msg, resp);
        break;
    case SNSSIG_UNSUBSCRIBE_CONFIRMATION:
        log_kv(LOG_LEVEL_INFO, "SNS subscription ended", "org_id", org, "topic_arn",
               snssig_field(msg, "TopicArn"), NULL);
        wh_answer(wh, resp, route, 200, "unsubscribed", "ok");
        break;
    }
out:
    free(pem);
    snssig_msg_destroy(msg);
    provcfg_sms_release(cfg);
}
