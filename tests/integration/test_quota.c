/*
 * The quota against a real PostgreSQL (DATABASE_URL): leases granted and counted in the
 * row, exhaustion, window resets, throttles, hand-back on release and idle, tokens of an
 * old window, and several takers on one row never granting more than the quota.
 *
 * Everything happens in a schema of its own (test_quota_<pid>), reached through the
 * connection option search_path so that it survives reconnects, with the migrations
 * applied there, and dropped at the end.
 */
#include "testdb.h"
#include "testutil.h"

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "quota.h"
#include "timefmt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATEMENT_MS 10000
#define APP_NAME     "test_quota"

static const char *g_url;
static char g_schema[64];
static char *g_conninfo;
static db_t *g_db; /* in the test schema: sets rows up and reads them */

/* ---- helpers ---------------------------------------------------------------------- */

static db_t *connect_db(void)
{
    char errstr[512];
    db_t *db = db_new(g_conninfo, APP_NAME, 5000, STATEMENT_MS, errstr, sizeof(errstr));
    if (db == NULL)
        fprintf(stderr, "db_new: %s\n", errstr);
    return db;
}

static quota_t *new_quota(db_t *db, quota_kind_t kind, const quota_options_t *opts,
                          metrics_registry_t *reg)
{
    char errstr[512];
    quota_t *q = quota_new(db, kind, opts, reg, errstr, sizeof(errstr));
    if (q == NULL)
        fprintf(stderr, "quota_new: %s\n", errstr);
    return q;
}

/* Runs SQL with parameters on the test connection; returns true on success. */
static bool run(const char *sql, int nparams, const char *const *values)
{
    char errstr[512];
    db_err_t err = db_exec_params(g_db, sql, nparams, values, NULL, errstr, sizeof(errstr));
    if (err != DB_OK)
        fprintf(stderr, "%s: %s\n", sql, errstr);
    return err == DB_OK;
}

/* An email_rate_limit row for `org` with the given limit and window (seconds). */
static bool email_row(const char *org, int limit, int window_s)
{
    char limit_text[16], window_text[16];
    snprintf(limit_text, sizeof(limit_text), "%d", limit);
    snprintf(window_text, sizeof(window_text), "%d", window_s);
    const char *values[] = {org, limit_text, window_text};
    return run("INSERT INTO email_rate_limit (org_id, quota_limit, rate_limit_window_seconds)"
               " VALUES ($1, $2, $3)",
               3, values);
}

/*
 * One integer from a quota row: `expr` over the columns of the email row of `org`, or of
 * the SMS row when `provider_type` is given. -1 when there is no row or no value.
 */
