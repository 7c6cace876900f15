#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CFG_NAME_MAX 128

static const cfg_key_def_t cfg_table[CFG__COUNT] = {
#define CFG_X_ROW(id, type, def, min, max, choices, bins, flags, doc) \
    {#id, type, def, min, max, choices, bins, flags, doc},
    CFG_KEYS(CFG_X_ROW)
#undef CFG_X_ROW
};

/*
 * Environment variables under these prefixes are ours: an unknown one is a typo to report,
 * not a stranger's variable to ignore. KAFKA_ is handled apart (pass-through).
 */
static const char *const cfg_owned_prefixes[] = {
    "TOPIC_",       "SECRET_", "HTTP_", "LOG_",      "DATABASE_",   "DB_",
    "PUBLIC_BASE_", "TWILIO_", "SNS_",  "PROVIDER_", "NOTIFY_CFG_",
};

typedef struct cfg_kafka_prop_s {
    char *name;
    char *value;
} cfg_kafka_prop_t;

struct cfg_s {
    unsigned binary;
    char *values[CFG__COUNT];
    int64_t ints[CFG__COUNT];
    cfg_kafka_prop_t *kafka;
    size_t kafka_count;
    size_t kafka_cap;
};

const cfg_key_def_t *cfg_key_def(cfg_key_t key)
{
    return (key >= 0 && key < CFG__COUNT) ? &cfg_table[key] : NULL;
}

/* Upper-cases `name` and reads '-' as '_' so that flags may be written in either style. */
static int cfg_canonical_name(const char *name, char *out, size_t out_size)
{
    size_t n = strlen(name);
    if (n == 0 || n >= out_size)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '-')
            c = '_';
        if (!isalnum(c) && c != '_')
            return -1;
        out[i] = (char)toupper(c);
    }
    out[n] = '\0';
    return 0;
}

static int cfg_find(const char *canonical)
{
    for (int i = 0; i < CFG__COUNT; i++)
        if (strcmp(cfg_table[i].name, canonical) == 0)
            return i;
    return -1;
}

static int cfg_parse_int(const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || isspace((unsigned char)text[0]))
        return -1;
    *out = v;
    return 0;
}

