/*
 * The email message of a send request, as it goes after SMTP's DATA (RFC 5322, RFC 2045-
 * 2047, RFC 2046 5.1.4):
 *
 *   From: "Display" <from@domain>           display name quoted or RFC 2047 encoded
 *   To: to@x                                 the request's `to`
 *   Cc: a@x, b@x                             when the request has cc
 *   Reply-To: r@x                            the request's replyTo, else the org's
 *   Subject: ...                             request_subject_encode()'s form, folded
 *   Date: Fri, 27 Nov 2026 04:55:31 +0000
 *   Message-ID: <key-random@from-domain>     mime_message_id()
 *   X-Idempotency-Key: key                   encoded-words when not printable ASCII
 *   MIME-Version: 1.0
 *   Content-Type: multipart/alternative      text/plain then text/html when both bodies
 *                                            exist, else the one part, charset=UTF-8
 *
 * Never a Bcc header: blind copies are envelope recipients only. Parts are quoted-
 * printable, or base64 when that is smaller; either way every line is at most 78 octets
 * (headers fold, bodies break at 76), CRLF only, and no line starts with '.'. The
 * boundary starts with "=_", which neither encoding can produce, so it cannot occur in
 * the content.
 */
#ifndef NOTIFY_MIME_H
#define NOTIFY_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "emailaddr.h"

/* The most a message may be once encoded (the contract's 25 MB). */
#define MIME_MAX_SIZE (25u * 1024u * 1024u)
/* Room for a Message-ID: "<" id-left "@" domain ">" and its NUL. */
#define MIME_MESSAGE_ID_SIZE 512

typedef enum {
    MIME_OK = 0,
    MIME_ERR_TOO_LARGE, /* over max_size once encoded */
    MIME_ERR_INPUT,     /* no body, or a missing address */
} mime_err_t;

/* What the message is made of; every string is borrowed, NULL means absent. */
typedef struct mime_input_s {
    const char *from_email; /* required, a validated addr-spec */
    const char *from_name;
    const char *to; /* required */
    const emailaddr_list_t *cc;
    const char *reply_to;
    const char *subject; /* UTF-8 as in the request */
    const char *text_body;
    const char *html_body;
    const char *idempotency_key; /* required */
    const char *message_id;      /* required, mime_message_id()'s form */
    int64_t date_ms;             /* epoch milliseconds of the Date header */
} mime_input_t;

/*
 * Builds the message. On MIME_OK *out is malloc'd (NUL-terminated, ending in CRLF) and
 * *out_len its length; otherwise *out is NULL and errstr says why. max_size is usually
 * MIME_MAX_SIZE (or less when the server advertises a smaller SIZE).
 */
mime_err_t mime_build(const mime_input_t *in, size_t max_size, char **out, size_t *out_len,
                      char *errstr, size_t errstr_size);

/*
 * The Message-ID "<{key}-{random}@{domain}>" for an idempotency key and the sender's
 * domain (the part after the last '@' of from_email). The key is written as it is when it
 * is dot-atom text; otherwise every byte outside atext, '=' itself, and any dot that would
 * break the dot-atom rule are written "=XX", so distinct keys stay distinct. A key longer
 * than 120 octets once written that way is replaced by "sha256-<hex of the key>" so the
 * header stays short; X-Idempotency-Key carries the key itself. The random part is 24 hex
 * digits. Returns 0, or -1 when out_size is too small.
 */
int mime_message_id(const char *key, const char *from_email, char *out, size_t out_size);

/* RFC 5322 date-time in UTC for epoch milliseconds, e.g. "Fri, 27 Nov 2026 04:55:31 +0000",
 * independent of the locale. out_size of 32 is enough. */
void mime_date(int64_t epoch_ms, char *out, size_t out_size);

#endif
