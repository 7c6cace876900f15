/*
 * The way of a verified callback from its handler to its answer, without a thread waiting
 * for it. wh_deliver() (wh.h) defers the handler's answer and hands the callback to the
 * relay thread, which takes every callback that has arrived meanwhile at once: the
 * de-duplication check of those that have a key, one ledger statement per provider for
 * the correlation of all the others, then the status events, produced without waiting.
 * The producer's delivery report answers the callback (on the report thread), after the
 * de-duplication record when there is a key (back on the relay thread, which owns the
 * database work). A copy of a keyed callback that arrives while the first is in flight
 * (twice in one pass, or resent while the first waits for Kafka) makes no second event: it
 * gets the first one's answer, a duplicate when that was published.
 *
 * A callback whose provider id is not in the ledger yet stays with the relay and is looked
 * up again with the next batches, for WH_RELAY_CORRELATE_WAIT_MS: Twilio posts "queued"
 * as soon as it answered the worker, which then still has to write the ledger.
 */
#ifndef WH_RELAY_H
#define WH_RELAY_H

#include <stddef.h>

#include "httpd.h"

#define WH_RELAY_CORRELATE_WAIT_MS 2000
#define WH_RELAY_CORRELATE_STEP_MS 50

typedef struct wh_s wh_t;
typedef struct wh_relay_s wh_relay_t;
typedef struct wh_callback_s wh_callback_t;

/* Starts the relay thread for `wh`, whose pool, producer and metrics it uses. */
wh_relay_t *wh_relay_new(wh_t *wh, char *errstr, size_t errstr_size);
/*
 * Stops the thread. The server must have been destroyed first: it waits for every
 * deferred answer, so no callback is left with the relay, and none can arrive.
 */
void wh_relay_destroy(wh_relay_t *relay);

/* Takes a copy of `cb`; `resp` (already deferred) is answered and resumed later. */
void wh_relay_submit(wh_relay_t *relay, const wh_callback_t *cb, httpd_response_t *resp);

#endif
