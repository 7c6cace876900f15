/*
 * The idempotency ledger (table delivery_ledger): one row per (org_id, channel,
 * idempotency_key) that decides whether a request is sent, and records what came of it.
 * The pipeline reserves a whole batch of keys in one statement before sending and records
 * the batch's outcomes in one statement afterwards, so the ledger costs two round trips per
 * batch rather than two per message.
 *
 * States: RESERVED (not sent, a retry is scheduled), SENDING (a request holds the key and
 * is sending it now), SENT (the provider accepted it; terminal), FAILED (final failure,
 * not sent). A row in SENDING carries the origin of the request that holds it: the Kafka
 * coordinates "<topic>/<partition>/<offset>" of that request, where a retry copy passes the
 * coordinates of the request it copies (x-original-* headers), so a request and its retries
 * share one origin.
 *
 * Verdicts of ledger_reserve(), for each item:
 *   no row                                      insert SENDING            LEDGER_SEND
 *   SENT                                        untouched                 LEDGER_DUPLICATE
 *   RESERVED or FAILED                          take it: SENDING          LEDGER_SEND
 *   SENDING, same origin                        take it again             LEDGER_RESEND
 *   SENDING, other origin, older than stale_ms  take it over              LEDGER_RESEND
 *   SENDING, other origin, not stale            untouched                 LEDGER_CONFLICT
 * Taking a row sets state SENDING, origin, message_id, provider and sending_since = now(),
 * and increments attempts.
 *
 * The honest window: a process that dies between reserving a key and recording its
 * outcome leaves the row SENDING, and the provider may or may not have the message. The
 * request is replayed from Kafka with the same origin and gets LEDGER_RESEND: it is sent
 * again, and the pipeline counts and logs it as a possible duplicate. Not sending it
 * would risk losing the message instead; at-least-once is the contract. The row's column
 * `resend` stays true until the next reservation, so operators can list such rows. A
 * SENDING row whose request never comes back (say it expired with the topic's retention
 * before the replay) blocks its key for stale_ms, after which another request with the key
 * takes it over, also as LEDGER_RESEND. Pick stale_ms well above the longest time a send
 * can take, or a slow send and its successor will both go out.
 *
 * The same key twice in one call: the first occurrence gets a verdict as above, later
 * ones LEDGER_CONFLICT (one statement cannot touch a row twice, and two sends of one key
 * at once is what the ledger exists to prevent).
 *
 * Concurrency: every worker may reserve the same keys at once; each key goes to exactly
 * one of them (LEDGER_SEND), the others get LEDGER_CONFLICT, or LEDGER_DUPLICATE once it is
 * SENT. A row that another transaction changed while the statement ran is reported as
 * LEDGER_CONFLICT even when it has just become SENT, so a caller retrying a conflict later
 * gets the final answer. Reservations and finishes lock rows in key order, so they do not
 * deadlock each other; a deadlock PostgreSQL still detects (say, with an operator's
 * transaction) ends one statement, which is reported as LEDGER_ERR_UNAVAILABLE like any
 * other passing failure.
 *
 * The SQL lives in migration 0004 (functions delivery_ledger_reserve and
 * delivery_ledger_finish), which explains its shape.
 *
 * Threads: a ledger_t is used by one thread at a time, like the db_t it reads through.
 */
#ifndef NOTIFY_LEDGER_H
#define NOTIFY_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* Most items one ledger_reserve() or ledger_finish() call takes (one statement each). */
#define LEDGER_BATCH_MAX 4096

/* Column limits of delivery_ledger, in characters (UTF-8 may take 4 bytes each). */
#define LEDGER_ORG_ID_MAX          64
#define LEDGER_IDEMPOTENCY_KEY_MAX 255
#define LEDGER_MESSAGE_ID_MAX      128
/* Limits of the ledger itself, in bytes: anything longer is a caller's bug. */
#define LEDGER_ORIGIN_MAX              1024
#define LEDGER_PROVIDER_MESSAGE_ID_MAX 1024
#define LEDGER_ERROR_CODE_MAX          128

typedef struct ledger_s ledger_t;

