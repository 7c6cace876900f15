/*
 * The delivery pipeline every worker shares: one consumer loop on the channel's topic and
 * its retry tiers, a database stage (provider config, ledger, quota) and the provider's
 * engine, and the outcome of every request published before its offset is stored.
 *
 * Guarantees: an offset is stored only when the outcome of its message (status event and,
 * where due, the retry or dead-letter copy) has been acknowledged by Kafka, and only as
 * the contiguous prefix of finished messages of its partition; a copy on a retry tier is
 * not processed before its x-not-before; waiting for one pauses only its partition.
 */
#ifndef NOTIFY_PIPELINE_H
#define NOTIFY_PIPELINE_H

#include <stddef.h>

#include "config.h"
#include "metrics.h"
#include "sender.h"

typedef struct pipeline_s pipeline_t;

/*
 * Builds the pipeline for a provider: Kafka clients, database connections, the provider's
 * engine, the metrics and the HTTP endpoint (HTTP_ADDR). `name` is the binary's name (the
 * default consumer group and the HTTP/log identity). NULL with errstr on failure.
 */
pipeline_t *pipeline_new(const cfg_t *cfg, const char *name, const sender_ops_t *ops, char *errstr,
                         size_t errstr_size);

/* Runs until pipeline_stop(), then drains (DRAIN_GRACE_MS) and returns 0, or 1 when
 * something fatal happened. */
int pipeline_run(pipeline_t *pl);

/* Asks pipeline_run() to stop. Async-signal-safe. */
void pipeline_stop(pipeline_t *pl);

void pipeline_destroy(pipeline_t *pl);

/* The registry, for a provider that adds its own metrics. */
metrics_registry_t *pipeline_metrics(pipeline_t *pl);

/*
 * What a worker's main() does: start the pipeline for `ops`, stop it on SIGTERM or SIGINT,
 * and return the process exit code.
 */
int pipeline_main(const cfg_t *cfg, const char *name, const sender_ops_t *ops);

#endif
