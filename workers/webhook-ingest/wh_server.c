#include "wh.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "secret.h"
#include "timefmt.h"

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
    wh->relay = wh_relay_new(wh, errstr, errstr_size);
    if (wh->relay == NULL)
        goto fail;
    /* Four event threads: two cores kept busy, and a handler that blocks (a configuration
     * load on a cache miss, a certificate fetch) holds up only a quarter of the
     * connections. More threads only add wake-ups. */
    httpd_options_t opts = {
        .body_limit = (size_t)cfg_int(cfg, CFG_WEBHOOK_BODY_LIMIT),
        .connection_limit = (unsigned)cfg_int(cfg, CFG_WEBHOOK_MAX_CONNECTIONS),
        .threads = 4,
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
    /* The server first: it waits for handlers in progress and deferred answers, which use
     * everything else; then the relay, whose last answers the producer's reports gave. */
    httpd_destroy(wh->httpd);
    wh_relay_destroy(wh->relay);
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

void wh_deliver(wh_t *wh, const wh_callback_t *cb, httpd_response_t *resp)
{
    httpd_response_defer(resp);
    wh_relay_submit(wh->relay, cb, resp);
}
