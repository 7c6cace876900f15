#include "smtp_message.h"

#include "errcode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void smtp_message_fail(sender_result_t *r, errcode_t code, const char *text)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->error_code, sizeof(r->error_code), "%s", errcode_name(code));
    r->retryable = errcode_retryable(code);
    snprintf(r->error_message, sizeof(r->error_message), "%s", text);
}

int smtp_message_build(const request_t *req, const provcfg_email_t *cfg, size_t max_size,
                       int64_t now_ms, smtp_message_t *out, sender_result_t *result)
{
    char errstr[256];
    memset(out, 0, sizeof(*out));
    if (cfg->from_email == NULL ||
        emailaddr_validate(cfg->from_email, strlen(cfg->from_email), errstr, sizeof(errstr)) != 0) {
        smtp_message_fail(result, ERRCODE_CONFIG_ERROR,
                          "from_email of the organisation is not a valid address");
        return -1;
    }
    /* The row's reply-to goes into a header as it is: it must be an address, nothing that
     * could end the line. */
    if (cfg->reply_to_email && emailaddr_validate(cfg->reply_to_email, strlen(cfg->reply_to_email),
                                                  errstr, sizeof(errstr)) != 0) {
        smtp_message_fail(result, ERRCODE_CONFIG_ERROR,
                          "reply_to_email of the organisation is not a valid address");
        return -1;
    }
    if (mime_message_id(req->idempotency_key, cfg->from_email, out->message_id,
                        sizeof(out->message_id)) != 0) {
        smtp_message_fail(result, ERRCODE_INVALID_REQUEST, "cannot form a Message-ID");
        return -1;
    }
    /* textBody is the plain part; body is the fallback when there is none. */
    mime_input_t in = {
        .from_email = cfg->from_email,
        .from_name = cfg->from_name,
        .to = req->to,
        .cc = &req->email.cc,
        .reply_to = req->email.reply_to ? req->email.reply_to : cfg->reply_to_email,
        .subject = req->email.subject,
        .text_body = req->email.text_body ? req->email.text_body : req->email.body,
        .html_body = req->email.html_body,
        .idempotency_key = req->idempotency_key,
        .message_id = out->message_id,
        .date_ms = now_ms,
    };
    mime_err_t e = mime_build(&in, max_size, &out->data, &out->len, errstr, sizeof(errstr));
    if (e != MIME_OK) {
        smtp_message_fail(
            result, e == MIME_ERR_TOO_LARGE ? ERRCODE_MESSAGE_TOO_LARGE : ERRCODE_INVALID_REQUEST,
            errstr);
        return -1;
    }
    out->from = cfg->from_email;
    out->rcpts[out->rcpt_count++] = req->to;
    const emailaddr_list_t *lists[2] = {&req->email.cc, &req->email.bcc};
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; i < lists[l]->count; i++)
            out->rcpts[out->rcpt_count++] = lists[l]->addrs[i];
    return 0;
}

void smtp_message_free(smtp_message_t *m)
{
    free(m->data);
    m->data = NULL;
}
