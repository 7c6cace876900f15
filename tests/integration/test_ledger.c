/*
 * The idempotency ledger against a real PostgreSQL (DATABASE_URL, from the stack
 * scripts/test starts): every verdict of ledger_reserve(), every outcome of
 * ledger_finish(), provider-id lookup, array parameters with awkward text, batches of
 * 1000, errors, and four workers reserving the same keys at once.
 *
 * Everything happens in a schema of its own (test_ledger_<pid>), reached through the
 * connection option search_path so that it survives reconnects, migrated from scratch and
 * dropped at the end; other tests using the same database are not disturbed.
 */
#include "testdb.h"
#include "testutil.h"

#include "db.h"
#include "ledger.h"
#include "log.h"
#include "migrate.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define APP_NAME     "test_ledger"
#define STATEMENT_MS 10000
#define STALE_MS     600000
#define ORG          "acme"

static const char *g_url;
static char g_schema[64];
static char *g_conninfo;
static db_t *g_admin; /* outside the schema: creates and drops it */
static db_t *g_db;    /* in the schema: the ledger's connection */
static db_t *g_peek;  /* in the schema: the test's own queries */
static ledger_t *g_ledger;

/* ---- helpers ---------------------------------------------------------------------- */

/* One column of a ledger row as text; "(none)" without a row, "(null)" for NULL. */
static const char *column(const char *channel, const char *key, const char *col)
{
    static char out[1024];
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT coalesce((%s)::text, '(null)') FROM delivery_ledger"
             " WHERE org_id = $1 AND channel = $2 AND idempotency_key = $3",
             col);
    const char *values[] = {ORG, channel, key};
    testdb_query_value(g_peek, sql, 3, values, out, sizeof(out));
    if (out[0] == '\0')
        snprintf(out, sizeof(out), "(none)");
    return out;
}

static long count_rows(const char *where)
{
    char sql[256], n[32];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM delivery_ledger WHERE %s", where);
    testdb_query_value(g_peek, sql, 0, NULL, n, sizeof(n));
    return strtol(n, NULL, 10);
}

static ledger_reserve_item_t email_item(const char *key, const char *message_id, const char *origin)
{
    return (ledger_reserve_item_t){.org_id = ORG,
                                   .channel = "email",
                                   .idempotency_key = key,
                                   .message_id = message_id,
                                   .provider = "SMTP",
                                   .origin = origin};
}

/* Reserves one email item; returns its verdict (-1 on error). */
static int reserve_one(ledger_t *lg, ledger_reserve_item_t *it)
{
    char errstr[512];
    ledger_err_t err = ledger_reserve(lg, it, 1, errstr, sizeof(errstr));
    if (err != LEDGER_OK) {
        fprintf(stderr, "ledger_reserve: %s: %s\n", ledger_err_name(err), errstr);
        return -1;
    }
    return (int)it->verdict;
}

static ledger_finish_item_t finish_item(const char *key, const char *origin, ledger_state_t state,
                                        const char *pmid, const char *error_code)
{
    return (ledger_finish_item_t){.org_id = ORG,
                                  .channel = "email",
                                  .idempotency_key = key,
                                  .origin = origin,
                                  .state = state,
                                  .provider_message_id = pmid,
                                  .last_error_code = error_code};
}

/* Finishes one item; returns its result (-1 on error). */
static int finish_one(ledger_t *lg, ledger_finish_item_t *it)
{
    char errstr[512];
    ledger_err_t err = ledger_finish(lg, it, 1, errstr, sizeof(errstr));
    if (err != LEDGER_OK) {
        fprintf(stderr, "ledger_finish: %s: %s\n", ledger_err_name(err), errstr);
        return -1;
    }
    return (int)it->result;
}

/* ---- verdicts --------------------------------------------------------------------- */

static void test_new_key_is_sent(void)
{
    ledger_reserve_item_t it = email_item("new-1", "m-new-1", "outbound.email/0/10");
    CHECK_INT(reserve_one(g_ledger, &it), LEDGER_SEND);
    CHECK_INT(it.attempts, 1);
    CHECK(it.sent_message_id == NULL);
    CHECK_STR(column("email", "new-1", "state"), "SENDING");
    CHECK_STR(column("email", "new-1", "origin"), "outbound.email/0/10");
    CHECK_STR(column("email", "new-1", "message_id"), "m-new-1");
    CHECK_STR(column("email", "new-1", "provider"), "SMTP");
    CHECK_STR(column("email", "new-1", "attempts"), "1");
    CHECK_STR(column("email", "new-1", "resend"), "false");
    CHECK_STR(column("email", "new-1", "sending_since <= now()"), "true");
}

static void test_sent_key_is_duplicate(void)
{
    ledger_reserve_item_t it = email_item("dup-1", "m-dup-1", "outbound.email/0/20");
    REQUIRE(reserve_one(g_ledger, &it) == LEDGER_SEND);
    ledger_finish_item_t fin =
        finish_item("dup-1", "outbound.email/0/20", LEDGER_STATE_SENT, "<dup-1@mx>", NULL);
    fin.attempts = it.attempts;
    CHECK_INT(finish_one(g_ledger, &fin), LEDGER_FINISH_APPLIED);

    /* Another request with the key: nothing is sent, and it learns what was. */
    ledger_reserve_item_t again = email_item("dup-1", "m-dup-1-again", "outbound.email/3/7");
    CHECK_INT(reserve_one(g_ledger, &again), LEDGER_DUPLICATE);
    CHECK_STR(again.sent_message_id, "m-dup-1");
    CHECK_STR(again.sent_provider_message_id, "<dup-1@mx>");
    CHECK_INT(again.attempts, 1);
    CHECK_STR(column("email", "dup-1", "state"), "SENT");
    CHECK_STR(column("email", "dup-1", "message_id"), "m-dup-1");
    CHECK_STR(column("email", "dup-1", "origin"), "outbound.email/0/20");
    CHECK_STR(column("email", "dup-1", "attempts"), "1");

    /* The same request replayed after it was sent is a duplicate too. */
    ledger_reserve_item_t replay = email_item("dup-1", "m-dup-1", "outbound.email/0/20");
    CHECK_INT(reserve_one(g_ledger, &replay), LEDGER_DUPLICATE);
}

