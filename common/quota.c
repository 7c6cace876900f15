/*
 * The quota rows are the truth; this file keeps, per org, the unused part of the last
 * lease and what it needs to hand that part back correctly: the window it came from (the
 * row's reset_at, in epoch microseconds, compared exactly by the hand-back statement) and
 * how many tokens of that window the caller holds (the most quota_give_back() accepts).
 *
 * The grant is one UPDATE that locks the row in a sub-select (FOR UPDATE), computes the
 * grant from the locked version and writes it. Under READ COMMITTED a concurrent lease
 * makes the sub-select wait and then re-read the newest version, so two leases can never
 * both count against the same remaining tokens; the CHECK on the row backs this up. The
 * sub-select skips throttled and full rows, so a refusal writes nothing and locks
 * nothing; a second, plain SELECT then tells which refusal it was (or that the row is
 * missing, or that it changed in between and the grant is worth trying again).
 */
#include "quota.h"

#include "log.h"
#include "strmap.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTA_TAKE_MAX       1000000
#define QUOTA_ORG_ID_MAX     256 /* bytes; the tables allow 64 characters */
#define QUOTA_GRANT_ATTEMPTS 3
#define QUOTA_STMT_NAME_SIZE 64

typedef enum {
    QUOTA_STMT_GRANT,
    QUOTA_STMT_STATUS,
    QUOTA_STMT_ENSURE,
    QUOTA_STMT_HAND_BACK,
    QUOTA_STMT_THROTTLE,
    QUOTA_STMT__COUNT
} quota_stmt_t;

static const struct {
    const char *name;          /* metrics label and quota_kind_name() */
    const char *table;         /* the quota table */
    const char *provider_type; /* sms_rate_limit.provider_type, NULL for email */
} quota_kinds[] = {
    [QUOTA_KIND_EMAIL] = {"email", "email_rate_limit", NULL},
    [QUOTA_KIND_TWILIO] = {"twilio", "sms_rate_limit", "TWILIO"},
    [QUOTA_KIND_SNS] = {"sns", "sms_rate_limit", "AWS_SNS"},
};

static const char *const quota_result_names[] = {
    [QUOTA_OK] = "OK",         [QUOTA_EXHAUSTED] = "EXHAUSTED", [QUOTA_THROTTLED] = "THROTTLED",
    [QUOTA_ERR_DB] = "ERR_DB", [QUOTA_ERR_USAGE] = "ERR_USAGE",
};

/*
 * The statements, with {table} for the table and {key} for the row's key, which is
 * "org_id = $k" and, for SMS, "AND provider_type = $k+1": the org and the provider type
 * are always the last parameters, after the statement's own `nparams`. {us:x} is the
 * timestamptz x in epoch microseconds: exact (extract returns numeric), so that the
 * hand-back can compare reset_at for equality with what the grant returned.
 */
