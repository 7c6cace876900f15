/*
 * What every binary does before its own work: read the configuration from the
 * environment and flags, answer --help, --version and --check-config, and set up logging.
 */
#ifndef NOTIFY_APP_H
#define NOTIFY_APP_H

#include <stdbool.h>

#include "config.h"

typedef struct app_desc_s {
    const char *name;    /* binary name, e.g. "email-worker" */
    unsigned binary;     /* CFG_BIN_* */
    const char *summary; /* one line for --help */
    const char *usage;   /* extra usage text (subcommands), or NULL */
    /* Connections --check-config tries, as APP_CHECK_* bits. */
    unsigned checks;
} app_desc_t;

#define APP_CHECK_KAFKA    (1u << 0)
#define APP_CHECK_DATABASE (1u << 1)
#define APP_CHECK_SECRETS  (1u << 2)

/* app_start() returns this when the binary should go on with its work. */
#define APP_CONTINUE (-1)

typedef struct app_args_s {
    cfg_t *cfg;  /* owned by the caller after app_start(): cfg_destroy() it */
    int argc;    /* arguments that were not --KEY=value flags, argv[0] first */
    char **argv; /* malloc'd array of pointers into the original argv */
} app_args_t;

/*
 * Reads the environment and argv. Returns APP_CONTINUE with `args` filled, or an exit code
 * (0 after --help, --version or a passing --check-config; 1 after a failed check; 2 after a
 * configuration error, which is printed to stderr naming the key).
 */
int app_start(const app_desc_t *desc, int argc, char **argv, char **envp, app_args_t *args);

/* Frees what app_start() allocated. */
void app_args_free(app_args_t *args);

/*
 * Tries the connections named by desc->checks and prints one line per check.
 * Returns 0 when all pass, 1 otherwise.
 */
int app_check_config(const app_desc_t *desc, const cfg_t *cfg);

#endif
