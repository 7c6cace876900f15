#include "app.h"

#include "db.h"
#include "kafka.h"
#include "log.h"
#include "secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APP_CHECK_TIMEOUT_MS 5000

static void app_print_help(const app_desc_t *desc)
{
    printf("Usage: %s [--help] [--version] [--check-config] [--KEY=value ...]%s\n\n%s\n\n",
           desc->name, desc->usage ? " <command> [args]" : "", desc->summary);
    if (desc->usage)
        printf("%s\n", desc->usage);
    printf("  --help           this text\n"
           "  --version        the version\n"
           "  --check-config   validate the configuration, try the connections, exit 0 or 1\n\n");
    cfg_print_help(stdout, desc->binary);
}

int app_check_config(const app_desc_t *desc, const cfg_t *cfg)
{
    char errstr[512];
    int failed = 0;

    printf("%s %s: configuration\n", desc->name, NOTIFY_VERSION);
    cfg_print_values(cfg, stdout);

    if (desc->checks & APP_CHECK_SECRETS) {
        secret_ring_t *ring = secret_ring_from_cfg(cfg, errstr, sizeof(errstr));
        if (ring == NULL) {
            printf("secrets: FAILED: %s\n", errstr);
            failed = 1;
        } else {
            printf("secrets: ok\n");
            secret_ring_destroy(ring);
        }
    }
    if (desc->checks & APP_CHECK_DATABASE) {
        /* db_new() connects and never puts the password into its message. */
        db_t *db = NULL;
        if (cfg_str(cfg, CFG_DATABASE_URL)[0] == '\0')
            snprintf(errstr, sizeof(errstr), "DATABASE_URL is not set");
        else
            db = db_new(cfg_str(cfg, CFG_DATABASE_URL), desc->name,
                        (int)cfg_int(cfg, CFG_DB_CONNECT_TIMEOUT_MS),
                        (int)cfg_int(cfg, CFG_DB_STATEMENT_TIMEOUT_MS), errstr, sizeof(errstr));
        if (db == NULL || db_ping(db, errstr, sizeof(errstr)) != DB_OK) {
            printf("database: FAILED: %s\n", errstr);
            failed = 1;
        } else {
            printf("database: ok\n");
        }
        db_destroy(db);
    }
    if (desc->checks & APP_CHECK_KAFKA) {
        if (kafka_check(cfg, APP_CHECK_TIMEOUT_MS, errstr, sizeof(errstr)) != 0) {
            printf("kafka: FAILED: %s\n", errstr);
            failed = 1;
        } else {
            printf("kafka: ok\n");
        }
    }
    printf("%s\n", failed ? "check-config: FAILED" : "check-config: ok");
    return failed;
}

int app_start(const app_desc_t *desc, int argc, char **argv, char **envp, app_args_t *args)
{
    int rc = 2;
    char errstr[512];
    bool want_check = false;
    int *rest = calloc((size_t)argc + 1, sizeof(*rest));
    int rest_count = 0;

    memset(args, 0, sizeof(*args));
    args->cfg = cfg_new(desc->binary);
    args->argv = calloc((size_t)argc + 1, sizeof(char *));
    if (rest == NULL || args->argv == NULL)
        abort();
    args->argv[args->argc++] = argv[0];

    /* --help and --version win over everything else, even a broken environment. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            app_print_help(desc);
            rc = 0;
            goto out;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", desc->name, NOTIFY_VERSION);
            rc = 0;
            goto out;
        }
    }

    /* With subcommands, flags after the command name are the command's own
     * (notifyctl encrypt --org=acme), so configuration flags end at the first word. */
    int flags_end = argc;
    if (desc->usage != NULL)
        for (int i = 1; i < argc && flags_end == argc; i++)
            if (strncmp(argv[i], "--", 2) != 0)
                flags_end = i;
    if (cfg_load_env(args->cfg, envp, errstr, sizeof(errstr)) != 0 ||
        cfg_load_args(args->cfg, flags_end, argv, rest, &rest_count, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%s: configuration error: %s\n", desc->name, errstr);
        goto out;
    }
    for (int i = 0; i < rest_count; i++) {
        const char *arg = argv[rest[i]];
        if (strcmp(arg, "--check-config") == 0) {
            want_check = true;
        } else if (strncmp(arg, "--", 2) == 0) {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", desc->name, arg);
            goto out;
        } else {
            fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", desc->name, arg);
            goto out;
        }
    }
    for (int i = flags_end; i < argc; i++)
        args->argv[args->argc++] = argv[i];
    if (cfg_validate(args->cfg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%s: configuration error: %s\n", desc->name, errstr);
        goto out;
    }

    log_level_t level = LOG_LEVEL_INFO;
    log_level_parse(cfg_str(args->cfg, CFG_LOG_LEVEL), &level);
    log_init(desc->name, level);

    if (want_check) {
        rc = app_check_config(desc, args->cfg);
        goto out;
    }
    rc = APP_CONTINUE;
out:
    free(rest);
    if (rc != APP_CONTINUE)
        app_args_free(args);
    return rc;
}

void app_args_free(app_args_t *args)
{
    cfg_destroy(args->cfg);
    args->cfg = NULL;
    free(args->argv);
    args->argv = NULL;
    args->argc = 0;
}