static int64_t row_value(const char *org, const char *provider_type, const char *expr)
{
    char sql[256], errstr[512];
    if (provider_type != NULL)
        snprintf(sql, sizeof(sql),
                 "SELECT (%s)::bigint FROM sms_rate_limit WHERE org_id = $1 AND provider_type = $2",
                 expr);
    else
        snprintf(sql, sizeof(sql), "SELECT (%s)::bigint FROM email_rate_limit WHERE org_id = $1",
                 expr);
    const char *values[] = {org, provider_type};
    PGresult *res = NULL;
    if (db_exec_params(g_db, sql, provider_type ? 2 : 1, values, &res, errstr, sizeof(errstr)) !=
        DB_OK) {
        fprintf(stderr, "%s: %s\n", sql, errstr);
        return -1;
    }
    int64_t v = -1;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static int64_t sent_count(const char *org)
{
    return row_value(org, NULL, "messages_sent_count");
}

#define EPOCH_MS(col) "floor(extract(epoch FROM " col ") * 1000)"

/* Epoch ms of the database's now(). */
static int64_t db_now_ms(void)
{
    char errstr[512];
    PGresult *res = NULL;
    if (db_exec(g_db, "SELECT " EPOCH_MS("now()") "::bigint", &res, errstr, sizeof(errstr)) !=
        DB_OK)
        return -1;
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static int64_t now_ms(void)
{
    return timefmt_now_ms();
}

static quota_stats_t stats_of(const quota_t *q)
{
    quota_stats_t s;
    quota_stats(q, &s);
    return s;
}

/* quota_release_all(), or _idle() when now is not 0: the tokens it handed back, or -1. */
static int64_t released(quota_t *q, int64_t now)
{
    char errstr[512];
    uint64_t before = stats_of(q).tokens_returned;
    int rc = now != 0 ? quota_release_idle(q, now, errstr, sizeof(errstr))
                      : quota_release_all(q, errstr, sizeof(errstr));
    if (rc != 0) {
        fprintf(stderr, "release: %s\n", errstr);
        return -1;
    }
    return (int64_t)(stats_of(q).tokens_returned - before);
}

static quota_result_t take(quota_t *q, const char *org, int64_t *wait_until)
{
    char errstr[512];
    int64_t ignored;
    quota_result_t r =
        quota_take(q, org, now_ms(), wait_until ? wait_until : &ignored, errstr, sizeof(errstr));
    if (r == QUOTA_ERR_DB || r == QUOTA_ERR_USAGE)
        fprintf(stderr, "quota_take(%s): %s: %s\n", org, quota_result_name(r), errstr);
    return r;
}

/* Takes `n` tokens one at a time; returns how many were QUOTA_OK. */
static int take_many(quota_t *q, const char *org, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += take(q, org, NULL) == QUOTA_OK;
    return ok;
}

/* ---- cases ------------------------------------------------------------------------ */

/* An org without a row gets the defaults on first use; a lease is counted in the row at
 * once and then handed out locally without a round trip; the next lease is larger. */
static void test_first_use_and_growth(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, NULL, NULL);
    REQUIRE(q != NULL);
    const char *org = "org-first";

    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    CHECK_INT(row_value(org, NULL, "quota_limit"), 1000);
    CHECK_INT(row_value(org, NULL, "rate_limit_window_seconds"), 86400);
    CHECK_INT(sent_count(org), 8); /* the first lease, all of it counted */
    int64_t window_left = row_value(org, NULL, "extract(epoch FROM reset_at - now())");
    CHECK(window_left >= 86390 && window_left <= 86400);
    quota_stats_t s = stats_of(q);
    CHECK_INT(s.round_trips, 4); /* grant (no row), status (no row), insert, grant */
    CHECK_INT(s.leases, 1);
    CHECK_INT(s.tokens_leased, 8);
    CHECK_INT(s.tokens_held, 7);

    /* The rest of the lease costs nothing. */
    CHECK_INT(take_many(q, org, 7), 7);
    CHECK_INT(stats_of(q).round_trips, 4);
    CHECK_INT(sent_count(org), 8);
    CHECK_INT(stats_of(q).tokens_held, 0);

    /* Used up quickly: the next lease doubles, and the one after. */
    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    CHECK_INT(sent_count(org), 8 + 16);
    CHECK_INT(take_many(q, org, 15), 15);
    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    CHECK_INT(sent_count(org), 8 + 16 + 32);
    CHECK_INT(stats_of(q).round_trips, 6);

    CHECK_INT(released(q, 0), 31);
    CHECK_INT(sent_count(org), 8 + 16 + 1);
    quota_destroy(q);
    db_destroy(db);
}

/* Leases stop at lease_max, start over after a long pause, and near the end of the
 * window take only a share of what remains beyond what is needed. */
static void test_lease_size_bounds(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    quota_options_t opts;
    quota_options_default(&opts);
    opts.lease_min = 2;
    opts.lease_max = 8;
    opts.grow_ms = 50;
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, &opts, NULL);
    REQUIRE(q != NULL);
    const char *org = "org-bounds";
    REQUIRE(email_row(org, 100000, 86400));

    /* 2, 4, 8, then 8 again: one take beyond each lease. */
    int64_t t = now_ms();
    char errstr[256];
    int64_t wait;
    int expect[] = {2, 6, 14, 22};
    int sizes[] = {2, 4, 8, 8};
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < sizes[i]; k++)
            CHECK_INT(quota_take(q, org, t, &wait, errstr, sizeof(errstr)), QUOTA_OK);
        CHECK_INT(sent_count(org), expect[i]);
    }
    /* A lease that lasted more than 4 x grow_ms: back to lease_min. */
    CHECK_INT(quota_take(q, org, t + 1000, &wait, errstr, sizeof(errstr)), QUOTA_OK);
    CHECK_INT(sent_count(org), 22 + 2);
    CHECK_INT(released(q, 0), 1);
    quota_destroy(q);

    /* Remaining 40, wanted 16: a quarter of what remains. A batch gets what it needs. */
    quota_options_default(&opts);
    opts.lease_min = 16;
    q = new_quota(db, QUOTA_KIND_EMAIL, &opts, NULL);
    REQUIRE(q != NULL);
    const char *small = "org-remaining";
    REQUIRE(email_row(small, 40, 86400));
    CHECK_INT(take(q, small, NULL), QUOTA_OK);
    CHECK_INT(sent_count(small), 10);
    int granted = 0;
    CHECK_INT(quota_take_n(q, small, 30, now_ms(), &granted, &wait, errstr, sizeof(errstr)),
              QUOTA_OK);
    CHECK_INT(granted, 30);
    CHECK_INT(sent_count(small), 31); /* 9 held + 21 needed */
    CHECK_INT(take(q, small, NULL), QUOTA_OK);
    CHECK_INT(sent_count(small), 33); /* 9 remain: 1 needed, 9 / 4 wanted */
    quota_destroy(q);                 /* hands back the 1 unused */
    CHECK_INT(sent_count(small), 32);
    db_destroy(db);
}

