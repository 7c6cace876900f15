#include "db.h"

#include "log.h"
#include "redact.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PostgreSQL truncates identifiers, prepared statement names included, at 63 bytes. */
#define DB_NAME_MAX 63

typedef struct db_stmt_s {
    char *name;
    char *sql;
    int nparams;
    unsigned flags;
    /* The connection generation it was prepared on; 0 means not yet prepared. */
    uint64_t prepared_gen;
} db_stmt_t;

struct db_s {
    PGconn *conn;
    int statement_timeout_ms;
    /* Counts connections (1 after the first); statements compare it to know whether the
     * current connection has them prepared. */
    uint64_t gen;
    /* The connection lacks its session settings and must be reset before use. */
    bool needs_reset;
    /* Set when a transaction died with its connection: later calls fail until the caller
     * rolls back, so the rest of that transaction cannot run on the new connection as
     * separate autocommitted statements. */
    bool transaction_lost;
    db_stmt_t *stmts;
    size_t stmt_count;
    size_t stmt_cap;
    char sqlstate[6];
};

/* One call to the server: simple query (sql only), parameters (sql, values), a
 * registered statement (stmt, values), or only preparing one (stmt, prepare_only). */
typedef struct db_call_s {
    const char *sql;
    db_stmt_t *stmt;
    int nparams;
    const char *const *values;
    bool retry;
    bool prepare_only;
} db_call_t;

/* SQLSTATE classes and codes after which the same statement may succeed later. */
static const char *const db_retryable_sqlstates[] = {
    "08",    /* connection exception */
    "40",    /* transaction rollback: serialization failure, deadlock */
    "53",    /* insufficient resources */
    "55P03", /* lock not available (lock_timeout) */
    "57014", /* query canceled (statement_timeout) */
    "57P",   /* operator intervention: shutdown, cannot connect now */
};

static const char *const db_err_names[] = {"DB_OK", "DB_ERR_CONN", "DB_ERR_SQL", "DB_ERR_USAGE"};

const char *db_err_name(db_err_t err)
{
    if ((int)err < 0 || (size_t)err >= sizeof(db_err_names) / sizeof(db_err_names[0]))
        return "DB_ERR_UNKNOWN";
    return db_err_names[err];
}

/* libpq messages end in a newline and may span lines; errstr and logs want one line. */
static void db_set_err(char *errstr, size_t errstr_size, const char *prefix, const char *msg)
{
    if (errstr == NULL || errstr_size == 0)
        return;
    int n = snprintf(errstr, errstr_size, "%s%s", prefix, msg ? msg : "");
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len >= errstr_size)
        len = errstr_size - 1;
    for (size_t i = 0; i < len; i++) {
        if (errstr[i] == '\n' || errstr[i] == '\t' || errstr[i] == '\r')
            errstr[i] = ' ';
    }
    while (len > 0 && errstr[len - 1] == ' ')
        errstr[--len] = '\0';
}

/*
 * Server notices ("relation already exists, skipping", "there is no transaction in
 * progress") would otherwise go to stderr as raw text; they belong in the JSON log. The
 * receiver stays with the PGconn across PQreset().
 */
static void db_notice(void *arg, const PGresult *res)
{
    (void)arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    bool warning = severity != NULL && strcmp(severity, "WARNING") == 0;
    log_kv(warning ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, "database notice", "severity",
           severity ? severity : "NOTICE", "message", primary ? primary : "", NULL);
}

/*
 * The session settings every connection gets; run after each (re)connect.
 *
 * plan_cache_mode: a prepared statement is planned for the values it is run with, every
 * time. PostgreSQL otherwise switches to one generic plan after five runs, chosen against
 * the table as it was then: planned while webhook_callback_dedupe or the ledger was small
 * (a new deployment, a fresh stack), the batch lookups by `= ANY($n)` kept reading every
 * row of an organisation or a provider as the tables grew, until an autovacuum ANALYZE
 * happened to replace the plan. Planning these statements costs well under a millisecond,
 * once per batch.
 */
static int db_session_setup(db_t *db, char *errstr, size_t errstr_size)
{
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", db->statement_timeout_ms);
    const char *values[] = {timeout};
    PGresult *res = PQexecParams(db->conn,
                                 "SELECT set_config('statement_timeout', $1, false),"
                                 " set_config('plan_cache_mode', 'force_custom_plan', false)",
                                 1, NULL, values, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0)
        db_set_err(errstr, errstr_size,
                   "cannot set the session's settings: ", PQerrorMessage(db->conn));
    PQclear(res);
    return rc;
}

