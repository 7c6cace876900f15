#include "emailaddr.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int emailaddr_fail(char *errstr, size_t errstr_size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int emailaddr_fail(char *errstr, size_t errstr_size, int rc, const char *fmt, ...)
{
    va_list ap;
    if (errstr && errstr_size > 0) {
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return rc;
}

#define EMAILADDR_BAD(...) emailaddr_fail(errstr, errstr_size, EMAILADDR_ERR_ADDRESS, __VA_ARGS__)

/* RFC 5322 atext: letters, digits and these. */
static bool emailaddr_is_atext(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool emailaddr_is_ldh(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Reads the local part at s[0..len) up to its '@'; sets *at to the index of that '@'. */
static int emailaddr_local(const unsigned char *s, size_t len, size_t *at, char *errstr,
                           size_t errstr_size)
{
    size_t i;

    if (len > 0 && s[0] == '"') {
        /* RFC 5321 Quoted-string: qtextSMTP is printable ASCII and space except '"' and
         * '\'; quoted-pairSMTP is '\' and one printable character or space. */
        for (i = 1; i < len && s[i] != '"'; i++) {
            if (s[i] == '\\') {
                if (i + 1 >= len)
                    return EMAILADDR_BAD("quoted local part is not closed");
                i++;
            }
        }
        if (i >= len)
            return EMAILADDR_BAD("quoted local part is not closed");
        i++;
        if (i >= len || s[i] != '@')
            return EMAILADDR_BAD("quoted local part must be followed by '@'");
        *at = i;
        return 0;
    }

    for (i = 0; i < len && s[i] != '@'; i++) {
        if (s[i] == '.') {
            if (i == 0)
                return EMAILADDR_BAD("local part must not start with '.'");
            if (s[i - 1] == '.')
                return EMAILADDR_BAD("local part must not contain '..'");
        } else if (!emailaddr_is_atext(s[i])) {
            return EMAILADDR_BAD("local part contains a character that needs quoting");
        }
    }
    if (i >= len)
        return EMAILADDR_BAD("missing '@'");
    if (i == 0)
        return EMAILADDR_BAD("local part must not be empty");
    if (s[i - 1] == '.')
        return EMAILADDR_BAD("local part must not end with '.'");
    *at = i;
    return 0;
}

static int emailaddr_literal(const unsigned char *s, size_t len, char *errstr, size_t errstr_size)
{
    /* "[" address "]", the longest form being "[IPv6:" and 45 characters. */
    char text[64];
    unsigned char addr[16];
    size_t n;
    int family = AF_INET;
    const char *p = text;

    if (s[len - 1] != ']')
        return EMAILADDR_BAD("domain literal must end with ']'");
    n = len - 2;
    if (n == 0 || n >= sizeof(text))
        return EMAILADDR_BAD("domain literal is not an IPv4 or IPv6 address");
    memcpy(text, s + 1, n);
    text[n] = '\0';
    if (strncmp(text, "IPv6:", 5) == 0) {
        family = AF_INET6;
        p = text + 5;
    }
    if (inet_pton(family, p, addr) != 1)
        return EMAILADDR_BAD("domain literal is not an IPv4 or IPv6 address");
    return 0;
}

static int emailaddr_domain(const unsigned char *s, size_t len, char *errstr, size_t errstr_size)
{
    size_t start = 0;

    if (len == 0)
        return EMAILADDR_BAD("domain must not be empty");
    if (len > EMAILADDR_DOMAIN_MAX_LEN)
        return EMAILADDR_BAD("domain longer than 255 octets");
    if (s[0] == '[')
        return emailaddr_literal(s, len, errstr, errstr_size);

    /* Labels end at each '.' and at the end; an empty one is a leading, trailing or
     * doubled dot. */
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if (!emailaddr_is_ldh(s[i]))
                return EMAILADDR_BAD("domain may contain only letters, digits, '-' and '.'");
            continue;
        }
        size_t label = i - start;
        if (label == 0)
            return EMAILADDR_BAD("domain contains an empty label");
        if (label > EMAILADDR_LABEL_MAX_LEN)
            return EMAILADDR_BAD("domain label longer than 63 octets");
        if (s[start] == '-')
            return EMAILADDR_BAD("domain label must not start with '-'");
        if (s[i - 1] == '-')
            return EMAILADDR_BAD("domain label must not end with '-'");
        start = i + 1;
    }
    return 0;
}

int emailaddr_validate(const char *addr, size_t len, char *errstr, size_t errstr_size)
{
    const unsigned char *s = (const unsigned char *)addr;
    size_t at = 0;
    int rc;

    if (addr == NULL || len == 0)
        return EMAILADDR_BAD("address must not be empty");
    /* Bytes that could end a header line or confuse a C string are checked before any
     * structure, so the message names the injection attempt rather than a syntax rule. */
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0')
            return EMAILADDR_BAD("must not contain NUL");
        if (s[i] == '\r' || s[i] == '\n')
            return EMAILADDR_BAD("must not contain CR or LF");
        if (s[i] < 0x20 || s[i] == 0x7F)
            return EMAILADDR_BAD("must not contain control characters");
        if (s[i] >= 0x80)
            return EMAILADDR_BAD("must be ASCII (internationalised addresses are not "
                                 "supported)");
    }
    if (len > EMAILADDR_MAX_LEN)
        return EMAILADDR_BAD("longer than 254 octets");
    rc = emailaddr_local(s, len, &at, errstr, errstr_size);
    if (rc != 0)
        return rc;
    if (at > EMAILADDR_LOCAL_MAX_LEN)
        return EMAILADDR_BAD("local part longer than 64 octets");
    return emailaddr_domain(s + at + 1, len - at - 1, errstr, errstr_size);
}