/* Exactly quota_limit tokens, then EXHAUSTED until reset_at, answered locally for a while;
 * the metrics count what happened. */
static void test_exhaust(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    metrics_registry_t *reg = metrics_registry_new();
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, NULL, reg);
    REQUIRE(q != NULL);
    const char *org = "org-exhaust";
    REQUIRE(email_row(org, 20, 3600));

    int ok = 0;
    quota_result_t r = QUOTA_OK;
    int64_t wait = 0;
    for (int i = 0; i < 100 && r == QUOTA_OK; i++) {
        r = take(q, org, &wait);
        ok += r == QUOTA_OK;
    }
    CHECK_INT(ok, 20);
    CHECK_INT(r, QUOTA_EXHAUSTED);
    CHECK_INT(sent_count(org), 20);
    int64_t reset_ms = row_value(org, NULL, "ceil(extract(epoch FROM reset_at) * 1000)");
    CHECK_INT(wait, reset_ms);
    CHECK(wait > db_now_ms() + 3500 * 1000);

    /* The refusal is reused: no round trip, nothing consumed. */
    uint64_t trips = stats_of(q).round_trips;
    wait = 0;
    CHECK_INT(take(q, org, &wait), QUOTA_EXHAUSTED);
    CHECK_INT(wait, reset_ms);
    CHECK_INT(stats_of(q).round_trips, trips);
    CHECK_INT(sent_count(org), 20);
    CHECK_INT(quota_errcode(QUOTA_EXHAUSTED), ERRCODE_QUOTA_EXCEEDED);

    char *text = metrics_render(reg);
    REQUIRE(text != NULL);
    CHECK(strstr(text, "notify_quota_tokens_leased_total{channel=\"email\"} 20\n") != NULL);
    CHECK(strstr(text, "notify_quota_rate_limit_hits_total{channel=\"email\",reason=\"exhausted\"}"
                       " 2\n") != NULL);
    CHECK(strstr(text, "notify_quota_rate_limit_hits_total{channel=\"email\",reason=\"throttled\"}"
                       " 0\n") != NULL);
    CHECK(strstr(text, "notify_quota_tokens_held{channel=\"email\"} 0\n") != NULL);
    free(text);

    /* Tokens given back locally are used before the refusal applies. */
    quota_give_back(q, org, 2);
    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    CHECK_INT(take(q, org, NULL), QUOTA_EXHAUSTED);
    CHECK_INT(sent_count(org), 20);

    /* A second quota_t on a new connection sees the same. */
    db_t *db2 = connect_db();
    REQUIRE(db2 != NULL);
    quota_t *q2 = new_quota(db2, QUOTA_KIND_EMAIL, NULL, NULL);
    REQUIRE(q2 != NULL);
    wait = 0;
    CHECK_INT(take(q2, org, &wait), QUOTA_EXHAUSTED);
    CHECK_INT(wait, reset_ms);
    quota_destroy(q2);
    db_destroy(db2);

    quota_destroy(q);
    metrics_registry_destroy(reg);
    db_destroy(db);
}

