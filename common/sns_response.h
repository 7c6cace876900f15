/*
 * What an SNS Query API answer means (reference/providers.md section 4): the XML body read
 * with expat (never by searching strings), and one table that turns an error code into the
 * contract's code.
 *
 *   <PublishResponse><PublishResult><MessageId>..</MessageId></PublishResult>
 *     <ResponseMetadata><RequestId>..</RequestId></ResponseMetadata></PublishResponse>
 *   <ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>
 *     <RequestId>..</RequestId></ErrorResponse>
 *
 * Element names are matched by local name, so a namespace prefix does not matter. A body
 * with a DOCTYPE is refused (SNS never sends one, and entity expansion is an attack
 * surface).
 */
#ifndef NOTIFY_SNS_RESPONSE_H
#define NOTIFY_SNS_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "errcode.h"

/* Bodies larger than this are not SNS answers; the reader stops there. */
#define SNS_RESPONSE_MAX_BODY (64 * 1024)

typedef enum {
    SNS_RESPONSE_OTHER = 0, /* well-formed XML of another shape */
    SNS_RESPONSE_PUBLISH,   /* a PublishResponse (message_id may still be empty) */
    SNS_RESPONSE_ERROR,     /* an ErrorResponse (or any document with an Error element) */
} sns_response_kind_t;

typedef struct sns_response_s {
    sns_response_kind_t kind;
    char message_id[128];
    char request_id[128];
    char error_type[16]; /* Sender / Receiver */
    char error_code[64];
    char error_message[512]; /* longer text is cut */
} sns_response_t;

/* Parses `len` bytes. Returns 0, or -1 with errstr when the body is not well-formed XML. */
int sns_response_parse(const char *body, size_t len, sns_response_t *out, char *errstr,
                       size_t errstr_size);

/* The decision for one answer. */
typedef struct sns_response_outcome_s {
    errcode_t code;   /* ERRCODE_OK: sent, message_id holds the MessageId */
    bool retryable;   /* errcode_retryable(code) */
    bool throttled;   /* the organisation should slow down (throttle_until) */
    const char *hint; /* for the operator's error log when only a person can fix it; or NULL */
} sns_response_outcome_t;

/*
 * Classifies an HTTP answer: `resp` is the parsed body, or NULL when the body was not XML.
 * An error code found in the table decides; otherwise the HTTP status does (429:
 * throttling, 401/403: credentials, other 4xx: a parameter, 5xx and anything else:
 * internal and retryable).
 */
void sns_response_classify(int http_status, const sns_response_t *resp,
                           sns_response_outcome_t *out);

#endif
