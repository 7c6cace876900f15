/*
 * The status event (contract "Status event"): the value written to delivery.status, keyed
 * by message_id, by the workers (one per attempt outcome) and by webhook-ingest (one per
 * provider callback).
 *
 * The pipeline fills an event_t and calls event_serialize(), which checks it and writes
 * every field of the contract, in the contract's order, with null written out for what is
 * absent, so consumers never have to tell a missing field from a null one. error_message
 * passes through redact_copy() on the way out, so a secret a provider echoed back does not
 * reach the topic. event_parse() is the inverse, for consumers and tests.
 *
 * Rules checked in both directions:
 *   - event_id is a UUID (8-4-4-4-12 hex digits);
 *   - channel "email" goes with provider SMTP, "sms" with TWILIO or AWS_SNS;
 *   - the status is one of its source's (EVENT_STATUS_MAP);
 *   - attempt >= 1 for worker events, >= 0 for webhook events (0: unknown);
 *   - next_attempt_at is set exactly when the status is RETRY_SCHEDULED;
 *   - segments is null for email, null or >= 1 for SMS;
 *   - error_code, when set, is a name of errcode.h (TWILIO_<n> included);
 *   - metadata, when set, is a JSON object.
 */
#ifndef NOTIFY_EVENT_H
#define NOTIFY_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uuid4.h"

/* XX(name, from a worker, from webhook-ingest) */
#define EVENT_STATUS_MAP(XX)         \
    XX(SENT, true, false)            \
    XX(RETRY_SCHEDULED, true, false) \
    XX(FAILED, true, true)           \
    XX(DUPLICATE, true, false)       \
    XX(QUEUED, false, true)          \
    XX(SENDING, false, true)         \
    XX(DELIVERED, false, true)       \
    XX(UNDELIVERED, false, true)     \
    XX(BOUNCED, false, true)         \
    XX(COMPLAINED, false, true)      \
    XX(READ, false, true)

typedef enum {
#define EVENT_X_ENUM(name, worker, webhook) EVENT_STATUS_##name,
    EVENT_STATUS_MAP(EVENT_X_ENUM)
#undef EVENT_X_ENUM
        EVENT_STATUS__COUNT
} event_status_t;

typedef enum {
    EVENT_CHANNEL_EMAIL = 0,
    EVENT_CHANNEL_SMS,
} event_channel_t;

typedef enum {
    EVENT_PROVIDER_SMTP = 0,
    EVENT_PROVIDER_TWILIO,
    EVENT_PROVIDER_AWS_SNS,
} event_provider_t;

typedef enum {
    EVENT_SOURCE_WORKER = 0,
    EVENT_SOURCE_WEBHOOK,
} event_source_t;

/* next_attempt_at when there is none (JSON null). */
#define EVENT_TIME_NULL INT64_MIN
/* segments when there is none (JSON null). */
#define EVENT_SEGMENTS_NULL (-1)
/* error_message is cut to this many bytes (at a character boundary) after redaction: a
 * provider's error page must not turn into a megabyte event. */
#define EVENT_ERROR_MESSAGE_MAX 1024

/*
 * One event. For event_serialize() the string fields are borrowed: they point to the
 * caller's strings (the request's, the provider's answer), which must live until the call
 * returns; NULL is written as null. After event_parse() they point into storage the event
 * owns, which event_clear() frees.
 */
typedef struct event_s {
    char event_id[UUID4_TEXT_SIZE];
    const char *message_id; /* NULL only when the request could not be read at all */
    const char *org_id;
    event_channel_t channel;
    event_provider_t provider;
    event_status_t status;
    int attempt;
    const char *provider_message_id;
    const char *error_code; /* an errcode.h name, e.g. "SMTP_550", "TWILIO_30003" */
    const char *error_message;
    bool retryable;
    int64_t next_attempt_at; /* epoch milliseconds, or EVENT_TIME_NULL */
    event_source_t source;
    int64_t occurred_at;  /* epoch milliseconds */
    int segments;         /* or EVENT_SEGMENTS_NULL */
    const char *metadata; /* JSON object text (as request_t.metadata), or NULL */

    char *storage; /* private: the strings of a parsed event */
} event_t;

/*
 * Prepares an event from `source`: a new event_id, occurred_at now, attempt 1 for a
 * worker and 0 for a webhook, every nullable field null, retryable false. The rest
 * (channel, provider, status, ...) is the caller's to set.
 */
void event_init(event_t *ev, event_source_t source);

/* Frees what event_parse() stored and zeroes the event. Harmless on an event the caller
 * filled (it frees nothing of the caller's). */
void event_clear(event_t *ev);

/*
 * The event as one line of JSON (no newline), malloc'd; the caller frees it. Returns NULL
 * with errstr ("<field>: <rule>") when the event breaks a rule above.
 */
char *event_serialize(const event_t *ev, char *errstr, size_t errstr_size);

/*
 * Reads `len` bytes of JSON into *ev: every field of the contract must be present (null
 * where allowed), unknown fields are ignored. Returns 0, or -1 with errstr; either way the
 * caller calls event_clear() when done.
 */
int event_parse(const char *text, size_t len, event_t *ev, char *errstr, size_t errstr_size);

const char *event_status_name(event_status_t status);
int event_status_parse(const char *name, event_status_t *status);
/* Whether `source` may emit `status`. */
bool event_status_allowed(event_status_t status, event_source_t source);

const char *event_channel_name(event_channel_t channel);    /* "email", "sms" */
const char *event_provider_name(event_provider_t provider); /* "SMTP", "TWILIO", "AWS_SNS" */
const char *event_source_name(event_source_t source);       /* "worker", "webhook" */

#endif
