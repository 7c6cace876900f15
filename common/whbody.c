#include "whbody.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jsonstrict.h"
#include "timefmt.h"

/* A string member, or NULL when absent or null; -1 when present with another type or
 * holding a NUL character. */
static int whbody_string(json_object *root, const char *name, const char **out)
{
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(root, name, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    /* "\u0000" would cut the value short wherever it is used as C text. */
    if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return -1;
    *out = json_object_get_string(v);
    return 0;
}

/* smtp_code: 200-599 as a JSON integer or as a string of exactly three digits. Anything
 * else (1e400, "55O", 5.5e2, true) is refused rather than silently dropped. */
static int whbody_smtp_code(json_object *root, whbody_t *b)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(root, "smtp_code", &v) || v == NULL)
        return 0;
    int code = -1;
    if (json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);
        code = n >= 200 && n <= 599 ? (int)n : -1;
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (strlen(s) == 3 && s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
            s[2] >= '0' && s[2] <= '9')
            code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    }
    if (code < 0)
        return -1;
    b->smtp_code_buf[0] = (char)('0' + code / 100);
    b->smtp_code_buf[1] = (char)('0' + code / 10 % 10);
    b->smtp_code_buf[2] = (char)('0' + code % 10);
    b->smtp_code_buf[3] = '\0';
    b->smtp_code = b->smtp_code_buf;
    return 0;
}

int whbody_parse(const char *text, size_t len, whbody_t *b, char *errstr, size_t errstr_size)
{
    char reason[128];
    const char *timestamp = NULL;

    memset(b, 0, sizeof(*b));
    switch (
        jsonstrict_parse_object(text, len, WHBODY_JSON_DEPTH, &b->root, reason, sizeof(reason))) {
    case JSONSTRICT_OK:
        break;
    case JSONSTRICT_ERR_NOT_OBJECT:
        snprintf(errstr, errstr_size, "body is not a JSON object");
        goto fail;
    case JSONSTRICT_ERR_SYNTAX:
        snprintf(errstr, errstr_size, "body is not valid JSON (%s)", reason);
        goto fail;
    }
    if (whbody_string(b->root, "provider_message_id", &b->provider_message_id) ||
        whbody_string(b->root, "message_id", &b->message_id) ||
        whbody_string(b->root, "status", &b->status) ||
        whbody_string(b->root, "bounce_type", &b->bounce_type) ||
        whbody_string(b->root, "diagnostic", &b->diagnostic) ||
        whbody_string(b->root, "timestamp", &timestamp)) {
        snprintf(errstr, errstr_size, "a field that must be a string (without NUL) is not");
        goto fail;
    }
    if ((b->provider_message_id == NULL || b->provider_message_id[0] == '\0') &&
        (b->message_id == NULL || b->message_id[0] == '\0')) {
        snprintf(errstr, errstr_size, "provider_message_id or message_id is required");
        goto fail;
    }
    if (whbody_smtp_code(b->root, b) != 0) {
        snprintf(errstr, errstr_size, "smtp_code: must be a reply code from 200 to 599");
        goto fail;
    }
    if (timestamp && timefmt_parse_rfc3339(timestamp, &b->occurred_at) != 0) {
        snprintf(errstr, errstr_size, "timestamp: not RFC 3339");
        goto fail;
    }
    return 0;
fail:
    whbody_free(b);
    memset(b, 0, sizeof(*b));
    return -1;
}

void whbody_free(whbody_t *b)
{
    json_object_put(b->root);
    b->root = NULL;
}
