#include "wh_dbpool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "utf8.h"

#define WH_DBPOOL_MAX 64

/* De-duplication for many keys at once, each statement given the keys' orgs and names as
 * two parallel arrays. The seen query pairs them with unnest(), so each key is one probe of
 * the primary key (org_id, dedupe_key). Matching `org_id = ANY($1) AND dedupe_key =
 * ANY($2)` instead, the planner costs an index scan at one probe per combination (the org
 * array repeats one org n times: n * n), and with 70,000 rows it read the whole table
 * instead, 8 ms per statement against 0.3 ms. */
static const char wh_dbpool_seen_sql[] =
    "SELECT k.org_id, k.dedupe_key FROM unnest($1::text[], $2::text[]) AS k(org_id, dedupe_key)"
    " WHERE EXISTS (SELECT 1 FROM webhook_callback_dedupe d"
    " WHERE d.org_id = k.org_id AND d.dedupe_key = k.dedupe_key)";
static const char wh_dbpool_mark_sql[] =
    "INSERT INTO webhook_callback_dedupe (org_id, dedupe_key)"
    " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING";

/* The ledger's correlation lookup (ledger_lookup_provider_id) for many ids at once; each
 * id is still one probe of the partial unique index (provider, provider_message_id). */
static const char wh_dbpool_lookup_sql[] =
    "SELECT provider_message_id, org_id, channel, idempotency_key, message_id, state, attempts"
    " FROM delivery_ledger WHERE provider = $1 AND provider_message_id = ANY($2::text[])";

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
            DB_ERR_SQL ||
        db_prepare(slot->db, "wh_lookup", wh_dbpool_lookup_sql, 2, 0, errstr, errstr_size) ==
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

/* Text the database would refuse (too long, not UTF-8) cannot be in the table, and one
 * such element would fail the whole batch: it is answered "not found" without asking. */
static bool wh_dbpool_pmid_ok(const char *pmid)
{
    size_t len = strlen(pmid);
    if (len == 0 || len > LEDGER_PROVIDER_MESSAGE_ID_MAX)
        return false;
    for (size_t at = 0; at < len;) {
        size_t n = utf8_decode((const unsigned char *)pmid + at, len - at, NULL);
        if (n == 0)
            return false;
        at += n;
    }
    return true;
}

static bool wh_dbpool_copy(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    if (len >= size)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

/* Row `r` of the lookup's result into `row`; false when a value does not fit. */
static bool wh_dbpool_row(PGresult *res, int r, ledger_row_t *row)
{
    memset(row, 0, sizeof(*row));
    if (!wh_dbpool_copy(row->org_id, sizeof(row->org_id), PQgetvalue(res, r, 1)) ||
        !wh_dbpool_copy(row->channel, sizeof(row->channel), PQgetvalue(res, r, 2)) ||
        !wh_dbpool_copy(row->idempotency_key, sizeof(row->idempotency_key),
                        PQgetvalue(res, r, 3)) ||
        !wh_dbpool_copy(row->message_id, sizeof(row->message_id), PQgetvalue(res, r, 4)) ||
        ledger_state_parse(PQgetvalue(res, r, 5), &row->state) != 0)
        return false;
    row->attempts = (int)strtol(PQgetvalue(res, r, 6), NULL, 10);
    return true;
}

wh_db_result_t wh_dbpool_lookup_many(wh_dbpool_t *pool, const char *provider,
                                     wh_db_probe_t *const *probes, size_t n)
{
    wh_db_result_t result = WH_DB_UNAVAILABLE;
    char errstr[256];
    PGresult *res = NULL;
    ledger_array_t *ids =
        ledger_array_new(WH_DB_PROBES_MAX * (2 * LEDGER_PROVIDER_MESSAGE_ID_MAX + 3) + 16);
    for (size_t i = 0; i < n; i++) {
        probes[i]->result = WH_DB_NOT_FOUND;
        if (wh_dbpool_pmid_ok(probes[i]->pmid))
            ledger_array_add(ids, probes[i]->pmid);
    }
    if (ledger_array_count(ids) == 0) {
        result = WH_DB_OK;
        goto out;
    }
    const char *values[2] = {provider, ledger_array_text(ids)};
    wh_dbpool_slot_t *slot = wh_dbpool_acquire(pool);
    db_err_t err = db_exec_prepared(slot->db, "wh_lookup", 2, values, &res, errstr, sizeof(errstr));
    wh_dbpool_release(pool, slot);
    if (err != DB_OK) {
        log_kv(LOG_LEVEL_WARN, "ledger lookup failed", "error", errstr, NULL);
        goto out;
    }
    /* The index is unique, so a row answers every probe of its id (a provider may call
     * back twice for one message within a batch). */
    for (int r = 0; r < PQntuples(res); r++) {
        const char *pmid = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < n; i++) {
            if (probes[i]->result == WH_DB_OK || strcmp(probes[i]->pmid, pmid) != 0)
                continue;
            if (wh_dbpool_row(res, r, &probes[i]->row))
                probes[i]->result = WH_DB_OK;
            else
                log_kv(LOG_LEVEL_WARN, "ledger lookup: unexpected row", "provider_message_id", pmid,
                       NULL);
        }
    }
    result = WH_DB_OK;
out:
    PQclear(res);
    ledger_array_destroy(ids);
    return result;
}