/* A batch gets what is left and learns why it got no more. */
static void test_take_n_partial(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, NULL, NULL);
    REQUIRE(q != NULL);
    const char *org = "org-batch";
    REQUIRE(email_row(org, 10, 3600));
    char errstr[256];
    int granted = -1;
    int64_t wait = 0;
    CHECK_INT(quota_take_n(q, org, 4, now_ms(), &granted, &wait, errstr, sizeof(errstr)), QUOTA_OK);
    CHECK_INT(granted, 4);
    CHECK_INT(quota_take_n(q, org, 10, now_ms(), &granted, &wait, errstr, sizeof(errstr)),
              QUOTA_EXHAUSTED);
    CHECK_INT(granted, 6);
    CHECK_INT(wait, row_value(org, NULL, "ceil(extract(epoch FROM reset_at) * 1000)"));
    CHECK_INT(sent_count(org), 10);
    CHECK_INT(quota_take_n(q, org, 1, now_ms(), &granted, &wait, errstr, sizeof(errstr)),
              QUOTA_EXHAUSTED);
    CHECK_INT(granted, 0);

    /* Misuse is refused without touching the database. */
    CHECK_INT(quota_take_n(q, "", 1, now_ms(), &granted, &wait, errstr, sizeof(errstr)),
              QUOTA_ERR_USAGE);
    CHECK_INT(quota_take_n(q, org, 0, now_ms(), &granted, &wait, errstr, sizeof(errstr)),
              QUOTA_ERR_USAGE);
    CHECK_INT(granted, 0);
    quota_destroy(q);
    db_destroy(db);
}

/* Once reset_at has passed, the next lease opens a new window. */
static void test_window_reset(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    quota_options_t opts;
    quota_options_default(&opts);
    opts.recheck_ms = 0; /* every refusal asks the database */
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, &opts, NULL);
    REQUIRE(q != NULL);
    const char *org = "org-reset";
    REQUIRE(email_row(org, 5, 3600));
    CHECK_INT(take_many(q, org, 5), 5);
    int64_t wait = 0;
    CHECK_INT(take(q, org, &wait), QUOTA_EXHAUSTED);
    CHECK_INT(take(q, org, &wait), QUOTA_EXHAUSTED);

    const char *values[] = {org};
    REQUIRE(run("UPDATE email_rate_limit SET reset_at = now() - interval '1 second'"
                " WHERE org_id = $1",
                1, values));
    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    CHECK_INT(sent_count(org), 1); /* a new window: 5 remain, 1 needed, 5 / 4 wanted */
    int64_t left = row_value(org, NULL, "extract(epoch FROM reset_at - now())");
    CHECK(left >= 3590 && left <= 3600);
    CHECK_INT(take_many(q, org, 4), 4);
    CHECK_INT(take(q, org, NULL), QUOTA_EXHAUSTED);
    quota_destroy(q);
    db_destroy(db);
}

/* A lease ends with its window: its tokens are void, the next take leases from the new
 * window, and tokens taken in the old one are not credited to the new one. */
static void test_lease_ends_with_window(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, NULL, NULL);
    REQUIRE(q != NULL);
    const char *org = "org-window";
    REQUIRE(email_row(org, 1000, 1));
    CHECK_INT(take(q, org, NULL), QUOTA_OK); /* window 1: lease of 8, 7 held */
    CHECK_INT(sent_count(org), 8);
    int64_t first_reset = row_value(org, NULL, "extract(epoch FROM reset_at) * 1000000");
    testdb_sleep_ms(1200);

    CHECK_INT(take(q, org, NULL), QUOTA_OK); /* window 2 */
    CHECK(row_value(org, NULL, "extract(epoch FROM reset_at) * 1000000") > first_reset);
    CHECK_INT(sent_count(org), 8);
    quota_stats_t s = stats_of(q);
    CHECK_INT(s.tokens_dropped, 7);
    CHECK_INT(s.tokens_held, 7);

    /* Two given back, one of them from window 1: only one is credited. */
    quota_give_back(q, org, 2);
    CHECK_INT(stats_of(q).tokens_held, 8);
    quota_destroy(q);
    db_destroy(db);
}