static int cfg_parse_bool(const char *text, int64_t *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int cfg_enum_index(const char *choices, const char *text, int64_t *out)
{
    size_t len = strlen(text);
    const char *p = choices;
    for (int64_t i = 0; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t wlen = bar ? (size_t)(bar - p) : strlen(p);
        if (wlen == len && strncmp(p, text, len) == 0) {
            *out = i;
            return 0;
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

static int cfg_check_port(const char *text)
{
    int64_t port;
    if (cfg_parse_int(text, &port) != 0 || port < 0 || port > 65535)
        return -1;
    return 0;
}

/* host:port, [v6]:port; the host may be a name or an address, the port 0-65535. */
static int cfg_check_hostport(const char *text)
{
    const char *colon;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close == text + 1 || close[1] != ':')
            return -1;
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || colon == text || memchr(text, ':', (size_t)(colon - text)))
            return -1;
    }
    return cfg_check_port(colon + 1);
}

/* Empty, or http(s)://host[...] with no spaces or control characters. */
static int cfg_check_url(const char *text)
{
    if (text[0] == '\0')
        return 0;
    const char *rest;
    if (strncasecmp(text, "https://", 8) == 0)
        rest = text + 8;
    else if (strncasecmp(text, "http://", 7) == 0)
        rest = text + 7;
    else
        return -1;
    if (*rest == '\0' || *rest == '/' || *rest == ':')
        return -1;
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return -1;
    return 0;
}

static int cfg_store(cfg_t *cfg, int idx, const char *value, char *errstr, size_t errstr_size)
{
    const cfg_key_def_t *def = &cfg_table[idx];
    int64_t iv = 0;
    switch (def->type) {
    case CFG_TYPE_STRING:
        break;
    case CFG_TYPE_INT:
        if (cfg_parse_int(value, &iv) != 0) {
            snprintf(errstr, errstr_size, "%s: not an integer", def->name);
            return -1;
        }
        if (iv < def->min || iv > def->max) {
            snprintf(errstr, errstr_size, "%s: %lld is out of range [%lld, %lld]", def->name,
                     (long long)iv, (long long)def->min, (long long)def->max);
            return -1;
        }
        break;
    case CFG_TYPE_BOOL:
        if (cfg_parse_bool(value, &iv) != 0) {
            snprintf(errstr, errstr_size, "%s: not a boolean (true/false)", def->name);
            return -1;
        }
        break;
    case CFG_TYPE_ENUM:
        if (cfg_enum_index(def->choices, value, &iv) != 0) {
            snprintf(errstr, errstr_size, "%s: must be one of %s", def->name, def->choices);
            return -1;
        }
        break;
    case CFG_TYPE_URL:
        if (cfg_check_url(value) != 0) {
            snprintf(errstr, errstr_size, "%s: not an http:// or https:// URL", def->name);
            return -1;
        }
        break;
    case CFG_TYPE_HOSTPORT:
        if (cfg_check_hostport(value) != 0) {
            snprintf(errstr, errstr_size, "%s: not host:port (port 0-65535)", def->name);
            return -1;
        }
        break;
    }
    char *copy = strdup(value);
    if (copy == NULL)
        abort();
    free(cfg->values[idx]);
    cfg->values[idx] = copy;
    cfg->ints[idx] = iv;
    return 0;
}

cfg_t *cfg_new(unsigned binary)
{
    cfg_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        abort();
    cfg->binary = binary;
    char errstr[256];
    for (int i = 0; i < CFG__COUNT; i++) {
        /* A default that does not pass its own rule is a bug in the table. */
        if (cfg_store(cfg, i, cfg_table[i].default_value, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "config table: bad default: %s\n", errstr);
            abort();
        }
    }
    return cfg;
}

void cfg_destroy(cfg_t *cfg)
{
    if (cfg == NULL)
        return;
    for (int i = 0; i < CFG__COUNT; i++)
        free(cfg->values[i]);
    for (size_t i = 0; i < cfg->kafka_count; i++) {
        free(cfg->kafka[i].name);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    free(cfg);
}

/*
 * KAFKA_SOME_PROPERTY -> some.property, checked against librdkafka's own table on a scratch
 * configuration so that a misspelt property stops start-up here, naming the key.
 */
static int cfg_set_kafka(cfg_t *cfg, const char *canonical, const char *value, char *errstr,
                         size_t errstr_size)
{
    char prop[CFG_NAME_MAX];
    size_t n = strlen(canonical) - 6;
    if (n == 0) {
        snprintf(errstr, errstr_size, "%s: unknown configuration key", canonical);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = canonical[6 + i];
        prop[i] = c == '_' ? '.' : (char)tolower((unsigned char)c);
    }
    prop[n] = '\0';

    char rderr[256];
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    rd_kafka_conf_res_t res = rd_kafka_conf_set(scratch, prop, value, rderr, sizeof(rderr));
    rd_kafka_conf_destroy(scratch);
    if (res == RD_KAFKA_CONF_UNKNOWN) {
        snprintf(errstr, errstr_size, "%s: unknown configuration key (librdkafka has no '%s')",
                 canonical, prop);
        return -1;
    }
    if (res != RD_KAFKA_CONF_OK) {
        /* librdkafka's message quotes the value; for a secret-bearing property that would
         * leak it, so the message names only the key. */
        snprintf(errstr, errstr_size, "%s: invalid value for librdkafka property '%s'", canonical,
                 prop);
        return -1;
    }

    for (size_t i = 0; i < cfg->kafka_count; i++) {
        if (strcmp(cfg->kafka[i].name, prop) == 0) {
            char *v = strdup(value);
            if (v == NULL)
                abort();
            free(cfg->kafka[i].value);
            cfg->kafka[i].value = v;
            return 0;
        }
    }
    if (cfg->kafka_count == cfg->kafka_cap) {
        size_t cap = cfg->kafka_cap ? cfg->kafka_cap * 2 : 8;
        cfg_kafka_prop_t *grown = realloc(cfg->kafka, cap * sizeof(*grown));
        if (grown == NULL)
            abort();
        cfg->kafka = grown;
        cfg->kafka_cap = cap;
    }
    cfg->kafka[cfg->kafka_count].name = strdup(prop);
    cfg->kafka[cfg->kafka_count].value = strdup(value);
    if (!cfg->kafka[cfg->kafka_count].name || !cfg->kafka[cfg->kafka_count].value)
        abort();
    cfg->kafka_count++;
    return 0;
}

int cfg_set(cfg_t *cfg, const char *name, const char *value, char *errstr, size_t errstr_size)
{
    char canonical[CFG_NAME_MAX];
    if (cfg_canonical_name(name, canonical, sizeof(canonical)) != 0) {
        snprintf(errstr, errstr_size, "'%.64s': not a configuration key name", name);
        return -1;
    }
    int idx = cfg_find(canonical);
    if (idx >= 0)
        return cfg_store(cfg, idx, value, errstr, errstr_size);
    if (strncmp(canonical, "KAFKA_", 6) == 0)
        return cfg_set_kafka(cfg, canonical, value, errstr, errstr_size);
    snprintf(errstr, errstr_size, "%s: unknown configuration key", canonical);
    return -1;
}

/*
 * Kubernetes injects NAME_SERVICE_HOST, NAME_SERVICE_PORT[_x], NAME_PORT and
 * NAME_PORT_<n>_<PROTO>[_ADDR|_PORT|_PROTO] for every Service in the namespace; a Service
 * called "kafka" or "twilio" would otherwise look like a misspelt key of ours.
 */
static int cfg_is_service_link(const char *name)
{
    if (strstr(name, "_SERVICE_HOST") || strstr(name, "_SERVICE_PORT"))
        return 1;
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, "_PORT") == 0)
        return 1;
    const char *p = strstr(name, "_PORT_");
    if (p && isdigit((unsigned char)p[6])) {
        p += 6;
        while (isdigit((unsigned char)*p))
            p++;
        return strncmp(p, "_TCP", 4) == 0 || strncmp(p, "_UDP", 4) == 0 ||
               strncmp(p, "_SCTP", 5) == 0;
    }
    return 0;
}

