/*
 * The send request codec: one Kafka message value on outbound.email, outbound.sms.twilio or
 * outbound.sms.sns (contract "Send request") read and checked against every field rule
 * into a request_t the pipeline can use without looking at JSON again.
 *
 * Rules, in the order they are checked (the first failure is reported):
 *   value            at most REQUEST_MAX_VALUE_SIZE bytes, checked before parsing; one JSON
 *                    object, UTF-8, nesting at most REQUEST_JSON_DEPTH, nothing after it
 *                    but whitespace; RFC 8259 only (no comments, single quotes, trailing
 *                    commas)
 *   message_id       required string, 1-128 characters
 *   org_id           required string, 1-64 characters
 *   idempotency_key  optional string, 1-255 characters; defaults to message_id
 *   to               required string: an addr-spec (emailaddr.h) for email; for SMS a phone
 *                    number normalised to E.164 (phone.h)
 *   subject          email: required string without control characters (TAB allowed),
 *                    at most 998 octets once encoded (request_subject_encode())
 *   payload          required object, per channel:
 *     email          htmlBody, textBody, body: strings, at least one present; cc, bcc:
 *                    address lists (emailaddr_list_add_json()), to + cc + bcc at most
 *                    EMAILADDR_LIST_MAX addresses; replyTo: one address
 *     twilio         body: required, 1-1600 characters; statusCallback: http(s) URL of at
 *                    most 2048 octets; validityPeriod: integer 1-14400 (written as an
 *                    integer: "60", 60.0 and 1.5 are rejected)
 *     sns            body: as twilio; maxPrice: decimal string ("0.50": 1-10 digits, then
 *                    optionally '.' and 1-10 digits); smsType: "Transactional" (default)
 *                    or "Promotional"
 *   metadata         optional object, at most 4 KiB once serialised compactly
 * "Characters" are Unicode code points. Every string must be a JSON string (a number where
 * a string belongs is an error, and the other way round) and must not contain NUL. An
 * optional field that is JSON null counts as absent; a required one that is null is
 * "required". Unknown fields, at the top level and in payload, are ignored, as are the
 * fields of other channels.
 *
 * Errors: errstr is "<CODE>: <field path>: <rule>", e.g.
 *   "INVALID_PHONE: to: must start with '+' or 00 (national numbers are not accepted)"
 *   "MESSAGE_TOO_LONG: payload.body: longer than 1600 characters (1601)"
 *   "INVALID_REQUEST: payload.validityPeriod: must be an integer from 1 to 14400"
 * The path of the whole value is "value". The code is INVALID_PHONE for an SMS `to` that
 * does not normalise, INVALID_EMAIL for an address that breaks the syntax (to, cc, bcc,
 * replyTo), MESSAGE_TOO_LONG for an SMS body over 1600 characters, and INVALID_REQUEST for
 * everything else.
 */
#ifndef NOTIFY_REQUEST_H
#define NOTIFY_REQUEST_H

#include <stddef.h>

#include "emailaddr.h"
#include "errcode.h"
#include "smsseg.h"

/* 26 MiB: an email may be 25 MB once encoded; anything larger cannot be sent, and refusing
 * it unparsed keeps a hostile value from costing memory and time. */
#define REQUEST_MAX_VALUE_SIZE (26u * 1024u * 1024u)
#define REQUEST_JSON_DEPTH     32

#define REQUEST_MESSAGE_ID_MAX      128
#define REQUEST_ORG_ID_MAX          64
#define REQUEST_IDEMPOTENCY_KEY_MAX 255
#define REQUEST_SUBJECT_MAX_OCTETS  998
#define REQUEST_METADATA_MAX        4096
#define REQUEST_VALIDITY_MAX        14400
#define REQUEST_URL_MAX             2048

typedef enum {
    REQUEST_CHANNEL_EMAIL = 0,
    REQUEST_CHANNEL_TWILIO,
    REQUEST_CHANNEL_SNS,
} request_channel_t;

typedef enum {
    REQUEST_SMS_TRANSACTIONAL = 0,
    REQUEST_SMS_PROMOTIONAL,
} request_sms_type_t;

/*
 * A parsed request. Every pointer is owned by the request and freed by request_destroy();
 * borrow them for as long as the request lives, or copy them. NULL means absent.
 */
typedef struct request_s {
    request_channel_t channel;

    /* Set whenever they could be read, even when request_parse() fails, so that the
     * status event can echo them: each is kept only when it satisfies its own rule. */
    char *message_id;
    char *org_id;
    char *metadata; /* the metadata object, serialised compactly (JSON text) */

    /* The rest is set only when request_parse() returned ERRCODE_OK. */
    char *idempotency_key; /* message_id when the request had none */
    char *to;              /* the addr-spec as given, or the E.164 form of the number */

    struct {
        char *subject; /* as given (UTF-8); request_subject_encode() gives the header form */
        char *html_body;
        char *text_body;
        char *body;
        emailaddr_list_t cc;
        emailaddr_list_t bcc;
        char *reply_to;
    } email;

    struct {
        char *body;
        smsseg_info_t seg;       /* characters, encoding and segments of body */
        char *status_callback;   /* twilio */
        int validity_period;     /* twilio; 0 when absent */
        char *max_price;         /* sns */
        request_sms_type_t type; /* sns; REQUEST_SMS_TRANSACTIONAL when absent */
    } sms;
} request_t;

/*
 * Parses and checks `len` bytes of `value` for `channel`.
 *
 * Returns ERRCODE_OK with *out set to a complete request, or an error code with errstr (see
 * above) and *out set to a request holding whatever message_id, org_id and metadata could
 * be read, or to NULL when the value is not a JSON object at all (too large, not JSON, not
 * an object). Either way the caller destroys *out.
 */
errcode_t request_parse(const char *value, size_t len, request_channel_t channel, request_t **out,
                        char *errstr, size_t errstr_size);

/* Frees the request and everything it holds. NULL is allowed. */
void request_destroy(request_t *req);

/* "email", "twilio", "sns". */
const char *request_channel_name(request_channel_t channel);
/* The inverse of request_channel_name(). Returns 0, or -1 for another name. */
int request_channel_parse(const char *name, request_channel_t *channel);

/* "Transactional" or "Promotional", as SNS's AWS.SNS.SMS.SMSType attribute wants it. */
const char *request_sms_type_name(request_sms_type_t type);

/*
 * The Subject header value for `len` bytes of UTF-8 `subject`, as the email worker must
 * write it and as the 998-octet rule measures it:
 *   - printable ASCII (and TAB) only: the text unchanged;
 *   - otherwise RFC 2047 "B" encoded-words "=?UTF-8?B?...?=" joined by single spaces, each
 *     holding whole characters, at most 45 octets of UTF-8 (so each word is at most 72 of
 *     the 75 characters RFC 2047 allows).
 * The header line may be folded at the spaces between words; folding is not counted.
 * request_subject_encoded_len() gives the length without building the text;
 * request_subject_encode() returns it malloc'd and NUL-terminated, *out_len its length
 * (out_len may be NULL).
 */
size_t request_subject_encoded_len(const char *subject, size_t len);
char *request_subject_encode(const char *subject, size_t len, size_t *out_len);

#endif
