#include "ledger.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The batch statements are SQL functions of migration 0004 (delivery_ledger_reserve and
 * delivery_ledger_finish), where the SQL and the reasons for its shape are: an SQL
 * function is planned on every call against the table's current size, where a statement
 * prepared here would keep a generic plan made while the table was small. What stays here
 * is what must happen before the statement: the checks that keep one bad item from failing
 * a batch, the removal of repeated keys (one statement cannot change a row twice), and the
 * array parameters.
 */
static const char ledger_reserve_sql[] =
    "SELECT ord, verdict, attempts, sent_message_id, sent_provider_message_id"
    " FROM delivery_ledger_reserve($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::bigint)";

static const char ledger_finish_sql[] =
    "SELECT ord, result FROM delivery_ledger_finish($1::text[], $2::text[], $3::text[],"
    " $4::text[], $5::text[], $6::integer[], $7::text[], $8::text[])";

/* Webhook correlation: one probe of the partial unique index (provider, id). */
static const char ledger_lookup_sql[] =
    "SELECT org_id, channel, idempotency_key, message_id, state, attempts"
    " FROM delivery_ledger WHERE provider = $1 AND provider_message_id = $2";

#define LEDGER_STMT_RESERVE "ledger_reserve"
#define LEDGER_STMT_FINISH  "ledger_finish"
#define LEDGER_STMT_LOOKUP  "ledger_lookup_provider_id"

#define LEDGER_RESERVE_PARAMS 7
#define LEDGER_FINISH_PARAMS  8

/* How often ledger_finish() runs its statement again after a provider_message_id was
 * committed by another writer under its feet (see delivery_ledger_finish). */
#define LEDGER_FINISH_RUNS 3

/* The longest element any array gets is a LEDGER_PROVIDER_MESSAGE_ID_MAX-byte id with
 * every byte escaped, plus its quotes and comma. */
#define LEDGER_ARRAY_MAX_BYTES \
    ((size_t)LEDGER_BATCH_MAX * (2 * LEDGER_PROVIDER_MESSAGE_ID_MAX + 3) + 16)

/* ---- array literals --------------------------------------------------------------- */

struct ledger_array_s {
    char *buf;  /* "{" followed by the elements, comma-separated; not terminated */
    size_t len; /* bytes used in buf */
    size_t cap;
    size_t max_bytes;
    size_t count;
};

ledger_array_t *ledger_array_new(size_t max_bytes)
{
    ledger_array_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        abort();
    /* Room for "{}" and the NUL, the smallest literal there is. */
    a->max_bytes = max_bytes < 3 ? 3 : max_bytes;
    ledger_array_reset(a);
    return a;
}

void ledger_array_destroy(ledger_array_t *a)
{
    if (a == NULL)
        return;
    free(a->buf);
    free(a);
}

static void ledger_array_reserve(ledger_array_t *a, size_t need)
{
    if (need <= a->cap)
        return;
    size_t cap = a->cap ? a->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > a->max_bytes)
        cap = a->max_bytes;
    char *grown = realloc(a->buf, cap);
    if (grown == NULL)
        abort();
    a->buf = grown;
    a->cap = cap;
}

void ledger_array_reset(ledger_array_t *a)
{
    ledger_array_reserve(a, 3);
    a->buf[0] = '{';
    a->len = 1;
    a->count = 0;
}

int ledger_array_add(ledger_array_t *a, const char *value)
{
    size_t sep = a->count > 0 ? 1 : 0;
    size_t body = 4; /* NULL */
    if (value != NULL) {
        body = 2;
        for (const char *p = value; *p; p++)
            body += (*p == '"' || *p == '\\') ? 2 : 1;
    }
    /* The closing brace and the NUL that ledger_array_text() adds must still fit. */
    if (a->len + sep + body + 2 > a->max_bytes)
        return -1;
    ledger_array_reserve(a, a->len + sep + body + 2);
    char *out = a->buf + a->len;
    if (sep)
        *out++ = ',';
    if (value == NULL) {
        memcpy(out, "NULL", 4);
        out += 4;
    } else {
        *out++ = '"';
        for (const char *p = value; *p; p++) {
            if (*p == '"' || *p == '\\')
                *out++ = '\\';
            *out++ = *p;
        }
        *out++ = '"';
    }
    a->len = (size_t)(out - a->buf);
    a->count++;
    return 0;
}

