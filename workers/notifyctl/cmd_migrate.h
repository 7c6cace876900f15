/* notifyctl migrate: applies the embedded schema migrations, or lists them (--status). */
#ifndef NOTIFYCTL_CMD_MIGRATE_H
#define NOTIFYCTL_CMD_MIGRATE_H

#include "config.h"

/*
 * argv[0] is "migrate"; the only option is --status. Prints what it applied (or the
 * status table) on stdout and errors on stderr. Returns the exit code: 0, or 1 on any
 * failure (and for --status when an applied migration was edited).
 */
int ctl_migrate(const cfg_t *cfg, int argc, char **argv);

#endif
