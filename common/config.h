/*
 * Configuration: one table of settings (config_keys.h) drives parsing from the
 * environment and from --KEY=value flags, validation, defaults, --help and
 * --check-config. KAFKA_<PROPERTY> keys that are not in the table pass through to
 * librdkafka as <property> (KAFKA_SECURITY_PROTOCOL -> security.protocol) and are checked
 * against librdkafka's own list, so a misspelt one stops start-up too.
 */
#ifndef NOTIFY_CONFIG_H
#define NOTIFY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Which binaries read a key; a binary's --help lists only its own keys. */
#define CFG_BIN_EMAIL   (1u << 0)
#define CFG_BIN_TWILIO  (1u << 1)
#define CFG_BIN_SNS     (1u << 2)
#define CFG_BIN_WEBHOOK (1u << 3)
#define CFG_BIN_CTL     (1u << 4)
#define CFG_BIN_WORKERS (CFG_BIN_EMAIL | CFG_BIN_TWILIO | CFG_BIN_SNS)
#define CFG_BIN_ALL     (CFG_BIN_WORKERS | CFG_BIN_WEBHOOK | CFG_BIN_CTL)

typedef enum {
    CFG_TYPE_STRING,   /* any text */
    CFG_TYPE_INT,      /* decimal integer within [min, max] */
    CFG_TYPE_BOOL,     /* true/false, 1/0, yes/no, on/off */
    CFG_TYPE_ENUM,     /* one of the '|'-separated words in the key's `choices` */
    CFG_TYPE_URL,      /* empty, or an http:// or https:// URL with a host */
    CFG_TYPE_HOSTPORT, /* host:port or [v6]:port, port 1-65535 (0 allowed: any free port) */
} cfg_type_t;

/* Key flags. */
#define CFG_FLAG_SECRET   (1u << 0) /* never printed: --check-config shows "(set)" */
#define CFG_FLAG_REQUIRED (1u << 1) /* must be non-empty for the binaries that read it */

typedef struct cfg_key_def_s {
    const char *name;
    cfg_type_t type;
    const char *default_value; /* text form, parsed like any other value */
    int64_t min, max;          /* CFG_TYPE_INT bounds */
    const char *choices;       /* CFG_TYPE_ENUM words, '|'-separated */
    unsigned binaries;         /* CFG_BIN_* mask */
    unsigned flags;            /* CFG_FLAG_* mask */
    const char *doc;
} cfg_key_def_t;

#include "config_keys.h"

typedef enum {
#define CFG_X_ENUM(id, ...) CFG_##id,
    CFG_KEYS(CFG_X_ENUM)
#undef CFG_X_ENUM
        CFG__COUNT
} cfg_key_t;

typedef struct cfg_s cfg_t;

/* The definition of a key (the table row). */
const cfg_key_def_t *cfg_key_def(cfg_key_t key);

/* A configuration for one binary (CFG_BIN_*) holding every key's default. */
cfg_t *cfg_new(unsigned binary);
void cfg_destroy(cfg_t *cfg);

/*
 * Sets one key by name from its text form. Names are matched case-insensitively with '-'
 * read as '_' (so --kafka-bootstrap-servers works). Returns 0, or -1 with errstr naming
 * the key and the rule it broke.
 */
int cfg_set(cfg_t *cfg, const char *name, const char *value, char *errstr, size_t errstr_size);

/*
 * Reads the environment (`envp`, NULL-terminated "NAME=value" strings). Variables that
 * belong to us (a table key, KAFKA_*, or a name under one of our prefixes) are set; an
 * unknown name under our prefixes is an error. Kubernetes service-link variables
 * (KAFKA_PORT, KAFKA_SERVICE_HOST, ...) are skipped. Returns 0 or -1 with errstr.
 */
int cfg_load_env(cfg_t *cfg, char **envp, char *errstr, size_t errstr_size);

/*
 * Reads --KEY=value arguments from argv[1..argc-1]. Arguments that are not of that form
 * are left for the caller: their indexes are written to `rest` (capacity argc) and their
 * number to *rest_count. Returns 0 or -1 with errstr.
 */
int cfg_load_args(cfg_t *cfg, int argc, char **argv, int *rest, int *rest_count, char *errstr,
                  size_t errstr_size);

/* Checks what only the whole configuration can tell (required keys set). 0 or -1. */
int cfg_validate(const cfg_t *cfg, char *errstr, size_t errstr_size);

const char *cfg_str(const cfg_t *cfg, cfg_key_t key);
int64_t cfg_int(const cfg_t *cfg, cfg_key_t key);
bool cfg_bool(const cfg_t *cfg, cfg_key_t key);

/* KAFKA_* pass-through properties, in the order they were set. */
size_t cfg_kafka_count(const cfg_t *cfg);
const char *cfg_kafka_name(const cfg_t *cfg, size_t i); /* librdkafka name, e.g. "acks" */
const char *cfg_kafka_value(const cfg_t *cfg, size_t i);

/* The keys of `binary` with type, default and doc, for --help. */
void cfg_print_help(FILE *out, unsigned binary);
/* The effective values, secrets shown as "(set)", for --check-config. */
void cfg_print_values(const cfg_t *cfg, FILE *out);

#endif