const char *ledger_array_text(ledger_array_t *a)
{
    /* Written past len, so that adding more elements overwrites them. */
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}

size_t ledger_array_count(const ledger_array_t *a)
{
    return a->count;
}

/* ---- names ------------------------------------------------------------------------ */

static const char *const ledger_err_names[] = {
    "LEDGER_OK",        "LEDGER_ERR_UNAVAILABLE", "LEDGER_ERR_REFUSED",
    "LEDGER_ERR_USAGE", "LEDGER_ERR_NOT_FOUND",
};
static const char *const ledger_state_names[] = {"RESERVED", "SENDING", "SENT", "FAILED"};
static const char *const ledger_verdict_names[] = {"SEND", "RESEND", "DUPLICATE", "CONFLICT",
                                                   "INVALID"};
static const char *const ledger_finish_result_names[] = {"APPLIED", "APPLIED_NO_PMID", "TAKEN_OVER",
                                                         "INVALID"};

#define LEDGER_COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *ledger_err_name(ledger_err_t err)
{
    if ((unsigned)err >= LEDGER_COUNT(ledger_err_names))
        return "LEDGER_ERR_UNKNOWN";
    return ledger_err_names[err];
}

const char *ledger_state_name(ledger_state_t state)
{
    if ((unsigned)state >= LEDGER_COUNT(ledger_state_names))
        return "UNKNOWN";
    return ledger_state_names[state];
}

int ledger_state_parse(const char *name, ledger_state_t *state)
{
    for (size_t i = 0; name != NULL && i < LEDGER_COUNT(ledger_state_names); i++) {
        if (strcmp(name, ledger_state_names[i]) == 0) {
            *state = (ledger_state_t)i;
            return 0;
        }
    }
    return -1;
}

const char *ledger_verdict_name(ledger_verdict_t verdict)
{
    if ((unsigned)verdict >= LEDGER_COUNT(ledger_verdict_names))
        return "UNKNOWN";
    return ledger_verdict_names[verdict];
}

const char *ledger_finish_result_name(ledger_finish_result_t result)
{
    if ((unsigned)result >= LEDGER_COUNT(ledger_finish_result_names))
        return "UNKNOWN";
    return ledger_finish_result_names[result];
}

/* ---- checks ----------------------------------------------------------------------- */

/*
 * The number of characters of a valid UTF-8 string, or -1. PostgreSQL refuses invalid
 * UTF-8 (overlong forms and surrogates included) for the whole statement, so the checks
 * here keep one bad item from failing a batch. Stops counting at `max_chars` + 1: the
 * caller only needs to know the string is too long.
 */
static long ledger_utf8_chars(const char *s, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;
    while (*p && chars <= max_chars) {
        unsigned char c = *p;
        size_t extra;
        unsigned char lo = 0x80, hi = 0xBF; /* bounds of the first continuation byte */
        if (c < 0x80) {
            extra = 0;
        } else if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* beyond U+10FFFF */
        } else {
            return -1;
        }
        p++;
        for (size_t k = 0; k < extra; k++, p++) {
            if (*p < (k == 0 ? lo : 0x80) || *p > (k == 0 ? hi : 0xBF))
                return -1;
        }
        chars++;
    }
    return (long)chars;
}

/* A string of 1..max_chars characters of valid UTF-8. */
static bool ledger_text_ok(const char *s, size_t max_chars)
{
    if (s == NULL || s[0] == '\0')
        return false;
    long chars = ledger_utf8_chars(s, max_chars);
    return chars > 0 && (size_t)chars <= max_chars;
}

/* NULL, or valid UTF-8 of at most max_bytes bytes. */
static bool ledger_optional_ok(const char *s, size_t max_bytes)
{
    if (s == NULL)
        return true;
    return strlen(s) <= max_bytes && ledger_utf8_chars(s, max_bytes) >= 0;
}

