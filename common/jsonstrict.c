#include "jsonstrict.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "utf8.h"

/* One pass over the raw text for what json-c would let through (see the header). Returns
 * NULL, or the reason. */
static const char *jsonstrict_scan(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    bool in_string = false;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_decode(s + i, len - i, NULL);
            if (n == 0)
                return "invalid utf-8 string";
            i += n;
            continue;
        }
        if (in_string && c == '\\' && i + 1 < len && s[i + 1] < 0x80) {
            i += 2; /* an escape: the next character is not a quote that ends the string */
            continue;
        }
        if (c == '"')
            in_string = !in_string;
        else if (in_string && c < 0x20)
            return "control character in a string";
        i++;
    }
    return NULL;
}

jsonstrict_err_t jsonstrict_parse_object(const char *text, size_t len, int depth, json_object **out,
                                         char *reason, size_t reason_size)
{
    jsonstrict_err_t result = JSONSTRICT_ERR_SYNTAX;
    json_tokener *tok = NULL;
    json_object *root = NULL;
    enum json_tokener_error jerr;
    const char *why = jsonstrict_scan(text, len);
    size_t end;

    *out = NULL;
    if (why) {
        snprintf(reason, reason_size, "%s", why);
        goto out;
    }
    tok = json_tokener_new_ex(depth);
    if (tok == NULL)
        abort();
    /* No JSON_TOKENER_VALIDATE_UTF8: the scan above is the stricter check, and with the flag
     * the NUL that ends a bare number below reads as invalid UTF-8. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, text, (int)len);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    if (root == NULL && jerr == json_tokener_continue) {
        /* The input ended inside a value; for a bare number that is its end, which json-c
         * only knows once it sees a terminating NUL. */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    if (root == NULL) {
        if (jerr == json_tokener_continue || jerr == json_tokener_success)
            jerr = json_tokener_error_parse_eof;
        snprintf(reason, reason_size, "%s", json_tokener_error_desc(jerr));
        goto out;
    }
    /* json-c's strict mode already refuses anything after the value but whitespace; the
     * check stays so that this does not depend on a flag. */
    for (; end < len; end++) {
        char c = text[end];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            snprintf(reason, reason_size, "data after the object");
            goto out;
        }
    }
    if (!json_object_is_type(root, json_type_object)) {
        snprintf(reason, reason_size, "not an object");
        result = JSONSTRICT_ERR_NOT_OBJECT;
        goto out;
    }
    *out = root;
    root = NULL;
    result = JSONSTRICT_OK;
out:
    json_object_put(root);
    if (tok) /* json_tokener_free() does not take NULL */
        json_tokener_free(tok);
    return result;
}
