#include "cmd_secret.h"

#include "base64.h"
#include "crypto.h"
#include "hex.h"
#include "secret.h"
#include "timefmt.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTL_OK          0
#define CTL_ERROR       1
#define CTL_USAGE       2
#define CTL_KEY_SIZE    32
#define CTL_ID_MAX      32
#define CTL_SECRET_MAX  (64 * 1024) /* a credential is far smaller; more is a mistake */
#define CTL_ERRSTR_SIZE 512
#define CTL_ORG_ID_MAX  64 /* the contract's limit for org_id */

/*
 * The columns that hold secrets (the seed's *_encrypted columns). The column name is part
 * of the associated data, so a value encrypted for a misspelt column would never decrypt
 * where it is stored: refuse it here instead.
 */
static const char *const ctl_secret_columns[] = {
    "email_provider_config.smtp_password_encrypted",
    "email_provider_config.webhook_secret_encrypted",
    "sms_provider_config.twilio_auth_token_encrypted",
    "sms_provider_config.aws_access_key_encrypted",
    "sms_provider_config.aws_secret_key_encrypted",
    "sms_provider_config.aws_session_token_encrypted",
    "sms_provider_config.webhook_secret_encrypted",
};

#define CTL_COLUMN_COUNT (sizeof(ctl_secret_columns) / sizeof(ctl_secret_columns[0]))

static const char ctl_keygen_usage[] =
    "usage: notifyctl keygen [--id ID]\n"
    "  Prints a new key ring entry ID:BASE64KEY (32 random bytes) for SECRET_KEYS.\n"
    "  ID is 1-32 characters of A-Z a-z 0-9 _ - (default: k<YYYYMMDD><4 hex digits>).\n";

static const char ctl_encrypt_usage[] =
    "usage: notifyctl encrypt --org ORG_ID --column TABLE.COLUMN < secret\n"
    "  Reads one secret on stdin (one trailing newline is removed; at most 64 KiB) and\n"
    "  prints the value to store in that column of that organisation's row, encrypted\n"
    "  with the key named by SECRET_ACTIVE_KEY.\n";

static void ctl_print_columns(FILE *out)
{
    fputs("  TABLE.COLUMN is one of:\n", out);
    for (size_t i = 0; i < CTL_COLUMN_COUNT; i++)
        fprintf(out, "    %s\n", ctl_secret_columns[i]);
}

static int ctl_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "notifyctl: <message>" and the subcommand's usage to stderr; returns CTL_USAGE. */
static int ctl_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fputs("notifyctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(usage, stderr);
    return CTL_USAGE;
}

static bool ctl_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/*
 * Matches option `name` ("--org") at argv[*i], as "--org VALUE" or "--org=VALUE".
 * Returns 1 with *value set (and *i moved past a separate value), 0 when argv[*i] is
 * another option, -1 when the value is missing.
 */
static int ctl_option(const char *name, int argc, char **argv, int *i, const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);

    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

static bool ctl_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > CTL_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* k<YYYYMMDD><4 hex>: sorts by date, and two keys made the same day still differ. */
static int ctl_default_id(char *out, size_t out_size)
{
    char now[TIMEFMT_RFC3339_SIZE];
    unsigned char rnd[2];
    char rnd_hex[2 * sizeof(rnd) + 1];

    if (timefmt_format_rfc3339(timefmt_now_ms(), now, sizeof(now)) != 0)
        return -1;
    crypto_random_bytes(rnd, sizeof(rnd));
    if (hex_encode(rnd, sizeof(rnd), rnd_hex, sizeof(rnd_hex)) != 0)
        return -1;
    /* now is "YYYY-MM-DDT...": take the digits of the date. */
    int n = snprintf(out, out_size, "k%.4s%.2s%.2s%s", now, now + 5, now + 8, rnd_hex);
    return (n < 0 || (size_t)n >= out_size) ? -1 : 0;
}