static int db_reconnect(db_t *db, char *errstr, size_t errstr_size)
{
    log_warn("database connection lost; reconnecting");
    PQreset(db->conn);
    /* Whatever happens next, this is a new connection without our statements. */
    db->gen++;
    db->needs_reset = true;
    if (PQstatus(db->conn) != CONNECTION_OK) {
        db_set_err(errstr, errstr_size,
                   "cannot reconnect to the database: ", PQerrorMessage(db->conn));
        return -1;
    }
    if (db_session_setup(db, errstr, errstr_size) != 0)
        return -1;
    db->needs_reset = false;
    log_info("database connection re-established");
    return 0;
}

/* Reconnects when the last call found the connection unusable. */
static int db_ensure_connected(db_t *db, char *errstr, size_t errstr_size)
{
    if (PQstatus(db->conn) == CONNECTION_OK && !db->needs_reset)
        return 0;
    return db_reconnect(db, errstr, errstr_size);
}

/*
 * Turns a result into an outcome. A lost connection is told apart from an SQL error by
 * the connection status rather than the SQLSTATE: a backend ended by pg_terminate_backend
 * or a server shutdown sends an error (57P01) before closing, and a network failure sends
 * nothing at all; in every case what the caller must know is that the connection is gone.
 */
static db_err_t db_check(db_t *db, PGresult *res, char *errstr, size_t errstr_size)
{
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        return DB_OK;
    default:
        break;
    }
    if (res == NULL || PQstatus(db->conn) != CONNECTION_OK) {
        db_set_err(errstr, errstr_size, "database connection lost: ", PQerrorMessage(db->conn));
        return DB_ERR_CONN;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    if (state == NULL || primary == NULL) {
        /* Not an error the server sent: libpq's own (e.g. COPY is not supported here). */
        db_set_err(errstr, errstr_size, "", PQresultErrorMessage(res));
        snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "XX000");
        return DB_ERR_SQL;
    }
    snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state);
    char msg[512];
    if (constraint != NULL)
        snprintf(msg, sizeof(msg), "%s (SQLSTATE %s, constraint %s)", primary, state, constraint);
    else
        snprintf(msg, sizeof(msg), "%s (SQLSTATE %s)", primary, state);
    db_set_err(errstr, errstr_size, "", msg);
    return DB_ERR_SQL;
}

/* Prepares a statement on the current connection if it is not prepared there yet. */
static db_err_t db_ensure_prepared(db_t *db, db_stmt_t *stmt, char *errstr, size_t errstr_size)
{
    if (stmt->prepared_gen == db->gen)
        return DB_OK;
    PGresult *res = PQprepare(db->conn, stmt->name, stmt->sql, stmt->nparams, NULL);
    db_err_t err = db_check(db, res, errstr, errstr_size);
    PQclear(res);
    if (err == DB_OK)
        stmt->prepared_gen = db->gen;
    return err;
}

static db_err_t db_send(db_t *db, const db_call_t *call, PGresult **out, char *errstr,
                        size_t errstr_size)
{
    PGresult *res;
    if (call->stmt != NULL) {
        db_err_t err = db_ensure_prepared(db, call->stmt, errstr, errstr_size);
        if (err != DB_OK || call->prepare_only)
            return err;
        res =
            PQexecPrepared(db->conn, call->stmt->name, call->nparams, call->values, NULL, NULL, 0);
    } else if (call->values != NULL || call->nparams > 0) {
        res = PQexecParams(db->conn, call->sql, call->nparams, NULL, call->values, NULL, NULL, 0);
    } else {
        res = PQexec(db->conn, call->sql);
    }
    db_err_t err = db_check(db, res, errstr, errstr_size);
    if (err == DB_OK && out != NULL)
        *out = res;
    else
        PQclear(res);
    return err;
}