static bool ledger_key_ok(const char *org_id, const char *channel, const char *key,
                          const char *origin)
{
    if (channel == NULL || (strcmp(channel, "email") != 0 && strcmp(channel, "sms") != 0))
        return false;
    return ledger_text_ok(org_id, LEDGER_ORG_ID_MAX) &&
           ledger_text_ok(key, LEDGER_IDEMPOTENCY_KEY_MAX) && origin != NULL && origin[0] != '\0' &&
           ledger_optional_ok(origin, LEDGER_ORIGIN_MAX);
}

/* The providers of each channel, as the table's check constraint has them. */
static bool ledger_provider_ok(const char *channel, const char *provider)
{
    if (provider == NULL)
        return false;
    if (strcmp(channel, "email") == 0)
        return strcmp(provider, "SMTP") == 0;
    return strcmp(provider, "TWILIO") == 0 || strcmp(provider, "AWS_SNS") == 0;
}

static bool ledger_reserve_item_ok(const ledger_reserve_item_t *it)
{
    return ledger_key_ok(it->org_id, it->channel, it->idempotency_key, it->origin) &&
           ledger_provider_ok(it->channel, it->provider) &&
           ledger_text_ok(it->message_id, LEDGER_MESSAGE_ID_MAX);
}

static bool ledger_finish_item_ok(const ledger_finish_item_t *it)
{
    bool state_ok = it->state == LEDGER_STATE_SENT || it->state == LEDGER_STATE_FAILED ||
                    it->state == LEDGER_STATE_RESERVED;
    return state_ok && it->attempts >= 0 &&
           ledger_key_ok(it->org_id, it->channel, it->idempotency_key, it->origin) &&
           ledger_optional_ok(it->provider_message_id, LEDGER_PROVIDER_MESSAGE_ID_MAX) &&
           (it->provider_message_id == NULL || it->provider_message_id[0] != '\0') &&
           ledger_optional_ok(it->last_error_code, LEDGER_ERROR_CODE_MAX);
}

/* ---- the handle ------------------------------------------------------------------- */

/* An item's key, for finding repeats within one call. */
typedef struct ledger_slot_s {
    const char *a;
    const char *b;
    const char *c;
    size_t index;
} ledger_slot_t;

#define LEDGER_ARRAYS 8

/* What the checks before a statement found out about an item. */
#define LEDGER_MARK_INVALID   (1u << 0) /* breaks a rule: not sent to the database */
#define LEDGER_MARK_REPEAT    (1u << 1) /* repeats the key of an earlier item */
#define LEDGER_MARK_DROP_PMID (1u << 2) /* repeats the provider id of an earlier item */

struct ledger_s {
    db_t *db;
    char stale_ms[24];
    ledger_array_t *arrays[LEDGER_ARRAYS];
    /* Scratch space for one call, kept between calls: at most LEDGER_BATCH_MAX each. */
    ledger_slot_t *slots;
    size_t *sent;         /* the position in the statement's arrays -> the caller's item index */
    unsigned char *marks; /* LEDGER_MARK_* by item index */
    /* The last reservation's result: the DUPLICATE strings point into it. */
    PGresult *reserve_res;
};

ledger_t *ledger_new(db_t *db, int64_t stale_ms, char *errstr, size_t errstr_size)
{
    ledger_t *lg = NULL;
    if (db == NULL || stale_ms <= 0) {
        snprintf(errstr, errstr_size, "ledger_new: a database and stale_ms > 0 are required");
        goto fail;
    }
    lg = calloc(1, sizeof(*lg));
    if (lg == NULL)
        abort();
    lg->db = db;
    snprintf(lg->stale_ms, sizeof(lg->stale_ms), "%lld", (long long)stale_ms);
    for (size_t i = 0; i < LEDGER_ARRAYS; i++)
        lg->arrays[i] = ledger_array_new(LEDGER_ARRAY_MAX_BYTES);
    lg->slots = malloc(LEDGER_BATCH_MAX * sizeof(*lg->slots));
    lg->sent = malloc(LEDGER_BATCH_MAX * sizeof(*lg->sent));
    lg->marks = malloc(LEDGER_BATCH_MAX * sizeof(*lg->marks));
    if (lg->slots == NULL || lg->sent == NULL || lg->marks == NULL)
        abort();

    static const struct {
        const char *name;
        const char *sql;
        int nparams;
    } stmts[] = {
        {LEDGER_STMT_RESERVE, ledger_reserve_sql, LEDGER_RESERVE_PARAMS},
        {LEDGER_STMT_FINISH, ledger_finish_sql, LEDGER_FINISH_PARAMS},
        {LEDGER_STMT_LOOKUP, ledger_lookup_sql, 2},
    };
    for (size_t i = 0; i < LEDGER_COUNT(stmts); i++) {
        char why[512];
        db_err_t err =
            db_prepare(db, stmts[i].name, stmts[i].sql, stmts[i].nparams, 0, why, sizeof(why));
        /* A database that is down now is not an error: the statement stays registered
         * and is prepared on first use. Refused SQL means the schema is not migrated. */
        if (err != DB_OK && err != DB_ERR_CONN) {
            snprintf(errstr, errstr_size, "ledger: cannot prepare %s: %s", stmts[i].name, why);
            goto fail;
        }
    }
    return lg;

fail:
    ledger_destroy(lg);
    return NULL;
}