static void test_reserved_and_failed_are_taken(void)
{
    const char *origin = "outbound.email/1/5";
    ledger_reserve_item_t it = email_item("retry-1", "m-retry-1", origin);
    REQUIRE(reserve_one(g_ledger, &it) == LEDGER_SEND);
    ledger_finish_item_t fin =
        finish_item("retry-1", origin, LEDGER_STATE_RESERVED, NULL, "SMTP_421");
    CHECK_INT(finish_one(g_ledger, &fin), LEDGER_FINISH_APPLIED);
    CHECK_STR(column("email", "retry-1", "state"), "RESERVED");
    CHECK_STR(column("email", "retry-1", "last_error_code"), "SMTP_421");
    CHECK_STR(column("email", "retry-1", "sending_since"), "(null)");

    /* The retry copy carries the original coordinates: taken, attempt 2. */
    ledger_reserve_item_t retry = email_item("retry-1", "m-retry-1", origin);
    CHECK_INT(reserve_one(g_ledger, &retry), LEDGER_SEND);
    CHECK_INT(retry.attempts, 2);
    CHECK_STR(column("email", "retry-1", "state"), "SENDING");
    CHECK_STR(column("email", "retry-1", "resend"), "false");

    fin = finish_item("retry-1", origin, LEDGER_STATE_FAILED, NULL, "SMTP_550");
    fin.attempts = 2;
    CHECK_INT(finish_one(g_ledger, &fin), LEDGER_FINISH_APPLIED);
    CHECK_STR(column("email", "retry-1", "state"), "FAILED");
    CHECK_STR(column("email", "retry-1", "last_error_code"), "SMTP_550");

    /* A new request with the key after a final failure: taken, with its own ids. */
    ledger_reserve_item_t fresh = email_item("retry-1", "m-retry-1-b", "outbound.email/2/99");
    CHECK_INT(reserve_one(g_ledger, &fresh), LEDGER_SEND);
    CHECK_INT(fresh.attempts, 3);
    CHECK_STR(column("email", "retry-1", "origin"), "outbound.email/2/99");
    CHECK_STR(column("email", "retry-1", "message_id"), "m-retry-1-b");
    CHECK_STR(column("email", "retry-1", "state"), "SENDING");
}

static void test_same_origin_replay_is_resend(void)
{
    const char *origin = "outbound.email/4/1000";
    ledger_reserve_item_t it = email_item("crash-1", "m-crash-1", origin);
    REQUIRE(reserve_one(g_ledger, &it) == LEDGER_SEND);
    /* The process died here; the request comes back from Kafka. */
    ledger_reserve_item_t replay = email_item("crash-1", "m-crash-1", origin);
    CHECK_INT(reserve_one(g_ledger, &replay), LEDGER_RESEND);
    CHECK_INT(replay.attempts, 2);
    CHECK_STR(column("email", "crash-1", "resend"), "true");
    CHECK_STR(column("email", "crash-1", "state"), "SENDING");

    /* The next reservation of a row that was finished is an ordinary one again. */
    ledger_finish_item_t fin =
        finish_item("crash-1", origin, LEDGER_STATE_RESERVED, NULL, "TIMEOUT");
    fin.attempts = 2;
    CHECK_INT(finish_one(g_ledger, &fin), LEDGER_FINISH_APPLIED);
    ledger_reserve_item_t retry = email_item("crash-1", "m-crash-1", origin);
    CHECK_INT(reserve_one(g_ledger, &retry), LEDGER_SEND);
    CHECK_STR(column("email", "crash-1", "resend"), "false");
}

static void test_other_origin_conflicts_until_stale(void)
{
    ledger_reserve_item_t it = email_item("busy-1", "m-busy-1", "outbound.email/0/1");
    REQUIRE(reserve_one(g_ledger, &it) == LEDGER_SEND);
    ledger_reserve_item_t other = email_item("busy-1", "m-busy-2", "outbound.email/5/2");
    CHECK_INT(reserve_one(g_ledger, &other), LEDGER_CONFLICT);
    CHECK_INT(other.attempts, 1);
    CHECK_STR(column("email", "busy-1", "origin"), "outbound.email/0/1");
    CHECK_STR(column("email", "busy-1", "message_id"), "m-busy-1");

    /* Older than stale_ms: the holder is presumed dead and the row is taken over. */
    const char *values[] = {ORG, "busy-1"};
    REQUIRE(testdb_run(g_peek,
                       "UPDATE delivery_ledger SET sending_since = now() - interval '11 minutes'"
                       " WHERE org_id = $1 AND channel = 'email' AND idempotency_key = $2",
                       2, values) == DB_OK);
    CHECK_INT(reserve_one(g_ledger, &other), LEDGER_RESEND);
    CHECK_INT(other.attempts, 2);
    CHECK_STR(column("email", "busy-1", "origin"), "outbound.email/5/2");
    CHECK_STR(column("email", "busy-1", "message_id"), "m-busy-2");
    CHECK_STR(column("email", "busy-1", "resend"), "true");
    CHECK_STR(column("email", "busy-1", "sending_since > now() - interval '1 minute'"), "true");

    /* The limit is the ledger's parameter: a short one expires while we wait. */
    char errstr[512];
    ledger_t *quick = ledger_new(g_db, 200, errstr, sizeof(errstr));
    REQUIRE(quick != NULL);
    ledger_reserve_item_t third = email_item("busy-1", "m-busy-3", "outbound.email/6/3");
    CHECK_INT(reserve_one(quick, &third), LEDGER_CONFLICT);
    testdb_sleep_ms(400);
    CHECK_INT(reserve_one(quick, &third), LEDGER_RESEND);
    CHECK_INT(third.attempts, 3);
    ledger_destroy(quick);
}