void emailaddr_list_init(emailaddr_list_t *list)
{
    memset(list, 0, sizeof(*list));
}

void emailaddr_list_clear(emailaddr_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->addrs[i]);
    emailaddr_list_init(list);
}

/* Validates one element (spaces around it dropped) and appends a copy. */
static int emailaddr_list_add_one(emailaddr_list_t *list, const char *path, size_t index,
                                  const char *s, size_t len, char *errstr, size_t errstr_size)
{
    char rule[128];
    int rc;

    while (len > 0 && s[0] == ' ') {
        s++;
        len--;
    }
    while (len > 0 && s[len - 1] == ' ')
        len--;
    rc = emailaddr_validate(s, len, rule, sizeof(rule));
    if (rc != 0)
        return emailaddr_fail(errstr, errstr_size, rc, "%s[%zu]: %s", path, index, rule);
    if (list->count >= EMAILADDR_LIST_MAX)
        return emailaddr_fail(errstr, errstr_size, EMAILADDR_ERR_FORM, "%s: more than %d addresses",
                              path, EMAILADDR_LIST_MAX);
    list->addrs[list->count] = strndup(s, len);
    if (list->addrs[list->count] == NULL)
        abort(); /* as everywhere: a daemon out of memory restarts, the message is redelivered */
    list->count++;
    return 0;
}

/* Splits at commas outside a quoted local part. */
static int emailaddr_list_add_text(emailaddr_list_t *list, const char *path, const char *s,
                                   size_t len, char *errstr, size_t errstr_size)
{
    size_t start = 0, index = 0, i;
    bool quoted = false, blank = true;
    int rc;

    for (i = 0; i < len; i++) {
        if (s[i] != ' ')
            blank = false;
    }
    if (blank)
        return 0;

    for (i = 0; i <= len; i++) {
        if (i < len) {
            if (quoted && s[i] == '\\' && i + 1 < len) {
                i++;
                continue;
            }
            if (s[i] == '"')
                quoted = !quoted;
            if (quoted || s[i] != ',')
                continue;
        }
        rc = emailaddr_list_add_one(list, path, index++, s + start, i - start, errstr, errstr_size);
        if (rc != 0)
            return rc;
        start = i + 1;
    }
    return 0;
}

int emailaddr_list_add_json(emailaddr_list_t *list, const char *path,
                            const struct json_object *value, char *errstr, size_t errstr_size)
{
    size_t before = list->count;
    int rc = 0;

    if (value == NULL)
        return 0;
    if (json_object_is_type(value, json_type_string)) {
        rc =
            emailaddr_list_add_text(list, path, json_object_get_string((json_object *)value),
                                    (size_t)json_object_get_string_len(value), errstr, errstr_size);
    } else if (json_object_is_type(value, json_type_array)) {
        size_t n = json_object_array_length(value);
        for (size_t i = 0; i < n && rc == 0; i++) {
            json_object *item = json_object_array_get_idx(value, i);
            if (!json_object_is_type(item, json_type_string)) {
                rc = emailaddr_fail(errstr, errstr_size, EMAILADDR_ERR_FORM,
                                    "%s[%zu]: must be a string", path, i);
                break;
            }
            rc = emailaddr_list_add_one(list, path, i, json_object_get_string(item),
                                        (size_t)json_object_get_string_len(item), errstr,
                                        errstr_size);
        }
    } else {
        rc = emailaddr_fail(errstr, errstr_size, EMAILADDR_ERR_FORM,
                            "%s: must be a string or an array of strings", path);
    }

    if (rc != 0) {
        while (list->count > before)
            free(list->addrs[--list->count]);
    }
    return rc;
}
