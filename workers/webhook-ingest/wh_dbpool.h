/*
 * PostgreSQL connections for webhook-ingest: ledger correlation (provider message id to
 * our message_id, many at once) and callback de-duplication (migration 0005) for the relay
 * thread, pruning for the main thread. A db_t serves one thread at a time, so the pool
 * hands out whole connections; a thread holds one only for its queries, never while it
 * waits for Kafka.
 */
#ifndef WH_DBPOOL_H
#define WH_DBPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "ledger.h"

typedef struct wh_dbpool_s wh_dbpool_t;

typedef enum {
    WH_DB_OK = 0,
    WH_DB_NOT_FOUND,   /* lookup: no such row; seen: not seen */
    WH_DB_UNAVAILABLE, /* the database did not answer: the caller answers 503 */
} wh_db_result_t;

/* WEBHOOK_DB_POOL connections to DATABASE_URL. NULL with errstr when the first cannot
 * connect or the schema lacks the tables. */
wh_dbpool_t *wh_dbpool_new(const cfg_t *cfg, char *errstr, size_t errstr_size);
void wh_dbpool_destroy(wh_dbpool_t *pool);

/*
 * One provider message id of a batch correlation: pmid is read, result and row are set
 * (row only when result is WH_DB_OK).
 */
typedef struct wh_db_probe_s {
    const char *pmid;
    wh_db_result_t result;
    ledger_row_t row;
} wh_db_probe_t;

/* Most probes one wh_dbpool_lookup_many() call takes. */
#define WH_DB_PROBES_MAX 256

/*
 * Looks up n (at most WH_DB_PROBES_MAX) provider message ids of one provider in a single
 * statement, as many callbacks arrive at once and a round trip each would make the
 * database the limit. Returns WH_DB_OK with each probe's result set, or
 * WH_DB_UNAVAILABLE for the whole batch.
 */
wh_db_result_t wh_dbpool_lookup_many(wh_dbpool_t *pool, const char *provider,
                                     wh_db_probe_t *const *probes, size_t n);
/*
 * One de-duplication key of a batch (migration 0005): org_id and key are read; seen is
 * set by wh_dbpool_seen_many().
 */
typedef struct wh_db_key_s {
    const char *org_id;
    const char *key;
    bool seen;
} wh_db_key_t;

/* Most keys one wh_dbpool_seen_many() or wh_dbpool_mark_seen_many() call takes. */
#define WH_DB_KEYS_MAX 256

/*
 * Sets each key's `seen`: true when (org_id, key) was recorded by
 * wh_dbpool_mark_seen_many(). One statement for the n keys (at most WH_DB_KEYS_MAX).
 * Returns WH_DB_OK, or WH_DB_UNAVAILABLE for the whole batch. A key the database could
 * not hold (not UTF-8, too long) is never seen.
 */
wh_db_result_t wh_dbpool_seen_many(wh_dbpool_t *pool, wh_db_key_t *const *keys, size_t n);
/* Records the n keys (at most WH_DB_KEYS_MAX) as published, in one statement; a key the
 * database could not hold is left out. */
wh_db_result_t wh_dbpool_mark_seen_many(wh_dbpool_t *pool, wh_db_key_t *const *keys, size_t n);

/* Deletes de-duplication rows older than max_age_s seconds; returns how many, or -1. */
long wh_dbpool_prune(wh_dbpool_t *pool, long max_age_s);

#endif
