/*
 * Quota tokens per second for one hot org, taken one at a time by several worker
 * processes, each with its own connection: first with leases (quota.h), then, as the
 * reference in the same run, with one UPDATE ... RETURNING per token as the seed does.
 * Built as <build>/tests/bench_quota; run it from an optimised (RelWithDebInfo) build:
 *
 *   DATABASE_URL=... bench_quota [processes (4)] [seconds per mode (5)]
 *
 * Everything happens in a schema of its own (bench_quota_<pid>) with the migrations
 * applied, dropped at the end. The org's quota is set far above what a run can take, so
 * what is measured is the cost of counting, not the limit.
 */
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "testdb.h"
#include "quota.h"
#include "timefmt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_ORG         "bench-org"
#define BENCH_QUOTA       "100000000"
#define BENCH_MAX_PROCS   64
#define BENCH_IDLE_PERIOD 1000 /* ms between quota_release_idle() calls, as a worker does */

/* The seed's check-and-consume: one statement, one row lock and one commit per token. */
#define BENCH_NAIVE_SQL                                                               \
    "UPDATE email_rate_limit SET"                                                     \
    " messages_sent_count = CASE WHEN reset_at <= now() THEN 1"                       \
    " ELSE messages_sent_count + 1 END,"                                              \
    " reset_at = CASE WHEN reset_at <= now()"                                         \
    " THEN now() + rate_limit_window_seconds * interval '1 second' ELSE reset_at END" \
    " WHERE org_id = $1 AND (throttle_until IS NULL OR throttle_until <= now())"      \
    " AND (reset_at <= now() OR messages_sent_count < quota_limit)"                   \
    " RETURNING messages_sent_count"

typedef enum { BENCH_LEASES, BENCH_NAIVE } bench_mode_t;

/* What one worker process reports through its pipe. */
typedef struct bench_result_s {
    int ok;
    uint64_t tokens;
    uint64_t round_trips;
    uint64_t leases;
    int64_t elapsed_us;
    int64_t returned; /* by quota_release_all at the end */
} bench_result_t;

static char *g_conninfo;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One worker: connects, waits for the start, takes one token at a time until the end. */
static void bench_worker(bench_mode_t mode, int seconds, int ready_fd, int go_fd, int result_fd)
{
    bench_result_t r;
    memset(&r, 0, sizeof(r));
    char errstr[512];
    quota_t *q = NULL;
    db_t *db = db_new(g_conninfo, "bench_quota", 5000, 30000, errstr, sizeof(errstr));
    if (db == NULL)
        goto report;
    if (mode == BENCH_LEASES) {
        q = quota_new(db, QUOTA_KIND_EMAIL, NULL, NULL, errstr, sizeof(errstr));
        if (q == NULL)
            goto report;
    } else if (db_prepare(db, "bench_naive", BENCH_NAIVE_SQL, 1, DB_STMT_NO_RETRY, errstr,
                          sizeof(errstr)) != DB_OK) {
        goto report;
    }
    char c = 'r';
    if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 0)
        goto report;

    const char *values[] = {BENCH_ORG};
    int64_t start = mono_us(), end = start + (int64_t)seconds * 1000000;
    int64_t next_idle = timefmt_now_ms() + BENCH_IDLE_PERIOD;
    for (uint64_t i = 0;; i++) {
        /* A round trip dwarfs reading the clock; a local take does not. */
        if ((mode == BENCH_NAIVE || (i & 255) == 0) && mono_us() >= end)
            break;
        if (mode == BENCH_LEASES) {
            int64_t now = timefmt_now_ms(), wait;
            if (quota_take(q, BENCH_ORG, now, &wait, errstr, sizeof(errstr)) != QUOTA_OK)
                goto report;
            if (now >= next_idle) {
                if (quota_release_idle(q, now, errstr, sizeof(errstr)) != 0)
                    goto report;
                next_idle = now + BENCH_IDLE_PERIOD;
            }
        } else {
            PGresult *res = NULL;
            if (db_exec_prepared(db, "bench_naive", 1, values, &res, errstr, sizeof(errstr)) !=
                DB_OK)
                goto report;
            bool granted = PQntuples(res) == 1;
            PQclear(res);
            if (!granted) {
                snprintf(errstr, sizeof(errstr), "quota refused");
                goto report;
            }
            r.round_trips++;
        }
        r.tokens++;
    }
    r.elapsed_us = mono_us() - start;
    if (mode == BENCH_LEASES) {
        quota_stats_t s;
        quota_stats(q, &s);
        r.leases = s.leases;
        uint64_t returned_before = s.tokens_returned;
        if (quota_release_all(q, errstr, sizeof(errstr)) != 0)
            goto report;
        quota_stats(q, &s);
        r.round_trips = s.round_trips;
        r.returned = (int64_t)(s.tokens_returned - returned_before);
    }
    r.ok = 1;

