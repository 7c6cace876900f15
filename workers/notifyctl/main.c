/*
 * notifyctl: the operator's command. Each subcommand is a function in a file of its own
 * (cmd_<name>.c); this file reads the configuration and dispatches.
 */
#include "app.h"
#include "cmd_dlq.h"
#include "cmd_migrate.h"
#include "cmd_secret.h"

#include <stdio.h>
#include <string.h>

extern char **environ;

typedef struct ctl_command_s {
    const char *name;
    int (*run)(const cfg_t *cfg, int argc, char **argv);
} ctl_command_t;

static const ctl_command_t ctl_commands[] = {
    {"keygen", ctl_keygen}, {"encrypt", ctl_encrypt}, {"migrate", ctl_migrate}, {"dlq", ctl_dlq},
    {NULL, NULL},
};

static const app_desc_t ctl_desc = {
    .name = "notifyctl",
    .binary = CFG_BIN_CTL,
    .summary = "Operator commands for the delivery layer.",
    .usage = "Commands:\n"
             "  keygen [--id ID]            print a new id:base64key key ring entry\n"
             "  encrypt --org ORG --column TABLE.COLUMN\n"
             "                              encrypt the secret on stdin for that org and column\n"
             "  migrate [--status]          apply the missing schema migrations (or list them)\n"
             "  dlq replay --channel email|twilio|sns [--rate N] [--max N] [--idle-ms N]\n"
             "                              move dead-letter copies back to their original\n"
             "                              topic, at most N per second\n",
    .checks = APP_CHECK_KAFKA | APP_CHECK_DATABASE | APP_CHECK_SECRETS,
};

int main(int argc, char **argv)
{
    app_args_t args;
    int rc = app_start(&ctl_desc, argc, argv, environ, &args);
    if (rc != APP_CONTINUE)
        return rc;
    rc = 2;
    if (args.argc < 2) {
        fprintf(stderr, "notifyctl: a command is required (see --help)\n");
        goto out;
    }
    for (const ctl_command_t *c = ctl_commands; c->name; c++) {
        if (strcmp(c->name, args.argv[1]) == 0) {
            rc = c->run(args.cfg, args.argc - 1, args.argv + 1);
            goto out;
        }
    }
    fprintf(stderr, "notifyctl: unknown command '%s' (see --help)\n", args.argv[1]);
out:
    app_args_free(&args);
    return rc;
}