int ctl_keygen(const cfg_t *cfg, int argc, char **argv)
{
    int rc = CTL_ERROR;
    const char *id = NULL;
    char default_id[CTL_ID_MAX + 1];
    unsigned char key[CTL_KEY_SIZE];
    char entry[CTL_ID_MAX + 1 + 64];
    char key_text[64];
    char errstr[CTL_ERRSTR_SIZE];
    secret_ring_t *ring = NULL;

    (void)cfg;
    for (int i = 1; i < argc; i++) {
        int m = ctl_option("--id", argc, argv, &i, &id);
        if (m < 0)
            return ctl_usage_error(ctl_keygen_usage, "keygen: %s needs a value", "--id");
        if (m > 0)
            continue;
        if (ctl_is_help(argv[i])) {
            fputs(ctl_keygen_usage, stdout);
            return CTL_OK;
        }
        return ctl_usage_error(ctl_keygen_usage, "keygen: unexpected argument '%s'", argv[i]);
    }
    if (id != NULL && !ctl_id_valid(id))
        return ctl_usage_error(ctl_keygen_usage,
                               "keygen: %s must be 1-32 characters of A-Z a-z 0-9 _ -", "--id");
    if (id == NULL) {
        if (ctl_default_id(default_id, sizeof(default_id)) != 0) {
            fputs("notifyctl: keygen: cannot make a default key id\n", stderr);
            goto done;
        }
        id = default_id;
    }

    crypto_random_bytes(key, sizeof(key));
    if (base64_encode(key, sizeof(key), key_text, sizeof(key_text)) != 0 ||
        snprintf(entry, sizeof(entry), "%s:%s", id, key_text) >= (int)sizeof(entry)) {
        fputs("notifyctl: keygen: internal error formatting the key\n", stderr);
        goto done;
    }
    /* What we print must be accepted by SECRET_KEYS: parse it back before printing. */
    ring = secret_ring_new(entry, id, errstr, sizeof(errstr));
    if (ring == NULL) {
        fprintf(stderr, "notifyctl: keygen: the new entry does not parse: %s\n", errstr);
        goto done;
    }
    if (printf("%s\n", entry) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "notifyctl: keygen: cannot write to stdout: %s\n", strerror(errno));
        goto done;
    }
    rc = CTL_OK;

done:
    secret_ring_destroy(ring);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(key_text, sizeof(key_text));
    OPENSSL_cleanse(entry, sizeof(entry));
    return rc;
}

/* Characters, not bytes: the contract's 1-64 is counted in characters of UTF-8 text. */
static size_t ctl_utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    }
    return n;
}

static bool ctl_column_known(const char *column)
{
    for (size_t i = 0; i < CTL_COLUMN_COUNT; i++) {
        if (strcmp(column, ctl_secret_columns[i]) == 0)
            return true;
    }
    return false;
}

/*
 * Reads all of stdin into buf (capacity CTL_SECRET_MAX + 2, so one byte too many can be
 * seen) with read(2): stdio would leave a copy of the secret in its own buffer.
 * Returns the length, or -1 with a message printed.
 */
static long ctl_read_stdin(char *buf, size_t cap)
{
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "notifyctl: encrypt: cannot read stdin: %s\n", strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return (long)len;
}

