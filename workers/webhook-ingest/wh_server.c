#include "wh.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "secret.h"
#include "timefmt.h"

/* How long a callback waits for its provider id to appear in the ledger, and how often it
 * looks (see wh_correlate). */
#define WH_CORRELATE_WAIT_MS 2000
#define WH_CORRELATE_STEP_MS 50

static const char *const wh_route_names[WH_ROUTE__COUNT] = {
    [WH_ROUTE_EMAIL_DELIVERY] = "email_delivery",
    [WH_ROUTE_EMAIL_BOUNCE] = "email_bounce",
    [WH_ROUTE_EMAIL_COMPLAINT] = "email_complaint",
    [WH_ROUTE_SMS_TWILIO] = "sms_twilio",
    [WH_ROUTE_SMS_SNS] = "sms_sns",
    [WH_ROUTE_SMS_GENERIC] = "sms_generic",
};

/* The contract's routes, as data: pattern, handler. */
static const struct {
    const char *pattern;
    httpd_handler_t handler;
} wh_routes[] = {
    {"/api/webhooks/email/*/delivery", wh_generic_email_delivery},
    {"/api/webhooks/email/*/bounce", wh_generic_email_bounce},
    {"/api/webhooks/email/*/complaint", wh_generic_email_complaint},
    {"/api/webhooks/sms/*/twilio/status", wh_twilio_status},
    {"/api/webhooks/sms/*/aws-sns/delivery", wh_sns_delivery},
    {"/api/webhooks/sms/*/delivery", wh_generic_sms},
};

/* Latency buckets in seconds: a callback waits for a Kafka acknowledgement, a few ms. */
static const double wh_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,   0.25,   0.5,   1,    2.5,   10};

const char *wh_route_name(wh_route_t route)
{
    return route < WH_ROUTE__COUNT ? wh_route_names[route] : "unknown";
}

static int wh_metrics_new(wh_t *wh, char *errstr, size_t errstr_size)
{
    wh->callbacks = metrics_counter_new(wh->metrics, "notify_webhook_callbacks_total",
                                        "Provider callbacks answered, by route and outcome.",
                                        errstr, errstr_size, "route", "outcome", NULL);
    wh->sig_failures = metrics_counter_new(
        wh->metrics, "notify_webhook_signature_failures_total",
        "Callbacks refused because their signature (or its source) did not verify, by route.",
        errstr, errstr_size, "route", NULL);
    metrics_histogram_t *lat = metrics_histogram_new(
        wh->metrics, "notify_webhook_latency_seconds",
        "Time to correlate, publish and answer a verified callback, by route.", wh_latency_buckets,
        sizeof(wh_latency_buckets) / sizeof(wh_latency_buckets[0]), errstr, errstr_size, "route",
        NULL);
    if (wh->callbacks == NULL || wh->sig_failures == NULL || lat == NULL)
        return -1;
    for (int r = 0; r < WH_ROUTE__COUNT; r++)
        wh->latency[r] = metrics_histogram_with(lat, wh_route_names[r]);
    return 0;
}

/* Ready while the producer can still produce; a database that is down shows as 503s on
 * the callbacks themselves, which providers retry. */
static bool wh_ready(void *opaque)
{
    wh_t *wh = opaque;
    return atomic_load(&wh->serving) && wh_emit_healthy(wh->emit);
}