/* Rows written before migration 0004 have neither origin nor sending_since. */
static void test_rows_without_origin(void)
{
    REQUIRE(testdb_run(g_peek,
                       "INSERT INTO delivery_ledger (org_id, channel, idempotency_key, message_id,"
                       " state, provider, attempts, updated_at) VALUES"
                       " ('acme', 'sms', 'old-stuck', 'm-old-1', 'SENDING', 'TWILIO', 1,"
                       "  now() - interval '1 hour'),"
                       " ('acme', 'sms', 'old-busy', 'm-old-2', 'SENDING', 'TWILIO', 1, now())",
                       0, NULL) == DB_OK);
    ledger_reserve_item_t items[2];
    for (int i = 0; i < 2; i++) {
        items[i] = (ledger_reserve_item_t){.org_id = ORG,
                                           .channel = "sms",
                                           .idempotency_key = i ? "old-busy" : "old-stuck",
                                           .message_id = "m-new",
                                           .provider = "AWS_SNS",
                                           .origin = "outbound.sms.sns/0/1"};
    }
    char errstr[512];
    REQUIRE(ledger_reserve(g_ledger, items, 2, errstr, sizeof(errstr)) == LEDGER_OK);
    CHECK_INT(items[0].verdict, LEDGER_RESEND);
    CHECK_INT(items[0].attempts, 2);
    CHECK_INT(items[1].verdict, LEDGER_CONFLICT);
    CHECK_STR(column("sms", "old-stuck", "provider"), "AWS_SNS");
    CHECK_STR(column("sms", "old-busy", "provider"), "TWILIO");
}

static void test_same_key_twice_in_batch(void)
{
    ledger_reserve_item_t items[4] = {
        email_item("twice-1", "m-a", "outbound.email/0/100"),
        email_item("twice-2", "m-b", "outbound.email/0/101"),
        email_item("twice-1", "m-c", "outbound.email/0/102"),
        email_item("twice-1", "m-d", "outbound.email/0/103"),
    };
    /* Same key text on the other channel is another key. */
    items[1].idempotency_key = "twice-1";
    items[1].channel = "sms";
    items[1].provider = "TWILIO";
    char errstr[512];
    REQUIRE(ledger_reserve(g_ledger, items, 4, errstr, sizeof(errstr)) == LEDGER_OK);
    CHECK_INT(items[0].verdict, LEDGER_SEND);
    CHECK_INT(items[1].verdict, LEDGER_SEND);
    CHECK_INT(items[2].verdict, LEDGER_CONFLICT);
    CHECK_INT(items[3].verdict, LEDGER_CONFLICT);
    CHECK_STR(column("email", "twice-1", "message_id"), "m-a");
    CHECK_STR(column("email", "twice-1", "attempts"), "1");
    CHECK_STR(column("sms", "twice-1", "message_id"), "m-b");
}

static void test_invalid_items_do_not_fail_the_batch(void)
{
    char long_key[300], max_key[4 * 255 + 1], long_org[70];
    memset(long_key, 'k', 256);
    long_key[256] = '\0';
    /* 255 characters of two bytes each: at the limit, which counts characters. */
    for (int i = 0; i < 255; i++)
        memcpy(max_key + 2 * i, "\xc3\xa9", 2);
    max_key[510] = '\0';
    memset(long_org, 'o', 65);
    long_org[65] = '\0';

    char keys[12][16];
    ledger_reserve_item_t items[12];
    for (int i = 0; i < 12; i++) {
        snprintf(keys[i], sizeof(keys[i]), "inv-%d", i);
        items[i] = email_item(keys[i], "m-inv", "outbound.email/0/7");
    }
    items[0].channel = "fax";
    items[1].provider = "TWILIO"; /* not an email provider */
    items[2].idempotency_key = long_key;
    items[3].idempotency_key = "bad-\xc3\x28"; /* broken UTF-8 */
    items[4].message_id = "\xed\xa0\x80";      /* a surrogate */
    items[5].org_id = "";
    items[6].origin = NULL;
    items[7].org_id = long_org;
    items[8].message_id = NULL;
    items[9].idempotency_key = "\xe0\x80\xaf"; /* overlong '/' */
    items[10].idempotency_key = max_key;       /* at the limit: valid */
    char errstr[512];
    REQUIRE(ledger_reserve(g_ledger, items, 12, errstr, sizeof(errstr)) == LEDGER_OK);
    for (int i = 0; i < 10; i++) {
        if (items[i].verdict != LEDGER_INVALID)
            fprintf(stderr, "  item %d: %s\n", i, ledger_verdict_name(items[i].verdict));
        CHECK_INT(items[i].verdict, LEDGER_INVALID);
        CHECK_INT(items[i].attempts, 0);
    }
    CHECK_INT(items[10].verdict, LEDGER_SEND);
    CHECK_INT(items[11].verdict, LEDGER_SEND);
    CHECK_STR(column("email", max_key, "char_length(idempotency_key)"), "255");
    CHECK_STR(column("email", "inv-11", "state"), "SENDING");
    CHECK_INT(count_rows("idempotency_key LIKE 'inv-%'"), 1);

    /* Every item invalid: no statement, no error. */
    ledger_reserve_item_t bad = email_item("x", "m", "o");
    bad.channel = NULL;
    CHECK_INT(ledger_reserve(g_ledger, &bad, 1, errstr, sizeof(errstr)), LEDGER_OK);
    CHECK_INT(bad.verdict, LEDGER_INVALID);
    CHECK_INT(ledger_reserve(g_ledger, NULL, 0, errstr, sizeof(errstr)), LEDGER_OK);
    CHECK_INT(ledger_reserve(g_ledger, NULL, 1, errstr, sizeof(errstr)), LEDGER_ERR_USAGE);
    CHECK_INT(ledger_reserve(g_ledger, &bad, LEDGER_BATCH_MAX + 1, errstr, sizeof(errstr)),
              LEDGER_ERR_USAGE);
}