static const struct {
    const char *suffix;
    const char *sql;
    int nparams;
    unsigned flags;
} quota_stmts[QUOTA_STMT__COUNT] = {
    /* $1 need, $2 want, $3 divisor. A window that has ended restarts here, in the same
     * write. The grant is what is needed, plus what is wanted as far as the divisor
     * allows, and never more than remains. */
    [QUOTA_STMT_GRANT] = {"grant",
                          "UPDATE {table} AS t SET messages_sent_count = o.base + o.granted,"
                          " reset_at = o.new_reset_at"
                          " FROM (SELECT id, base, new_reset_at, least(quota_limit - base,"
                          " greatest($1::int, least($2::int, (quota_limit - base) / $3::int)))"
                          " AS granted"
                          " FROM (SELECT id, quota_limit,"
                          " CASE WHEN reset_at <= now() THEN 0"
                          " ELSE messages_sent_count END AS base,"
                          " CASE WHEN reset_at <= now()"
                          " THEN now() + rate_limit_window_seconds * interval '1 second'"
                          " ELSE reset_at END AS new_reset_at"
                          " FROM {table} WHERE {key}"
                          " AND (throttle_until IS NULL OR throttle_until <= now())"
                          " AND (reset_at <= now() OR messages_sent_count < quota_limit)"
                          " FOR UPDATE) AS cur) AS o"
                          " WHERE t.id = o.id"
                          " RETURNING o.granted,"
                          " {us:o.new_reset_at}, {us:now()}",
                          3, DB_STMT_NO_RETRY},
    /* Why the grant found nothing to update. */
    [QUOTA_STMT_STATUS] = {"status",
                           "SELECT coalesce(throttle_until > now(), false), {us:throttle_until},"
                           " reset_at > now() AND messages_sent_count >= quota_limit,"
                           " {us:reset_at}, {us:now()}"
                           " FROM {table} WHERE {key}",
                           0, 0},
    /* The first use of an org: a row with the defaults. */
    [QUOTA_STMT_ENSURE] = {"ensure",
                           "INSERT INTO {table} ({columns}) VALUES ({values})"
                           " ON CONFLICT DO NOTHING",
                           0, 0},
    /* $1 unused, $2 the lease's reset_at in microseconds: only into the same window, and
     * not into one that has ended (the next lease zeroes it anyway). */
    [QUOTA_STMT_HAND_BACK] =
        {"hand_back",
         "UPDATE {table}"
         " SET messages_sent_count = greatest(messages_sent_count - $1::int, 0)"
         " WHERE {key} AND reset_at > now() AND {us:reset_at} = $2::bigint",
         2, DB_STMT_NO_RETRY},
    /* $1 milliseconds from the database's now(); never shortens a throttle. */
    [QUOTA_STMT_THROTTLE] = {"throttle",
                             "UPDATE {table} SET throttle_until = greatest(throttle_until,"
                             " now() + $1::double precision * interval '1 millisecond')"
                             " WHERE {key} RETURNING {us:throttle_until}, {us:now()}",
                             1, 0},
};

/* The local state of one org. Times named _ms are of the caller's clock unless noted. */
typedef struct quota_org_s {
    char *org_id;
    int tokens;          /* unused tokens of the lease */
    int handed;          /* tokens of the lease's window handed to the caller */
    int64_t window_us;   /* the lease's window: the row's reset_at (database clock); 0 = none */
    int64_t expires_ms;  /* when that window ends */
    int lease_size;      /* tokens the next lease asks for */
    int64_t leased_ms;   /* the last grant; 0 = never */
    int64_t used_ms;     /* the last take */
    quota_result_t held; /* QUOTA_OK, or a refusal reused until refusal_until_ms */
    int64_t refusal_until_ms;
    int64_t refusal_wait_ms; /* the refusal's wait_until (database clock) */
} quota_org_t;

struct quota_s {
    db_t *db;
    quota_kind_t kind;
    quota_options_t opts;
    char stmt_names[QUOTA_STMT__COUNT][QUOTA_STMT_NAME_SIZE];
    strmap_t *orgs;          /* org_id -> quota_org_t */
    int64_t clock_offset_ms; /* the database's clock minus the caller's, at the last answer */
    quota_stats_t stats;
    metrics_counter_t *leased_total;
    metrics_counter_t *returned_total;
    metrics_counter_t *hits_throttled;
    metrics_counter_t *hits_exhausted;
    metrics_gauge_t *held_gauge;
};

/* ---- small helpers ------------------------------------------------------------------ */

void quota_options_default(quota_options_t *opts)
{
    opts->lease_min = 8;
    opts->lease_max = 1024;
    opts->remaining_divisor = 4;
    opts->grow_ms = 1000;
    opts->idle_ms = 2000;
    opts->recheck_ms = 1000;
}

const char *quota_kind_name(quota_kind_t kind)
{
    if ((int)kind < 0 || (size_t)kind >= sizeof(quota_kinds) / sizeof(quota_kinds[0]))
        return "unknown";
    return quota_kinds[kind].name;
}

const char *quota_result_name(quota_result_t result)
{
    if ((int)result < 0 ||
        (size_t)result >= sizeof(quota_result_names) / sizeof(quota_result_names[0]))
        return "UNKNOWN";
    return quota_result_names[result];
}

errcode_t quota_errcode(quota_result_t result)
{
    if (result == QUOTA_THROTTLED)
        return ERRCODE_RATE_LIMIT;
    if (result == QUOTA_EXHAUSTED)
        return ERRCODE_QUOTA_EXCEEDED;
    return ERRCODE_OK;
}

static bool quota_is_sms(const quota_t *q)
{
    return quota_kinds[q->kind].provider_type != NULL;
}