/* Unused tokens go back to the row on release_all and on release_idle. */
static void test_release(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    metrics_registry_t *reg = metrics_registry_new();
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, NULL, reg);
    REQUIRE(q != NULL);
    const char *org = "org-release";
    REQUIRE(email_row(org, 1000, 3600));
    char errstr[256];

    CHECK_INT(take_many(q, org, 3), 3);
    CHECK_INT(sent_count(org), 8);
    CHECK_INT(released(q, 0), 5);
    CHECK_INT(sent_count(org), 3);
    CHECK_INT(stats_of(q).tokens_held, 0);
    CHECK_INT(stats_of(q).tokens_returned, 5);

    /* One more lease (doubled: the first was used up just now), one token given back. */
    int64_t t = now_ms();
    int64_t wait;
    CHECK_INT(quota_take(q, org, t, &wait, errstr, sizeof(errstr)), QUOTA_OK);
    CHECK_INT(sent_count(org), 3 + 16);
    quota_give_back(q, org, 1);
    CHECK_INT(stats_of(q).tokens_held, 16);
    CHECK_INT(released(q, t + 1000), 0); /* not idle yet */
    CHECK_INT(sent_count(org), 19);
    CHECK_INT(released(q, t + 2000), 16);
    CHECK_INT(sent_count(org), 3);
    CHECK_INT(stats_of(q).tokens_held, 0);

    char *text = metrics_render(reg);
    REQUIRE(text != NULL);
    CHECK(strstr(text, "notify_quota_tokens_returned_total{channel=\"email\"} 21\n") != NULL);
    CHECK(strstr(text, "notify_quota_tokens_leased_total{channel=\"email\"} 24\n") != NULL);
    free(text);

    /* Long idle: the org is forgotten; a give-back for it is then ignored. */
    CHECK_INT(released(q, t + 60000), 0);
    quota_give_back(q, org, 1);
    CHECK_INT(stats_of(q).tokens_held, 0);
    quota_destroy(q);
    metrics_registry_destroy(reg);
    db_destroy(db);
}

/* A hand-back after the row moved to a new window changes nothing: those tokens belonged
 * to a window that is over. */
static void test_old_window_not_handed_back(void)
{
    db_t *db1 = connect_db(), *db2 = connect_db();
    REQUIRE(db1 != NULL && db2 != NULL);
    quota_t *q1 = new_quota(db1, QUOTA_KIND_EMAIL, NULL, NULL);
    quota_t *q2 = new_quota(db2, QUOTA_KIND_EMAIL, NULL, NULL);
    REQUIRE(q1 != NULL && q2 != NULL);
    const char *org = "org-old-window";
    REQUIRE(email_row(org, 1000, 1));

    CHECK_INT(take(q1, org, NULL), QUOTA_OK); /* q1 holds 7 of window 1 */
    testdb_sleep_ms(1200);
    CHECK_INT(take_many(q2, org, 3), 3); /* window 2: q2 leases 8 */
    CHECK_INT(sent_count(org), 8);

    CHECK_INT(released(q1, 0), 0);
    CHECK_INT(sent_count(org), 8);
    quota_stats_t s = stats_of(q1);
    CHECK_INT(s.tokens_returned, 0);
    CHECK_INT(s.tokens_dropped, 7);

    /* The same when the window was ended by hand rather than by time. */
    const char *values[] = {org};
    REQUIRE(run("UPDATE email_rate_limit SET reset_at = now() - interval '1 second',"
                " rate_limit_window_seconds = 3600 WHERE org_id = $1",
                1, values));
    CHECK_INT(take(q1, org, NULL), QUOTA_OK); /* window 3: q1 leases */
    int64_t count = sent_count(org);
    CHECK(count >= 1);
    CHECK_INT(released(q2, 0), 0); /* q2's 5 are of window 2 */
    CHECK_INT(sent_count(org), count);

    quota_destroy(q1);
    quota_destroy(q2);
    db_destroy(db1);
    db_destroy(db2);
}

/* A throttle hands back the lease, refuses at once without consuming, never shortens, and
 * ends when throttle_until passes. */