int ctl_encrypt(const cfg_t *cfg, int argc, char **argv)
{
    int rc = CTL_ERROR;
    const char *org = NULL, *column = NULL;
    char errstr[CTL_ERRSTR_SIZE];
    secret_ring_t *ring = NULL;
    char *input = NULL, *value = NULL, *check = NULL, *probe = NULL;
    size_t input_cap = CTL_SECRET_MAX + 2, len = 0, check_len = 0;

    for (int i = 1; i < argc; i++) {
        int m = ctl_option("--org", argc, argv, &i, &org);
        if (m == 0)
            m = ctl_option("--column", argc, argv, &i, &column);
        if (m < 0)
            return ctl_usage_error(ctl_encrypt_usage, "encrypt: %s needs a value", argv[i]);
        if (m > 0)
            continue;
        if (ctl_is_help(argv[i])) {
            fputs(ctl_encrypt_usage, stdout);
            ctl_print_columns(stdout);
            return CTL_OK;
        }
        return ctl_usage_error(ctl_encrypt_usage, "encrypt: unexpected argument '%s'", argv[i]);
    }
    if (org == NULL || org[0] == '\0')
        return ctl_usage_error(ctl_encrypt_usage, "encrypt: %s ORG_ID is required", "--org");
    if (ctl_utf8_length(org) > CTL_ORG_ID_MAX)
        return ctl_usage_error(ctl_encrypt_usage, "encrypt: %s is longer than 64 characters",
                               "--org");
    if (column == NULL || column[0] == '\0')
        return ctl_usage_error(ctl_encrypt_usage, "encrypt: %s TABLE.COLUMN is required",
                               "--column");
    if (!ctl_column_known(column)) {
        fprintf(stderr, "notifyctl: encrypt: '%s' is not a column that holds a secret\n", column);
        ctl_print_columns(stderr);
        return CTL_USAGE;
    }

    /* Configuration problems are reported before the operator is asked for the secret. */
    ring = secret_ring_from_cfg(cfg, errstr, sizeof(errstr));
    if (ring == NULL) {
        fprintf(stderr, "notifyctl: encrypt: %s\n", errstr);
        goto done;
    }
    if (secret_encrypt(ring, org, column, "", 0, &probe, errstr, sizeof(errstr)) ==
        SECRET_ERR_NO_ACTIVE) {
        fputs("notifyctl: encrypt: no active key: set SECRET_ACTIVE_KEY to an id of the ring\n",
              stderr);
        goto done;
    }

    input = malloc(input_cap);
    if (input == NULL) {
        fputs("notifyctl: encrypt: out of memory\n", stderr);
        goto done;
    }
    long got = ctl_read_stdin(input, input_cap);
    if (got < 0)
        goto done;
    len = (size_t)got;
    if (len > 0 && input[len - 1] == '\n')
        len--;
    if (len > CTL_SECRET_MAX) {
        fprintf(stderr, "notifyctl: encrypt: the secret on stdin is larger than %d bytes\n",
                CTL_SECRET_MAX);
        goto done;
    }
    if (len == 0) {
        fputs("notifyctl: encrypt: no secret on stdin (the input is empty)\n", stderr);
        goto done;
    }
    /* Secrets are used as C strings (passwords, tokens): a NUL would cut them short. */
    if (memchr(input, '\0', len) != NULL) {
        fputs("notifyctl: encrypt: the secret contains a NUL byte\n", stderr);
        goto done;
    }

    secret_err_t err =
        secret_encrypt(ring, org, column, input, len, &value, errstr, sizeof(errstr));
    if (err != SECRET_OK) {
        fprintf(stderr, "notifyctl: encrypt: %s: %s\n", secret_err_name(err), errstr);
        goto done;
    }
    /* Read it back the way a worker will before handing it to the operator. */
    err = secret_decrypt(ring, org, column, value, &check, &check_len, errstr, sizeof(errstr));
    if (err != SECRET_OK || !crypto_ct_equal(input, len, check, check_len)) {
        fputs("notifyctl: encrypt: internal error: the value does not decrypt back\n", stderr);
        goto done;
    }
    if (printf("%s\n", value) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "notifyctl: encrypt: cannot write to stdout: %s\n", strerror(errno));
        goto done;
    }
    rc = CTL_OK;

done:
    if (input != NULL) {
        OPENSSL_cleanse(input, input_cap);
        free(input);
    }
    secret_free(check, check_len);
    free(value);
    free(probe);
    secret_ring_destroy(ring);
    return rc;
}