/* Keys with every character an array literal cares about arrive exactly as written. */
static void test_awkward_text_round_trips(void)
{
    static const char *const keys[] = {
        "q\"uote",
        "back\\slash",
        "com,ma",
        "{brace}",
        "}",
        "NULL",
        " spaced ",
        "\\\"",
        "tab\there",
        "Gr\xc3\xbc\xc3\x9f"
        "e",
        "\xf0\x9f\x98\x80",
        "new\nline",
    };
    enum { N = sizeof(keys) / sizeof(keys[0]) };
    ledger_reserve_item_t items[N];
    for (size_t i = 0; i < N; i++)
        items[i] = email_item(keys[i], keys[N - 1 - i], "outbound.email/0/\"}{,\\");
    char errstr[512];
    REQUIRE(ledger_reserve(g_ledger, items, N, errstr, sizeof(errstr)) == LEDGER_OK);
    for (size_t i = 0; i < N; i++) {
        CHECK_INT(items[i].verdict, LEDGER_SEND);
        CHECK_STR(column("email", keys[i], "message_id"), keys[N - 1 - i]);
        CHECK_STR(column("email", keys[i], "origin"), "outbound.email/0/\"}{,\\");
    }

    /* The encoder against the server's parser, NULL and the empty string included. */
    ledger_array_t *a = ledger_array_new(1 << 16);
    for (size_t i = 0; i < N; i++)
        ledger_array_add(a, keys[i]);
    ledger_array_add(a, NULL);
    ledger_array_add(a, "");
    const char *params[] = {ledger_array_text(a)};
    PGresult *res = NULL;
    REQUIRE(db_exec_params(g_peek, "SELECT v, v IS NULL FROM unnest($1::text[]) v", 1, params, &res,
                           errstr, sizeof(errstr)) == DB_OK);
    CHECK_INT(PQntuples(res), N + 2);
    for (int i = 0; i < (int)N && i < PQntuples(res); i++)
        CHECK_STR(PQgetvalue(res, i, 0), keys[i]);
    if (PQntuples(res) == N + 2) {
        CHECK_STR(PQgetvalue(res, N, 1), "t");
        CHECK_STR(PQgetvalue(res, N + 1, 1), "f");
        CHECK_STR(PQgetvalue(res, N + 1, 0), "");
    }
    PQclear(res);
    ledger_array_destroy(a);
}

/* 1000 keys in one call each way; half of a mixed batch is new, so every result row
 * must find its own item. */
static void test_batch_of_1000(void)
{
    enum { N = 1000 };
    static ledger_reserve_item_t items[N];
    static ledger_finish_item_t fins[N];
    static char keys[N][32], mids[N][32], origins[N][48], pmids[N][48];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "bulk-%04d", i);
        snprintf(mids[i], sizeof(mids[i]), "m-bulk-%04d", i);
        snprintf(origins[i], sizeof(origins[i]), "outbound.email/%d/%d", i % 12, 5000 + i);
        snprintf(pmids[i], sizeof(pmids[i]), "<bulk-%04d@mx.example>", i);
        items[i] = email_item(keys[i], mids[i], origins[i]);
    }
    char errstr[512];
    REQUIRE(ledger_reserve(g_ledger, items, N, errstr, sizeof(errstr)) == LEDGER_OK);
    int sends = 0;
    for (int i = 0; i < N; i++)
        sends += items[i].verdict == LEDGER_SEND && items[i].attempts == 1;
    CHECK_INT(sends, N);
    CHECK_INT(count_rows("idempotency_key LIKE 'bulk-%' AND state = 'SENDING'"), N);

    /* Even keys sent, odd ones scheduled for a retry. */
    for (int i = 0; i < N; i++) {
        bool even = i % 2 == 0;
        fins[i] = finish_item(keys[i], origins[i], even ? LEDGER_STATE_SENT : LEDGER_STATE_RESERVED,
                              even ? pmids[i] : NULL, even ? NULL : "TIMEOUT");
        fins[i].attempts = 1;
    }
    REQUIRE(ledger_finish(g_ledger, fins, N, errstr, sizeof(errstr)) == LEDGER_OK);
    int applied = 0;
    for (int i = 0; i < N; i++)
        applied += fins[i].result == LEDGER_FINISH_APPLIED;
    CHECK_INT(applied, N);
    CHECK_INT(count_rows("idempotency_key LIKE 'bulk-%' AND state = 'SENT'"), N / 2);
    CHECK_INT(count_rows("idempotency_key LIKE 'bulk-%' AND state = 'RESERVED'"
                         " AND last_error_code = 'TIMEOUT' AND sending_since IS NULL"),
              N / 2);

    /* Again, in reverse order, with 1000 new keys interleaved. */
    static ledger_reserve_item_t mixed[2 * N];
    static char new_keys[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(new_keys[i], sizeof(new_keys[i]), "bulk-new-%04d", i);
        mixed[2 * i] = email_item(keys[N - 1 - i], mids[N - 1 - i], origins[N - 1 - i]);
        mixed[2 * i + 1] = email_item(new_keys[i], "m-new", "outbound.email/0/1");
    }
    REQUIRE(ledger_reserve(g_ledger, mixed, 2 * N, errstr, sizeof(errstr)) == LEDGER_OK);
    int right = 0;
    for (int i = 0; i < N; i++) {
        int k = N - 1 - i;
        const ledger_reserve_item_t *old = &mixed[2 * i], *fresh = &mixed[2 * i + 1];
        if (k % 2 == 0)
            right += old->verdict == LEDGER_DUPLICATE && old->attempts == 1 &&
                     old->sent_message_id != NULL && strcmp(old->sent_message_id, mids[k]) == 0 &&
                     old->sent_provider_message_id != NULL &&
                     strcmp(old->sent_provider_message_id, pmids[k]) == 0;
        else
            right +=
                old->verdict == LEDGER_SEND && old->attempts == 2 && old->sent_message_id == NULL;
        right += fresh->verdict == LEDGER_SEND && fresh->attempts == 1;
    }
    CHECK_INT(right, 2 * N);
}

/* ---- outcomes --------------------------------------------------------------------- */