/* Runs one call with the reconnect and retry rules of db.h. */
static db_err_t db_call(db_t *db, const db_call_t *call, PGresult **result, char *errstr,
                        size_t errstr_size)
{
    if (result != NULL)
        *result = NULL;
    for (int attempt = 0;; attempt++) {
        db->sqlstate[0] = '\0';
        if (db->transaction_lost) {
            snprintf(errstr, errstr_size,
                     "the transaction was lost with the database connection; roll back and "
                     "start it again");
            return DB_ERR_CONN;
        }
        if (db_ensure_connected(db, errstr, errstr_size) != 0)
            return DB_ERR_CONN;
        /* Read before the call: once the connection is gone the status is unknown. */
        bool in_transaction = PQtransactionStatus(db->conn) != PQTRANS_IDLE;
        db_err_t err = db_send(db, call, result, errstr, errstr_size);
        if (err == DB_ERR_CONN && in_transaction)
            db->transaction_lost = true;
        if (err != DB_ERR_CONN || in_transaction || !call->retry || attempt > 0)
            return err;
    }
}

static db_stmt_t *db_find(db_t *db, const char *name)
{
    for (size_t i = 0; i < db->stmt_count; i++) {
        if (strcmp(db->stmts[i].name, name) == 0)
            return &db->stmts[i];
    }
    return NULL;
}

/* Registers the password with redact, so that no log line can carry it; the string itself
 * is never written anywhere. */
static int db_parse_conninfo(const char *conninfo, char *errstr, size_t errstr_size)
{
    char *parse_err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &parse_err);
    if (opts == NULL) {
        /* libpq's parse errors quote the string or a piece of it, which may be the
         * password, so they are not passed on. */
        PQfreemem(parse_err);
        snprintf(errstr, errstr_size,
                 "DATABASE_URL is not a valid libpq connection string or URI (not shown: it "
                 "may hold a password)");
        return -1;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
            redact_register(o->val);
    }
    PQconninfoFree(opts);
    return 0;
}

db_t *db_new(const char *conninfo, const char *application_name, int connect_timeout_ms,
             int statement_timeout_ms, char *errstr, size_t errstr_size)
{
    db_t *db = NULL;
    if (conninfo == NULL || conninfo[0] == '\0') {
        snprintf(errstr, errstr_size, "DATABASE_URL is not set");
        goto fail;
    }
    if (db_parse_conninfo(conninfo, errstr, errstr_size) != 0)
        goto fail;

    db = calloc(1, sizeof(*db));
    if (db == NULL)
        abort();
    db->statement_timeout_ms = statement_timeout_ms < 0 ? 0 : statement_timeout_ms;

    char timeout[32];
    int timeout_s = (connect_timeout_ms + 999) / 1000;
    snprintf(timeout, sizeof(timeout), "%d", timeout_s < 2 ? 2 : timeout_s);
    /*
     * Order matters: libpq keeps the last value of a repeated keyword and expands
     * `dbname` in place, so the keywords before it are defaults the connection string
     * may override, and connect_timeout after it is the configured one.
     */
    const char *keys[] = {"keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "fallback_application_name",
                          "dbname",
                          "connect_timeout",
                          NULL};
    const char *values[] = {
        "1",      "30",    "10", "3", application_name ? application_name : "notify",
        conninfo, timeout, NULL};
    db->conn = PQconnectdbParams(keys, values, 1);
    if (db->conn == NULL)
        abort();
    if (PQstatus(db->conn) != CONNECTION_OK) {
        db_set_err(errstr, errstr_size,
                   "cannot connect to the database: ", PQerrorMessage(db->conn));
        goto fail;
    }
    PQsetNoticeReceiver(db->conn, db_notice, NULL);
    if (db_session_setup(db, errstr, errstr_size) != 0)
        goto fail;
    db->gen = 1;
    return db;

fail:
    db_destroy(db);
    return NULL;
}

void db_destroy(db_t *db)
{
    if (db == NULL)
        return;
    if (db->conn != NULL)
        PQfinish(db->conn);
    for (size_t i = 0; i < db->stmt_count; i++) {
        free(db->stmts[i].name);
        free(db->stmts[i].sql);
    }
    free(db->stmts);
    free(db);
}

