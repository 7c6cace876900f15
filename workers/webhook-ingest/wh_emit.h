/*
 * Publishing a status event and waiting for Kafka's answer. A callback is acknowledged to
 * its provider only once its event is on the topic, so a handler produces and then blocks
 * until the delivery report arrives; a background thread serves the producer's reports.
 *
 * The producer is idempotent (acks=all) with message.timeout.ms set to
 * WEBHOOK_KAFKA_TIMEOUT_MS unless a KAFKA_MESSAGE_TIMEOUT_MS pass-through says otherwise,
 * so with Kafka unreachable every report arrives, as a failure, within that time, and the
 * handler answers 503 for the provider to retry.
 */
#ifndef WH_EMIT_H
#define WH_EMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef struct wh_emit_s wh_emit_t;

/* Creates the producer (and the status topic when TOPIC_AUTO_CREATE) and starts its
 * report thread. NULL with errstr on failure. */
wh_emit_t *wh_emit_new(const cfg_t *cfg, char *errstr, size_t errstr_size);
/* Waits up to the message timeout for events still in flight, then frees everything. */
void wh_emit_destroy(wh_emit_t *em);

/*
 * Produces `value` keyed by `key` on the status topic and waits for its delivery report.
 * Returns 0 once Kafka acknowledged it, or -1 with errstr (queue full, timed out, refused).
 * Thread-safe; called from connection threads.
 */
int wh_emit_publish(wh_emit_t *em, const char *key, const char *value, size_t len, char *errstr,
                    size_t errstr_size);

/* False once the producer hit a fatal error (it cannot produce again; the process must be
 * restarted), for /readyz. */
bool wh_emit_healthy(wh_emit_t *em);

#endif
