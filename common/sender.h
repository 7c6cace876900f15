/*
 * The interface a provider implements so that the pipeline around it (quota, ledger,
 * retries, status events, offsets) is written once. A provider is a table of functions:
 *
 *   create   builds the engine (connection pools, curl multi handle, threads);
 *   prepare  checks what only the provider knows before anything is reserved or counted
 *            (an email too large once encoded, a body the provider cannot carry); it runs
 *            on the pipeline's database thread and must not block on the network;
 *   submit   starts sending one job and returns at once; many jobs are in flight together;
 *            the engine reports each exactly once through the `done` callback, from any
 *            thread, with the result classified into the contract's error codes;
 *   destroy  finishes or fails what is in flight (each still reported through `done`),
 *            then frees the engine.
 */
#ifndef NOTIFY_SENDER_H
#define NOTIFY_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "metrics.h"
#include "request.h"

/* Which provider configuration row a provider needs (provcfg.h). */
typedef enum {
    SENDER_CONFIG_EMAIL = 0,
    SENDER_CONFIG_TWILIO,
    SENDER_CONFIG_SNS,
} sender_config_kind_t;

/* What a provider reports for one job. */
typedef struct sender_result_s {
    bool ok;
    char provider_message_id[256];
    char error_code[48]; /* an errcode.h name ("SMTP_550", "TWILIO_30003"); empty when ok */
    bool retryable;
    char error_message[512]; /* for people; the pipeline redacts it before it leaves */
    /* The provider asked to slow down (HTTP 429, Throttling): the organisation's quota row
     * is throttled for retry_after_ms (the provider's Retry-After; 0 when it gave none,
     * which means the contract's 5 minutes) and the retry waits at least that long. */
    bool throttled;
    int64_t retry_after_ms;
} sender_result_t;

/* One message being sent. The pipeline owns it; the engine borrows it from submit until it
 * calls done. */
typedef struct sender_job_s {
    const request_t *req;
    const void *config; /* provcfg_email_t or provcfg_sms_t, by the provider's config kind */
    int attempt;        /* 1 for the first delivery */
    void *engine_data;  /* free for the engine's use while it holds the job */
} sender_job_t;

typedef void (*sender_done_cb)(sender_job_t *job, const sender_result_t *result, void *opaque);

typedef struct sender_ops_s {
    const char *name;            /* for logs, e.g. "smtp" */
    event_channel_t channel;     /* EVENT_CHANNEL_EMAIL or EVENT_CHANNEL_SMS */
    event_provider_t provider;   /* SMTP, TWILIO, AWS_SNS */
    request_channel_t request;   /* how requests on its topic are parsed */
    sender_config_kind_t config; /* which provider configuration it needs */

    void *(*create)(const cfg_t *cfg, metrics_registry_t *metrics, sender_done_cb done,
                    void *done_opaque, char *errstr, size_t errstr_size);
    /* Returns true when the job can go on; false with `result` filled (a final failure,
     * or a retryable one) when it cannot. May be NULL. */
    bool (*prepare)(void *engine, sender_job_t *job, sender_result_t *result);
    void (*submit)(void *engine, sender_job_t *job);
    void (*destroy)(void *engine);
} sender_ops_t;

#endif