typedef enum {
    LEDGER_OK = 0,
    /* The database did not answer, or refused for a passing reason (lost connection,
     * statement timeout, deadlock, shutdown). What the call decided is unknown: the caller
     * stores no offsets and runs the same batch again later. */
    LEDGER_ERR_UNAVAILABLE,
    /* The database refused for a reason that retrying does not fix (schema not migrated,
     * a constraint these checks missed): a deployment error or a bug. errstr says which. */
    LEDGER_ERR_REFUSED,
    /* Bad arguments (NULL pointers, more than LEDGER_BATCH_MAX items): a bug in the caller. */
    LEDGER_ERR_USAGE,
    /* ledger_lookup_provider_id(): no row has that provider message id. */
    LEDGER_ERR_NOT_FOUND,
} ledger_err_t;

typedef enum {
    LEDGER_STATE_RESERVED = 0,
    LEDGER_STATE_SENDING,
    LEDGER_STATE_SENT,
    LEDGER_STATE_FAILED,
} ledger_state_t;

typedef enum {
    LEDGER_SEND = 0,  /* send it: this request now holds the key */
    LEDGER_RESEND,    /* send it, but it may already have been sent (the honest window) */
    LEDGER_DUPLICATE, /* already sent: do not send; report DUPLICATE */
    LEDGER_CONFLICT,  /* another request holds the key right now: try again later */
    LEDGER_INVALID,   /* the item breaks a rule below; nothing was written for it */
} ledger_verdict_t;

/*
 * One request to reserve. Inputs (the caller's strings, read during the call only):
 *   org_id            1..LEDGER_ORG_ID_MAX characters
 *   channel           "email" or "sms"
 *   idempotency_key   1..LEDGER_IDEMPOTENCY_KEY_MAX characters
 *   message_id        1..LEDGER_MESSAGE_ID_MAX characters
 *   provider          "SMTP" for email; "TWILIO" or "AWS_SNS" for sms
 *   origin            "<topic>/<partition>/<offset>", 1..LEDGER_ORIGIN_MAX bytes
 * all valid UTF-8. An item that breaks these gets LEDGER_INVALID instead of failing the
 * batch: the other items are still decided.
 */
typedef struct ledger_reserve_item_s {
    const char *org_id;
    const char *channel;
    const char *idempotency_key;
    const char *message_id;
    const char *provider;
    const char *origin;

    /* Outputs, set for every item when the call returns LEDGER_OK. */
    ledger_verdict_t verdict;
    /* The row's attempt count after this call: the reservation's number for SEND and
     * RESEND (pass it to ledger_finish()), the row's count for DUPLICATE and CONFLICT
     * (0 when the row is not visible yet), 0 for INVALID. */
    int attempts;
    /* LEDGER_DUPLICATE: the message_id the key was sent as, and the provider's id for it
     * (NULL when unknown). NULL for other verdicts. The strings belong to the ledger and
     * stay valid until the next ledger_reserve() on it or ledger_destroy(). */
    const char *sent_message_id;
    const char *sent_provider_message_id;
} ledger_reserve_item_t;

typedef enum {
    LEDGER_FINISH_APPLIED = 0,
    /* SENT was recorded without the provider_message_id: another row already has that id
     * for this provider (or an earlier item of the same call does). Webhooks for it will not
     * find this row; the caller logs it as an error. */
    LEDGER_FINISH_APPLIED_NO_PMID,
    /* Nothing written: the row is no longer SENDING for this reservation (taken over by a
     * stale takeover or a replay of the same request, or it does not exist). */
    LEDGER_FINISH_TAKEN_OVER,
    /* Nothing written: the item breaks a rule below, or repeats the key of an earlier item
     * of the same call. */
    LEDGER_FINISH_INVALID,
} ledger_finish_result_t;

/*
 * One outcome to record. org_id, channel and idempotency_key name the row (rules as for
 * reserving), origin is the one the reservation was made with.
 *   state                SENT, FAILED (final failure) or RESERVED (not sent; a retry is
 *                        scheduled)
 *   attempts             the attempts ledger_reserve() returned for this reservation, or 0.
 *                        When given, it fences the reservation: a replay of the same request
 *                        (same origin) that took the row over meanwhile has another count,
 *                        so a holder that was presumed dead cannot overwrite its outcome.
 *   provider_message_id  SENT: the provider's id, or NULL; ignored for other states
 *   last_error_code      FAILED and RESERVED: the error code (or NULL); ignored for SENT,
 *                        which keeps the code of the last failed attempt
 */
typedef struct ledger_finish_item_s {
    const char *org_id;
    const char *channel;
    const char *idempotency_key;
    const char *origin;
    ledger_state_t state;
    int attempts;
    const char *provider_message_id;
    const char *last_error_code;

    /* Output, set for every item when the call returns LEDGER_OK. */
    ledger_finish_result_t result;
} ledger_finish_item_t;

