#include "event.h"

#include "errcode.h"
#include "redact.h"
#include "timefmt.h"
#include "utf8.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Metadata is at most 4 KiB on the way in; this bounds what a consumer is asked to read. */
#define EVENT_JSON_DEPTH 32
#define EVENT_MAX_TEXT   (64u * 1024u)

#define EVENT_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

typedef struct event_status_entry_s {
    const char *name;
    bool worker;
    bool webhook;
} event_status_entry_t;

static const event_status_entry_t event_statuses[EVENT_STATUS__COUNT] = {
#define EVENT_X_ROW(name, worker, webhook) {#name, worker, webhook},
    EVENT_STATUS_MAP(EVENT_X_ROW)
#undef EVENT_X_ROW
};

static const char *const event_channel_names[] = {"email", "sms"};
static const char *const event_provider_names[] = {"SMTP", "TWILIO", "AWS_SNS"};
static const char *const event_source_names[] = {"worker", "webhook"};

#define EVENT_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int event_fail(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int event_fail(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    if (errstr && errstr_size > 0) {
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

const char *event_status_name(event_status_t status)
{
    if ((int)status < 0 || status >= EVENT_STATUS__COUNT)
        return "UNKNOWN";
    return event_statuses[status].name;
}

int event_status_parse(const char *name, event_status_t *status)
{
    for (int i = 0; name && i < EVENT_STATUS__COUNT; i++) {
        if (strcmp(name, event_statuses[i].name) == 0) {
            *status = (event_status_t)i;
            return 0;
        }
    }
    return -1;
}

bool event_status_allowed(event_status_t status, event_source_t source)
{
    if ((int)status < 0 || status >= EVENT_STATUS__COUNT)
        return false;
    if (source == EVENT_SOURCE_WORKER)
        return event_statuses[status].worker;
    if (source == EVENT_SOURCE_WEBHOOK)
        return event_statuses[status].webhook;
    return false;
}

static const char *event_name_of(const char *const *names, size_t count, int value)
{
    if (value < 0 || (size_t)value >= count)
        return "unknown";
    return names[value];
}

static int event_index_of(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; name && i < count; i++) {
        if (strcmp(names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

const char *event_channel_name(event_channel_t channel)
{
    return event_name_of(event_channel_names, EVENT_COUNT(event_channel_names), (int)channel);
}

const char *event_provider_name(event_provider_t provider)
{
    return event_name_of(event_provider_names, EVENT_COUNT(event_provider_names), (int)provider);
}

const char *event_source_name(event_source_t source)
{
    return event_name_of(event_source_names, EVENT_COUNT(event_source_names), (int)source);
}

void event_init(event_t *ev, event_source_t source)
{
    memset(ev, 0, sizeof(*ev));
    uuid4_generate(ev->event_id);
    ev->source = source;
    ev->attempt = source == EVENT_SOURCE_WORKER ? 1 : 0;
    ev->next_attempt_at = EVENT_TIME_NULL;
    ev->occurred_at = timefmt_now_ms();
    ev->segments = EVENT_SEGMENTS_NULL;
    ev->status = source == EVENT_SOURCE_WORKER ? EVENT_STATUS_SENT : EVENT_STATUS_QUEUED;
}

void event_clear(event_t *ev)
{
    free(ev->storage);
    memset(ev, 0, sizeof(*ev));
}

static bool event_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool event_is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !event_is_hex(s[i]))
            return false;
    }
    return s[36] == '\0';
}

