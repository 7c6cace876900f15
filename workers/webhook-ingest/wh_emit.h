/*
 * Publishing a status event and learning Kafka's answer. A callback is acknowledged to
 * its provider only once its event is on the topic, so the caller produces and is told
 * the outcome later, by a function called on the background thread that serves the
 * producer's delivery reports; nobody blocks while Kafka works.
 *
 * The producer is idempotent (acks=all) with message.timeout.ms set to
 * WEBHOOK_KAFKA_TIMEOUT_MS unless a KAFKA_MESSAGE_TIMEOUT_MS pass-through says otherwise,
 * so with Kafka unreachable every report arrives, as a failure, within that time, and the
 * callback is answered 503 for the provider to retry.
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
 * Called once per event sent with wh_emit_send(), on the report thread: error is NULL
 * when Kafka acknowledged the event, else why it did not. It must not block for long:
 * every other report waits behind it.
 */
typedef void (*wh_emit_done_t)(void *opaque, const char *error);

/*
 * Produces `value` keyed by `key` on the status topic (both copied). Returns 0 when the
 * producer took it, and `done` will be called with its outcome; -1 with errstr when it
 * refused at once (queue full, fatal error), and `done` will not be called. Thread-safe.
 */
int wh_emit_send(wh_emit_t *em, const char *key, const char *value, size_t len, wh_emit_done_t done,
                 void *opaque, char *errstr, size_t errstr_size);

/* False once the producer hit a fatal error (it cannot produce again; the process must be
 * restarted), for /readyz. */
bool wh_emit_healthy(wh_emit_t *em);

#endif