static void test_finish_each_state(void)
{
    const char *keys[] = {"fin-sent", "fin-failed", "fin-reserved"};
    ledger_reserve_item_t items[3];
    for (int i = 0; i < 3; i++)
        items[i] = email_item(keys[i], "m-fin", "outbound.email/9/9");
    char errstr[512];
    REQUIRE(ledger_reserve(g_ledger, items, 3, errstr, sizeof(errstr)) == LEDGER_OK);
    /* A previous failure's code, which SENT keeps. */
    REQUIRE(testdb_run(g_peek,
                       "UPDATE delivery_ledger SET last_error_code = 'SMTP_451'"
                       " WHERE idempotency_key = 'fin-sent'",
                       0, NULL) == DB_OK);
    ledger_finish_item_t fins[3] = {
        finish_item(keys[0], "outbound.email/9/9", LEDGER_STATE_SENT, "<fin@mx>", "ignored"),
        finish_item(keys[1], "outbound.email/9/9", LEDGER_STATE_FAILED, "ignored",
                    "RECIPIENT_REJECTED"),
        finish_item(keys[2], "outbound.email/9/9", LEDGER_STATE_RESERVED, NULL, "SMTP_421"),
    };
    REQUIRE(ledger_finish(g_ledger, fins, 3, errstr, sizeof(errstr)) == LEDGER_OK);
    for (int i = 0; i < 3; i++)
        CHECK_INT(fins[i].result, LEDGER_FINISH_APPLIED);
    CHECK_STR(column("email", keys[0], "state"), "SENT");
    CHECK_STR(column("email", keys[0], "provider_message_id"), "<fin@mx>");
    CHECK_STR(column("email", keys[0], "last_error_code"), "SMTP_451");
    CHECK_STR(column("email", keys[1], "state"), "FAILED");
    CHECK_STR(column("email", keys[1], "provider_message_id"), "(null)");
    CHECK_STR(column("email", keys[1], "last_error_code"), "RECIPIENT_REJECTED");
    CHECK_STR(column("email", keys[2], "state"), "RESERVED");
    CHECK_STR(column("email", keys[2], "last_error_code"), "SMTP_421");
    for (int i = 0; i < 3; i++)
        CHECK_STR(column("email", keys[i], "sending_since"), "(null)");

    /* The same call again (as after a lost reply): still applied, nothing changes. */
    fins[0].state = LEDGER_STATE_SENT;
    REQUIRE(ledger_finish(g_ledger, fins, 3, errstr, sizeof(errstr)) == LEDGER_OK);
    for (int i = 0; i < 3; i++)
        CHECK_INT(fins[i].result, LEDGER_FINISH_APPLIED);
    CHECK_STR(column("email", keys[0], "provider_message_id"), "<fin@mx>");

    /* Bad items and a repeated key are refused one by one. */
    ledger_finish_item_t odd[4] = {
        finish_item("fin-x", "o", LEDGER_STATE_SENDING, NULL, NULL),
        finish_item("fin-y", "o", LEDGER_STATE_SENT, "", NULL),
        finish_item("fin-z", NULL, LEDGER_STATE_SENT, NULL, NULL),
        finish_item(keys[0], "outbound.email/9/9", LEDGER_STATE_SENT, "<fin@mx>", NULL),
    };
    REQUIRE(ledger_finish(g_ledger, odd, 4, errstr, sizeof(errstr)) == LEDGER_OK);
    CHECK_INT(odd[0].result, LEDGER_FINISH_INVALID);
    CHECK_INT(odd[1].result, LEDGER_FINISH_INVALID);
    CHECK_INT(odd[2].result, LEDGER_FINISH_INVALID);
    CHECK_INT(odd[3].result, LEDGER_FINISH_APPLIED);
}

static void test_finish_after_takeover(void)
{
    ledger_reserve_item_t it = email_item("took-1", "m-took-1", "outbound.email/0/300");
    REQUIRE(reserve_one(g_ledger, &it) == LEDGER_SEND);
    REQUIRE(testdb_run(g_peek,
                       "UPDATE delivery_ledger SET sending_since = now() - interval '1 hour'"
                       " WHERE idempotency_key = 'took-1'",
                       0, NULL) == DB_OK);
    ledger_reserve_item_t other = email_item("took-1", "m-took-2", "outbound.email/1/301");
    REQUIRE(reserve_one(g_ledger, &other) == LEDGER_RESEND);

    /* The slow first holder comes back: its outcome is not recorded. */
    ledger_finish_item_t late =
        finish_item("took-1", "outbound.email/0/300", LEDGER_STATE_SENT, "<late@mx>", NULL);
    late.attempts = it.attempts;
    CHECK_INT(finish_one(g_ledger, &late), LEDGER_FINISH_TAKEN_OVER);
    CHECK_STR(column("email", "took-1", "state"), "SENDING");
    CHECK_STR(column("email", "took-1", "origin"), "outbound.email/1/301");
    CHECK_STR(column("email", "took-1", "provider_message_id"), "(null)");

    ledger_finish_item_t now =
        finish_item("took-1", "outbound.email/1/301", LEDGER_STATE_SENT, "<now@mx>", NULL);
    now.attempts = other.attempts;
    CHECK_INT(finish_one(g_ledger, &now), LEDGER_FINISH_APPLIED);
    CHECK_STR(column("email", "took-1", "provider_message_id"), "<now@mx>");

    /* Same origin, two holders (a replay took it while the first was still alive): the
     * attempt count tells them apart. */
    const char *origin = "outbound.email/2/302";
    ledger_reserve_item_t first = email_item("took-2", "m-took-3", origin);
    REQUIRE(reserve_one(g_ledger, &first) == LEDGER_SEND);
    ledger_reserve_item_t replay = email_item("took-2", "m-took-3", origin);
    REQUIRE(reserve_one(g_ledger, &replay) == LEDGER_RESEND);
    ledger_finish_item_t old = finish_item("took-2", origin, LEDGER_STATE_FAILED, NULL, "X");
    old.attempts = first.attempts;
    CHECK_INT(finish_one(g_ledger, &old), LEDGER_FINISH_TAKEN_OVER);
    ledger_finish_item_t cur = finish_item("took-2", origin, LEDGER_STATE_FAILED, NULL, "Y");
    cur.attempts = replay.attempts;
    CHECK_INT(finish_one(g_ledger, &cur), LEDGER_FINISH_APPLIED);
    CHECK_STR(column("email", "took-2", "last_error_code"), "Y");

    /* No row at all. */
    ledger_finish_item_t ghost =
        finish_item("took-none", "outbound.email/0/1", LEDGER_STATE_SENT, "<g@mx>", NULL);
    CHECK_INT(finish_one(g_ledger, &ghost), LEDGER_FINISH_TAKEN_OVER);
    CHECK_STR(column("email", "took-none", "state"), "(none)");
}

/* A provider id another row holds, or an earlier item of the batch, must not fail the
 * batch; the row is still recorded as SENT. */