report:
    if (!r.ok)
        fprintf(stderr, "bench_quota: worker %ld: %s\n", (long)getpid(), errstr);
    if (write(result_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
        r.ok = 0;
    quota_destroy(q);
    db_destroy(db);
    _exit(r.ok ? 0 : 1);
}

/* Runs `procs` workers in one mode and prints their figures. Returns the tokens, or -1. */
static int64_t bench_run(bench_mode_t mode, int procs, int seconds)
{
    int ready[2], go[2], result[2];
    if (pipe(ready) != 0 || pipe(go) != 0 || pipe(result) != 0) {
        perror("pipe");
        return -1;
    }
    pid_t pids[BENCH_MAX_PROCS];
    for (int i = 0; i < procs; i++) {
        fflush(NULL);
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("fork");
            return -1;
        }
        if (pids[i] == 0) {
            close(go[1]);
            bench_worker(mode, seconds, ready[1], go[0], result[1]);
        }
    }
    close(ready[1]);
    close(go[0]);
    close(result[1]);
    /* Every worker connected and prepared: start them together by closing `go`. */
    for (int i = 0; i < procs; i++) {
        char c;
        if (read(ready[0], &c, 1) != 1)
            break;
    }
    close(go[1]);

    bench_result_t rs[BENCH_MAX_PROCS];
    int got = 0;
    while (got < procs && read(result[0], &rs[got], sizeof(rs[got])) == (ssize_t)sizeof(rs[got]))
        got++;
    for (int i = 0; i < procs; i++)
        waitpid(pids[i], NULL, 0);
    close(ready[0]);
    close(result[0]);

    const char *label =
        mode == BENCH_LEASES ? "leases" : "naive, one UPDATE ... RETURNING per token";
    double rate = 0;
    uint64_t tokens = 0, trips = 0, leases = 0;
    int ok = got == procs;
    for (int i = 0; i < got; i++) {
        ok = ok && rs[i].ok;
        double secs = (double)rs[i].elapsed_us / 1e6;
        rate += secs > 0 ? (double)rs[i].tokens / secs : 0;
        tokens += rs[i].tokens;
        trips += rs[i].round_trips;
        leases += rs[i].leases;
    }
    if (!ok) {
        fprintf(stderr, "bench_quota: %s: a worker failed\n", label);
        return -1;
    }
    printf("%s: %.0f tokens/s in total; %llu tokens, %llu database round trips", label, rate,
           (unsigned long long)tokens, (unsigned long long)trips);
    if (mode == BENCH_LEASES)
        printf(" (%llu leases, %.0f tokens per round trip)", (unsigned long long)leases,
               trips ? (double)tokens / (double)trips : 0.0);
    printf("\n");
    for (int i = 0; i < got; i++) {
        double secs = (double)rs[i].elapsed_us / 1e6;
        printf("  process %d: %.0f tokens/s, %llu tokens, %llu round trips", i + 1,
               secs > 0 ? (double)rs[i].tokens / secs : 0.0, (unsigned long long)rs[i].tokens,
               (unsigned long long)rs[i].round_trips);
        if (mode == BENCH_LEASES)
            printf(", %lld handed back at the end", (long long)rs[i].returned);
        printf("\n");
    }
    fflush(stdout);
    return (int64_t)tokens;
}

static int64_t sent_count(db_t *db)
{
    PGresult *res = NULL;
    char errstr[256];
    const char *values[] = {BENCH_ORG};
    if (db_exec_params(db, "SELECT messages_sent_count FROM email_rate_limit WHERE org_id = $1", 1,
                       values, &res, errstr, sizeof(errstr)) != DB_OK)
        return -1;
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static int parse_arg(const char *text, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    int procs = 4, seconds = 5, rc = 1;
    if ((argc > 1 && parse_arg(argv[1], 1, BENCH_MAX_PROCS, &procs) != 0) ||
        (argc > 2 && parse_arg(argv[2], 1, 3600, &seconds) != 0) || argc > 3) {
        fprintf(stderr, "usage: bench_quota [processes 1..%d (4)] [seconds per mode (5)]\n",
                BENCH_MAX_PROCS);
        return 2;
    }
    const char *url = getenv("DATABASE_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "bench_quota: DATABASE_URL is not set\n");
        return 1;
    }
    log_set_fd(2);
    log_set_level(LOG_LEVEL_WARN);
    char errstr[512] = "", schema[64], sql[160];
    snprintf(schema, sizeof(schema), "bench_quota_%ld", (long)getpid());
    db_t *admin = db_new(url, "bench_quota", 5000, 60000, errstr, sizeof(errstr));
    db_t *db = NULL;
    if (admin == NULL)
        goto done;
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    g_conninfo = testdb_conninfo_schema(url, schema);
    if (g_conninfo == NULL || db_exec(admin, sql, NULL, errstr, sizeof(errstr)) != DB_OK)
        goto done;
    db = db_new(g_conninfo, "bench_quota", 5000, 60000, errstr, sizeof(errstr));
    if (db == NULL || migrate_apply(db, NULL, NULL, errstr, sizeof(errstr)) != 0 ||
        db_exec(db,
                "INSERT INTO email_rate_limit (org_id, quota_limit) VALUES ('" BENCH_ORG
                "', " BENCH_QUOTA ")",
                NULL, errstr, sizeof(errstr)) != DB_OK)
        goto done;

    printf("bench_quota: %d worker processes, %d s per mode, one org, quota %s per day\n", procs,
           seconds, BENCH_QUOTA);
    fflush(stdout);
    int64_t leased = bench_run(BENCH_LEASES, procs, seconds);
    if (leased < 0)
        goto drop;
    /* Every unused token was handed back: the row counts exactly what was taken. */
    int64_t counted = sent_count(db);
    printf("  row after release_all: messages_sent_count %lld, tokens taken %lld: %s\n",
           (long long)counted, (long long)leased, counted == leased ? "equal" : "DIFFERENT");
    int64_t naive = bench_run(BENCH_NAIVE, procs, seconds);
    if (naive < 0 || counted != leased)
        goto drop;
    rc = 0;

drop:
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
    if (db_exec(admin, sql, NULL, errstr, sizeof(errstr)) != DB_OK)
        fprintf(stderr, "bench_quota: %s\n", errstr);
done:
    if (rc != 0 && errstr[0] != '\0')
        fprintf(stderr, "bench_quota: %s\n", errstr);
    db_destroy(db);
    db_destroy(admin);
    free(g_conninfo);
    return rc;
}