/* A row found by ledger_lookup_provider_id(). Sizes hold the column limits in UTF-8. */
typedef struct ledger_row_s {
    char org_id[LEDGER_ORG_ID_MAX * 4 + 1];
    char channel[8];
    char idempotency_key[LEDGER_IDEMPOTENCY_KEY_MAX * 4 + 1];
    char message_id[LEDGER_MESSAGE_ID_MAX * 4 + 1];
    ledger_state_t state;
    int attempts;
} ledger_row_t;

/*
 * A ledger reading and writing through `db`, which is borrowed: it must outlive the ledger
 * and not be used by another thread meanwhile. stale_ms (> 0) is how long a SENDING row
 * blocks other requests with its key (e.g. 600000). Prepares the statements, so a schema
 * without the ledger's columns is reported here (NULL with errstr); a database that is
 * merely down is not an error yet (the statements are prepared on first use).
 */
ledger_t *ledger_new(db_t *db, int64_t stale_ms, char *errstr, size_t errstr_size);
void ledger_destroy(ledger_t *lg);

/*
 * Decides the n items (n <= LEDGER_BATCH_MAX) in one statement and sets their outputs.
 * On an error the outputs are not valid, and errstr says why. After
 * LEDGER_ERR_UNAVAILABLE the statement may or may not have run (the reply can be lost after
 * the commit); running the same batch again is safe: keys it did reserve come back as
 * LEDGER_RESEND (same origin), counted once more in attempts.
 */
ledger_err_t ledger_reserve(ledger_t *lg, ledger_reserve_item_t *items, size_t n, char *errstr,
                            size_t errstr_size);

/*
 * Records the n outcomes (n <= LEDGER_BATCH_MAX) in one statement, each only where the
 * row is still SENDING with the item's origin (and attempts, when given), and sets their
 * results. Running the same call again after its reply was lost reports the outcomes it
 * recorded the first time as applied again, so a retried call does not look taken over.
 *
 * A provider_message_id already held by another row would make the whole statement fail
 * on the unique index; the statement leaves such an id out instead (the row is still
 * recorded as SENT, as LEDGER_FINISH_APPLIED_NO_PMID), and when a concurrent writer
 * commits the same id in the instant between that check and the write, the statement is
 * run again, where the check now sees it.
 */
ledger_err_t ledger_finish(ledger_t *lg, ledger_finish_item_t *items, size_t n, char *errstr,
                           size_t errstr_size);

/*
 * The row whose provider_message_id is `provider_message_id` for `provider` ("SMTP",
 * "TWILIO", "AWS_SNS"), for webhook correlation. LEDGER_ERR_NOT_FOUND when there is none.
 */
ledger_err_t ledger_lookup_provider_id(ledger_t *lg, const char *provider,
                                       const char *provider_message_id, ledger_row_t *out,
                                       char *errstr, size_t errstr_size);

const char *ledger_err_name(ledger_err_t err);
const char *ledger_state_name(ledger_state_t state); /* "RESERVED", "SENDING", ... */
/* The inverse of ledger_state_name(). Returns 0, or -1 for another name. */
int ledger_state_parse(const char *name, ledger_state_t *state);
const char *ledger_verdict_name(ledger_verdict_t verdict); /* "SEND", "RESEND", ... */
const char *ledger_finish_result_name(ledger_finish_result_t result);

/*
 * PostgreSQL array literals ('{"a","b",NULL}') for passing a column of values as one
 * text[] parameter. Every element is double-quoted, with '"' and '\' escaped by a
 * backslash, so commas, braces, spaces, the word NULL and the empty string all arrive as
 * written; a NULL pointer becomes an SQL NULL element. The literal is bounded by
 * max_bytes (its terminating NUL included).
 */
typedef struct ledger_array_s ledger_array_t;

ledger_array_t *ledger_array_new(size_t max_bytes);
void ledger_array_destroy(ledger_array_t *a);
/* Empties the array, keeping its memory for the next batch. */
void ledger_array_reset(ledger_array_t *a);
/* Appends one element. Returns 0, or -1 (the array unchanged) when the literal would
 * exceed max_bytes. */
int ledger_array_add(ledger_array_t *a, const char *value);
/* The literal, e.g. {"a",NULL,"b\"c"}; valid until the next call on the array. */
const char *ledger_array_text(ledger_array_t *a);
size_t ledger_array_count(const ledger_array_t *a);

#endif
