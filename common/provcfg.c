#include "provcfg.h"

#include "log.h"
#include "redact.h"
#include "timefmt.h"

#include <errno.h>
#include <limits.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROVCFG_BUCKETS 256

typedef enum {
    PROVCFG_KIND_EMAIL,
    PROVCFG_KIND_TWILIO,
    PROVCFG_KIND_AWS_SNS,
    PROVCFG_KIND__COUNT
} provcfg_kind_t;

typedef enum {
    PROVCFG_COL_TEXT,   /* char * */
    PROVCFG_COL_SECRET, /* char *, decrypted from an *_encrypted column */
    PROVCFG_COL_INT,    /* int */
    PROVCFG_COL_BOOL,   /* bool */
    PROVCFG_COL_LIST,   /* provcfg_strlist_t, from a text[] column */
} provcfg_col_type_t;

/* A column and the struct field it fills. */
typedef struct provcfg_col_s {
    const char *column;
    provcfg_col_type_t type;
    size_t offset;
} provcfg_col_t;

#define PROVCFG_EMAIL_COL(column, type, field)         \
    {                                                  \
        column, type, offsetof(provcfg_email_t, field) \
    }
#define PROVCFG_SMS_COL(column, type, field)         \
    {                                                \
        column, type, offsetof(provcfg_sms_t, field) \
    }

/* The columns read, in the order of the SELECT; `enabled` comes first and is not listed. */
static const provcfg_col_t provcfg_email_cols[] = {
    PROVCFG_EMAIL_COL("smtp_host", PROVCFG_COL_TEXT, smtp_host),
    PROVCFG_EMAIL_COL("smtp_port", PROVCFG_COL_INT, smtp_port),
    PROVCFG_EMAIL_COL("smtp_username", PROVCFG_COL_TEXT, smtp_username),
    PROVCFG_EMAIL_COL("smtp_password_encrypted", PROVCFG_COL_SECRET, smtp_password),
    PROVCFG_EMAIL_COL("from_email", PROVCFG_COL_TEXT, from_email),
    PROVCFG_EMAIL_COL("from_name", PROVCFG_COL_TEXT, from_name),
    PROVCFG_EMAIL_COL("reply_to_email", PROVCFG_COL_TEXT, reply_to_email),
    PROVCFG_EMAIL_COL("use_tls", PROVCFG_COL_BOOL, use_tls),
    PROVCFG_EMAIL_COL("use_ssl", PROVCFG_COL_BOOL, use_ssl),
    PROVCFG_EMAIL_COL("webhook_secret_encrypted", PROVCFG_COL_SECRET, webhook_secret),
    PROVCFG_EMAIL_COL("pool_size", PROVCFG_COL_INT, pool_size),
    PROVCFG_EMAIL_COL("ca_file", PROVCFG_COL_TEXT, ca_file),
};

static const provcfg_col_t provcfg_sms_cols[] = {
    PROVCFG_SMS_COL("twilio_account_sid", PROVCFG_COL_TEXT, twilio_account_sid),
    PROVCFG_SMS_COL("twilio_auth_token_encrypted", PROVCFG_COL_SECRET, twilio_auth_token),
    PROVCFG_SMS_COL("twilio_from_number", PROVCFG_COL_TEXT, twilio_from_number),
    PROVCFG_SMS_COL("aws_access_key_encrypted", PROVCFG_COL_SECRET, aws_access_key),
    PROVCFG_SMS_COL("aws_secret_key_encrypted", PROVCFG_COL_SECRET, aws_secret_key),
    PROVCFG_SMS_COL("aws_session_token_encrypted", PROVCFG_COL_SECRET, aws_session_token),
    PROVCFG_SMS_COL("aws_region", PROVCFG_COL_TEXT, aws_region),
    PROVCFG_SMS_COL("aws_sender_id", PROVCFG_COL_TEXT, aws_sender_id),
    PROVCFG_SMS_COL("webhook_secret_encrypted", PROVCFG_COL_SECRET, webhook_secret),
    PROVCFG_SMS_COL("sns_topic_arn_allowlist", PROVCFG_COL_LIST, sns_topic_arn_allowlist),
};