wh_t *wh_new(const cfg_t *cfg, char *errstr, size_t errstr_size)
{
    wh_t *wh = calloc(1, sizeof(*wh));
    if (wh == NULL)
        abort();
    wh->cfg = cfg;
    wh->replay_window_s = cfg_int(cfg, CFG_WEBHOOK_REPLAY_WINDOW_S);
    wh->sns_confirm = strcmp(cfg_str(cfg, CFG_SNS_SUBSCRIBE_MODE), "confirm") == 0;
    wh->metrics = metrics_registry_new();
    if (wh_metrics_new(wh, errstr, errstr_size) != 0)
        goto fail;
    wh->ring = secret_ring_from_cfg(cfg, errstr, errstr_size);
    if (wh->ring == NULL)
        goto fail;
    wh->cfg_db = db_new(cfg_str(cfg, CFG_DATABASE_URL), "webhook-ingest",
                        (int)cfg_int(cfg, CFG_DB_CONNECT_TIMEOUT_MS),
                        (int)cfg_int(cfg, CFG_DB_STATEMENT_TIMEOUT_MS), errstr, errstr_size);
    if (wh->cfg_db == NULL)
        goto fail;
    wh->provcfg = provcfg_new(wh->cfg_db, wh->ring, cfg_int(cfg, CFG_PROVIDER_CONFIG_TTL_MS),
                              errstr, errstr_size);
    if (wh->provcfg == NULL)
        goto fail;
    wh->pool = wh_dbpool_new(cfg, errstr, errstr_size);
    if (wh->pool == NULL)
        goto fail;
    wh->certs = wh_certs_new(cfg);
    wh->emit = wh_emit_new(cfg, errstr, errstr_size);
    if (wh->emit == NULL)
        goto fail;
    httpd_options_t opts = {
        .body_limit = (size_t)cfg_int(cfg, CFG_WEBHOOK_BODY_LIMIT),
        .connection_limit = (unsigned)cfg_int(cfg, CFG_WEBHOOK_MAX_CONNECTIONS),
        .ready = wh_ready,
        .ready_opaque = wh,
    };
    wh->httpd = httpd_new(cfg_str(cfg, CFG_HTTP_ADDR), wh->metrics, &opts, errstr, errstr_size);
    if (wh->httpd == NULL)
        goto fail;
    for (size_t i = 0; i < sizeof(wh_routes) / sizeof(wh_routes[0]); i++)
        if (httpd_route(wh->httpd, "POST", wh_routes[i].pattern, wh_routes[i].handler, wh, errstr,
                        errstr_size) != 0)
            goto fail;
    /* Not ready before every route is in place: a probe must not route traffic to 404s. */
    atomic_store(&wh->serving, true);
    return wh;
fail:
    wh_destroy(wh);
    return NULL;
}

void wh_destroy(wh_t *wh)
{
    if (wh == NULL)
        return;
    /* The server first: it waits for handlers in progress, which use everything else. */
    httpd_destroy(wh->httpd);
    wh_emit_destroy(wh->emit);
    wh_certs_destroy(wh->certs);
    wh_dbpool_destroy(wh->pool);
    provcfg_destroy(wh->provcfg);
    db_destroy(wh->cfg_db);
    secret_ring_destroy(wh->ring);
    metrics_registry_destroy(wh->metrics);
    free(wh);
}

void wh_housekeeping(wh_t *wh)
{
    long n = wh_dbpool_prune(wh->pool, WH_DEDUPE_KEEP_S);
    if (n > 0) {
        char text[32];
        snprintf(text, sizeof(text), "%ld", n);
        log_kv(LOG_LEVEL_INFO, "pruned de-duplication rows", "rows", text, NULL);
    }
}

void wh_answer(wh_t *wh, httpd_response_t *resp, wh_route_t route, int status, const char *outcome,
               const char *text)
{
    char body[512];
    int n = snprintf(body, sizeof(body), "%s\n", text);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = (int)sizeof(body) - 1;
    httpd_response_set(resp, status, NULL, body, (size_t)n);
    metrics_counter_inc(metrics_counter_with(wh->callbacks, wh_route_name(route), outcome));
}

void wh_answer_unauthorized(wh_t *wh, httpd_response_t *resp, wh_route_t route, const char *why)
{
    metrics_counter_inc(metrics_counter_with(wh->sig_failures, wh_route_name(route)));
    log_kv(LOG_LEVEL_WARN, "callback refused: signature", "route", wh_route_name(route), "reason",
           why, NULL);
    wh_answer(wh, resp, route, 401, "unauthorized", "signature does not verify");
}

char *wh_called_url(const wh_t *wh, const httpd_request_t *req)
{
    const char *base = cfg_str(wh->cfg, CFG_PUBLIC_BASE_URL);
    const char *target = httpd_request_target(req);
    char host_base[512];
    if (base[0] == '\0') {
        /* Without PUBLIC_BASE_URL the best guess is what the client says it called. */
        const char *host = httpd_request_header(req, "Host");
        snprintf(host_base, sizeof(host_base), "http://%s", host ? host : "localhost");
        base = host_base;
    }
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    size_t tl = strlen(target);
    char *url = malloc(bl + tl + 1);
    if (url == NULL)
        abort();
    memcpy(url, base, bl);
    memcpy(url + bl, target, tl + 1);
    return url;
}

/*
 * The event's message_id and org_id. The ledger maps the provider's id to our message; a
 * row of another organisation is not used (a callback signed with one org's secret must
 * not speak for another's messages). An event that nothing correlates is still published,
 * with message_id null unless the sender named it, and metadata {"uncorrelated":true}, so
 * a consumer can tell it apart and nothing is dropped.
 */