static void test_throttle(void)
{
    db_t *db = connect_db(), *db2 = connect_db();
    REQUIRE(db != NULL && db2 != NULL);
    metrics_registry_t *reg = metrics_registry_new();
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, NULL, reg);
    quota_t *q2 = new_quota(db2, QUOTA_KIND_EMAIL, NULL, NULL);
    REQUIRE(q != NULL && q2 != NULL);
    const char *org = "org-throttle";
    REQUIRE(email_row(org, 1000, 3600));
    char errstr[256];

    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    CHECK_INT(sent_count(org), 8);
    int64_t until = 0;
    int64_t before = db_now_ms();
    CHECK_INT(quota_throttle(q, org, 1500, now_ms(), &until, errstr, sizeof(errstr)), 0);
    CHECK_INT(sent_count(org), 1); /* the 7 unused came back */
    CHECK_INT(until, row_value(org, NULL, "ceil(extract(epoch FROM throttle_until) * 1000)"));
    CHECK(until >= before + 1500 && until <= db_now_ms() + 1500 + 1);

    /* Refused at once, from here, without consuming. */
    uint64_t trips = stats_of(q).round_trips;
    int64_t wait = 0;
    CHECK_INT(take(q, org, &wait), QUOTA_THROTTLED);
    CHECK_INT(wait, until);
    CHECK_INT(stats_of(q).round_trips, trips);
    wait = 0;
    CHECK_INT(take(q2, org, &wait), QUOTA_THROTTLED); /* another process asks the row */
    CHECK_INT(wait, until);
    CHECK_INT(take(q2, org, &wait), QUOTA_THROTTLED);
    CHECK_INT(sent_count(org), 1);
    CHECK_INT(quota_errcode(QUOTA_THROTTLED), ERRCODE_RATE_LIMIT);

    /* A shorter throttle does not shorten it. */
    int64_t until2 = 0;
    CHECK_INT(quota_throttle(q2, org, 100, now_ms(), &until2, errstr, sizeof(errstr)), 0);
    CHECK_INT(until2, until);

    char *text = metrics_render(reg);
    REQUIRE(text != NULL);
    CHECK(strstr(text, "notify_quota_rate_limit_hits_total{channel=\"email\",reason=\"throttled\"}"
                       " 1\n") != NULL);
    free(text);

    /* After throttle_until, both take again. */
    while (db_now_ms() <= until)
        testdb_sleep_ms(50);
    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    CHECK_INT(take(q2, org, NULL), QUOTA_OK);
    CHECK(sent_count(org) > 1);

    /* Without Retry-After: five minutes, also for an org that had no row. */
    before = db_now_ms();
    CHECK_INT(quota_throttle(q, "org-throttle-new", 0, now_ms(), &until, errstr, sizeof(errstr)),
              0);
    CHECK(until >= before + QUOTA_DEFAULT_THROTTLE_MS &&
          until <= db_now_ms() + QUOTA_DEFAULT_THROTTLE_MS + 1);
    CHECK_INT(sent_count("org-throttle-new"), 0);
    CHECK_INT(take(q2, "org-throttle-new", &wait), QUOTA_THROTTLED);
    CHECK_INT(wait, until);
    CHECK_INT(sent_count("org-throttle-new"), 0);

    quota_destroy(q);
    quota_destroy(q2);
    metrics_registry_destroy(reg);
    db_destroy(db);
    db_destroy(db2);
}

/* The SMS kinds share a table and keep one row each per provider type. */
static void test_sms_kinds(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    quota_t *twilio = new_quota(db, QUOTA_KIND_TWILIO, NULL, NULL);
    quota_t *sns = new_quota(db, QUOTA_KIND_SNS, NULL, NULL);
    REQUIRE(twilio != NULL && sns != NULL);
    const char *org = "org-sms";
    char errstr[256];
    CHECK_INT(take(twilio, org, NULL), QUOTA_OK);
    CHECK_INT(take_many(sns, org, 9), 9);
    CHECK_INT(row_value(org, "TWILIO", "messages_sent_count"), 8);
    CHECK_INT(row_value(org, "AWS_SNS", "messages_sent_count"), 8 + 16);
    CHECK_INT(row_value(org, "AWS_SNS", "quota_limit"), 1000);
    CHECK_INT(quota_throttle(twilio, org, 60000, now_ms(), NULL, errstr, sizeof(errstr)), 0);
    CHECK_INT(take(twilio, org, NULL), QUOTA_THROTTLED);
    CHECK_INT(take(sns, org, NULL), QUOTA_OK);
    CHECK_INT(row_value(org, "TWILIO", "messages_sent_count"), 1);
    CHECK_INT(row_value(org, "AWS_SNS", "(throttle_until IS NULL)::int"), 1);
    CHECK_STR(quota_kind_name(QUOTA_KIND_SNS), "sns");
    quota_destroy(twilio);
    quota_destroy(sns);
    CHECK_INT(row_value(org, "AWS_SNS", "messages_sent_count"), 10);
    db_destroy(db);
}

/* A lease outlives a lost connection; the grant is not retried behind the caller's back,
 * and the next take reconnects. */