/* A table and how it is read: one statement per table, SMS rows also by provider_type. */
typedef struct provcfg_table_s {
    const char *table;
    const char *stmt_name;
    const provcfg_col_t *cols;
    size_t ncols;
    bool by_provider_type;
} provcfg_table_t;

static const provcfg_table_t provcfg_tables[] = {
    {"email_provider_config", "provcfg_email_provider_config", provcfg_email_cols,
     sizeof(provcfg_email_cols) / sizeof(provcfg_email_cols[0]), false},
    {"sms_provider_config", "provcfg_sms_provider_config", provcfg_sms_cols,
     sizeof(provcfg_sms_cols) / sizeof(provcfg_sms_cols[0]), true},
};

/* What each kind reads: its table, and the provider_type value for SMS. */
static const struct {
    const provcfg_table_t *table;
    const char *provider_type;
} provcfg_kinds[PROVCFG_KIND__COUNT] = {
    [PROVCFG_KIND_EMAIL] = {&provcfg_tables[0], NULL},
    [PROVCFG_KIND_TWILIO] = {&provcfg_tables[1], "TWILIO"},
    [PROVCFG_KIND_AWS_SNS] = {&provcfg_tables[1], "AWS_SNS"},
};

static const errcode_t provcfg_errcodes[] = {
    [PROVCFG_OK] = ERRCODE_OK,
    [PROVCFG_ERR_UNKNOWN_ORG] = ERRCODE_UNKNOWN_ORG,
    [PROVCFG_ERR_DISABLED] = ERRCODE_PROVIDER_DISABLED,
    [PROVCFG_ERR_CONFIG] = ERRCODE_CONFIG_ERROR,
    [PROVCFG_ERR_DB] = ERRCODE_OK,
};

/*
 * One cached result. The config handed out is a pointer to `cfg`, so releasing it finds
 * the entry again; the cache and every caller each hold one reference.
 */
typedef struct provcfg_entry_s {
    atomic_int refs;
    struct provcfg_entry_s *next;
    provcfg_kind_t kind;
    char *org_id;
    int64_t expires_ms; /* monotonic clock */
    provcfg_err_t result;
    char errstr[256];
    union {
        provcfg_email_t email;
        provcfg_sms_t sms;
    } cfg;
} provcfg_entry_t;

struct provcfg_s {
    db_t *db;
    const secret_ring_t *ring;
    int64_t ttl_ms;
    /* Guards the buckets; held only for lookups and inserts, never during a query. */
    pthread_mutex_t lock;
    /* Serialises use of `db`, which is one connection. */
    pthread_mutex_t db_lock;
    provcfg_entry_t *buckets[PROVCFG_BUCKETS];
    size_t count;
};

errcode_t provcfg_errcode(provcfg_err_t err)
{
    if ((int)err < 0 || (size_t)err >= sizeof(provcfg_errcodes) / sizeof(provcfg_errcodes[0]))
        return ERRCODE_OK;
    return provcfg_errcodes[err];
}

const char *provcfg_sms_type_name(provcfg_sms_type_t type)
{
    return type == PROVCFG_SMS_AWS_SNS ? provcfg_kinds[PROVCFG_KIND_AWS_SNS].provider_type
                                       : provcfg_kinds[PROVCFG_KIND_TWILIO].provider_type;
}

int provcfg_sms_type_parse(const char *name, provcfg_sms_type_t *type)
{
    if (strcmp(name, provcfg_kinds[PROVCFG_KIND_TWILIO].provider_type) == 0) {
        *type = PROVCFG_SMS_TWILIO;
        return 0;
    }
    if (strcmp(name, provcfg_kinds[PROVCFG_KIND_AWS_SNS].provider_type) == 0) {
        *type = PROVCFG_SMS_AWS_SNS;
        return 0;
    }
    return -1;
}

static void provcfg_fields_free(const provcfg_table_t *table, void *target)
{
    for (size_t i = 0; i < table->ncols; i++) {
        const provcfg_col_t *col = &table->cols[i];
        void *field = (char *)target + col->offset;
        if (col->type == PROVCFG_COL_TEXT) {
            free(*(char **)field);
        } else if (col->type == PROVCFG_COL_SECRET) {
            char *secret = *(char **)field;
            if (secret != NULL)
                secret_free(secret, strlen(secret));
        } else if (col->type == PROVCFG_COL_LIST) {
            provcfg_strlist_t *list = field;
            for (size_t j = 0; j < list->count; j++)
                free(list->items[j]);
            free(list->items);
        }
    }
}