void ledger_destroy(ledger_t *lg)
{
    if (lg == NULL)
        return;
    for (size_t i = 0; i < LEDGER_ARRAYS; i++)
        ledger_array_destroy(lg->arrays[i]);
    free(lg->slots);
    free(lg->sent);
    free(lg->marks);
    PQclear(lg->reserve_res);
    free(lg);
}

static ledger_err_t ledger_db_err(const ledger_t *lg, db_err_t err)
{
    if (err == DB_OK)
        return LEDGER_OK;
    return db_retryable(lg->db, err) ? LEDGER_ERR_UNAVAILABLE : LEDGER_ERR_REFUSED;
}

static int ledger_slot_cmp(const void *x, const void *y)
{
    const ledger_slot_t *p = x, *q = y;
    int c = strcmp(p->a, q->a);
    if (c == 0)
        c = strcmp(p->b, q->b);
    if (c == 0 && p->c != NULL)
        c = strcmp(p->c, q->c);
    if (c == 0)
        c = p->index < q->index ? -1 : p->index > q->index;
    return c;
}

/*
 * Adds `mark` to every slot whose (a, b, c) equals that of a slot with a lower item
 * index. Sorting keeps ties in index order, so the first of each run is the earliest and
 * stays unmarked.
 */
static void ledger_mark_repeats(ledger_t *lg, size_t nslots, unsigned mark)
{
    qsort(lg->slots, nslots, sizeof(*lg->slots), ledger_slot_cmp);
    for (size_t k = 1; k < nslots; k++) {
        const ledger_slot_t *p = &lg->slots[k - 1], *q = &lg->slots[k];
        if (strcmp(p->a, q->a) == 0 && strcmp(p->b, q->b) == 0 &&
            (p->c == NULL || strcmp(p->c, q->c) == 0))
            lg->marks[q->index] |= (unsigned char)mark;
    }
}

static void ledger_arrays_reset(ledger_t *lg, size_t count)
{
    for (size_t i = 0; i < count; i++)
        ledger_array_reset(lg->arrays[i]);
}

/* Adds one value to each of the first `count` arrays; the checks bound every value, so a
 * full array is a bug here. */
static int ledger_arrays_add(ledger_t *lg, const char *const *values, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (ledger_array_add(lg->arrays[i], values[i]) != 0)
            return -1;
    }
    return 0;
}

/* The item index a result row answers, from its ordinality; -1 when it is out of range. */
static long ledger_result_item(const ledger_t *lg, const PGresult *res, int row, size_t nsent)
{
    char *end = NULL;
    long ord = strtol(PQgetvalue(res, row, 0), &end, 10);
    if (end == NULL || *end != '\0' || ord < 1 || (size_t)ord > nsent)
        return -1;
    return (long)lg->sent[ord - 1];
}

static int ledger_parse_int(const char *text)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end == NULL || *end != '\0' || v < 0 || v > 1000000000L)
        return 0;
    return (int)v;
}