static int64_t quota_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Microseconds to milliseconds, rounded down (lease ends) or up (waits). */
static int64_t quota_us_floor_ms(int64_t us)
{
    return us >= 0 ? us / 1000 : -((-us + 999) / 1000);
}

static int64_t quota_us_ceil_ms(int64_t us)
{
    return -quota_us_floor_ms(-us);
}

static int quota_parse_i64(const PGresult *res, int col, int64_t *out)
{
    if (PQgetisnull(res, 0, col)) {
        *out = 0;
        return 0;
    }
    const char *text = PQgetvalue(res, 0, col);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static bool quota_parse_bool(const PGresult *res, int col)
{
    return !PQgetisnull(res, 0, col) && PQgetvalue(res, 0, col)[0] == 't';
}

static void quota_held_add(quota_t *q, int delta)
{
    q->stats.tokens_held += delta;
    metrics_gauge_set(q->held_gauge, (double)q->stats.tokens_held);
}

/* ---- the org table ------------------------------------------------------------------ */

static quota_org_t *quota_org_find(quota_t *q, const char *org_id, bool create)
{
    size_t len = strlen(org_id);
    quota_org_t *o = strmap_get(q->orgs, org_id, len);
    if (o != NULL || !create)
        return o;
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        abort();
    o->org_id = strdup(org_id);
    if (o->org_id == NULL)
        abort();
    o->lease_size = q->opts.lease_min;
    o->held = QUOTA_OK;
    strmap_put(q->orgs, org_id, len, o);
    return o;
}

static void quota_org_free(quota_org_t *o)
{
    free(o->org_id);
    free(o);
}

/* A strmap_sweep() callback that frees every org. */
static bool quota_org_drop(void *value, void *opaque)
{
    (void)opaque;
    quota_org_free(value);
    return false;
}

/* ---- statements --------------------------------------------------------------------- */

/* Runs one statement for `org_id`: `values` are its own parameters, the key is added. */
static db_err_t quota_exec(quota_t *q, quota_stmt_t stmt, const char *org_id,
                           const char *const *values, PGresult **res, char *errstr,
                           size_t errstr_size)
{
    const char *params[8];
    int n = quota_stmts[stmt].nparams;
    for (int i = 0; i < n; i++)
        params[i] = values[i];
    params[n++] = org_id;
    if (quota_is_sms(q))
        params[n++] = quota_kinds[q->kind].provider_type;
    q->stats.round_trips++;
    char err[512];
    db_err_t derr = db_exec_prepared(q->db, q->stmt_names[stmt], n, params, res, err, sizeof(err));
    if (derr != DB_OK)
        snprintf(errstr, errstr_size, "quota %s of %s: %s", quota_stmts[stmt].suffix,
                 quota_kinds[q->kind].table, err);
    return derr;
}

/* Builds the SQL of one statement for this quota's table. Returns 0, or -1 if too long. */
static int quota_build_sql(const quota_t *q, quota_stmt_t stmt, char *sql, size_t sql_size)
{
    bool sms = quota_is_sms(q);
    int k = quota_stmts[stmt].nparams + 1;
    char key[96];
    if (sms)
        snprintf(key, sizeof(key), "org_id = $%d AND provider_type = $%d", k, k + 1);
    else
        snprintf(key, sizeof(key), "org_id = $%d", k);
    const struct {
        const char *name;
        const char *value;
    } subst[] = {
        {"{table}", quota_kinds[q->kind].table},
        {"{key}", key},
        {"{columns}", sms ? "org_id, provider_type" : "org_id"},
        {"{values}", sms ? "$1, $2" : "$1"},
    };
    size_t len = 0;
    for (const char *p = quota_stmts[stmt].sql; *p != '\0';) {
        const char *piece = p;
        size_t piece_len = 1, skip = 1;
        char us[128];
        const char *close = strchr(p, '}');
        if (strncmp(p, "{us:", 4) == 0 && close != NULL) {
            int n = snprintf(us, sizeof(us), "(extract(epoch FROM %.*s) * 1000000)::bigint",
                             (int)(close - p - 4), p + 4);
            if (n < 0 || (size_t)n >= sizeof(us))
                return -1;
            piece = us;
            piece_len = (size_t)n;
            skip = (size_t)(close - p) + 1;
        }
        for (size_t i = 0; i < sizeof(subst) / sizeof(subst[0]); i++) {
            size_t name_len = strlen(subst[i].name);
            if (strncmp(p, subst[i].name, name_len) == 0) {
                piece = subst[i].value;
                piece_len = strlen(piece);
                skip = name_len;
                break;
            }
        }
        if (len + piece_len >= sql_size)
            return -1;
        memcpy(sql + len, piece, piece_len);
        len += piece_len;
        p += skip;
    }
    sql[len] = '\0';
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static int quota_check_options(const quota_options_t *o, char *errstr, size_t errstr_size)
{
    const char *bad = NULL;
    if (o->lease_min < 1 || o->lease_min > QUOTA_TAKE_MAX)
        bad = "lease_min must be 1..1000000";
    else if (o->lease_max < o->lease_min || o->lease_max > QUOTA_TAKE_MAX)
        bad = "lease_max must be lease_min..1000000";
    else if (o->remaining_divisor < 1 || o->remaining_divisor > QUOTA_TAKE_MAX)
        bad = "remaining_divisor must be 1..1000000";
    else if (o->grow_ms < 1)
        bad = "grow_ms must be positive";
    else if (o->idle_ms < 0)
        bad = "idle_ms must not be negative";
    else if (o->recheck_ms < 0)
        bad = "recheck_ms must not be negative";
    if (bad == NULL)
        return 0;
    snprintf(errstr, errstr_size, "quota_new: %s", bad);
    return -1;
}

/* The metrics of this quota; each lookup by label set happens once, here. */
static int quota_metrics_new(quota_t *q, metrics_registry_t *reg, char *errstr, size_t errstr_size)
{
    const char *channel = quota_kinds[q->kind].name;
    metrics_counter_t *leased = metrics_counter_new(
        reg, "notify_quota_tokens_leased_total", "Quota tokens granted by the database in leases.",
        errstr, errstr_size, "channel", NULL);
    if (leased == NULL)
        return -1;
    metrics_counter_t *returned = metrics_counter_new(
        reg, "notify_quota_tokens_returned_total",
        "Unused quota tokens handed back to the database.", errstr, errstr_size, "channel", NULL);
    if (returned == NULL)
        return -1;
    metrics_counter_t *hits =
        metrics_counter_new(reg, "notify_quota_rate_limit_hits_total",
                            "Takes refused: reason throttled (throttle_until ahead) or exhausted "
                            "(the window's quota used up).",
                            errstr, errstr_size, "channel", "reason", NULL);
    if (hits == NULL)
        return -1;
    metrics_gauge_t *held =
        metrics_gauge_new(reg, "notify_quota_tokens_held", "Unused quota tokens leased and held.",
                          errstr, errstr_size, "channel", NULL);
    if (held == NULL)
        return -1;
    q->leased_total = metrics_counter_with(leased, channel);
    q->returned_total = metrics_counter_with(returned, channel);
    q->hits_throttled = metrics_counter_with(hits, channel, "throttled");
    q->hits_exhausted = metrics_counter_with(hits, channel, "exhausted");
    q->held_gauge = metrics_gauge_with(held, channel);
    metrics_gauge_set(q->held_gauge, 0);
    return 0;
}

quota_t *quota_new(db_t *db, quota_kind_t kind, const quota_options_t *opts,
                   metrics_registry_t *metrics, char *errstr, size_t errstr_size)
{
    quota_t *q = NULL;
    if (db == NULL || (int)kind < 0 ||
        (size_t)kind >= sizeof(quota_kinds) / sizeof(quota_kinds[0])) {
        snprintf(errstr, errstr_size, "quota_new: a database and a known kind are required");
        goto fail;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        abort();
    q->db = db;
    q->kind = kind;
    if (opts != NULL)
        q->opts = *opts;
    else
        quota_options_default(&q->opts);
    if (quota_check_options(&q->opts, errstr, errstr_size) != 0)
        goto fail;
    q->orgs = strmap_new();

    /* Named after the table: the two SMS kinds share their statements, and registering
     * the same SQL twice on one handle is a no-op. */
    for (int s = 0; s < QUOTA_STMT__COUNT; s++) {
        char sql[2048], err[256];
        snprintf(q->stmt_names[s], sizeof(q->stmt_names[s]), "quota_%s_%s", quota_kinds[kind].table,
                 quota_stmts[s].suffix);
        if (quota_build_sql(q, (quota_stmt_t)s, sql, sizeof(sql)) != 0)
            abort(); /* the statements above outgrew the buffer: a build-time bug */
        int nparams = quota_stmts[s].nparams + (quota_is_sms(q) ? 2 : 1);
        db_err_t derr =
            db_prepare(db, q->stmt_names[s], sql, nparams, quota_stmts[s].flags, err, sizeof(err));
        /* A database that is down now is retried at first use; wrong SQL never works. */
        if (derr != DB_OK && derr != DB_ERR_CONN) {
            snprintf(errstr, errstr_size, "quota_new: cannot prepare %s: %s", q->stmt_names[s],
                     err);
            goto fail;
        }
    }
    if (metrics != NULL && quota_metrics_new(q, metrics, errstr, errstr_size) != 0)
        goto fail;
    return q;

fail:
    if (q != NULL) {
        strmap_destroy(q->orgs);
        free(q);
    }
    return NULL;
}

void quota_destroy(quota_t *q)
{
    if (q == NULL)
        return;
    char errstr[512];
    if (quota_release_all(q, errstr, sizeof(errstr)) < 0)
        log_warn("quota: unused tokens not handed back at shutdown: %s", errstr);
    strmap_sweep(q->orgs, quota_org_drop, NULL);
    strmap_destroy(q->orgs);
    free(q);
}

void quota_stats(const quota_t *q, quota_stats_t *out)
{
    *out = q->stats;
}

/* ---- leases ------------------------------------------------------------------------- */

/* Forgets the lease's tokens without telling the database: their window is over. */
static void quota_void(quota_t *q, quota_org_t *o)
{
    q->stats.tokens_dropped += (uint64_t)o->tokens;
    quota_held_add(q, -o->tokens);
    o->tokens = 0;
    o->handed = 0;
    o->window_us = 0;
}

/*
 * Hands the lease's unused tokens back to the row. They leave the lease first whatever
 * happens: a hand-back whose outcome is unknown must not be tried again (see quota.h).
 * Returns the tokens the row took back (0 when its window had moved on), or -1.
 */
static int quota_hand_back(quota_t *q, quota_org_t *o, char *errstr, size_t errstr_size)
{
    int n = o->tokens;
    if (n == 0)
        return 0;
    o->tokens = 0;
    quota_held_add(q, -n);
    char n_text[16], window_text[24];
    snprintf(n_text, sizeof(n_text), "%d", n);
    snprintf(window_text, sizeof(window_text), "%lld", (long long)o->window_us);
    const char *values[] = {n_text, window_text};
    PGresult *res = NULL;
    if (quota_exec(q, QUOTA_STMT_HAND_BACK, o->org_id, values, &res, errstr, errstr_size) !=
        DB_OK) {
        q->stats.tokens_dropped += (uint64_t)n;
        return -1;
    }
    bool taken = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!taken) {
        q->stats.tokens_dropped += (uint64_t)n;
        return 0;
    }
    q->stats.tokens_returned += (uint64_t)n;
    metrics_counter_add(q->returned_total, (uint64_t)n);
    return n;
}

/* Keeps a refusal to answer with until recheck_ms from now, or until it ends. */
static void quota_hold_refusal(quota_t *q, quota_org_t *o, quota_result_t result, int64_t wait_ms,
                               int64_t now_ms)
{
    o->held = result;
    o->refusal_wait_ms = wait_ms;
    o->refusal_until_ms = quota_min64(now_ms + q->opts.recheck_ms, wait_ms - q->clock_offset_ms);
}

/* The size of the next lease, from how long the last one lasted. */
static int quota_lease_size(quota_t *q, quota_org_t *o, int64_t now_ms)
{
    if (o->leased_ms != 0) {
        int64_t lasted = now_ms - o->leased_ms;
        if (lasted <= q->opts.grow_ms)
            o->lease_size =
                o->lease_size > q->opts.lease_max / 2 ? q->opts.lease_max : o->lease_size * 2;
        else if (lasted > 4 * q->opts.grow_ms)
            o->lease_size = q->opts.lease_min;
    }
    return o->lease_size;
}

/* Takes the answer of a grant that returned a row into the lease. */
static quota_result_t quota_granted(quota_t *q, quota_org_t *o, const PGresult *res, int need,
                                    int64_t now_ms, int64_t *wait_until_ms, char *errstr,
                                    size_t errstr_size)
{
    int64_t granted, reset_us, db_now_us;
    if (quota_parse_i64(res, 0, &granted) != 0 || quota_parse_i64(res, 1, &reset_us) != 0 ||
        quota_parse_i64(res, 2, &db_now_us) != 0 || granted < 0 || granted > INT_MAX) {
        snprintf(errstr, errstr_size, "quota grant of %s: unexpected answer",
                 quota_kinds[q->kind].table);
        return QUOTA_ERR_DB;
    }
    q->clock_offset_ms = quota_us_floor_ms(db_now_us) - now_ms;
    if (reset_us != o->window_us) {
        /* A new window (or the first): what is left of the old one is void. The lease is
         * empty here, so this only forgets what the caller may still give back. */
        quota_void(q, o);
        o->window_us = reset_us;
    }
    o->expires_ms = quota_us_floor_ms(reset_us) - q->clock_offset_ms;
    o->leased_ms = now_ms;
    o->tokens += (int)granted;
    quota_held_add(q, (int)granted);
    if (granted > 0) {
        q->stats.leases++;
        q->stats.tokens_leased += (uint64_t)granted;
        metrics_counter_add(q->leased_total, (uint64_t)granted);
    }
    if (granted >= need)
        return QUOTA_OK;
    /* Less than needed: the window is full until reset_at. */
    int64_t wait_ms = quota_us_ceil_ms(reset_us);
    quota_hold_refusal(q, o, QUOTA_EXHAUSTED, wait_ms, now_ms);
    if (wait_until_ms != NULL)
        *wait_until_ms = wait_ms;
    return QUOTA_EXHAUSTED;
}

/*
 * Leases at least `need` tokens into the org's (empty) lease, more if the lease size says
 * so. Returns QUOTA_OK, or the refusal (the lease may then hold fewer than `need`).
 */
static quota_result_t quota_lease(quota_t *q, quota_org_t *o, int need, int64_t now_ms,
                                  int64_t *wait_until_ms, char *errstr, size_t errstr_size)
{
    int size = quota_lease_size(q, o, now_ms);
    int want = need > size ? need : size;
    char need_text[16], want_text[16], divisor_text[16];
    snprintf(need_text, sizeof(need_text), "%d", need);
    snprintf(want_text, sizeof(want_text), "%d", want);
    snprintf(divisor_text, sizeof(divisor_text), "%d", q->opts.remaining_divisor);
    const char *grant_values[] = {need_text, want_text, divisor_text};

    for (int attempt = 0; attempt < QUOTA_GRANT_ATTEMPTS; attempt++) {
        PGresult *res = NULL;
        if (quota_exec(q, QUOTA_STMT_GRANT, o->org_id, grant_values, &res, errstr, errstr_size) !=
            DB_OK)
            return QUOTA_ERR_DB;
        if (PQntuples(res) == 1) {
            quota_result_t r =
                quota_granted(q, o, res, need, now_ms, wait_until_ms, errstr, errstr_size);
            PQclear(res);
            return r;
        }
        PQclear(res);

        /* Nothing granted: throttled, full, missing, or changed since. */
        if (quota_exec(q, QUOTA_STMT_STATUS, o->org_id, NULL, &res, errstr, errstr_size) != DB_OK)
            return QUOTA_ERR_DB;
        if (PQntuples(res) == 0) {
            PQclear(res);
            if (quota_exec(q, QUOTA_STMT_ENSURE, o->org_id, NULL, NULL, errstr, errstr_size) !=
                DB_OK)
                return QUOTA_ERR_DB;
            continue;
        }
        bool throttled = quota_parse_bool(res, 0);
        bool full = quota_parse_bool(res, 2);
        int64_t throttle_us, reset_us, db_now_us;
        int perr = quota_parse_i64(res, 1, &throttle_us) | quota_parse_i64(res, 3, &reset_us) |
                   quota_parse_i64(res, 4, &db_now_us);
        PQclear(res);
        if (perr != 0) {
            snprintf(errstr, errstr_size, "quota status of %s: unexpected answer",
                     quota_kinds[q->kind].table);
            return QUOTA_ERR_DB;
        }
        q->clock_offset_ms = quota_us_floor_ms(db_now_us) - now_ms;
        if (throttled || full) {
            quota_result_t r = throttled ? QUOTA_THROTTLED : QUOTA_EXHAUSTED;
            int64_t wait_ms = quota_us_ceil_ms(throttled ? throttle_us : reset_us);
            quota_hold_refusal(q, o, r, wait_ms, now_ms);
            if (wait_until_ms != NULL)
                *wait_until_ms = wait_ms;
            return r;
        }
        /* Tokens came back, the window ended or the throttle lapsed in between: again. */
    }
    snprintf(errstr, errstr_size, "quota of %s: the row kept changing under the lease; try again",
             quota_kinds[q->kind].table);
    return QUOTA_ERR_DB;
}

static bool quota_org_id_ok(const char *org_id)
{
    return org_id != NULL && org_id[0] != '\0' && strlen(org_id) <= QUOTA_ORG_ID_MAX;
}

quota_result_t quota_take_n(quota_t *q, const char *org_id, int n, int64_t now_ms, int *granted,
                            int64_t *wait_until_ms, char *errstr, size_t errstr_size)
{
    quota_result_t result = QUOTA_OK;
    int got = 0;
    if (!quota_org_id_ok(org_id) || n < 1 || n > QUOTA_TAKE_MAX) {
        snprintf(errstr, errstr_size, "quota_take: org_id must be 1..%d bytes and n 1..%d",
                 QUOTA_ORG_ID_MAX, QUOTA_TAKE_MAX);
        result = QUOTA_ERR_USAGE;
        goto done;
    }
    quota_org_t *o = quota_org_find(q, org_id, true);
    o->used_ms = now_ms;

    /* A refusal is answered from here while it holds; afterwards the database decides.
     * A throttle refuses at once; a full window still lets given-back tokens be used. */
    if (o->held != QUOTA_OK && now_ms >= o->refusal_until_ms)
        o->held = QUOTA_OK;
    if (o->held == QUOTA_THROTTLED) {
        result = QUOTA_THROTTLED;
        if (wait_until_ms != NULL)
            *wait_until_ms = o->refusal_wait_ms;
        goto done;
    }
    /* Tokens of a window that has ended are void, whatever the database has done yet. */
    if (o->window_us != 0 && now_ms >= o->expires_ms)
        quota_void(q, o);

    /* Counted as handed before a lease, which forgets them if it finds a new window. */
    got = n < o->tokens ? n : o->tokens;
    o->tokens -= got;
    o->handed += got;
    quota_held_add(q, -got);
    if (got < n && o->held == QUOTA_EXHAUSTED) {
        result = QUOTA_EXHAUSTED;
        if (wait_until_ms != NULL)
            *wait_until_ms = o->refusal_wait_ms;
    } else if (got < n) {
        result = quota_lease(q, o, n - got, now_ms, wait_until_ms, errstr, errstr_size);
        int more = n - got < o->tokens ? n - got : o->tokens;
        o->tokens -= more;
        o->handed += more;
        quota_held_add(q, -more);
        got += more;
    }

done:
    if (result == QUOTA_THROTTLED)
        metrics_counter_inc(q->hits_throttled);
    else if (result == QUOTA_EXHAUSTED)
        metrics_counter_inc(q->hits_exhausted);
    if (granted != NULL)
        *granted = got;
    return result;
}

quota_result_t quota_take(quota_t *q, const char *org_id, int64_t now_ms, int64_t *wait_until_ms,
                          char *errstr, size_t errstr_size)
{
    int granted = 0;
    return quota_take_n(q, org_id, 1, now_ms, &granted, wait_until_ms, errstr, errstr_size);
}

void quota_give_back(quota_t *q, const char *org_id, int n)
{
    if (!quota_org_id_ok(org_id) || n <= 0)
        return;
    quota_org_t *o = quota_org_find(q, org_id, false);
    if (o == NULL)
        return;
    int accepted = n < o->handed ? n : o->handed;
    o->handed -= accepted;
    o->tokens += accepted;
    quota_held_add(q, accepted);
}

int quota_throttle(quota_t *q, const char *org_id, int64_t retry_after_ms, int64_t now_ms,
                   int64_t *until_ms, char *errstr, size_t errstr_size)
{
    int rc = -1;
    PGresult *res = NULL;
    if (!quota_org_id_ok(org_id)) {
        snprintf(errstr, errstr_size, "quota_throttle: org_id must be 1..%d bytes",
                 QUOTA_ORG_ID_MAX);
        goto done;
    }
    quota_org_t *o = quota_org_find(q, org_id, true);
    char back_err[512] = "";
    int back = quota_hand_back(q, o, back_err, sizeof(back_err));

    char ms_text[24];
    snprintf(ms_text, sizeof(ms_text), "%lld",
             (long long)(retry_after_ms > 0 ? retry_after_ms : QUOTA_DEFAULT_THROTTLE_MS));
    const char *values[] = {ms_text};
    /* An org never seen before has no row yet: create it with the defaults, then throttle. */
    for (int attempt = 0; attempt < 2; attempt++) {
        PQclear(res);
        res = NULL;
        if (quota_exec(q, QUOTA_STMT_THROTTLE, org_id, values, &res, errstr, errstr_size) != DB_OK)
            goto done;
        if (PQntuples(res) == 1 || attempt == 1)
            break;
        if (quota_exec(q, QUOTA_STMT_ENSURE, org_id, NULL, NULL, errstr, errstr_size) != DB_OK)
            goto done;
    }
    int64_t until_us, db_now_us;
    if (PQntuples(res) != 1 || quota_parse_i64(res, 0, &until_us) != 0 ||
        quota_parse_i64(res, 1, &db_now_us) != 0) {
        snprintf(errstr, errstr_size, "quota throttle of %s: unexpected answer",
                 quota_kinds[q->kind].table);
        goto done;
    }
    q->clock_offset_ms = quota_us_floor_ms(db_now_us) - now_ms;
    quota_hold_refusal(q, o, QUOTA_THROTTLED, quota_us_ceil_ms(until_us), now_ms);
    if (until_ms != NULL)
        *until_ms = quota_us_ceil_ms(until_us);
    if (back < 0) {
        snprintf(errstr, errstr_size, "%s", back_err);
        goto done;
    }
    rc = 0;

done:
    PQclear(res);
    return rc;
}

/* ---- hand-back ---------------------------------------------------------------------- */

/*
 * Walks every org and hands back its unused tokens: all of them with `all`, otherwise
 * those of leases not taken from for idle_ms. Without `all` it also voids leases whose
 * window has ended, and forgets orgs that hold nothing and have not been seen for longer
 * than any local decision looks back (lease growth, idle time, a refusal held).
 */
typedef struct quota_release_s {
    quota_t *q;
    bool all;
    int64_t now_ms;
    int64_t forget_ms;
    bool failed;
    char *errstr;
    size_t errstr_size;
} quota_release_t;

/* One org of quota_release(): false when the org is forgotten (and freed). */
static bool quota_release_org(void *value, void *opaque)
{
    quota_org_t *o = value;
    quota_release_t *r = opaque;
    quota_t *q = r->q;
    if (!r->all && o->window_us != 0 && r->now_ms >= o->expires_ms)
        quota_void(q, o);
    if (o->tokens > 0 && (r->all || r->now_ms - o->used_ms >= q->opts.idle_ms)) {
        char err[512];
        if (quota_hand_back(q, o, err, sizeof(err)) < 0) {
            if (!r->failed)
                snprintf(r->errstr, r->errstr_size, "%s", err);
            r->failed = true;
        }
    }
    bool refusing = o->held != QUOTA_OK && r->now_ms < o->refusal_until_ms;
    if (!r->all && o->tokens == 0 && !refusing && r->now_ms - o->used_ms > r->forget_ms) {
        quota_org_free(o);
        return false;
    }
    return true;
}

static int quota_release(quota_t *q, bool all, int64_t now_ms, char *errstr, size_t errstr_size)
{
    quota_release_t r = {
        .q = q,
        .all = all,
        .now_ms = now_ms,
        .forget_ms = q->opts.idle_ms > 4 * q->opts.grow_ms ? q->opts.idle_ms : 4 * q->opts.grow_ms,
        .errstr = errstr,
        .errstr_size = errstr_size,
    };
    strmap_sweep(q->orgs, quota_release_org, &r);
    return r.failed ? -1 : 0;
}

int quota_release_idle(quota_t *q, int64_t now_ms, char *errstr, size_t errstr_size)
{
    return quota_release(q, false, now_ms, errstr, errstr_size);
}

int quota_release_all(quota_t *q, char *errstr, size_t errstr_size)
{
    return quota_release(q, true, 0, errstr, errstr_size);
}