static void provcfg_entry_release(provcfg_entry_t *e)
{
    if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    if (e->result == PROVCFG_OK)
        provcfg_fields_free(provcfg_kinds[e->kind].table, &e->cfg);
    free(e->org_id);
    free(e);
}

static provcfg_entry_t *provcfg_entry_of(const void *cfg)
{
    return (provcfg_entry_t *)((char *)cfg - offsetof(provcfg_entry_t, cfg));
}

void provcfg_email_release(const provcfg_email_t *cfg)
{
    if (cfg != NULL)
        provcfg_entry_release(provcfg_entry_of(cfg));
}

void provcfg_sms_release(const provcfg_sms_t *cfg)
{
    if (cfg != NULL)
        provcfg_entry_release(provcfg_entry_of(cfg));
}

static char *provcfg_strdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        abort();
    return copy;
}

/* A text[] column arrives as JSON (array_to_json), which is unambiguous to split. */
static int provcfg_parse_list(const char *text, provcfg_strlist_t *list)
{
    int rc = -1;
    json_object *array = json_tokener_parse(text);
    if (array == NULL || !json_object_is_type(array, json_type_array))
        goto out;
    size_t n = json_object_array_length(array);
    list->items = calloc(n > 0 ? n : 1, sizeof(char *));
    if (list->items == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(array, i);
        if (!json_object_is_type(item, json_type_string))
            goto out;
        list->items[list->count++] = provcfg_strdup(json_object_get_string(item));
    }
    rc = 0;
out:
    json_object_put(array);
    return rc;
}

/* Decrypts one *_encrypted value for the org and "<table>.<column>" into *out. */
static provcfg_err_t provcfg_decrypt(const provcfg_t *pc, const char *aad, const char *org_id,
                                     const char *value, char **out, char *errstr,
                                     size_t errstr_size)
{
    char *plain = NULL;
    size_t len = 0;
    char ignored[256];
    secret_err_t serr =
        secret_decrypt(pc->ring, org_id, aad, value, &plain, &len, ignored, sizeof(ignored));
    if (serr != SECRET_OK) {
        snprintf(errstr, errstr_size, "%s for org %s does not decrypt (%s)", aad, org_id,
                 secret_err_name(serr));
        return PROVCFG_ERR_CONFIG;
    }
    /* Secrets are used as C strings; one with a NUL inside would be cut short. */
    if (strlen(plain) != len) {
        secret_free(plain, len);
        snprintf(errstr, errstr_size, "%s for org %s is not text", aad, org_id);
        return PROVCFG_ERR_CONFIG;
    }
    redact_register(plain);
    *out = plain;
    return PROVCFG_OK;
}

/* Parses one non-NULL column value into its field. */
static provcfg_err_t provcfg_fill_col(const provcfg_t *pc, const provcfg_table_t *table,
                                      const provcfg_col_t *col, const char *org_id,
                                      const char *value, void *field, char *errstr,
                                      size_t errstr_size)
{
    char name[128];
    snprintf(name, sizeof(name), "%s.%s", table->table, col->column);
    switch (col->type) {
    case PROVCFG_COL_TEXT:
        *(char **)field = provcfg_strdup(value);
        return PROVCFG_OK;
    case PROVCFG_COL_SECRET:
        return provcfg_decrypt(pc, name, org_id, value, field, errstr, errstr_size);
    case PROVCFG_COL_BOOL:
        *(bool *)field = strcmp(value, "t") == 0;
        return PROVCFG_OK;
    case PROVCFG_COL_INT: {
        char *end = NULL;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno == 0 && end != value && *end == '\0' && v >= INT_MIN && v <= INT_MAX) {
            *(int *)field = (int)v;
            return PROVCFG_OK;
        }
        break;
    }
    case PROVCFG_COL_LIST:
        if (provcfg_parse_list(value, field) == 0)
            return PROVCFG_OK;
        break;
    }
    snprintf(errstr, errstr_size, "%s for org %s has an unreadable value", name, org_id);
    return PROVCFG_ERR_CONFIG;
}

