/*
 * Schema migrations: the numbered SQL files of schemas/migrations, compiled into the
 * binaries at build time (cmake/embed_migrations.cmake), applied in version order and
 * recorded in the table schema_migrations (version, name, checksum, applied_at).
 *
 * Each migration runs in its own transaction together with its schema_migrations row, so
 * it is applied entirely or not at all; a file must therefore not hold BEGIN/COMMIT or
 * statements that refuse to run in a transaction (CREATE INDEX CONCURRENTLY). Every such
 * transaction first takes a transaction-level advisory lock and looks again at what is
 * applied, so concurrent runs (two replicas starting, two operators) apply each migration
 * once and the loser of the race simply finds it done. A transaction lock rather than a
 * session lock, because a session lock would silently vanish with a reconnect.
 *
 * An applied migration whose checksum differs from the embedded file means someone edited
 * a file after it was applied: migrate_apply() refuses to go on until that is resolved
 * (a change is a new file). It also refuses to apply a file whose version is below one
 * already applied, since it was written against an older schema than the one in place.
 */
#ifndef NOTIFY_MIGRATE_H
#define NOTIFY_MIGRATE_H

#include <stddef.h>

#include "db.h"

typedef struct migrate_script_s {
    int version;          /* NNNN of NNNN_name.sql */
    const char *name;     /* name of NNNN_name.sql */
    const char *checksum; /* SHA-256 of the file, lower-case hex */
    const char *sql;      /* the file's text */
} migrate_script_t;

/* The embedded migrations in ascending version order (generated; never empty). */
const migrate_script_t *migrate_scripts(size_t *count);

/* Called after each migration this run applied (committed). */
typedef void (*migrate_applied_cb)(const migrate_script_t *script, void *opaque);

/*
 * Applies the embedded migrations that the database lacks, in order, and calls
 * `on_applied` (may be NULL) for each. Idempotent: with nothing to do it changes nothing.
 * Returns 0, or -1 with errstr (naming the migration when one failed; the migrations
 * applied before it stay applied).
 */
int migrate_apply(db_t *db, migrate_applied_cb on_applied, void *opaque, char *errstr,
                  size_t errstr_size);

typedef enum {
    MIGRATE_PENDING, /* embedded, not applied */
    MIGRATE_APPLIED, /* applied with the embedded checksum */
    MIGRATE_CHANGED, /* applied with another checksum: the file was edited afterwards */
    MIGRATE_UNKNOWN, /* applied, but this binary does not know it (a newer one ran) */
} migrate_state_t;

typedef struct migrate_status_s {
    int version;
    char name[128];
    migrate_state_t state;
    char applied_at[32]; /* RFC 3339 UTC, "" when pending */
} migrate_status_t;

/*
 * Lists the embedded and the applied migrations merged in version order, without
 * changing anything (no table is created). *rows is malloc'd: free it with
 * migrate_status_free(). Returns 0 or -1 with errstr.
 */
int migrate_status(db_t *db, migrate_status_t **rows, size_t *count, char *errstr,
                   size_t errstr_size);
void migrate_status_free(migrate_status_t *rows);

const char *migrate_state_name(migrate_state_t state);

#endif
