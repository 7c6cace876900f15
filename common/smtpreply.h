/*
 * SMTP replies to the contract's error codes: one table, as data, read top to bottom, the
 * first matching row deciding. A row matches on the stage of the session (a 550 to RCPT is
 * a rejected recipient, to MAIL a rejected sender), the reply code, the RFC 3463 enhanced
 * code when the server advertised ENHANCEDSTATUSCODES (only then is the text's prefix
 * trusted to be one), and words of the text (servers say "Relay access denied" or "blocked
 * using zen.spamhaus.org" in prose, not in codes).
 *
 * The retry decision is the error table's (errcode.h) unless a row says otherwise: a 552
 * for too many recipients is temporary (RFC 5321 4.5.3.1.10), a 4xx to AUTH is a temporary
 * failure of the server, and so on. A reply code of 0 means no reply at all (the
 * connection failed or closed): CONNECTION_FAILED, retried.
 */
#ifndef NOTIFY_SMTPREPLY_H
#define NOTIFY_SMTPREPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "errcode.h"

/* Where in the session the reply came. */
typedef enum {
    SMTPREPLY_CONNECT = 0, /* the greeting */
    SMTPREPLY_EHLO,
    SMTPREPLY_STARTTLS,
    SMTPREPLY_AUTH,
    SMTPREPLY_MAIL,
    SMTPREPLY_RCPT,
    SMTPREPLY_DATA, /* the DATA command and the reply to the message */
    SMTPREPLY__COUNT
} smtpreply_stage_t;

typedef struct smtpreply_verdict_s {
    errcode_t code;
    bool retryable;
} smtpreply_verdict_t;

/*
 * Classifies reply `code` with `text` (libetpan's session->response: the text of every
 * line, starting with the enhanced code when the server sends them; may be NULL).
 * `enhanced` says whether the server advertised ENHANCEDSTATUSCODES. A 2xx or 3xx reply
 * given where a failure was seen (an unexpected code) is classified as a protocol error,
 * SMTP_503, not retried.
 */
smtpreply_verdict_t smtpreply_classify(smtpreply_stage_t stage, int code, const char *text,
                                       bool enhanced);

/*
 * Reads an RFC 3463 enhanced status code ("5.1.1") at the start of `text` into `out`
 * (NUL-terminated). Returns 0, or -1 when the text does not start with one.
 */
int smtpreply_enhanced(const char *text, char *out, size_t out_size);

/* "MAIL", "RCPT", ... for messages. */
const char *smtpreply_stage_name(smtpreply_stage_t stage);

#endif
