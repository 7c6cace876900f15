/*
 * notifyctl keygen and notifyctl encrypt: the operator's side of secret.h.
 *
 *   notifyctl keygen [--id ID]
 *       prints a new key ring entry "id:base64key" (32 random bytes) on stdout;
 *   notifyctl encrypt --org ORG_ID --column TABLE.COLUMN
 *       reads one secret on stdin and prints the value to store in that column of that
 *       organisation's row, encrypted with the ring's active key.
 *
 * Both take argv[0] = the subcommand's name and its own arguments after it, and return the
 * process exit code: 0 on success, 1 on an error, 2 on a usage error. Messages go to
 * stderr and never contain a key or a secret.
 */
#ifndef NOTIFYCTL_CMD_SECRET_H
#define NOTIFYCTL_CMD_SECRET_H

#include "config.h"

int ctl_keygen(const cfg_t *cfg, int argc, char **argv);
int ctl_encrypt(const cfg_t *cfg, int argc, char **argv);

#endif