/*
 * Fills the struct at `target` from row 0 of `res` (column 0 is `enabled`). Returns
 * PROVCFG_OK or PROVCFG_ERR_CONFIG with errstr naming the column, never its value; the
 * fields filled so far are the caller's to free.
 */
static provcfg_err_t provcfg_fill(const provcfg_t *pc, const provcfg_table_t *table,
                                  const char *org_id, PGresult *res, void *target, char *errstr,
                                  size_t errstr_size)
{
    for (size_t i = 0; i < table->ncols; i++) {
        int field_no = (int)i + 1;
        if (PQgetisnull(res, 0, field_no))
            continue;
        provcfg_err_t err =
            provcfg_fill_col(pc, table, &table->cols[i], org_id, PQgetvalue(res, 0, field_no),
                             (char *)target + table->cols[i].offset, errstr, errstr_size);
        if (err != PROVCFG_OK)
            return err;
    }
    return PROVCFG_OK;
}

/*
 * Reads and decrypts one row into a new entry (one reference, for the caller). Returns
 * NULL when the database did not answer, with errstr: that outcome is not cached.
 */
static provcfg_entry_t *provcfg_load(provcfg_t *pc, provcfg_kind_t kind, const char *org_id,
                                     char *errstr, size_t errstr_size)
{
    const provcfg_table_t *table = provcfg_kinds[kind].table;
    const char *params[] = {org_id, provcfg_kinds[kind].provider_type};
    PGresult *res = NULL;
    char err[256];
    db_err_t derr = db_exec_prepared(pc->db, table->stmt_name, table->by_provider_type ? 2 : 1,
                                     params, &res, err, sizeof(err));
    if (derr != DB_OK) {
        snprintf(errstr, errstr_size, "cannot read %s: %s", table->table, err);
        return NULL;
    }

    provcfg_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        abort();
    atomic_init(&e->refs, 1);
    e->kind = kind;
    e->org_id = provcfg_strdup(org_id);
    int64_t ttl = pc->ttl_ms;
    if (PQntuples(res) == 0) {
        e->result = PROVCFG_ERR_UNKNOWN_ORG;
        if (kind == PROVCFG_KIND_EMAIL)
            snprintf(e->errstr, sizeof(e->errstr), "org %s has no email provider config", org_id);
        else
            snprintf(e->errstr, sizeof(e->errstr), "org %s has no %s SMS provider config", org_id,
                     provcfg_kinds[kind].provider_type);
        if (ttl > PROVCFG_NEGATIVE_TTL_MS)
            ttl = PROVCFG_NEGATIVE_TTL_MS;
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        e->result = PROVCFG_ERR_DISABLED;
        snprintf(e->errstr, sizeof(e->errstr), "%s of org %s is disabled", table->table, org_id);
    } else {
        e->result = provcfg_fill(pc, table, org_id, res, &e->cfg, e->errstr, sizeof(e->errstr));
        if (e->result != PROVCFG_OK) {
            provcfg_fields_free(table, &e->cfg);
            memset(&e->cfg, 0, sizeof(e->cfg));
            log_kv(LOG_LEVEL_WARN, "provider config unusable", "org_id", org_id, "error", e->errstr,
                   NULL);
        } else if (kind == PROVCFG_KIND_EMAIL) {
            e->cfg.email.org_id = e->org_id;
        } else {
            e->cfg.sms.org_id = e->org_id;
            e->cfg.sms.provider_type =
                kind == PROVCFG_KIND_AWS_SNS ? PROVCFG_SMS_AWS_SNS : PROVCFG_SMS_TWILIO;
        }
    }
    PQclear(res);
    e->expires_ms = timefmt_mono_ms() + ttl;
    return e;
}

static size_t provcfg_bucket(provcfg_kind_t kind, const char *org_id)
{
    /* FNV-1a over the org id, then the kind. */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)org_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ (uint32_t)kind) * 16777619u;
    return h % PROVCFG_BUCKETS;
}

