/*
 * The pipeline's database stage, in two lanes, each a thread with its own connection. The
 * fresh lane takes accepted jobs in batches and, for each batch, loads the provider
 * configuration, lets the provider check the job, reserves the idempotency keys in the
 * ledger, takes quota, and hands what may be sent to the provider's engine. The sent lane
 * takes the engine's results in batches, decides the outcome (sent, retry on which tier,
 * final failure), throttles the quota row when the provider asked, records the outcomes in
 * the ledger, and passes the jobs to the loop through `done_q`. Batching is what lets one
 * worker handle tens of thousands of messages a second with a handful of statements; the
 * two lanes let reserving one batch overlap recording another.
 */
#ifndef NOTIFY_DBSTAGE_H
#define NOTIFY_DBSTAGE_H

#include <stddef.h>

#include "config.h"
#include "job.h"
#include "jobq.h"
#include "metrics.h"
#include "retry.h"
#include "sender.h"

typedef struct dbstage_s dbstage_t;

typedef struct dbstage_conf_s {
    const cfg_t *cfg;
    const char *name; /* the binary, for the database application_name */
    const sender_ops_t *ops;
    const retry_policy_t *policy;
    /* Decided jobs go here; the loop takes them between polls, which are short (1 ms)
     * while anything is in flight, so no wake-up is needed. */
    jobq_t *done_q;
    metrics_registry_t *metrics;
} dbstage_conf_t;

dbstage_t *dbstage_new(const dbstage_conf_t *conf, char *errstr, size_t errstr_size);

/* The engine jobs are submitted to; set before the first dbstage_push(). */
void dbstage_set_engine(dbstage_t *st, void *engine);

/* Hands an accepted job (with its request parsed) to the stage. */
void dbstage_push(dbstage_t *st, job_t *job);

/* The engine's completion callback (sender_done_cb); `opaque` is the stage. */
void dbstage_sender_done(sender_job_t *sj, const sender_result_t *result, void *opaque);

/*
 * Stops the thread once nothing it holds can still finish: jobs waiting for a batch are
 * decided as not processed (they are neither published nor stored, so Kafka delivers them
 * again) and leased quota is handed back. Call after the engine was destroyed.
 */
void dbstage_destroy(dbstage_t *st);

/* Releases what a job holds from the stage (the provider configuration reference). */
void dbstage_job_release(job_t *job);

#endif
