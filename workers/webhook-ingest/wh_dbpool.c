#include "wh_dbpool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "log.h"

#define WH_DBPOOL_MAX 64

static const char wh_dbpool_seen_sql[] =
    "SELECT 1 FROM webhook_callback_dedupe WHERE org_id = $1 AND dedupe_key = $2";
static const char wh_dbpool_mark_sql[] =
    "INSERT INTO webhook_callback_dedupe (org_id, dedupe_key) VALUES ($1, $2) "
    "ON CONFLICT DO NOTHING";

static const char wh_dbpool_prune_sql[] =
    "DELETE FROM webhook_callback_dedupe WHERE created_at < now() - make_interval(secs => $1)";

typedef struct wh_dbpool_slot_s {
    db_t *db;
    ledger_t *ledger;
} wh_dbpool_slot_t;

struct wh_dbpool_s {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t count;
    wh_dbpool_slot_t slots[WH_DBPOOL_MAX];
    /* Indexes of the free slots, a stack. */
    size_t free[WH_DBPOOL_MAX];
    size_t nfree;
};

static int wh_dbpool_open(const cfg_t *cfg, wh_dbpool_slot_t *slot, char *errstr,
                          size_t errstr_size)
{
    slot->db = db_new(cfg_str(cfg, CFG_DATABASE_URL), "webhook-ingest",
                      (int)cfg_int(cfg, CFG_DB_CONNECT_TIMEOUT_MS),
                      (int)cfg_int(cfg, CFG_DB_STATEMENT_TIMEOUT_MS), errstr, errstr_size);
    if (slot->db == NULL)
        return -1;
    /* The ledger's stale limit matters only to reservations, which we never make. */
    slot->ledger = ledger_new(slot->db, 600000, errstr, errstr_size);
    if (slot->ledger == NULL)
        return -1;
    if (db_prepare(slot->db, "wh_seen", wh_dbpool_seen_sql, 2, 0, errstr, errstr_size) ==
            DB_ERR_SQL ||
        db_prepare(slot->db, "wh_mark", wh_dbpool_mark_sql, 2, 0, errstr, errstr_size) ==
            DB_ERR_SQL ||
        db_prepare(slot->db, "wh_prune", wh_dbpool_prune_sql, 1, 0, errstr, errstr_size) ==
            DB_ERR_SQL)
        return -1;
    return 0;
}

wh_dbpool_t *wh_dbpool_new(const cfg_t *cfg, char *errstr, size_t errstr_size)
{
    wh_dbpool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        abort();
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    size_t n = (size_t)cfg_int(cfg, CFG_WEBHOOK_DB_POOL);
    if (n > WH_DBPOOL_MAX)
        n = WH_DBPOOL_MAX;
    for (size_t i = 0; i < n; i++) {
        pool->count++;
        if (wh_dbpool_open(cfg, &pool->slots[i], errstr, errstr_size) != 0)
            goto fail;
        pool->free[pool->nfree++] = i;
    }
    return pool;
fail:
    wh_dbpool_destroy(pool);
    return NULL;
}

void wh_dbpool_destroy(wh_dbpool_t *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->count; i++) {
        ledger_destroy(pool->slots[i].ledger);
        db_destroy(pool->slots[i].db);
    }
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}

static wh_dbpool_slot_t *wh_dbpool_acquire(wh_dbpool_t *pool)
{
    pthread_mutex_lock(&pool->mu);
    while (pool->nfree == 0)
        pthread_cond_wait(&pool->cv, &pool->mu);
    wh_dbpool_slot_t *slot = &pool->slots[pool->free[--pool->nfree]];
    pthread_mutex_unlock(&pool->mu);
    return slot;
}

static void wh_dbpool_release(wh_dbpool_t *pool, wh_dbpool_slot_t *slot)
{
    pthread_mutex_lock(&pool->mu);
    pool->free[pool->nfree++] = (size_t)(slot - pool->slots);
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

wh_db_result_t wh_dbpool_lookup(wh_dbpool_t *pool, const char *provider, const char *pmid,
                                ledger_row_t *row)
{
    char errstr[256];
    wh_dbpool_slot_t *slot = wh_dbpool_acquire(pool);
    ledger_err_t err =
        ledger_lookup_provider_id(slot->ledger, provider, pmid, row, errstr, sizeof(errstr));
    wh_dbpool_release(pool, slot);
    if (err == LEDGER_OK)
        return WH_DB_OK;
    if (err == LEDGER_ERR_NOT_FOUND)
        return WH_DB_NOT_FOUND;
    log_kv(LOG_LEVEL_WARN, "ledger lookup failed", "error", errstr, NULL);
    return WH_DB_UNAVAILABLE;
}

static wh_db_result_t wh_dbpool_exec(wh_dbpool_t *pool, const char *stmt, const char *org_id,
                                     const char *key, bool *found)
{
    char errstr[256];
    PGresult *res = NULL;
    const char *values[2] = {org_id, key};
    wh_dbpool_slot_t *slot = wh_dbpool_acquire(pool);
    db_err_t err = db_exec_prepared(slot->db, stmt, 2, values, &res, errstr, sizeof(errstr));
    wh_dbpool_release(pool, slot);
    if (err != DB_OK) {
        log_kv(LOG_LEVEL_WARN, "de-duplication query failed", "error", errstr, NULL);
        return WH_DB_UNAVAILABLE;
    }
    *found = PQntuples(res) > 0;
    PQclear(res);
    return WH_DB_OK;
}

wh_db_result_t wh_dbpool_seen(wh_dbpool_t *pool, const char *org_id, const char *key)
{
    bool found = false;
    wh_db_result_t r = wh_dbpool_exec(pool, "wh_seen", org_id, key, &found);
    if (r != WH_DB_OK)
        return r;
    return found ? WH_DB_OK : WH_DB_NOT_FOUND;
}

wh_db_result_t wh_dbpool_mark_seen(wh_dbpool_t *pool, const char *org_id, const char *key)
{
    bool found = false;
    return wh_dbpool_exec(pool, "wh_mark", org_id, key, &found);
}

long wh_dbpool_prune(wh_dbpool_t *pool, long max_age_s)
{
    char errstr[256], age[32];
    PGresult *res = NULL;
    snprintf(age, sizeof(age), "%ld", max_age_s);
    const char *values[1] = {age};
    wh_dbpool_slot_t *slot = wh_dbpool_acquire(pool);
    db_err_t err = db_exec_prepared(slot->db, "wh_prune", 1, values, &res, errstr, sizeof(errstr));
    wh_dbpool_release(pool, slot);
    if (err != DB_OK) {
        log_kv(LOG_LEVEL_WARN, "de-duplication rows not pruned", "error", errstr, NULL);
        return -1;
    }
    long n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}