db_err_t db_prepare(db_t *db, const char *name, const char *sql, int nparams, unsigned flags,
                    char *errstr, size_t errstr_size)
{
    if (name == NULL || sql == NULL || name[0] == '\0' || strlen(name) > DB_NAME_MAX ||
        nparams < 0) {
        snprintf(errstr, errstr_size, "db_prepare: bad statement name or parameter count");
        return DB_ERR_USAGE;
    }
    db_stmt_t *known = db_find(db, name);
    if (known != NULL) {
        if (strcmp(known->sql, sql) == 0 && known->nparams == nparams && known->flags == flags)
            return DB_OK;
        snprintf(errstr, errstr_size, "statement %s is already registered with other SQL", name);
        return DB_ERR_USAGE;
    }
    if (db->stmt_count == db->stmt_cap) {
        size_t cap = db->stmt_cap ? db->stmt_cap * 2 : 16;
        db_stmt_t *grown = realloc(db->stmts, cap * sizeof(*grown));
        if (grown == NULL)
            abort();
        db->stmts = grown;
        db->stmt_cap = cap;
    }
    db_stmt_t *stmt = &db->stmts[db->stmt_count];
    *stmt =
        (db_stmt_t){.name = strdup(name), .sql = strdup(sql), .nparams = nparams, .flags = flags};
    if (stmt->name == NULL || stmt->sql == NULL)
        abort();
    db->stmt_count++;

    /* Preparing now reports a bad statement at start-up rather than at first use. */
    db_call_t call = {.stmt = stmt, .retry = true, .prepare_only = true};
    db_err_t err = db_call(db, &call, NULL, errstr, errstr_size);
    if (err == DB_ERR_SQL) {
        free(stmt->name);
        free(stmt->sql);
        db->stmt_count--;
    }
    return err;
}

db_err_t db_exec_prepared(db_t *db, const char *name, int nparams, const char *const *values,
                          PGresult **result, char *errstr, size_t errstr_size)
{
    if (result != NULL)
        *result = NULL;
    db->sqlstate[0] = '\0';
    db_stmt_t *stmt = db_find(db, name);
    if (stmt == NULL || stmt->nparams != nparams) {
        snprintf(errstr, errstr_size, "statement %s is not registered with %d parameters", name,
                 nparams);
        return DB_ERR_USAGE;
    }
    db_call_t call = {.stmt = stmt,
                      .nparams = nparams,
                      .values = values,
                      .retry = (stmt->flags & DB_STMT_NO_RETRY) == 0};
    return db_call(db, &call, result, errstr, errstr_size);
}

db_err_t db_exec_params(db_t *db, const char *sql, int nparams, const char *const *values,
                        PGresult **result, char *errstr, size_t errstr_size)
{
    db_call_t call = {.sql = sql, .nparams = nparams, .values = values, .retry = true};
    return db_call(db, &call, result, errstr, errstr_size);
}

db_err_t db_exec(db_t *db, const char *sql, PGresult **result, char *errstr, size_t errstr_size)
{
    db_call_t call = {.sql = sql, .retry = true};
    return db_call(db, &call, result, errstr, errstr_size);
}

db_err_t db_begin(db_t *db, char *errstr, size_t errstr_size)
{
    db->transaction_lost = false;
    return db_exec(db, "BEGIN", NULL, errstr, errstr_size);
}

db_err_t db_commit(db_t *db, char *errstr, size_t errstr_size)
{
    if (PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) == PQTRANS_INERROR) {
        db_rollback(db);
        snprintf(db->sqlstate, sizeof(db->sqlstate), "25P02");
        snprintf(errstr, errstr_size, "transaction rolled back: an earlier statement failed");
        return DB_ERR_SQL;
    }
    return db_exec(db, "COMMIT", NULL, errstr, errstr_size);
}

void db_rollback(db_t *db)
{
    db->transaction_lost = false;
    if (PQstatus(db->conn) != CONNECTION_OK || PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return;
    PQclear(PQexec(db->conn, "ROLLBACK"));
}

db_err_t db_ping(db_t *db, char *errstr, size_t errstr_size)
{
    return db_exec(db, "SELECT 1", NULL, errstr, errstr_size);
}

const char *db_sqlstate(const db_t *db)
{
    return db->sqlstate;
}

bool db_retryable(const db_t *db, db_err_t err)
{
    if (err == DB_ERR_CONN)
        return true;
    if (err != DB_ERR_SQL)
        return false;
    for (size_t i = 0; i < sizeof(db_retryable_sqlstates) / sizeof(db_retryable_sqlstates[0]);
         i++) {
        const char *prefix = db_retryable_sqlstates[i];
        if (strncmp(db->sqlstate, prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}
