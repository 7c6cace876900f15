/*
 * webhook-ingest's server: what every route handler shares, and the last step they have
 * in common (wh_deliver: correlate, de-duplicate, publish, answer).
 *
 * A handler verifies before it trusts anything: the organisation's configuration first
 * (404 for an unknown org, 503 when the database is down), then the signature (401),
 * then the body (400). Only a verified, well-formed callback reaches wh_deliver().
 */
#ifndef WH_H
#define WH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "httpd.h"
#include "metrics.h"
#include "provcfg.h"

#include "wh_certs.h"
#include "wh_dbpool.h"
#include "wh_emit.h"
#include "wh_relay.h"

typedef struct wh_s wh_t;

/* The routes, for metrics labels. */
typedef enum {
    WH_ROUTE_EMAIL_DELIVERY = 0,
    WH_ROUTE_EMAIL_BOUNCE,
    WH_ROUTE_EMAIL_COMPLAINT,
    WH_ROUTE_SMS_TWILIO,
    WH_ROUTE_SMS_SNS,
    WH_ROUTE_SMS_GENERIC,
    WH_ROUTE__COUNT
} wh_route_t;

struct wh_s {
    const cfg_t *cfg;
    metrics_registry_t *metrics;
    secret_ring_t *ring;
    db_t *cfg_db;
    provcfg_t *provcfg;
    wh_dbpool_t *pool;
    wh_emit_t *emit;
    wh_relay_t *relay;
    wh_certs_t *certs;
    httpd_t *httpd;
    int64_t replay_window_s;
    bool sns_confirm;                /* SNS_SUBSCRIBE_MODE=confirm */
    atomic_bool serving;             /* every route registered */
    metrics_counter_t *callbacks;    /* family: route, outcome */
    metrics_counter_t *sig_failures; /* family: route */
    metrics_histogram_t *latency[WH_ROUTE__COUNT];
};

/* A verified callback in provider-neutral form. Strings are borrowed for the call. */
typedef struct wh_callback_s {
    wh_route_t route;
    const char *org_id;
    event_channel_t channel;
    event_provider_t provider;
    event_status_t status;
    const char *provider_message_id; /* looked up in the ledger */
    const char *message_id;          /* ours, when the sender gave it */
    const char *error_code;
    const char *error_message;
    bool retryable;
    int64_t occurred_at;    /* epoch ms; 0: now */
    const char *dedupe_key; /* NULL: no de-duplication */
} wh_callback_t;

wh_t *wh_new(const cfg_t *cfg, char *errstr, size_t errstr_size);
void wh_destroy(wh_t *wh);

const char *wh_route_name(wh_route_t route);

/*
 * Periodic work of the main thread: deletes de-duplication rows older than
 * WH_DEDUPE_KEEP_S. Providers stop retrying a callback within hours (Twilio) or an hour
 * (SNS's default delivery policy), so three days keeps every row that can still matter.
 */
#define WH_DEDUPE_KEEP_S (3L * 24 * 3600)
void wh_housekeeping(wh_t *wh);

/* Answers `status` with a short text body and counts the outcome. */
void wh_answer(wh_t *wh, httpd_response_t *resp, wh_route_t route, int status, const char *outcome,
               const char *text);
/* Answers 401 and counts a signature failure. */
void wh_answer_unauthorized(wh_t *wh, httpd_response_t *resp, wh_route_t route, const char *why);

/*
 * Correlates, publishes and answers (200, or 503 when the database or Kafka failed), later:
 * the answer is deferred (wh_relay.h), so the handler must not touch resp after this call.
 */
void wh_deliver(wh_t *wh, const wh_callback_t *cb, httpd_response_t *resp);

/* The URL the provider called: PUBLIC_BASE_URL (or http://<Host>) + the raw target. */
char *wh_called_url(const wh_t *wh, const httpd_request_t *req);

/* Route handlers (wh_generic.c, wh_twilio.c, wh_sns.c); opaque is the wh_t. */
void wh_generic_email_delivery(const httpd_request_t *req, httpd_response_t *resp, void *opaque);
void wh_generic_email_bounce(const httpd_request_t *req, httpd_response_t *resp, void *opaque);
void wh_generic_email_complaint(const httpd_request_t *req, httpd_response_t *resp, void *opaque);
void wh_generic_sms(const httpd_request_t *req, httpd_response_t *resp, void *opaque);
void wh_twilio_status(const httpd_request_t *req, httpd_response_t *resp, void *opaque);
void wh_sns_delivery(const httpd_request_t *req, httpd_response_t *resp, void *opaque);

#endif