/* The cached entry for (kind, org) if still fresh, with a reference for the caller. */
static provcfg_entry_t *provcfg_lookup(provcfg_t *pc, provcfg_kind_t kind, const char *org_id)
{
    provcfg_entry_t *found = NULL;
    int64_t now = timefmt_mono_ms();
    pthread_mutex_lock(&pc->lock);
    for (provcfg_entry_t *e = pc->buckets[provcfg_bucket(kind, org_id)]; e; e = e->next) {
        if (e->kind == kind && strcmp(e->org_id, org_id) == 0) {
            if (e->expires_ms > now) {
                atomic_fetch_add(&e->refs, 1);
                found = e;
            }
            break;
        }
    }
    pthread_mutex_unlock(&pc->lock);
    return found;
}

/* With pc->lock held: drops the expired entries, to make room. */
static void provcfg_sweep_locked(provcfg_t *pc)
{
    int64_t now = timefmt_mono_ms();
    for (size_t b = 0; b < PROVCFG_BUCKETS; b++) {
        provcfg_entry_t **link = &pc->buckets[b];
        while (*link != NULL) {
            provcfg_entry_t *e = *link;
            if (e->expires_ms <= now) {
                *link = e->next;
                pc->count--;
                provcfg_entry_release(e);
            } else {
                link = &e->next;
            }
        }
    }
}

/* Puts a fresh entry in the cache in place of an older one for the same key. */
static void provcfg_store(provcfg_t *pc, provcfg_entry_t *fresh)
{
    pthread_mutex_lock(&pc->lock);
    provcfg_entry_t **link = &pc->buckets[provcfg_bucket(fresh->kind, fresh->org_id)];
    for (; *link != NULL; link = &(*link)->next) {
        provcfg_entry_t *e = *link;
        if (e->kind == fresh->kind && strcmp(e->org_id, fresh->org_id) == 0) {
            *link = e->next;
            pc->count--;
            provcfg_entry_release(e);
            break;
        }
    }
    if (pc->count >= PROVCFG_CACHE_MAX)
        provcfg_sweep_locked(pc);
    if (pc->count < PROVCFG_CACHE_MAX) {
        atomic_fetch_add(&fresh->refs, 1);
        link = &pc->buckets[provcfg_bucket(fresh->kind, fresh->org_id)];
        fresh->next = *link;
        *link = fresh;
        pc->count++;
    }
    pthread_mutex_unlock(&pc->lock);
}

/* The cached or freshly loaded entry for (kind, org), with a reference for the caller. */
static provcfg_err_t provcfg_get(provcfg_t *pc, provcfg_kind_t kind, const char *org_id,
                                 provcfg_entry_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    provcfg_entry_t *e = provcfg_lookup(pc, kind, org_id);
    if (e == NULL) {
        pthread_mutex_lock(&pc->db_lock);
        /* Another thread may have loaded it while this one waited for the connection. */
        e = provcfg_lookup(pc, kind, org_id);
        if (e == NULL) {
            e = provcfg_load(pc, kind, org_id, errstr, errstr_size);
            if (e != NULL)
                provcfg_store(pc, e);
        }
        pthread_mutex_unlock(&pc->db_lock);
        if (e == NULL)
            return PROVCFG_ERR_DB;
    }
    if (e->result != PROVCFG_OK) {
        provcfg_err_t result = e->result;
        snprintf(errstr, errstr_size, "%s", e->errstr);
        provcfg_entry_release(e);
        return result;
    }
    *out = e;
    return PROVCFG_OK;
}

provcfg_err_t provcfg_get_email(provcfg_t *pc, const char *org_id, const provcfg_email_t **out,
                                char *errstr, size_t errstr_size)
{
    provcfg_entry_t *e = NULL;
    provcfg_err_t err = provcfg_get(pc, PROVCFG_KIND_EMAIL, org_id, &e, errstr, errstr_size);
    *out = e != NULL ? &e->cfg.email : NULL;
    return err;
}

provcfg_err_t provcfg_get_sms(provcfg_t *pc, const char *org_id, provcfg_sms_type_t type,
                              const provcfg_sms_t **out, char *errstr, size_t errstr_size)
{
    provcfg_kind_t kind = type == PROVCFG_SMS_AWS_SNS ? PROVCFG_KIND_AWS_SNS : PROVCFG_KIND_TWILIO;
    provcfg_entry_t *e = NULL;
    provcfg_err_t err = provcfg_get(pc, kind, org_id, &e, errstr, errstr_size);
    *out = e != NULL ? &e->cfg.sms : NULL;
    return err;
}