/* The rules of the header comment, shared by both directions. */
static int event_check(const event_t *ev, char *errstr, size_t errstr_size)
{
    bool retryable;

    if (!event_is_uuid(ev->event_id))
        return event_fail(errstr, errstr_size, "event_id: must be a UUID");
    if ((int)ev->channel < 0 || (size_t)ev->channel >= EVENT_COUNT(event_channel_names))
        return event_fail(errstr, errstr_size, "channel: unknown");
    if ((int)ev->provider < 0 || (size_t)ev->provider >= EVENT_COUNT(event_provider_names))
        return event_fail(errstr, errstr_size, "provider: unknown");
    if ((ev->channel == EVENT_CHANNEL_EMAIL) != (ev->provider == EVENT_PROVIDER_SMTP))
        return event_fail(errstr, errstr_size, "provider: %s does not serve channel %s",
                          event_provider_name(ev->provider), event_channel_name(ev->channel));
    if ((int)ev->source < 0 || (size_t)ev->source >= EVENT_COUNT(event_source_names))
        return event_fail(errstr, errstr_size, "source: unknown");
    if (!event_status_allowed(ev->status, ev->source))
        return event_fail(errstr, errstr_size, "status: %s is not a %s status",
                          event_status_name(ev->status), event_source_name(ev->source));
    if (ev->attempt < (ev->source == EVENT_SOURCE_WORKER ? 1 : 0))
        return event_fail(errstr, errstr_size, "attempt: must be at least %d",
                          ev->source == EVENT_SOURCE_WORKER ? 1 : 0);
    if ((ev->status == EVENT_STATUS_RETRY_SCHEDULED) != (ev->next_attempt_at != EVENT_TIME_NULL))
        return event_fail(errstr, errstr_size,
                          "next_attempt_at: set exactly when the status is RETRY_SCHEDULED");
    if (ev->segments != EVENT_SEGMENTS_NULL &&
        (ev->channel == EVENT_CHANNEL_EMAIL || ev->segments < 1))
        return event_fail(errstr, errstr_size,
                          "segments: null for email, null or at least 1 for SMS");
    if (ev->error_code && errcode_classify(ev->error_code, &retryable) != 0)
        return event_fail(errstr, errstr_size, "error_code: unknown code \"%s\"", ev->error_code);
    return 0;
}

/* Writes `s` as a JSON string value with every invalid UTF-8 byte replaced by U+FFFD, so
 * that text from outside (an SMTP reply in Latin-1, a cut provider message) never makes
 * the event invalid JSON. */