static wh_db_result_t wh_correlate(wh_t *wh, const wh_callback_t *cb, ledger_row_t *row,
                                   bool *correlated)
{
    *correlated = false;
    if (cb->provider_message_id == NULL)
        return WH_DB_OK;
    wh_db_result_t r =
        wh_dbpool_lookup(wh->pool, event_provider_name(cb->provider), cb->provider_message_id, row);
    /* A provider can call back before the worker has recorded the provider's id: Twilio
     * posts "queued" as soon as it answered the worker, which then still has to write the
     * ledger. Waiting a moment for the row turns that race into a correlated event. */
    int64_t deadline = timefmt_mono_ms() + WH_CORRELATE_WAIT_MS;
    while (r == WH_DB_NOT_FOUND && timefmt_mono_ms() < deadline) {
        struct timespec ts = {0, WH_CORRELATE_STEP_MS * 1000L * 1000L};
        nanosleep(&ts, NULL);
        r = wh_dbpool_lookup(wh->pool, event_provider_name(cb->provider), cb->provider_message_id,
                             row);
    }
    if (r == WH_DB_UNAVAILABLE)
        return r;
    if (r == WH_DB_OK && strcmp(row->org_id, cb->org_id) == 0)
        *correlated = true;
    else if (r == WH_DB_OK)
        log_kv(LOG_LEVEL_WARN, "provider message id belongs to another organisation", "org_id",
               cb->org_id, "provider_message_id", cb->provider_message_id, NULL);
    return WH_DB_OK;
}

void wh_deliver(wh_t *wh, const wh_callback_t *cb, httpd_response_t *resp)
{
    char errstr[256];
    char *json = NULL;
    ledger_row_t row;
    bool correlated = false;
    int64_t started = timefmt_mono_ms();

    if (cb->dedupe_key) {
        wh_db_result_t seen = wh_dbpool_seen(wh->pool, cb->org_id, cb->dedupe_key);
        if (seen == WH_DB_UNAVAILABLE) {
            wh_answer(wh, resp, cb->route, 503, "unavailable", "database unavailable");
            goto out;
        }
        if (seen == WH_DB_OK) {
            wh_answer(wh, resp, cb->route, 200, "duplicate", "duplicate callback");
            goto out;
        }
    }
    if (wh_correlate(wh, cb, &row, &correlated) != WH_DB_OK) {
        wh_answer(wh, resp, cb->route, 503, "unavailable", "database unavailable");
        goto out;
    }

    event_t ev;
    event_init(&ev, EVENT_SOURCE_WEBHOOK);
    ev.message_id = correlated ? row.message_id : cb->message_id;
    ev.org_id = cb->org_id;
    ev.channel = cb->channel;
    ev.provider = cb->provider;
    ev.status = cb->status;
    ev.attempt = correlated ? row.attempts : 0;
    ev.provider_message_id = cb->provider_message_id;
    ev.error_code = cb->error_code;
    ev.error_message = cb->error_message;
    ev.retryable = cb->retryable;
    if (cb->occurred_at > 0)
        ev.occurred_at = cb->occurred_at;
    ev.metadata = correlated ? NULL : "{\"uncorrelated\":true}";
    json = event_serialize(&ev, errstr, sizeof(errstr));
    if (json == NULL) {
        log_kv(LOG_LEVEL_WARN, "callback makes no valid event", "error", errstr, NULL);
        wh_answer(wh, resp, cb->route, 400, "malformed", errstr);
        goto out;
    }
    const char *key = ev.message_id ? ev.message_id : cb->provider_message_id;
    if (wh_emit_publish(wh->emit, key, json, strlen(json), errstr, sizeof(errstr)) != 0) {
        log_kv(LOG_LEVEL_WARN, "status event not acknowledged; answering 503", "error", errstr,
               NULL);
        wh_answer(wh, resp, cb->route, 503, "unavailable", "status event not acknowledged");
        goto out;
    }
    /* Recorded only now that the event is on the topic; a failure here costs at most one
     * duplicate event when the provider retries, never a lost one. */
    if (cb->dedupe_key && wh_dbpool_mark_seen(wh->pool, cb->org_id, cb->dedupe_key) != WH_DB_OK)
        log_kv(LOG_LEVEL_WARN, "callback not recorded for de-duplication", "org_id", cb->org_id,
               NULL);
    wh_answer(wh, resp, cb->route, 200, correlated ? "published" : "published_uncorrelated", "ok");
out:
    metrics_histogram_observe(wh->latency[cb->route],
                              (double)(timefmt_mono_ms() - started) / 1000.0);
    free(json);
}