static void test_finish_provider_id_collision(void)
{
    const char *origin = "outbound.email/7/1";
    ledger_reserve_item_t items[4] = {
        email_item("pm-1", "m-pm-1", origin),
        email_item("pm-2", "m-pm-2", origin),
        email_item("pm-3", "m-pm-3", origin),
        email_item("pm-4", "m-pm-4", origin),
    };
    char errstr[512];
    REQUIRE(ledger_reserve(g_ledger, items, 4, errstr, sizeof(errstr)) == LEDGER_OK);
    ledger_finish_item_t first = finish_item("pm-1", origin, LEDGER_STATE_SENT, "<same@mx>", NULL);
    REQUIRE(finish_one(g_ledger, &first) == LEDGER_FINISH_APPLIED);

    ledger_finish_item_t fins[3] = {
        finish_item("pm-2", origin, LEDGER_STATE_SENT, "<same@mx>", NULL),
        finish_item("pm-3", origin, LEDGER_STATE_SENT, "<twin@mx>", NULL),
        finish_item("pm-4", origin, LEDGER_STATE_SENT, "<twin@mx>", NULL),
    };
    REQUIRE(ledger_finish(g_ledger, fins, 3, errstr, sizeof(errstr)) == LEDGER_OK);
    CHECK_INT(fins[0].result, LEDGER_FINISH_APPLIED_NO_PMID);
    CHECK_INT(fins[1].result, LEDGER_FINISH_APPLIED);
    CHECK_INT(fins[2].result, LEDGER_FINISH_APPLIED_NO_PMID);
    CHECK_STR(column("email", "pm-2", "state"), "SENT");
    CHECK_STR(column("email", "pm-2", "provider_message_id"), "(null)");
    CHECK_STR(column("email", "pm-3", "provider_message_id"), "<twin@mx>");
    CHECK_STR(column("email", "pm-4", "state"), "SENT");
    CHECK_STR(column("email", "pm-4", "provider_message_id"), "(null)");
    CHECK_STR(column("email", "pm-1", "provider_message_id"), "<same@mx>");

    /* Replayed, the collided ones still say what happened. */
    REQUIRE(ledger_finish(g_ledger, fins, 3, errstr, sizeof(errstr)) == LEDGER_OK);
    CHECK_INT(fins[0].result, LEDGER_FINISH_APPLIED_NO_PMID);
    CHECK_INT(fins[1].result, LEDGER_FINISH_APPLIED);
}

typedef struct finish_job_s {
    ledger_t *lg; /* handed to the thread, used by nobody else meanwhile */
    ledger_finish_item_t item;
    ledger_err_t err;
    double elapsed_ms;
    char errstr[512];
} finish_job_t;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *finish_thread(void *arg)
{
    finish_job_t *job = arg;
    double start = now_ms();
    job->err = ledger_finish(job->lg, &job->item, 1, job->errstr, sizeof(job->errstr));
    job->elapsed_ms = now_ms() - start;
    return NULL;
}

/*
 * The id committed by another writer after the statement's snapshot: the unique index
 * makes the write wait for that writer and then refuses it, and the statement runs again,
 * seeing the id this time.
 */
static void test_finish_provider_id_race(void)
{
    const char *origin = "outbound.email/7/2";
    ledger_reserve_item_t items[2] = {email_item("race-1", "m-race-1", origin),
                                      email_item("race-2", "m-race-2", origin)};
    char errstr[512];
    REQUIRE(ledger_reserve(g_ledger, items, 2, errstr, sizeof(errstr)) == LEDGER_OK);

    db_t *mine = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    db_t *other = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(mine != NULL && other != NULL);
    finish_job_t job = {
        .lg = ledger_new(mine, STALE_MS, errstr, sizeof(errstr)),
        .item = finish_item("race-2", origin, LEDGER_STATE_SENT, "<race@mx>", NULL),
    };
    REQUIRE(job.lg != NULL);
    REQUIRE(db_begin(other, errstr, sizeof(errstr)) == DB_OK);
    REQUIRE(
        testdb_run(other,
                   "UPDATE delivery_ledger SET state = 'SENT', provider_message_id = '<race@mx>'"
                   " WHERE idempotency_key = 'race-1'",
                   0, NULL) == DB_OK);
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, finish_thread, &job) == 0);
    testdb_sleep_ms(500);
    CHECK_INT(db_commit(other, errstr, sizeof(errstr)), DB_OK);
    pthread_join(thread, NULL);
    if (job.err != LEDGER_OK)
        fprintf(stderr, "  finish: %s: %s\n", ledger_err_name(job.err), job.errstr);
    CHECK_INT(job.err, LEDGER_OK);
    /* It waited for the other writer, so its first run did write the id. */
    CHECK(job.elapsed_ms >= 400);
    CHECK_INT(job.item.result, LEDGER_FINISH_APPLIED_NO_PMID);
    CHECK_STR(column("email", "race-2", "state"), "SENT");
    CHECK_STR(column("email", "race-2", "provider_message_id"), "(null)");
    CHECK_STR(column("email", "race-1", "provider_message_id"), "<race@mx>");
    ledger_destroy(job.lg);
    db_destroy(mine);
    db_destroy(other);
}

/* ---- lookup ----------------------------------------------------------------------- */

static void test_lookup_provider_id(void)
{
    ledger_reserve_item_t it = {.org_id = "org-\xc3\xa9",
                                .channel = "sms",
                                .idempotency_key = "look-1",
                                .message_id = "m-look-1",
                                .provider = "TWILIO",
                                .origin = "outbound.sms.twilio/0/1"};
    REQUIRE(reserve_one(g_ledger, &it) == LEDGER_SEND);
    ledger_finish_item_t fin = {.org_id = "org-\xc3\xa9",
                                .channel = "sms",
                                .idempotency_key = "look-1",
                                .origin = "outbound.sms.twilio/0/1",
                                .state = LEDGER_STATE_SENT,
                                .provider_message_id = "SM0123456789abcdef0123456789abcdef"};
    REQUIRE(finish_one(g_ledger, &fin) == LEDGER_FINISH_APPLIED);

    ledger_row_t row;
    char errstr[512];
    CHECK_INT(ledger_lookup_provider_id(g_ledger, "TWILIO", "SM0123456789abcdef0123456789abcdef",
                                        &row, errstr, sizeof(errstr)),
              LEDGER_OK);
    CHECK_STR(row.org_id, "org-\xc3\xa9");
    CHECK_STR(row.channel, "sms");
    CHECK_STR(row.idempotency_key, "look-1");
    CHECK_STR(row.message_id, "m-look-1");
    CHECK_INT(row.state, LEDGER_STATE_SENT);
    CHECK_INT(row.attempts, 1);

    /* The id belongs to one provider only. */
    CHECK_INT(ledger_lookup_provider_id(g_ledger, "AWS_SNS", "SM0123456789abcdef0123456789abcdef",
                                        &row, errstr, sizeof(errstr)),
              LEDGER_ERR_NOT_FOUND);
    CHECK_INT(ledger_lookup_provider_id(g_ledger, "TWILIO", "SMnope", &row, errstr, sizeof(errstr)),
              LEDGER_ERR_NOT_FOUND);
    CHECK_INT(
        ledger_lookup_provider_id(g_ledger, "TWILIO", "bad-\xff", &row, errstr, sizeof(errstr)),
        LEDGER_ERR_NOT_FOUND);
    CHECK_INT(ledger_lookup_provider_id(g_ledger, NULL, "x", &row, errstr, sizeof(errstr)),
              LEDGER_ERR_USAGE);
}

