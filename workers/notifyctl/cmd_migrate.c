#include "cmd_migrate.h"

#include "db.h"
#include "migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void ctl_migrate_print_applied(const migrate_script_t *script, void *opaque)
{
    int *applied = opaque;
    (*applied)++;
    printf("applied %04d_%s\n", script->version, script->name);
    fflush(stdout);
}

static int ctl_migrate_status(db_t *db)
{
    char errstr[512];
    migrate_status_t *rows = NULL;
    size_t count = 0;
    if (migrate_status(db, &rows, &count, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "notifyctl migrate: %s\n", errstr);
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        printf("%04d_%-32s %s%s%s\n", rows[i].version, rows[i].name,
               migrate_state_name(rows[i].state), rows[i].applied_at[0] ? " " : "",
               rows[i].applied_at);
        if (rows[i].state == MIGRATE_CHANGED)
            rc = 1;
    }
    migrate_status_free(rows);
    return rc;
}

int ctl_migrate(const cfg_t *cfg, int argc, char **argv)
{
    int rc = 1;
    db_t *db = NULL;
    bool status = false;
    char errstr[512];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--status") == 0) {
            status = true;
        } else {
            fprintf(stderr, "notifyctl migrate: unknown argument '%s' (only --status)\n", argv[i]);
            goto out;
        }
    }
    db = db_new(cfg_str(cfg, CFG_DATABASE_URL), "notifyctl",
                (int)cfg_int(cfg, CFG_DB_CONNECT_TIMEOUT_MS),
                (int)cfg_int(cfg, CFG_DB_STATEMENT_TIMEOUT_MS), errstr, sizeof(errstr));
    if (db == NULL) {
        fprintf(stderr, "notifyctl migrate: %s\n", errstr);
        goto out;
    }
    if (status) {
        rc = ctl_migrate_status(db);
        goto out;
    }

    int applied = 0;
    if (migrate_apply(db, ctl_migrate_print_applied, &applied, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "notifyctl migrate: %s\n", errstr);
        goto out;
    }
    size_t count = 0;
    const migrate_script_t *scripts = migrate_scripts(&count);
    const migrate_script_t *last = &scripts[count - 1];
    if (applied == 0)
        printf("schema is up to date at %04d_%s\n", last->version, last->name);
    else
        printf("applied %d migration%s; schema is at %04d_%s\n", applied, applied == 1 ? "" : "s",
               last->version, last->name);
    rc = 0;
out:
    db_destroy(db);
    return rc;
}
