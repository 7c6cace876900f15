/*
 * Throughput of the idempotency ledger: keys per second through ledger_reserve() followed
 * by ledger_finish() (SENT with a provider id), one worker, for batches of 100, 500 and
 * 1000 new keys; then the same keys reserved again (all DUPLICATE), as a replay would.
 *
 * Reads DATABASE_URL; works in a schema of its own (bench_ledger_<pid>), migrated from
 * scratch and dropped at the end. Built as <build>/tests/bench_ledger; run it from an
 * optimised (RelWithDebInfo) build against the local stack:
 *   eval "$(scripts/stack up)"; build/tests/bench_ledger [keys per size]; scripts/stack down
 */
#include "db.h"
#include "ledger.h"
#include "log.h"
#include "migrate.h"
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_BATCH 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct bench_keys_s {
    char key[40];
    char message_id[40];
    char origin[48];
    char pmid[64];
} bench_keys_t;

/* Reserves and finishes `total` new keys in batches of `batch`; returns 0 or -1. */
static int bench_size(ledger_t *lg, size_t batch, size_t total, int size_index)
{
    static ledger_reserve_item_t items[BENCH_MAX_BATCH];
    static ledger_finish_item_t fins[BENCH_MAX_BATCH];
    static bench_keys_t keys[BENCH_MAX_BATCH];
    char errstr[512];
    double reserve_s = 0, finish_s = 0, dup_s = 0;
    size_t done = 0, sends = 0, applied = 0, duplicates = 0;
    long long seq = 0;
    while (done < total) {
        for (size_t i = 0; i < batch; i++, seq++) {
            snprintf(keys[i].key, sizeof(keys[i].key), "bench-%d-%lld", size_index, seq);
            snprintf(keys[i].message_id, sizeof(keys[i].message_id), "m-%d-%lld", size_index, seq);
            snprintf(keys[i].origin, sizeof(keys[i].origin), "outbound.email/%lld/%lld", seq % 12,
                     1000000 + seq);
            snprintf(keys[i].pmid, sizeof(keys[i].pmid), "<%d.%lld.bench@mx.example>", size_index,
                     seq);
            items[i] = (ledger_reserve_item_t){.org_id = "org-bench",
                                               .channel = "email",
                                               .idempotency_key = keys[i].key,
                                               .message_id = keys[i].message_id,
                                               .provider = "SMTP",
                                               .origin = keys[i].origin};
        }
        double t0 = now_s();
        ledger_err_t err = ledger_reserve(lg, items, batch, errstr, sizeof(errstr));
        double t1 = now_s();
        if (err != LEDGER_OK) {
            fprintf(stderr, "ledger_reserve: %s: %s\n", ledger_err_name(err), errstr);
            return -1;
        }
        for (size_t i = 0; i < batch; i++) {
            sends += items[i].verdict == LEDGER_SEND;
            fins[i] = (ledger_finish_item_t){.org_id = "org-bench",
                                             .channel = "email",
                                             .idempotency_key = keys[i].key,
                                             .origin = keys[i].origin,
                                             .state = LEDGER_STATE_SENT,
                                             .attempts = items[i].attempts,
                                             .provider_message_id = keys[i].pmid};
        }
        double t2 = now_s();
        err = ledger_finish(lg, fins, batch, errstr, sizeof(errstr));
        double t3 = now_s();
        if (err != LEDGER_OK) {
            fprintf(stderr, "ledger_finish: %s: %s\n", ledger_err_name(err), errstr);
            return -1;
        }
        for (size_t i = 0; i < batch; i++)
            applied += fins[i].result == LEDGER_FINISH_APPLIED;
        /* The same batch again, as a replay of already-sent requests. */
        double t4 = now_s();
        err = ledger_reserve(lg, items, batch, errstr, sizeof(errstr));
        double t5 = now_s();
        if (err != LEDGER_OK) {
            fprintf(stderr, "ledger_reserve: %s: %s\n", ledger_err_name(err), errstr);
            return -1;
        }
        for (size_t i = 0; i < batch; i++)
            duplicates += items[i].verdict == LEDGER_DUPLICATE;
        reserve_s += t1 - t0;
        finish_s += t3 - t2;
        dup_s += t5 - t4;
        done += batch;
    }
    if (sends != done || applied != done || duplicates != done) {
        fprintf(stderr, "unexpected outcomes: %zu sends, %zu applied, %zu duplicates of %zu\n",
                sends, applied, duplicates, done);
        return -1;
    }
    printf("batch %4zu: reserve+finish %8.0f keys/s  (reserve %6.2f ms, finish %6.2f ms per "
           "batch)  replay as duplicates %8.0f keys/s\n",
           batch, (double)done / (reserve_s + finish_s),
           reserve_s * 1e3 * (double)batch / (double)done,
           finish_s * 1e3 * (double)batch / (double)done, (double)done / dup_s);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = getenv("DATABASE_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "DATABASE_URL is not set (eval \"$(scripts/stack up)\" sets it)\n");
        return 1;
    }
    size_t total = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 100000;
    if (total < BENCH_MAX_BATCH)
        total = BENCH_MAX_BATCH;
    log_set_fd(2);
    log_set_level(LOG_LEVEL_WARN);

    int rc = 1;
    char errstr[512], schema[64], sql[128];
    char *conninfo = NULL;
    db_t *db = NULL;
    ledger_t *lg = NULL;
    db_t *admin = db_new(url, "bench_ledger", 5000, 0, errstr, sizeof(errstr));
    if (admin == NULL) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    snprintf(schema, sizeof(schema), "bench_ledger_%ld", (long)getpid());
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    if (db_exec(admin, sql, NULL, errstr, sizeof(errstr)) != DB_OK) {
        fprintf(stderr, "%s\n", errstr);
        goto done;
    }
    conninfo = testdb_conninfo_schema(url, schema);
    db = conninfo ? db_new(conninfo, "bench_ledger", 5000, 60000, errstr, sizeof(errstr)) : NULL;
    if (db == NULL || migrate_apply(db, NULL, NULL, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%s\n", errstr);
        goto done;
    }
    lg = ledger_new(db, 600000, errstr, sizeof(errstr));
    if (lg == NULL) {
        fprintf(stderr, "%s\n", errstr);
        goto done;
    }
    printf("%zu new keys per batch size, one connection, synchronous_commit as configured\n",
           total);
    static const size_t sizes[] = {100, 500, 1000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        if (bench_size(lg, sizes[i], total - total % sizes[i], (int)i) != 0)
            goto done;
    }
    rc = 0;

done:
    ledger_destroy(lg);
    db_destroy(db);
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    db_exec(admin, sql, NULL, errstr, sizeof(errstr));
    db_destroy(admin);
    free(conninfo);
    return rc;
}