/* ---- errors ----------------------------------------------------------------------- */

/* A row held by another transaction past the statement timeout: a passing failure, and
 * the same batch succeeds once the lock is gone. */
static void test_timeout_is_unavailable(void)
{
    db_t *short_db = testdb_connect(g_conninfo, APP_NAME, 300);
    REQUIRE(short_db != NULL);
    char errstr[512];
    ledger_t *lg = ledger_new(short_db, STALE_MS, errstr, sizeof(errstr));
    REQUIRE(lg != NULL);
    ledger_reserve_item_t it = email_item("lock-1", "m-lock-1", "outbound.email/0/400");
    REQUIRE(reserve_one(lg, &it) == LEDGER_SEND);

    db_t *other = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(other != NULL);
    REQUIRE(db_begin(other, errstr, sizeof(errstr)) == DB_OK);
    REQUIRE(testdb_run(other,
                       "SELECT 1 FROM delivery_ledger WHERE idempotency_key = 'lock-1' FOR UPDATE",
                       0, NULL) == DB_OK);
    ledger_reserve_item_t again = email_item("lock-1", "m-lock-1", "outbound.email/0/400");
    CHECK_INT(ledger_reserve(lg, &again, 1, errstr, sizeof(errstr)), LEDGER_ERR_UNAVAILABLE);
    ledger_finish_item_t fin =
        finish_item("lock-1", "outbound.email/0/400", LEDGER_STATE_SENT, NULL, NULL);
    CHECK_INT(ledger_finish(lg, &fin, 1, errstr, sizeof(errstr)), LEDGER_ERR_UNAVAILABLE);
    db_rollback(other);
    CHECK_INT(finish_one(lg, &fin), LEDGER_FINISH_APPLIED);
    ledger_destroy(lg);
    db_destroy(short_db);
    db_destroy(other);
}

/* A schema without the ledger's columns is found at ledger_new(). */
static void test_unmigrated_schema_is_refused(void)
{
    char schema[96], sql[160];
    snprintf(schema, sizeof(schema), "%s_bare", g_schema);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    REQUIRE(testdb_run(g_admin, sql, 0, NULL) == DB_OK);
    char *conninfo = testdb_conninfo_schema(g_url, schema);
    db_t *db = testdb_connect(conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(db != NULL);
    char errstr[512] = "";
    ledger_t *lg = ledger_new(db, STALE_MS, errstr, sizeof(errstr));
    CHECK(lg == NULL);
    CHECK(strstr(errstr, "delivery_ledger") != NULL);
    CHECK(ledger_new(g_db, 0, errstr, sizeof(errstr)) == NULL);
    ledger_destroy(lg);
    db_destroy(db);
    free(conninfo);
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
    CHECK_INT(testdb_run(g_admin, sql, 0, NULL), DB_OK);
}

/* ---- four workers at once --------------------------------------------------------- */

#define RACE_THREADS 4
#define RACE_KEYS    600
#define RACE_SPAN    300 /* each thread's share of the keys: half of them, overlapping */
#define RACE_BATCH   50
#define RACE_ROUNDS  20

typedef struct race_s {
    int id;
    pthread_barrier_t *barrier;
    int sends[RACE_KEYS]; /* LEDGER_SEND verdicts this thread got, by key */
    int conflicts;
    int duplicates;
    int bad_verdicts; /* RESEND or INVALID: must not happen here */
    int unavailable;  /* statements aborted by a deadlock or timeout, then retried */
    int errors;
    char errstr[512];
} race_t;

static void race_key(int k, char *out, size_t size)
{
    snprintf(out, size, "race-key-%03d", k);
}

/* Notes a passing failure (the pipeline runs the batch again) and shows why. */
static void race_retry(race_t *r)
{
    if (r->unavailable++ < 3)
        fprintf(stderr, "  thread %d runs a batch again: %s\n", r->id, r->errstr);
}

static void *race_run(void *arg)
{
    race_t *r = arg;
    db_t *db = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    ledger_t *lg = db ? ledger_new(db, STALE_MS, r->errstr, sizeof(r->errstr)) : NULL;
    pthread_barrier_wait(r->barrier);
    if (lg == NULL) {
        r->errors++;
        goto done;
    }
    /* This thread's keys, shuffled so that threads meet in different orders. */
    int keys[RACE_SPAN];
    uint32_t seed = 7919u * (uint32_t)(r->id + 1);
    for (int i = 0; i < RACE_SPAN; i++)
        keys[i] = (r->id * (RACE_KEYS / RACE_THREADS) + i) % RACE_KEYS;
    for (int i = RACE_SPAN - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (uint32_t)(i + 1)), t = keys[i];
        keys[i] = keys[j];
        keys[j] = t;
    }
    static char names[RACE_THREADS][RACE_SPAN][32];
    static char origins[RACE_THREADS][RACE_SPAN][48];
    static char pmids[RACE_THREADS][RACE_SPAN][48];
    for (int i = 0; i < RACE_SPAN; i++) {
        race_key(keys[i], names[r->id][i], sizeof(names[r->id][i]));
        /* Each thread is another request for the key: its own origin. */
        snprintf(origins[r->id][i], sizeof(origins[r->id][i]), "outbound.email/%d/%d", r->id, i);
        snprintf(pmids[r->id][i], sizeof(pmids[r->id][i]), "<%s@mx>", names[r->id][i]);
    }
    for (int round = 0; round < RACE_ROUNDS; round++) {
        for (int start = 0; start < RACE_SPAN; start += RACE_BATCH) {
            ledger_reserve_item_t items[RACE_BATCH];
            ledger_finish_item_t fins[RACE_BATCH];
            for (int i = 0; i < RACE_BATCH; i++) {
                int s = start + i;
                items[i] = email_item(names[r->id][s], names[r->id][s], origins[r->id][s]);
            }
            ledger_err_t err;
            /* As the pipeline does: a passing failure runs the same batch again. */
            while ((err = ledger_reserve(lg, items, RACE_BATCH, r->errstr, sizeof(r->errstr))) ==
                   LEDGER_ERR_UNAVAILABLE)
                race_retry(r);
            if (err != LEDGER_OK) {
                r->errors++;
                goto done;
            }
            size_t nfin = 0;
            for (int i = 0; i < RACE_BATCH; i++) {
                int s = start + i;
                switch (items[i].verdict) {
                case LEDGER_SEND:
                    r->sends[keys[s]]++;
                    fins[nfin] = finish_item(names[r->id][s], origins[r->id][s], LEDGER_STATE_SENT,
                                             pmids[r->id][s], NULL);
                    fins[nfin++].attempts = items[i].attempts;
                    break;
                case LEDGER_CONFLICT:
                    r->conflicts++;
                    break;
                case LEDGER_DUPLICATE:
                    r->duplicates++;
                    break;
                default:
                    r->bad_verdicts++;
                    break;
                }
            }
            while ((err = ledger_finish(lg, fins, nfin, r->errstr, sizeof(r->errstr))) ==
                   LEDGER_ERR_UNAVAILABLE)
                race_retry(r);
            if (err != LEDGER_OK) {
                r->errors++;
                goto done;
            }
            for (size_t i = 0; i < nfin; i++)
                r->bad_verdicts += fins[i].result != LEDGER_FINISH_APPLIED;
        }
    }
done:
    ledger_destroy(lg);
    db_destroy(db);
    return NULL;
}

