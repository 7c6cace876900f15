#include "migrate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The advisory lock every migrating transaction takes: the bytes of "notify". Advisory
 * locks are per database, so this serialises runs against any schema of it. */
#define MIGRATE_LOCK_KEY "121390379083385"

static const char migrate_create_table_sql[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                               " version integer PRIMARY KEY,"
                                               " name text NOT NULL,"
                                               " checksum text NOT NULL,"
                                               " applied_at timestamptz NOT NULL DEFAULT now())";

static const char migrate_select_applied_sql[] =
    "SELECT version, name, checksum,"
    " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    " FROM schema_migrations ORDER BY version";

static const char migrate_select_one_sql[] =
    "SELECT checksum FROM schema_migrations WHERE version = $1";

static const char migrate_insert_sql[] =
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)";

static const char *const migrate_state_names[] = {"pending", "applied", "changed", "unknown"};

/* One row of schema_migrations. */
typedef struct migrate_applied_s {
    int version;
    char name[128];
    char checksum[65];
    char applied_at[32];
} migrate_applied_t;

const char *migrate_state_name(migrate_state_t state)
{
    if ((int)state < 0 ||
        (size_t)state >= sizeof(migrate_state_names) / sizeof(migrate_state_names[0]))
        return "invalid";
    return migrate_state_names[state];
}

static int migrate_parse_version(const char *text, int *version)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 99999999)
        return -1;
    *version = (int)v;
    return 0;
}

/*
 * Opens a migrating transaction: without the workers' statement_timeout (a schema change
 * on a large table may take longer than any one query should), after the advisory lock,
 * and with a lock_timeout so that a migration waiting for a table lock held by busy
 * workers gives up instead of queueing every worker behind itself.
 */
static int migrate_begin(db_t *db, char *errstr, size_t errstr_size)
{
    if (db_begin(db, errstr, errstr_size) != DB_OK)
        return -1;
    if (db_exec(db,
                "SET LOCAL statement_timeout = 0;"
                "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
                "SET LOCAL lock_timeout = '30s'",
                NULL, errstr, errstr_size) != DB_OK)
        return -1;
    return 0;
}

/* Reads schema_migrations into a malloc'd array in version order. */
static int migrate_read_applied(db_t *db, migrate_applied_t **out, size_t *count, char *errstr,
                                size_t errstr_size)
{
    int rc = -1;
    PGresult *res = NULL;
    migrate_applied_t *rows = NULL;
    *out = NULL;
    *count = 0;
    if (db_exec(db, migrate_select_applied_sql, &res, errstr, errstr_size) != DB_OK)
        goto out;
    int n = PQntuples(res);
    rows = calloc(n > 0 ? (size_t)n : 1, sizeof(*rows));
    if (rows == NULL)
        abort();
    for (int i = 0; i < n; i++) {
        if (migrate_parse_version(PQgetvalue(res, i, 0), &rows[i].version) != 0) {
            snprintf(errstr, errstr_size, "schema_migrations holds a bad version");
            goto out;
        }
        snprintf(rows[i].name, sizeof(rows[i].name), "%s", PQgetvalue(res, i, 1));
        snprintf(rows[i].checksum, sizeof(rows[i].checksum), "%s", PQgetvalue(res, i, 2));
        snprintf(rows[i].applied_at, sizeof(rows[i].applied_at), "%s", PQgetvalue(res, i, 3));
    }
    *out = rows;
    *count = (size_t)n;
    rows = NULL;
    rc = 0;
out:
    free(rows);
    PQclear(res);
    return rc;
}

static const migrate_applied_t *migrate_find_applied(const migrate_applied_t *applied, size_t n,
                                                     int version)
{
    for (size_t i = 0; i < n; i++) {
        if (applied[i].version == version)
            return &applied[i];
    }
    return NULL;
}

static int migrate_check_checksum(const migrate_script_t *script, const char *checksum,
                                  char *errstr, size_t errstr_size)
{
    if (strcmp(script->checksum, checksum) == 0)
        return 0;
    snprintf(errstr, errstr_size,
             "applied with checksum %.12s but this build has %.12s: an applied migration must "
             "not be edited (add a new one instead)",
             checksum, script->checksum);
    return -1;
}

/* What must hold before anything is applied: no edited file, nothing out of order. */
static int migrate_verify(const migrate_script_t *scripts, size_t count,
                          const migrate_applied_t *applied, size_t n, char *errstr,
                          size_t errstr_size)
{
    int highest = n > 0 ? applied[n - 1].version : 0;
    for (size_t i = 0; i < count; i++) {
        const migrate_applied_t *row = migrate_find_applied(applied, n, scripts[i].version);
        if (row != NULL) {
            char why[256];
            if (migrate_check_checksum(&scripts[i], row->checksum, why, sizeof(why)) != 0) {
                snprintf(errstr, errstr_size, "migration %04d_%s: %s", scripts[i].version,
                         scripts[i].name, why);
                return -1;
            }
        } else if (scripts[i].version < highest) {
            snprintf(errstr, errstr_size,
                     "migration %04d_%s is not applied but %04d is: refusing to apply it out "
                     "of order",
                     scripts[i].version, scripts[i].name, highest);
            return -1;
        }
    }
    return 0;
}

