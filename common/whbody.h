/*
 * The contract's generic callback body (webhook-ingest's email routes and its generic SMS
 * route), JSON:
 *
 *   provider_message_id, message_id   at least one, non-empty strings
 *   status                            string (the route may supply a default)
 *   bounce_type, diagnostic           strings
 *   smtp_code                         a reply code 200-599, as a number or a string
 *   timestamp                         RFC 3339
 *   recipient, enhanced_code, ...     ignored, like any unknown field
 *
 * The text must be strict JSON (jsonstrict.h): a relay that sends invalid UTF-8 or raw
 * control characters gets 400, not an event carrying replacement characters.
 */
#ifndef NOTIFY_WHBODY_H
#define NOTIFY_WHBODY_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting a body may have: the fields are flat, a little room for what relays add. */
#define WHBODY_JSON_DEPTH 16

typedef struct whbody_s {
    /* NULL when absent or JSON null; they point into the parsed document. */
    const char *provider_message_id;
    const char *message_id;
    const char *status;
    const char *bounce_type;
    const char *diagnostic;
    const char *smtp_code; /* "550": three digits, or NULL */
    int64_t occurred_at;   /* epoch ms of `timestamp`; 0 when absent */
    /* What the strings live in; released by whbody_free(). */
    json_object *root;
    char smtp_code_buf[4];
} whbody_t;

/* Parses text[0..len). Returns 0, or -1 with errstr naming the rule broken (the caller
 * answers 400 with it); *b holds nothing to free after a failure. */
int whbody_parse(const char *text, size_t len, whbody_t *b, char *errstr, size_t errstr_size);

/* Releases what a successful whbody_parse() holds; a zeroed or failed body is fine. */
void whbody_free(whbody_t *b);

#endif