static int ledger_name_index(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

ledger_err_t ledger_reserve(ledger_t *lg, ledger_reserve_item_t *items, size_t n, char *errstr,
                            size_t errstr_size)
{
    ledger_err_t result = LEDGER_ERR_USAGE;
    PGresult *res = NULL;
    if (lg == NULL || (items == NULL && n > 0) || n > LEDGER_BATCH_MAX) {
        snprintf(errstr, errstr_size, "ledger_reserve: bad arguments (n=%zu, at most %d)", n,
                 LEDGER_BATCH_MAX);
        goto done;
    }
    /* The strings of the previous reservation's duplicates are released here. */
    PQclear(lg->reserve_res);
    lg->reserve_res = NULL;

    size_t nslots = 0;
    for (size_t i = 0; i < n; i++) {
        ledger_reserve_item_t *it = &items[i];
        it->verdict = LEDGER_INVALID;
        it->attempts = 0;
        it->sent_message_id = NULL;
        it->sent_provider_message_id = NULL;
        lg->marks[i] = 0;
        if (ledger_reserve_item_ok(it))
            lg->slots[nslots++] = (ledger_slot_t){it->org_id, it->channel, it->idempotency_key, i};
        else
            lg->marks[i] = LEDGER_MARK_INVALID;
    }
    ledger_mark_repeats(lg, nslots, LEDGER_MARK_REPEAT);

    ledger_arrays_reset(lg, 6);
    size_t nsent = 0;
    for (size_t i = 0; i < n; i++) {
        ledger_reserve_item_t *it = &items[i];
        if (lg->marks[i] & LEDGER_MARK_REPEAT)
            it->verdict = LEDGER_CONFLICT;
        if (lg->marks[i] != 0)
            continue;
        const char *values[] = {it->org_id,     it->channel,  it->idempotency_key,
                                it->message_id, it->provider, it->origin};
        if (ledger_arrays_add(lg, values, 6) != 0) {
            snprintf(errstr, errstr_size, "ledger_reserve: batch too large");
            goto done;
        }
        lg->sent[nsent++] = i;
    }
    if (nsent == 0) {
        result = LEDGER_OK;
        goto done;
    }

    const char *params[LEDGER_RESERVE_PARAMS];
    for (size_t i = 0; i < 6; i++)
        params[i] = ledger_array_text(lg->arrays[i]);
    params[6] = lg->stale_ms;
    db_err_t err = db_exec_prepared(lg->db, LEDGER_STMT_RESERVE, LEDGER_RESERVE_PARAMS, params,
                                    &res, errstr, errstr_size);
    if (err != DB_OK) {
        result = ledger_db_err(lg, err);
        goto done;
    }
    if ((size_t)PQntuples(res) != nsent || PQnfields(res) != 5) {
        snprintf(errstr, errstr_size, "ledger_reserve: %d result rows for %zu items",
                 PQntuples(res), nsent);
        result = LEDGER_ERR_REFUSED;
        goto done;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        long index = ledger_result_item(lg, res, row, nsent);
        int verdict = ledger_name_index(ledger_verdict_names, LEDGER_COUNT(ledger_verdict_names),
                                        PQgetvalue(res, row, 1));
        if (index < 0 || verdict < 0) {
            snprintf(errstr, errstr_size, "ledger_reserve: unexpected result row %d", row);
            result = LEDGER_ERR_REFUSED;
            goto done;
        }
        ledger_reserve_item_t *it = &items[index];
        it->verdict = (ledger_verdict_t)verdict;
        it->attempts = ledger_parse_int(PQgetvalue(res, row, 2));
        if (it->verdict == LEDGER_DUPLICATE) {
            it->sent_message_id = PQgetvalue(res, row, 3);
            if (!PQgetisnull(res, row, 4))
                it->sent_provider_message_id = PQgetvalue(res, row, 4);
        }
    }
    /* Kept: the duplicates point into it. */
    lg->reserve_res = res;
    res = NULL;
    result = LEDGER_OK;

done:
    PQclear(res);
    return result;
}

/* One run of the finish statement over the arrays built by ledger_finish(). */
static ledger_err_t ledger_finish_run(ledger_t *lg, ledger_finish_item_t *items, size_t nsent,
                                      bool *collided, char *errstr, size_t errstr_size)
{
    ledger_err_t result = LEDGER_ERR_REFUSED;
    PGresult *res = NULL;
    const char *params[LEDGER_FINISH_PARAMS];
    for (size_t i = 0; i < LEDGER_FINISH_PARAMS; i++)
        params[i] = ledger_array_text(lg->arrays[i]);
    *collided = false;
    db_err_t err = db_exec_prepared(lg->db, LEDGER_STMT_FINISH, LEDGER_FINISH_PARAMS, params, &res,
                                    errstr, errstr_size);
    if (err != DB_OK) {
        *collided =
            err == DB_ERR_SQL && strcmp(db_sqlstate(lg->db), DB_SQLSTATE_UNIQUE_VIOLATION) == 0;
        result = ledger_db_err(lg, err);
        goto done;
    }
    if ((size_t)PQntuples(res) != nsent || PQnfields(res) != 2) {
        snprintf(errstr, errstr_size, "ledger_finish: %d result rows for %zu items", PQntuples(res),
                 nsent);
        goto done;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        long index = ledger_result_item(lg, res, row, nsent);
        int outcome =
            ledger_name_index(ledger_finish_result_names, LEDGER_COUNT(ledger_finish_result_names),
                              PQgetvalue(res, row, 1));
        if (index < 0 || outcome < 0) {
            snprintf(errstr, errstr_size, "ledger_finish: unexpected result row %d", row);
            goto done;
        }
        items[index].result = (ledger_finish_result_t)outcome;
    }
    result = LEDGER_OK;

done:
    PQclear(res);
    return result;
}

ledger_err_t ledger_finish(ledger_t *lg, ledger_finish_item_t *items, size_t n, char *errstr,
                           size_t errstr_size)
{
    ledger_err_t result = LEDGER_ERR_USAGE;
    if (lg == NULL || (items == NULL && n > 0) || n > LEDGER_BATCH_MAX) {
        snprintf(errstr, errstr_size, "ledger_finish: bad arguments (n=%zu, at most %d)", n,
                 LEDGER_BATCH_MAX);
        goto done;
    }

    /* Repeated keys first: one UPDATE cannot apply two outcomes to one row. */
    size_t nslots = 0;
    for (size_t i = 0; i < n; i++) {
        ledger_finish_item_t *it = &items[i];
        it->result = LEDGER_FINISH_INVALID;
        lg->marks[i] = 0;
        if (ledger_finish_item_ok(it))
            lg->slots[nslots++] = (ledger_slot_t){it->org_id, it->channel, it->idempotency_key, i};
        else
            lg->marks[i] = LEDGER_MARK_INVALID;
    }
    ledger_mark_repeats(lg, nslots, LEDGER_MARK_REPEAT);

    /*
     * Then repeated provider ids among the SENT items that remain: two rows given one id
     * in one statement would break the unique index. Only the first keeps it. The
     * provider is the row's, which the items do not carry, so ids compare as plain
     * strings; a batch comes from one worker, whose ids share one provider.
     */
    size_t npmids = 0;
    for (size_t i = 0; i < n; i++) {
        const ledger_finish_item_t *it = &items[i];
        if (lg->marks[i] == 0 && it->state == LEDGER_STATE_SENT && it->provider_message_id)
            lg->slots[npmids++] = (ledger_slot_t){it->provider_message_id, "", NULL, i};
    }
    ledger_mark_repeats(lg, npmids, LEDGER_MARK_DROP_PMID);

    ledger_arrays_reset(lg, LEDGER_FINISH_PARAMS);
    size_t nsent = 0;
    for (size_t i = 0; i < n; i++) {
        ledger_finish_item_t *it = &items[i];
        if (lg->marks[i] & (LEDGER_MARK_INVALID | LEDGER_MARK_REPEAT))
            continue;
        char attempts[16];
        snprintf(attempts, sizeof(attempts), "%d", it->attempts);
        bool sent = it->state == LEDGER_STATE_SENT;
        bool keep_pmid = sent && !(lg->marks[i] & LEDGER_MARK_DROP_PMID);
        const char *values[] = {
            it->org_id,
            it->channel,
            it->idempotency_key,
            it->origin,
            ledger_state_name(it->state),
            attempts,
            keep_pmid ? it->provider_message_id : NULL,
            sent ? NULL : it->last_error_code,
        };
        if (ledger_arrays_add(lg, values, LEDGER_FINISH_PARAMS) != 0) {
            snprintf(errstr, errstr_size, "ledger_finish: batch too large");
            goto done;
        }
        lg->sent[nsent++] = i;
    }
    if (nsent == 0) {
        result = LEDGER_OK;
        goto done;
    }

    for (int run = 1;; run++) {
        bool collided = false;
        result = ledger_finish_run(lg, items, nsent, &collided, errstr, errstr_size);
        if (result == LEDGER_OK || !collided)
            break;
        log_warn("ledger: a provider_message_id of the batch was committed by another writer "
                 "meanwhile; recording the batch again without it (run %d)",
                 run);
        if (run == LEDGER_FINISH_RUNS) {
            /* Ids keep being committed by others between check and write: a load
             * pattern, not a property of the batch, so worth trying again later. */
            result = LEDGER_ERR_UNAVAILABLE;
            break;
        }
    }
    if (result != LEDGER_OK)
        goto done;

    /* An item whose id was dropped above was recorded without it. */
    for (size_t i = 0; i < n; i++) {
        if ((lg->marks[i] & LEDGER_MARK_DROP_PMID) && items[i].result == LEDGER_FINISH_APPLIED)
            items[i].result = LEDGER_FINISH_APPLIED_NO_PMID;
    }

done:
    return result;
}

/* Copies a result value into a fixed buffer; false when it does not fit. */
static bool ledger_copy(char *dst, size_t dst_size, const char *src)
{
    size_t len = strlen(src);
    if (len >= dst_size)
        return false;
    memcpy(dst, src, len + 1);
    return true;
}

ledger_err_t ledger_lookup_provider_id(ledger_t *lg, const char *provider,
                                       const char *provider_message_id, ledger_row_t *out,
                                       char *errstr, size_t errstr_size)
{
    ledger_err_t result = LEDGER_ERR_USAGE;
    PGresult *res = NULL;
    if (lg == NULL || out == NULL || provider == NULL || provider_message_id == NULL) {
        snprintf(errstr, errstr_size, "ledger_lookup_provider_id: bad arguments");
        goto done;
    }
    memset(out, 0, sizeof(*out));
    /* Text the database would refuse cannot be in the table: answer without asking. */
    if (!ledger_optional_ok(provider, 16) ||
        !ledger_optional_ok(provider_message_id, LEDGER_PROVIDER_MESSAGE_ID_MAX)) {
        snprintf(errstr, errstr_size, "no ledger row for that provider message id");
        result = LEDGER_ERR_NOT_FOUND;
        goto done;
    }
    const char *params[] = {provider, provider_message_id};
    db_err_t err =
        db_exec_prepared(lg->db, LEDGER_STMT_LOOKUP, 2, params, &res, errstr, errstr_size);
    if (err != DB_OK) {
        result = ledger_db_err(lg, err);
        goto done;
    }
    if (PQntuples(res) == 0) {
        snprintf(errstr, errstr_size, "no ledger row for that provider message id");
        result = LEDGER_ERR_NOT_FOUND;
        goto done;
    }
    if (!ledger_copy(out->org_id, sizeof(out->org_id), PQgetvalue(res, 0, 0)) ||
        !ledger_copy(out->channel, sizeof(out->channel), PQgetvalue(res, 0, 1)) ||
        !ledger_copy(out->idempotency_key, sizeof(out->idempotency_key), PQgetvalue(res, 0, 2)) ||
        !ledger_copy(out->message_id, sizeof(out->message_id), PQgetvalue(res, 0, 3)) ||
        ledger_state_parse(PQgetvalue(res, 0, 4), &out->state) != 0) {
        snprintf(errstr, errstr_size, "ledger_lookup_provider_id: unexpected row");
        result = LEDGER_ERR_REFUSED;
        goto done;
    }
    out->attempts = ledger_parse_int(PQgetvalue(res, 0, 5));
    result = LEDGER_OK;

done:
    PQclear(res);
    return result;
}