/* A de-duplication key the database can hold: the same rule as a provider message id. */
static bool wh_dbpool_key_ok(const wh_db_key_t *k)
{
    return wh_dbpool_pmid_ok(k->org_id) && wh_dbpool_pmid_ok(k->key);
}

/* The array literal's room for `n` keys' `field` strings (each may double in escaping). */
static size_t wh_dbpool_keys_bytes(wh_db_key_t *const *keys, size_t n, bool org)
{
    size_t total = 16;
    for (size_t i = 0; i < n; i++)
        total += 2 * strlen(org ? keys[i]->org_id : keys[i]->key) + 3;
    return total;
}

/*
 * Runs the prepared statement `stmt` with the keys' orgs and names as two parallel text[]
 * parameters, leaving out keys the database could not hold. *res is the result (NULL when
 * no key was left to ask about); WH_DB_UNAVAILABLE when the database did not answer.
 */
static wh_db_result_t wh_dbpool_keys_exec(wh_dbpool_t *pool, const char *stmt,
                                          wh_db_key_t *const *keys, size_t n, PGresult **res)
{
    wh_db_result_t result = WH_DB_OK;
    char errstr[256];
    ledger_array_t *orgs = ledger_array_new(wh_dbpool_keys_bytes(keys, n, true));
    ledger_array_t *names = ledger_array_new(wh_dbpool_keys_bytes(keys, n, false));
    *res = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!wh_dbpool_key_ok(keys[i]))
            continue;
        ledger_array_add(orgs, keys[i]->org_id);
        ledger_array_add(names, keys[i]->key);
    }
    if (ledger_array_count(names) > 0) {
        const char *values[2] = {ledger_array_text(orgs), ledger_array_text(names)};
        wh_dbpool_slot_t *slot = wh_dbpool_acquire(pool);
        db_err_t err = db_exec_prepared(slot->db, stmt, 2, values, res, errstr, sizeof(errstr));
        wh_dbpool_release(pool, slot);
        if (err != DB_OK) {
            log_kv(LOG_LEVEL_WARN, "de-duplication statement failed", "error", errstr, NULL);
            result = WH_DB_UNAVAILABLE;
        }
    }
    ledger_array_destroy(orgs);
    ledger_array_destroy(names);
    return result;
}

wh_db_result_t wh_dbpool_seen_many(wh_dbpool_t *pool, wh_db_key_t *const *keys, size_t n)
{
    PGresult *res = NULL;
    for (size_t i = 0; i < n; i++)
        keys[i]->seen = false;
    wh_db_result_t result = wh_dbpool_keys_exec(pool, "wh_seen", keys, n, &res);
    for (int r = 0; res != NULL && r < PQntuples(res); r++) {
        const char *org = PQgetvalue(res, r, 0), *key = PQgetvalue(res, r, 1);
        for (size_t i = 0; i < n; i++)
            if (strcmp(keys[i]->key, key) == 0 && strcmp(keys[i]->org_id, org) == 0)
                keys[i]->seen = true;
    }
    PQclear(res);
    return result;
}

wh_db_result_t wh_dbpool_mark_seen_many(wh_dbpool_t *pool, wh_db_key_t *const *keys, size_t n)
{
    PGresult *res = NULL;
    wh_db_result_t result = wh_dbpool_keys_exec(pool, "wh_mark", keys, n, &res);
    PQclear(res);
    return result;
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
