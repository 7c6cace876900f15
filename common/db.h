/*
 * PostgreSQL access: one libpq connection with the session settings every query relies
 * on, prepared statements registered once by name, and recovery from a lost connection.
 *
 * Threads: a db_t is used by one thread at a time; libpq cannot run two queries on one
 * connection at once. A component called from several threads either gives each thread
 * its own handle or serialises its use of one (provcfg does the latter).
 *
 * Session: every connection (the first and each reconnect) sets statement_timeout, and
 * application_name unless the connection string names one. TCP keepalives are on, so a
 * server that vanished without closing the socket is noticed in about a minute instead
 * of the kernel's two hours; a connection string may override them.
 *
 * Reconnect: when a call finds the connection broken (server restart, failover,
 * pg_terminate_backend), the handle resets the connection, applies the session settings
 * and re-prepares each registered statement on its next use. Whether the failed call is
 * then retried depends on where it ran:
 *   - Inside a transaction it is not: the server rolled the transaction back with the
 *     connection, so the caller gets DB_ERR_CONN and starts the transaction over (the next
 *     call finds the new connection). Until it calls db_rollback() (or db_begin()), every
 *     call fails with DB_ERR_CONN, so the rest of the transaction cannot run by mistake as
 *     separate statements on the new connection. A COMMIT that loses its connection has
 *     an unknown outcome; design transactions so that running them again is harmless.
 *   - Outside a transaction it is retried once on the new connection. A statement that
 *     lost its connection may still have run on the server before the reply was lost, so
 *     a retry can run it twice: that is harmless for reads and idempotent writes (upserts,
 *     conditional updates), which is what the default assumes. Register statements for
 *     which it is not harmless with DB_STMT_NO_RETRY.
 * A reconnect that fails returns DB_ERR_CONN; the next call tries again.
 *
 * Error text: errstr holds libpq's primary message and, for SQL errors, the SQLSTATE and
 * constraint name, never the DETAIL (which may quote row values) and never the connection
 * string. The password from the connection string is also registered with redact so a
 * log line cannot carry it.
 */
#ifndef NOTIFY_DB_H
#define NOTIFY_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct db_s db_t;

typedef enum {
    DB_OK = 0,
    DB_ERR_CONN,  /* no usable connection, or it was lost during the call: retryable */
    DB_ERR_SQL,   /* the server refused the statement; db_sqlstate() tells why */
    DB_ERR_USAGE, /* a bug in the caller: unknown statement, wrong parameter count */
} db_err_t;

/* db_prepare() flags. */
#define DB_STMT_NO_RETRY (1u << 0) /* never retried after a lost connection (see above) */

/* SQLSTATEs callers test for. */
#define DB_SQLSTATE_UNIQUE_VIOLATION "23505"
#define DB_SQLSTATE_CHECK_VIOLATION  "23514"
#define DB_SQLSTATE_NOT_NULL         "23502"

/*
 * Connects with `conninfo` (a libpq key=value string or a postgresql:// URI).
 * `application_name` is used unless the connection string sets one. connect_timeout_ms
 * bounds one connection attempt (libpq counts whole seconds, at least 2);
 * statement_timeout_ms becomes the session's statement_timeout (0 disables it).
 * Returns NULL with errstr when the string is malformed or the first connection fails.
 */
db_t *db_new(const char *conninfo, const char *application_name, int connect_timeout_ms,
             int statement_timeout_ms, char *errstr, size_t errstr_size);
void db_destroy(db_t *db);

/*
 * Registers a statement under `name` (at most 63 bytes) with `nparams` parameters
 * ($1..$n, passed as text) and prepares it. Registering a name again with the same SQL
 * and count is a no-op, so modules sharing a handle may each register what they use;
 * with other SQL it is DB_ERR_USAGE. DB_ERR_SQL means the server refused the SQL and the
 * name is not registered. DB_ERR_CONN leaves it registered: it is prepared on first use.
 */
db_err_t db_prepare(db_t *db, const char *name, const char *sql, int nparams, unsigned flags,
                    char *errstr, size_t errstr_size);

/*
 * Runs a registered statement. `values` holds nparams text values (NULL for SQL NULL).
 * On DB_OK and a non-NULL `result`, *result is the PGresult (tuples or command status)
 * that the caller PQclear()s; on error *result is NULL.
 */
db_err_t db_exec_prepared(db_t *db, const char *name, int nparams, const char *const *values,
                          PGresult **result, char *errstr, size_t errstr_size);

/* Runs SQL with parameters without preparing it (statements used once). */
db_err_t db_exec_params(db_t *db, const char *sql, int nparams, const char *const *values,
                        PGresult **result, char *errstr, size_t errstr_size);

/*
 * Runs SQL text that may hold several statements and no parameters (schema changes,
 * SET ...). The result, if asked for, is the last statement's.
 */
db_err_t db_exec(db_t *db, const char *sql, PGresult **result, char *errstr, size_t errstr_size);

/*
 * Transactions. db_begin() reconnects first if needed. db_commit() refuses (DB_ERR_SQL,
 * SQLSTATE 25P02) and rolls back when an earlier statement failed, since the server would
 * silently roll back instead. db_rollback() is safe to call in any state, after a lost
 * connection included; it ends the transaction if there is one.
 */
db_err_t db_begin(db_t *db, char *errstr, size_t errstr_size);
db_err_t db_commit(db_t *db, char *errstr, size_t errstr_size);
void db_rollback(db_t *db);

/* Checks the connection with a trivial query, reconnecting if needed (readiness). */
db_err_t db_ping(db_t *db, char *errstr, size_t errstr_size);

/* The SQLSTATE of the last DB_ERR_SQL, or "" after any other outcome. */
const char *db_sqlstate(const db_t *db);

/*
 * True when trying again later may succeed: DB_ERR_CONN, and SQL errors that come from
 * load or timing rather than from the statement (serialization failure, deadlock,
 * statement timeout, lock timeout, server shutting down, out of resources).
 */
bool db_retryable(const db_t *db, db_err_t err);

const char *db_err_name(db_err_t err);

#endif