static void test_lost_connection(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, NULL, NULL);
    REQUIRE(q != NULL);
    const char *org = "org-lost";
    REQUIRE(email_row(org, 1000, 3600));
    char errstr[256];
    PGresult *res = NULL;
    REQUIRE(db_exec(db, "SELECT pg_backend_pid()", &res, errstr, sizeof(errstr)) == DB_OK);
    const char *values[] = {PQgetvalue(res, 0, 0)};
    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    REQUIRE(run("SELECT pg_terminate_backend($1::int, 5000)", 1, values));
    PQclear(res);

    CHECK_INT(take_many(q, org, 7), 7); /* from the lease, no database needed */
    int64_t wait;
    CHECK_INT(quota_take(q, org, now_ms(), &wait, errstr, sizeof(errstr)), QUOTA_ERR_DB);
    CHECK_INT(sent_count(org), 8); /* the lost grant did not run */
    CHECK_INT(take(q, org, NULL), QUOTA_OK);
    CHECK(sent_count(org) > 8);
    quota_destroy(q);
    db_destroy(db);
}

static void test_bad_options(void)
{
    db_t *db = connect_db();
    REQUIRE(db != NULL);
    char errstr[256];
    quota_options_t opts;
    quota_options_default(&opts);
    opts.lease_max = opts.lease_min - 1;
    CHECK(quota_new(db, QUOTA_KIND_EMAIL, &opts, NULL, errstr, sizeof(errstr)) == NULL);
    CHECK(strstr(errstr, "lease_max") != NULL);
    quota_options_default(&opts);
    opts.remaining_divisor = 0;
    CHECK(quota_new(db, QUOTA_KIND_EMAIL, &opts, NULL, errstr, sizeof(errstr)) == NULL);

    /* The same registry cannot take a second quota's metrics. */
    metrics_registry_t *reg = metrics_registry_new();
    quota_t *q = new_quota(db, QUOTA_KIND_EMAIL, NULL, reg);
    CHECK(q != NULL);
    CHECK(quota_new(db, QUOTA_KIND_TWILIO, NULL, reg, errstr, sizeof(errstr)) == NULL);
    quota_destroy(q);
    metrics_registry_destroy(reg);
    db_destroy(db);
}

/* ---- several takers on one row ---------------------------------------------------- */

#define HAMMER_THREADS 4
#define HAMMER_QUOTA   5000

typedef struct hammer_s {
    unsigned seed;
    int used;         /* granted minus given back */
    int errors;       /* results other than OK and EXHAUSTED */
    int64_t returned; /* by quota_release_all */
    uint64_t leased;  /* stats.tokens_leased at exhaustion */
    int64_t held_end; /* stats.tokens_held at exhaustion */
    quota_t *q;
    db_t *db;
} hammer_t;

static atomic_bool g_hammering;
static const char *const g_hammer_org = "org-hammer";

/* Takes batches of 1..16 until the quota runs out, giving some back as a pipeline does
 * when the ledger says DUPLICATE. */
static void *hammer_run(void *arg)
{
    hammer_t *h = arg;
    char errstr[512];
    for (;;) {
        int n = 1 + (int)(rand_r(&h->seed) % 16);
        int granted = 0;
        int64_t wait;
        quota_result_t r = quota_take_n(h->q, g_hammer_org, n, timefmt_now_ms(), &granted, &wait,
                                        errstr, sizeof(errstr));
        h->used += granted;
        if (granted > 0 && rand_r(&h->seed) % 4 == 0) {
            int back = (int)(rand_r(&h->seed) % (unsigned)(granted + 1));
            quota_give_back(h->q, g_hammer_org, back);
            h->used -= back;
        }
        if (r == QUOTA_EXHAUSTED)
            break;
        if (r != QUOTA_OK) {
            fprintf(stderr, "hammer: %s: %s\n", quota_result_name(r), errstr);
            h->errors++;
            break;
        }
    }
    quota_stats_t s;
    quota_stats(h->q, &s);
    h->leased = s.tokens_leased;
    h->held_end = s.tokens_held;
    return NULL;
}

/* Reads the row while the takers run: it never goes beyond the quota. */
static void *hammer_watch(void *arg)
{
    int *max_seen = arg;
    db_t *db = connect_db();
    if (db == NULL)
        return NULL;
    const char *values[] = {g_hammer_org};
    char errstr[256];
    while (atomic_load(&g_hammering)) {
        PGresult *res = NULL;
        if (db_exec_params(db, "SELECT messages_sent_count FROM email_rate_limit WHERE org_id = $1",
                           1, values, &res, errstr, sizeof(errstr)) == DB_OK) {
            int v = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
            if (v > *max_seen)
                *max_seen = v;
        }
        PQclear(res);
    }
    db_destroy(db);
    return NULL;
}

