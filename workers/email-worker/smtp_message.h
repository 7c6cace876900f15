/*
 * A send request and its organisation's configuration made into what an SMTP
 * transaction needs: the message (mime.h), its Message-ID, the envelope sender and the
 * envelope recipients (to, cc and bcc: bcc only ever here, never in a header).
 */
#ifndef NOTIFY_SMTP_MESSAGE_H
#define NOTIFY_SMTP_MESSAGE_H

#include <stddef.h>

#include "emailaddr.h"
#include "mime.h"
#include "provcfg.h"
#include "request.h"
#include "sender.h"

typedef struct smtp_message_s {
    char *data; /* the message, CRLF line ends, ending in CRLF */
    size_t len;
    char message_id[MIME_MESSAGE_ID_SIZE];         /* with its angle brackets */
    const char *from;                              /* borrowed from the configuration */
    const char *rcpts[3 * EMAILADDR_LIST_MAX + 1]; /* borrowed from the request */
    size_t rcpt_count;
} smtp_message_t;

/*
 * Builds the message for `req` with `cfg` (from address and name, reply-to), at most
 * max_size octets. Returns 0, or -1 with `result` filled: CONFIG_ERROR for a from or
 * reply-to address of the row that is not an addr-spec, MESSAGE_TOO_LARGE, INVALID_REQUEST for a
 * request without a body. Release with smtp_message_free().
 */
int smtp_message_build(const request_t *req, const provcfg_email_t *cfg, size_t max_size,
                       int64_t now_ms, smtp_message_t *out, sender_result_t *result);

void smtp_message_free(smtp_message_t *m);

#endif