static void test_concurrent_workers(void)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, RACE_THREADS);
    static race_t races[RACE_THREADS];
    pthread_t threads[RACE_THREADS];
    for (int t = 0; t < RACE_THREADS; t++) {
        memset(&races[t], 0, sizeof(races[t]));
        races[t].id = t;
        races[t].barrier = &barrier;
        REQUIRE(pthread_create(&threads[t], NULL, race_run, &races[t]) == 0);
    }
    for (int t = 0; t < RACE_THREADS; t++)
        pthread_join(threads[t], NULL);
    pthread_barrier_destroy(&barrier);

    int once = 0, conflicts = 0, duplicates = 0, unavailable = 0;
    for (int k = 0; k < RACE_KEYS; k++) {
        int sends = 0;
        for (int t = 0; t < RACE_THREADS; t++)
            sends += races[t].sends[k];
        if (sends != 1)
            fprintf(stderr, "  key %d sent %d times\n", k, sends);
        once += sends == 1;
    }
    for (int t = 0; t < RACE_THREADS; t++) {
        if (races[t].errors)
            fprintf(stderr, "  thread %d: %s\n", t, races[t].errstr);
        CHECK_INT(races[t].errors, 0);
        CHECK_INT(races[t].bad_verdicts, 0);
        conflicts += races[t].conflicts;
        duplicates += races[t].duplicates;
        unavailable += races[t].unavailable;
    }
    fprintf(stderr, "  %d keys, %d conflicts, %d duplicates, %d retried statements\n", RACE_KEYS,
            conflicts, duplicates, unavailable);
    CHECK_INT(once, RACE_KEYS);
    /* Every thread went through its keys RACE_ROUNDS times; all but the first send of
     * each key were refused one way or the other. */
    CHECK_INT(conflicts + duplicates, RACE_THREADS * RACE_SPAN * RACE_ROUNDS - RACE_KEYS);
    CHECK(conflicts > 0);
    CHECK_INT(count_rows("idempotency_key LIKE 'race-key-%' AND state = 'SENT'"
                         " AND attempts = 1 AND provider_message_id = '<' || idempotency_key"
                         " || '@mx>'"),
              RACE_KEYS);
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
    log_set_level(LOG_LEVEL_WARN);
    g_admin = testdb_connect(g_url, APP_NAME, 30000);
    if (g_admin == NULL)
        return 1;
    snprintf(g_schema, sizeof(g_schema), "test_ledger_%ld", (long)getpid());
    char sql[128], errstr[512];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", g_schema);
    if (testdb_run(g_admin, sql, 0, NULL) != DB_OK)
        return 1;
    int rc = 1;
    g_conninfo = testdb_conninfo_schema(g_url, g_schema);
    g_db = g_conninfo ? testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS) : NULL;
    g_peek = g_conninfo ? testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS) : NULL;
    if (g_db == NULL || g_peek == NULL)
        goto cleanup;
    if (migrate_apply(g_db, NULL, NULL, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "migrate: %s\n", errstr);
        goto cleanup;
    }
    g_ledger = ledger_new(g_db, STALE_MS, errstr, sizeof(errstr));
    if (g_ledger == NULL) {
        fprintf(stderr, "ledger_new: %s\n", errstr);
        goto cleanup;
    }

    TEST_RUN(test_new_key_is_sent);
    TEST_RUN(test_sent_key_is_duplicate);
    TEST_RUN(test_reserved_and_failed_are_taken);
    TEST_RUN(test_same_origin_replay_is_resend);
    TEST_RUN(test_other_origin_conflicts_until_stale);
    TEST_RUN(test_rows_without_origin);
    TEST_RUN(test_same_key_twice_in_batch);
    TEST_RUN(test_invalid_items_do_not_fail_the_batch);
    TEST_RUN(test_awkward_text_round_trips);
    TEST_RUN(test_batch_of_1000);
    TEST_RUN(test_finish_each_state);
    TEST_RUN(test_finish_after_takeover);
    TEST_RUN(test_finish_provider_id_collision);
    TEST_RUN(test_finish_provider_id_race);
    TEST_RUN(test_lookup_provider_id);
    TEST_RUN(test_timeout_is_unavailable);
    TEST_RUN(test_unmigrated_schema_is_refused);
    TEST_RUN(test_concurrent_workers);
    rc = TEST_EXIT();

cleanup:
    ledger_destroy(g_ledger);
    db_destroy(g_db);
    db_destroy(g_peek);
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", g_schema);
    testdb_run(g_admin, sql, 0, NULL);
    db_destroy(g_admin);
    free(g_conninfo);
    return rc;
}