static void test_concurrent_takers_exact(void)
{
    REQUIRE(email_row(g_hammer_org, HAMMER_QUOTA, 86400));
    hammer_t h[HAMMER_THREADS];
    memset(h, 0, sizeof(h));
    for (int i = 0; i < HAMMER_THREADS; i++) {
        h[i].seed = 12345u + (unsigned)i;
        h[i].db = connect_db();
        REQUIRE(h[i].db != NULL);
        h[i].q = new_quota(h[i].db, QUOTA_KIND_EMAIL, NULL, NULL);
        REQUIRE(h[i].q != NULL);
    }
    int max_seen = 0;
    pthread_t watcher, threads[HAMMER_THREADS];
    atomic_store(&g_hammering, true);
    REQUIRE(pthread_create(&watcher, NULL, hammer_watch, &max_seen) == 0);
    for (int i = 0; i < HAMMER_THREADS; i++)
        REQUIRE(pthread_create(&threads[i], NULL, hammer_run, &h[i]) == 0);
    for (int i = 0; i < HAMMER_THREADS; i++)
        pthread_join(threads[i], NULL);
    atomic_store(&g_hammering, false);
    pthread_join(watcher, NULL);

    uint64_t leased = 0;
    int used = 0, errors = 0;
    int64_t held = 0;
    for (int i = 0; i < HAMMER_THREADS; i++) {
        leased += h[i].leased;
        used += h[i].used;
        errors += h[i].errors;
        held += h[i].held_end;
        fprintf(stderr, "  taker %d: leased %llu, used %d\n", i, (unsigned long long)h[i].leased,
                h[i].used);
    }
    CHECK_INT(errors, 0);
    CHECK_INT(leased, HAMMER_QUOTA); /* every token granted once, none beyond the quota */
    CHECK_INT(sent_count(g_hammer_org), HAMMER_QUOTA);
    CHECK(max_seen <= HAMMER_QUOTA);
    CHECK_INT(used + held, HAMMER_QUOTA);

    /* What was given back and not used again goes back to the row. */
    int64_t returned = 0;
    for (int i = 0; i < HAMMER_THREADS; i++) {
        h[i].returned = released(h[i].q, 0);
        CHECK(h[i].returned >= 0);
        returned += h[i].returned;
    }
    CHECK_INT(returned, held);
    CHECK_INT(sent_count(g_hammer_org), used);
    for (int i = 0; i < HAMMER_THREADS; i++) {
        quota_destroy(h[i].q);
        db_destroy(h[i].db);
    }
}

int main(void)
{
    g_url = getenv("DATABASE_URL");
    if (g_url == NULL || g_url[0] == '\0') {
        fprintf(stderr, "DATABASE_URL is not set: run this through scripts/test, which starts "
                        "PostgreSQL and exports it\n");
        return 1;
    }
    log_set_fd(2);
    char errstr[512];
    db_t *admin = db_new(g_url, APP_NAME, 5000, 30000, errstr, sizeof(errstr));
    if (admin == NULL) {
        fprintf(stderr, "setup failed: %s\n", errstr);
        return 1;
    }
    snprintf(g_schema, sizeof(g_schema), "test_quota_%ld", (long)getpid());
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", g_schema);
    g_conninfo = testdb_conninfo_schema(g_url, g_schema);
    if (g_conninfo == NULL || db_exec(admin, sql, NULL, errstr, sizeof(errstr)) != DB_OK ||
        (g_db = connect_db()) == NULL ||
        migrate_apply(g_db, NULL, NULL, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "setup failed: %s\n", errstr);
        return 1;
    }

    TEST_RUN(test_first_use_and_growth);
    TEST_RUN(test_lease_size_bounds);
    TEST_RUN(test_exhaust);
    TEST_RUN(test_take_n_partial);
    TEST_RUN(test_window_reset);
    TEST_RUN(test_lease_ends_with_window);
    TEST_RUN(test_release);
    TEST_RUN(test_old_window_not_handed_back);
    TEST_RUN(test_throttle);
    TEST_RUN(test_sms_kinds);
    TEST_RUN(test_lost_connection);
    TEST_RUN(test_bad_options);
    TEST_RUN(test_concurrent_takers_exact);

    db_destroy(g_db);
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", g_schema);
    db_exec(admin, sql, NULL, errstr, sizeof(errstr));
    db_destroy(admin);
    free(g_conninfo);
    return TEST_EXIT();
}