static json_object *event_string(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len, i = 0, o = 0;
    json_object *obj;
    char *clean;

    if (s == NULL)
        return NULL;
    len = strlen(s);
    clean = malloc(len * 3 + 1);
    if (clean == NULL)
        abort();
    while (i < len) {
        size_t n = utf8_decode(p + i, len - i, NULL);
        if (n == 0) {
            memcpy(clean + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(clean + o, p + i, n);
        o += n;
        i += n;
    }
    obj = json_object_new_string_len(clean, (int)o);
    free(clean);
    if (obj == NULL)
        abort();
    return obj;
}

static json_object *event_time(int64_t ms)
{
    char text[TIMEFMT_RFC3339_SIZE];
    if (ms == EVENT_TIME_NULL || timefmt_format_rfc3339(ms, text, sizeof(text)) != 0)
        return NULL;
    return json_object_new_string(text);
}

static json_object *event_parse_json(const char *text, size_t len)
{
    json_tokener *tok = json_tokener_new_ex(EVENT_JSON_DEPTH);
    json_object *obj;
    size_t end;

    if (tok == NULL)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, text, (int)len);
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (obj == NULL)
        return NULL;
    for (; end < len; end++) {
        if (text[end] != ' ' && text[end] != '\t' && text[end] != '\r' && text[end] != '\n') {
            json_object_put(obj);
            return NULL;
        }
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

char *event_serialize(const event_t *ev, char *errstr, size_t errstr_size)
{
    char *result = NULL;
    json_object *root = NULL, *metadata = NULL, *occurred = NULL, *next = NULL;
    char message[EVENT_ERROR_MESSAGE_MAX + 1];
    const char *text;

    if (event_check(ev, errstr, errstr_size) != 0)
        goto out;
    if (ev->metadata) {
        metadata = event_parse_json(ev->metadata, strlen(ev->metadata));
        if (metadata == NULL) {
            event_fail(errstr, errstr_size, "metadata: must be a JSON object");
            goto out;
        }
    }
    occurred = event_time(ev->occurred_at);
    next = event_time(ev->next_attempt_at);
    if (occurred == NULL || (ev->next_attempt_at != EVENT_TIME_NULL && next == NULL)) {
        event_fail(errstr, errstr_size, "%s: outside years 0000-9999",
                   occurred == NULL ? "occurred_at" : "next_attempt_at");
        goto out;
    }

    /* json-c keeps insertion order: the fields come out in the contract's order. */
    root = json_object_new_object();
    json_object_object_add(root, "event_id", json_object_new_string(ev->event_id));
    json_object_object_add(root, "message_id", event_string(ev->message_id));
    json_object_object_add(root, "org_id", event_string(ev->org_id));
    json_object_object_add(root, "channel",
                           json_object_new_string(event_channel_name(ev->channel)));
    json_object_object_add(root, "provider",
                           json_object_new_string(event_provider_name(ev->provider)));
    json_object_object_add(root, "status", json_object_new_string(event_status_name(ev->status)));
    json_object_object_add(root, "attempt", json_object_new_int(ev->attempt));
    json_object_object_add(root, "provider_message_id", event_string(ev->provider_message_id));
    json_object_object_add(root, "error_code", event_string(ev->error_code));
    if (ev->error_message) {
        redact_copy(ev->error_message, message, sizeof(message));
        message[utf8_cut(message, strlen(message))] = '\0';
        json_object_object_add(root, "error_message", event_string(message));
    } else {
        json_object_object_add(root, "error_message", NULL);
    }
    json_object_object_add(root, "retryable", json_object_new_boolean(ev->retryable));
    json_object_object_add(root, "next_attempt_at", next);
    json_object_object_add(root, "source", json_object_new_string(event_source_name(ev->source)));
    json_object_object_add(root, "occurred_at", occurred);
    json_object_object_add(root, "segments",
                           ev->segments == EVENT_SEGMENTS_NULL ? NULL
                                                               : json_object_new_int(ev->segments));
    json_object_object_add(root, "metadata", metadata);
    metadata = occurred = next = NULL; /* owned by root now */

    text = json_object_to_json_string_ext(root, EVENT_JSON_FLAGS);
    result = text ? strdup(text) : NULL;
    if (result == NULL)
        abort();

out:
    json_object_put(metadata);
    json_object_put(occurred);
    json_object_put(next);
    json_object_put(root);
    return result;
}

/* Reading side. Each getter returns 0 or -1 with errstr naming the field. */

static int event_get(json_object *root, const char *key, json_object **v, char *errstr,
                     size_t errstr_size)
{
    if (!json_object_object_get_ex(root, key, v))
        return event_fail(errstr, errstr_size, "%s: required", key);
    return 0;
}

/* A string or null: *out is the string (json-c's, valid while root lives) or NULL. */
static int event_get_string(json_object *root, const char *key, bool nullable, const char **out,
                            char *errstr, size_t errstr_size)
{
    json_object *v;

    *out = NULL;
    if (event_get(root, key, &v, errstr, errstr_size) != 0)
        return -1;
    if (v == NULL && nullable)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return event_fail(errstr, errstr_size, "%s: must be a string%s", key,
                          nullable ? " or null" : "");
    if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return event_fail(errstr, errstr_size, "%s: must not contain NUL characters", key);
    /* json-c's UTF-8 check lets overlong forms and surrogates through; event_serialize()
     * would replace them, so an event read here would not be the one written back. */
    if (!utf8_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
        return event_fail(errstr, errstr_size, "%s: must be valid UTF-8", key);
    *out = json_object_get_string(v);
    return 0;
}

static int event_get_int(json_object *root, const char *key, bool nullable, int *out, char *errstr,
                         size_t errstr_size)
{
    json_object *v;
    int64_t n;

    if (event_get(root, key, &v, errstr, errstr_size) != 0)
        return -1;
    if (v == NULL && nullable)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return event_fail(errstr, errstr_size, "%s: must be an integer%s", key,
                          nullable ? " or null" : "");
    n = json_object_get_int64(v);
    if (n < 0 || n > 1000000)
        return event_fail(errstr, errstr_size, "%s: out of range", key);
    *out = (int)n;
    return 0;
}

static int event_get_enum(json_object *root, const char *key, const char *const *names,
                          size_t count, int *out, char *errstr, size_t errstr_size)
{
    const char *s;

    if (event_get_string(root, key, false, &s, errstr, errstr_size) != 0)
        return -1;
    *out = event_index_of(names, count, s);
    if (*out < 0)
        return event_fail(errstr, errstr_size, "%s: unknown value \"%s\"", key, s);
    return 0;
}

static int event_get_time(json_object *root, const char *key, bool nullable, int64_t *out,
                          char *errstr, size_t errstr_size)
{
    const char *s;

    if (event_get_string(root, key, nullable, &s, errstr, errstr_size) != 0)
        return -1;
    if (s == NULL) {
        *out = EVENT_TIME_NULL;
        return 0;
    }
    if (timefmt_parse_rfc3339(s, out) != 0)
        return event_fail(errstr, errstr_size, "%s: must be an RFC 3339 date-time", key);
    return 0;
}

/* Copies the strings of a parsed event into one block the event owns. */
static void event_keep_strings(event_t *ev, const char **fields[], size_t count)
{
    size_t total = 0, pos = 0;

    for (size_t i = 0; i < count; i++)
        total += *fields[i] ? strlen(*fields[i]) + 1 : 0;
    ev->storage = malloc(total > 0 ? total : 1);
    if (ev->storage == NULL)
        abort();
    for (size_t i = 0; i < count; i++) {
        if (*fields[i] == NULL)
            continue;
        size_t n = strlen(*fields[i]) + 1;
        memcpy(ev->storage + pos, *fields[i], n);
        *fields[i] = ev->storage + pos;
        pos += n;
    }
}

int event_parse(const char *text, size_t len, event_t *ev, char *errstr, size_t errstr_size)
{
    int result = -1, channel = 0, provider = 0, source = 0;
    event_status_t status = EVENT_STATUS_SENT;
    json_object *root = NULL, *v;
    const char *event_id, *status_name;
    const char **fields[] = {&ev->message_id, &ev->org_id,        &ev->provider_message_id,
                             &ev->error_code, &ev->error_message, &ev->metadata};

    memset(ev, 0, sizeof(*ev));
    ev->segments = EVENT_SEGMENTS_NULL;
    if (text == NULL || len > EVENT_MAX_TEXT) {
        event_fail(errstr, errstr_size, "value: empty or larger than %u bytes", EVENT_MAX_TEXT);
        goto out;
    }
    root = event_parse_json(text, len);
    if (root == NULL) {
        event_fail(errstr, errstr_size, "value: not a JSON object");
        goto out;
    }

    if (event_get_string(root, "event_id", false, &event_id, errstr, errstr_size) != 0)
        goto out;
    if (strlen(event_id) >= sizeof(ev->event_id)) {
        event_fail(errstr, errstr_size, "event_id: must be a UUID");
        goto out;
    }
    memcpy(ev->event_id, event_id, strlen(event_id) + 1);
    if (event_get_string(root, "message_id", true, &ev->message_id, errstr, errstr_size) ||
        event_get_string(root, "org_id", true, &ev->org_id, errstr, errstr_size) ||
        event_get_enum(root, "channel", event_channel_names, EVENT_COUNT(event_channel_names),
                       &channel, errstr, errstr_size) ||
        event_get_enum(root, "provider", event_provider_names, EVENT_COUNT(event_provider_names),
                       &provider, errstr, errstr_size) ||
        event_get_string(root, "status", false, &status_name, errstr, errstr_size))
        goto out;
    if (event_status_parse(status_name, &status) != 0) {
        event_fail(errstr, errstr_size, "status: unknown value \"%s\"", status_name);
        goto out;
    }
    if (event_get_int(root, "attempt", false, &ev->attempt, errstr, errstr_size) ||
        event_get_string(root, "provider_message_id", true, &ev->provider_message_id, errstr,
                         errstr_size) ||
        event_get_string(root, "error_code", true, &ev->error_code, errstr, errstr_size) ||
        event_get_string(root, "error_message", true, &ev->error_message, errstr, errstr_size) ||
        event_get(root, "retryable", &v, errstr, errstr_size))
        goto out;
    if (!json_object_is_type(v, json_type_boolean)) {
        event_fail(errstr, errstr_size, "retryable: must be a boolean");
        goto out;
    }
    ev->retryable = json_object_get_boolean(v);
    if (event_get_time(root, "next_attempt_at", true, &ev->next_attempt_at, errstr, errstr_size) ||
        event_get_enum(root, "source", event_source_names, EVENT_COUNT(event_source_names), &source,
                       errstr, errstr_size) ||
        event_get_time(root, "occurred_at", false, &ev->occurred_at, errstr, errstr_size) ||
        event_get_int(root, "segments", true, &ev->segments, errstr, errstr_size) ||
        event_get(root, "metadata", &v, errstr, errstr_size))
        goto out;
    if (v != NULL) {
        if (!json_object_is_type(v, json_type_object)) {
            event_fail(errstr, errstr_size, "metadata: must be an object or null");
            goto out;
        }
        ev->metadata = json_object_to_json_string_ext(v, EVENT_JSON_FLAGS);
    }
    ev->channel = (event_channel_t)channel;
    ev->provider = (event_provider_t)provider;
    ev->source = (event_source_t)source;
    ev->status = status;
    if (event_check(ev, errstr, errstr_size) != 0)
        goto out;
    result = 0;

out:
    /* The strings still point into root: copy them before it goes, or drop them. */
    if (result == 0)
        event_keep_strings(ev, fields, EVENT_COUNT(fields));
    else
        for (size_t i = 0; i < EVENT_COUNT(fields); i++)
            *fields[i] = NULL;
    json_object_put(root);
    return result;
}
