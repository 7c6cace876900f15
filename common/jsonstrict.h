/*
 * Strict JSON for input from outside (send requests, webhook bodies): RFC 8259 exactly,
 * one object and nothing after it but whitespace.
 *
 * json-c 0.16 lets through what RFC 8259 forbids: its UTF-8 check accepts overlong forms,
 * encoded surrogates and code points above U+10FFFF, and its strict mode still takes raw
 * control characters inside strings. A text with any of them is refused here before json-c
 * sees it, so no such byte reaches a status event, a log line or the database.
 */
#ifndef NOTIFY_JSONSTRICT_H
#define NOTIFY_JSONSTRICT_H

#include <json-c/json.h>
#include <stddef.h>

typedef enum {
    JSONSTRICT_OK = 0,
    JSONSTRICT_ERR_SYNTAX,     /* not JSON at all: the reason says why */
    JSONSTRICT_ERR_NOT_OBJECT, /* valid JSON, but not an object */
} jsonstrict_err_t;

/*
 * Parses text[0..len) (no NUL needed) with nesting at most `depth`. On JSONSTRICT_OK,
 * *out is the object (the caller puts it); otherwise *out is NULL and `reason` holds a
 * short reason in json-c's words ("invalid utf-8 string", "control character in a string",
 * "nesting too deep", "data after the object", ...).
 */
jsonstrict_err_t jsonstrict_parse_object(const char *text, size_t len, int depth, json_object **out,
                                         char *reason, size_t reason_size);

#endif