/*
 * Applies one migration in its own transaction, unless a concurrent run applied it since
 * this one looked. Sets *applied when this run applied it.
 */
static int migrate_apply_one(db_t *db, const migrate_script_t *script, bool *applied, char *errstr,
                             size_t errstr_size)
{
    int rc = -1;
    PGresult *res = NULL;
    char err[512] = "";
    char version[16];
    snprintf(version, sizeof(version), "%d", script->version);
    *applied = false;

    if (migrate_begin(db, err, sizeof(err)) != 0)
        goto out;
    const char *one[] = {version};
    if (db_exec_params(db, migrate_select_one_sql, 1, one, &res, err, sizeof(err)) != DB_OK)
        goto out;
    if (PQntuples(res) > 0) {
        if (migrate_check_checksum(script, PQgetvalue(res, 0, 0), err, sizeof(err)) != 0)
            goto out;
        if (db_commit(db, err, sizeof(err)) != DB_OK)
            goto out;
        rc = 0;
        goto out;
    }
    if (db_exec(db, script->sql, NULL, err, sizeof(err)) != DB_OK)
        goto out;
    const char *row[] = {version, script->name, script->checksum};
    if (db_exec_params(db, migrate_insert_sql, 3, row, NULL, err, sizeof(err)) != DB_OK)
        goto out;
    if (db_commit(db, err, sizeof(err)) != DB_OK)
        goto out;
    *applied = true;
    rc = 0;
out:
    if (rc != 0) {
        snprintf(errstr, errstr_size, "migration %04d_%s: %s", script->version, script->name, err);
        db_rollback(db);
    }
    PQclear(res);
    return rc;
}

int migrate_apply(db_t *db, migrate_applied_cb on_applied, void *opaque, char *errstr,
                  size_t errstr_size)
{
    int rc = -1;
    migrate_applied_t *applied = NULL;
    size_t n = 0;
    size_t count = 0;
    const migrate_script_t *scripts = migrate_scripts(&count);

    if (migrate_begin(db, errstr, errstr_size) != 0 ||
        db_exec(db, migrate_create_table_sql, NULL, errstr, errstr_size) != DB_OK ||
        migrate_read_applied(db, &applied, &n, errstr, errstr_size) != 0 ||
        db_commit(db, errstr, errstr_size) != DB_OK)
        goto out;
    if (migrate_verify(scripts, count, applied, n, errstr, errstr_size) != 0)
        goto out;
    for (size_t i = 0; i < count; i++) {
        if (migrate_find_applied(applied, n, scripts[i].version) != NULL)
            continue;
        bool done = false;
        if (migrate_apply_one(db, &scripts[i], &done, errstr, errstr_size) != 0)
            goto out;
        if (done && on_applied != NULL)
            on_applied(&scripts[i], opaque);
    }
    rc = 0;
out:
    db_rollback(db);
    free(applied);
    return rc;
}

int migrate_status(db_t *db, migrate_status_t **rows, size_t *count, char *errstr,
                   size_t errstr_size)
{
    int rc = -1;
    PGresult *res = NULL;
    migrate_applied_t *applied = NULL;
    migrate_status_t *out = NULL;
    size_t n = 0;
    size_t script_count = 0;
    const migrate_script_t *scripts = migrate_scripts(&script_count);
    *rows = NULL;
    *count = 0;

    if (db_exec(db, "SELECT to_regclass('schema_migrations') IS NOT NULL", &res, errstr,
                errstr_size) != DB_OK)
        goto out;
    bool exists = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    if (exists && migrate_read_applied(db, &applied, &n, errstr, errstr_size) != 0)
        goto out;

    out = calloc(script_count + n, sizeof(*out));
    if (out == NULL)
        abort();
    /* Both lists are in version order: merge them. */
    size_t i = 0, j = 0, k = 0;
    while (i < script_count || j < n) {
        migrate_status_t *row = &out[k++];
        if (j == n || (i < script_count && scripts[i].version < applied[j].version)) {
            row->version = scripts[i].version;
            snprintf(row->name, sizeof(row->name), "%s", scripts[i].name);
            row->state = MIGRATE_PENDING;
            i++;
        } else if (i == script_count || applied[j].version < scripts[i].version) {
            row->version = applied[j].version;
            snprintf(row->name, sizeof(row->name), "%s", applied[j].name);
            snprintf(row->applied_at, sizeof(row->applied_at), "%s", applied[j].applied_at);
            row->state = MIGRATE_UNKNOWN;
            j++;
        } else {
            row->version = scripts[i].version;
            snprintf(row->name, sizeof(row->name), "%s", scripts[i].name);
            snprintf(row->applied_at, sizeof(row->applied_at), "%s", applied[j].applied_at);
            row->state = strcmp(scripts[i].checksum, applied[j].checksum) == 0 ? MIGRATE_APPLIED
                                                                               : MIGRATE_CHANGED;
            i++;
            j++;
        }
    }
    *rows = out;
    *count = k;
    out = NULL;
    rc = 0;
out:
    free(out);
    free(applied);
    PQclear(res);
    return rc;
}

void migrate_status_free(migrate_status_t *rows)
{
    free(rows);
}