void provcfg_invalidate(provcfg_t *pc, const char *org_id)
{
    pthread_mutex_lock(&pc->lock);
    for (int kind = 0; kind < PROVCFG_KIND__COUNT; kind++) {
        provcfg_entry_t **link = &pc->buckets[provcfg_bucket((provcfg_kind_t)kind, org_id)];
        while (*link != NULL) {
            provcfg_entry_t *e = *link;
            if (e->kind == (provcfg_kind_t)kind && strcmp(e->org_id, org_id) == 0) {
                *link = e->next;
                pc->count--;
                provcfg_entry_release(e);
            } else {
                link = &e->next;
            }
        }
    }
    pthread_mutex_unlock(&pc->lock);
}

/* Appends to a bounded buffer; *len stays past the end once it overflows. */
static void provcfg_append(char *buf, size_t size, size_t *len, const char *a, const char *b)
{
    if (*len < size) {
        int n = snprintf(buf + *len, size - *len, "%s%s", a, b);
        *len += n < 0 ? size : (size_t)n;
    }
}

/* Builds "SELECT enabled, <columns> FROM <table> WHERE org_id = $1 [AND provider_type = $2]"
 * from the column table, so the list of columns is written once. */
static int provcfg_build_sql(const provcfg_table_t *table, char *sql, size_t sql_size)
{
    size_t len = 0;
    provcfg_append(sql, sql_size, &len, "SELECT enabled", "");
    for (size_t i = 0; i < table->ncols; i++) {
        const provcfg_col_t *col = &table->cols[i];
        if (col->type == PROVCFG_COL_LIST) {
            provcfg_append(sql, sql_size, &len, ", array_to_json(", col->column);
            provcfg_append(sql, sql_size, &len, ")::text", "");
        } else {
            provcfg_append(sql, sql_size, &len, ", ", col->column);
        }
    }
    provcfg_append(sql, sql_size, &len, " FROM ", table->table);
    provcfg_append(sql, sql_size, &len, " WHERE org_id = $1",
                   table->by_provider_type ? " AND provider_type = $2" : "");
    return len < sql_size ? 0 : -1;
}

provcfg_t *provcfg_new(db_t *db, const secret_ring_t *ring, int64_t ttl_ms, char *errstr,
                       size_t errstr_size)
{
    if (db == NULL || ring == NULL) {
        snprintf(errstr, errstr_size, "provcfg_new: a database and a key ring are required");
        return NULL;
    }
    for (size_t i = 0; i < sizeof(provcfg_tables) / sizeof(provcfg_tables[0]); i++) {
        const provcfg_table_t *table = &provcfg_tables[i];
        char sql[1024];
        char err[256];
        if (provcfg_build_sql(table, sql, sizeof(sql)) != 0)
            abort(); /* the tables above are too long for the buffer: a build-time bug */
        db_err_t derr = db_prepare(db, table->stmt_name, sql, table->by_provider_type ? 2 : 1, 0,
                                   err, sizeof(err));
        /* A database that is down now is retried at first use; wrong SQL never works. */
        if (derr != DB_OK && derr != DB_ERR_CONN) {
            snprintf(errstr, errstr_size, "cannot prepare the query of %s: %s", table->table, err);
            return NULL;
        }
    }
    provcfg_t *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        abort();
    pc->db = db;
    pc->ring = ring;
    pc->ttl_ms = ttl_ms < 0 ? 0 : ttl_ms;
    pthread_mutex_init(&pc->lock, NULL);
    pthread_mutex_init(&pc->db_lock, NULL);
    return pc;
}

void provcfg_destroy(provcfg_t *pc)
{
    if (pc == NULL)
        return;
    for (size_t b = 0; b < PROVCFG_BUCKETS; b++) {
        provcfg_entry_t *e = pc->buckets[b];
        while (e != NULL) {
            provcfg_entry_t *next = e->next;
            provcfg_entry_release(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&pc->lock);
    pthread_mutex_destroy(&pc->db_lock);
    free(pc);
}