static int cfg_is_owned(const char *name)
{
    if (strncmp(name, "KAFKA_", 6) == 0)
        return 1;
    for (size_t i = 0; i < sizeof(cfg_owned_prefixes) / sizeof(cfg_owned_prefixes[0]); i++)
        if (strncmp(name, cfg_owned_prefixes[i], strlen(cfg_owned_prefixes[i])) == 0)
            return 1;
    return 0;
}

int cfg_load_env(cfg_t *cfg, char **envp, char *errstr, size_t errstr_size)
{
    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL || eq == *e || (size_t)(eq - *e) >= CFG_NAME_MAX)
            continue;
        char name[CFG_NAME_MAX];
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        if (cfg_find(name) < 0 && (!cfg_is_owned(name) || cfg_is_service_link(name)))
            continue;
        if (cfg_set(cfg, name, eq + 1, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

int cfg_load_args(cfg_t *cfg, int argc, char **argv, int *rest, int *rest_count, char *errstr,
                  size_t errstr_size)
{
    *rest_count = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        if (strncmp(arg, "--", 2) != 0 || eq == NULL) {
            rest[(*rest_count)++] = i;
            continue;
        }
        char name[CFG_NAME_MAX];
        size_t n = (size_t)(eq - (arg + 2));
        if (n == 0 || n >= sizeof(name)) {
            snprintf(errstr, errstr_size, "'%.64s': not a configuration key name", arg);
            return -1;
        }
        memcpy(name, arg + 2, n);
        name[n] = '\0';
        if (cfg_set(cfg, name, eq + 1, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

int cfg_validate(const cfg_t *cfg, char *errstr, size_t errstr_size)
{
    for (int i = 0; i < CFG__COUNT; i++) {
        const cfg_key_def_t *def = &cfg_table[i];
        if ((def->flags & CFG_FLAG_REQUIRED) && (def->binaries & cfg->binary) &&
            cfg->values[i][0] == '\0') {
            snprintf(errstr, errstr_size, "%s: required", def->name);
            return -1;
        }
    }
    return 0;
}

const char *cfg_str(const cfg_t *cfg, cfg_key_t key)
{
    return cfg->values[key];
}

int64_t cfg_int(const cfg_t *cfg, cfg_key_t key)
{
    return cfg->ints[key];
}

bool cfg_bool(const cfg_t *cfg, cfg_key_t key)
{
    return cfg->ints[key] != 0;
}

size_t cfg_kafka_count(const cfg_t *cfg)
{
    return cfg->kafka_count;
}

const char *cfg_kafka_name(const cfg_t *cfg, size_t i)
{
    return cfg->kafka[i].name;
}

const char *cfg_kafka_value(const cfg_t *cfg, size_t i)
{
    return cfg->kafka[i].value;
}

static const char *cfg_type_name(const cfg_key_def_t *def)
{
    switch (def->type) {
    case CFG_TYPE_STRING:
        return "string";
    case CFG_TYPE_INT:
        return "integer";
    case CFG_TYPE_BOOL:
        return "boolean";
    case CFG_TYPE_ENUM:
        return def->choices;
    case CFG_TYPE_URL:
        return "URL";
    case CFG_TYPE_HOSTPORT:
        return "host:port";
    }
    return "?";
}

void cfg_print_help(FILE *out, unsigned binary)
{
    fprintf(out, "Configuration (environment variables, or --KEY=value flags):\n");
    for (int i = 0; i < CFG__COUNT; i++) {
        const cfg_key_def_t *def = &cfg_table[i];
        if (!(def->binaries & binary))
            continue;
        fprintf(out, "  %s (%s", def->name, cfg_type_name(def));
        if (def->type == CFG_TYPE_INT)
            fprintf(out, ", %lld-%lld", (long long)def->min, (long long)def->max);
        if (def->default_value[0] != '\0')
            fprintf(out, ", default %s", def->default_value);
        if (def->flags & CFG_FLAG_REQUIRED)
            fprintf(out, ", required");
        fprintf(out, ")\n      %s\n", def->doc);
    }
}

void cfg_print_values(const cfg_t *cfg, FILE *out)
{
    for (int i = 0; i < CFG__COUNT; i++) {
        const cfg_key_def_t *def = &cfg_table[i];
        if (!(def->binaries & cfg->binary))
            continue;
        const char *v = cfg->values[i];
        if ((def->flags & CFG_FLAG_SECRET) && v[0] != '\0')
            v = "(set)";
        fprintf(out, "  %s=%s\n", def->name, v);
    }
    /* librdkafka properties can hold passwords (sasl.password, ssl.key.password); their
     * values are not printed at all. */
    for (size_t i = 0; i < cfg->kafka_count; i++)
        fprintf(out, "  kafka %s=(set)\n", cfg->kafka[i].name);
}
