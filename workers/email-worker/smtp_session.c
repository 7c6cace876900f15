#include "smtp_session.h"

#include "mimebuf.h"
#include "smtp_tls.h"
#include "timefmt.h"

#include <ctype.h>
#include <libetpan/libetpan.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct smtp_session_s {
    mailsmtp *smtp;
    bool usable;
    bool enhanced;
    int timeout_ms;
};

void smtp_session_global_init(int timeout_ms)
{
    mailstream_network_delay.tv_sec = timeout_ms / 1000;
    mailstream_network_delay.tv_usec = (timeout_ms % 1000) * 1000;
}

smtpreply_verdict_t smtp_failure_verdict(const smtp_failure_t *f)
{
    if (f->local != ERRCODE_OK) {
        smtpreply_verdict_t v = {f->local, errcode_retryable(f->local)};
        return v;
    }
    return smtpreply_classify(f->stage, f->code, f->text, f->enhanced);
}

/* Copies a reply text (libetpan joins the lines with '\n') as one line. */
static void smtp_session_text(char *out, size_t size, const char *text)
{
    size_t n = 0;
    for (; text && *text && n + 1 < size; text++) {
        unsigned char c = (unsigned char)*text;
        if (c == '\r')
            continue;
        out[n++] = c == '\n' || c < 0x20 ? ' ' : (char)c;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* Fills *fail from the session's last reply after a libetpan call failed with `r`. A
 * missing reply is a lost connection, or a timeout when the call took the whole time. */
static void smtp_session_fail(smtp_session_t *s, smtpreply_stage_t stage, int r, int64_t started,
                              smtp_failure_t *fail)
{
    memset(fail, 0, sizeof(*fail));
    fail->stage = stage;
    fail->enhanced = s->enhanced;
    fail->code = s->smtp->response_code;
    if (r == MAILSMTP_ERROR_STREAM || r == MAILSMTP_ERROR_CONNECTION_REFUSED)
        fail->code = 0; /* response_code may still hold the previous reply */
    if (fail->code == 0) {
        bool timed_out = timefmt_mono_ms() - started >= s->timeout_ms - 100;
        fail->local = timed_out ? ERRCODE_TIMEOUT : ERRCODE_CONNECTION_FAILED;
        /* "AUTH: ..." would read as a secret to the log redaction: name the stage after. */
        snprintf(fail->text, sizeof(fail->text), "%s (during %s)",
                 timed_out ? "no reply within the timeout" : mailsmtp_strerror(r),
                 smtpreply_stage_name(stage));
        s->usable = false;
        return;
    }
    smtp_session_text(fail->text, sizeof(fail->text), s->smtp->response);
    if (fail->code == 421)
        s->usable = false; /* the server is closing the connection */
}

static void smtp_session_local(smtp_failure_t *fail, smtpreply_stage_t stage, errcode_t code,
                               const char *text)
{
    memset(fail, 0, sizeof(*fail));
    fail->stage = stage;
    fail->local = code;
    snprintf(fail->text, sizeof(fail->text), "%s", text);
}

/* Did the EHLO reply list ENHANCEDSTATUSCODES? libetpan keeps no flag for it. */
static bool smtp_session_has_enhanced(const char *response)
{
    const char *kw = "ENHANCEDSTATUSCODES";
    size_t kwlen = strlen(kw);
    for (const char *p = response; p && *p;) {
        size_t n = strcspn(p, "\r\n");
        if (n >= kwlen && strncasecmp(p, kw, kwlen) == 0 && (n == kwlen || p[kwlen] == ' '))
            return true;
        p += n;
        while (*p == '\r' || *p == '\n')
            p++;
    }
    return false;
}

static int smtp_session_hello(smtp_session_t *s, smtp_failure_t *fail)
{
    int64_t t0 = timefmt_mono_ms();
    int r = mailesmtp_ehlo(s->smtp);
    if (r == MAILSMTP_NO_ERROR) {
        s->enhanced = smtp_session_has_enhanced(s->smtp->response);
        return 0;
    }
    if (r == MAILSMTP_ERROR_NOT_IMPLEMENTED) {
        /* A server without ESMTP: no STARTTLS, AUTH, SIZE nor enhanced codes. */
        r = mailsmtp_helo(s->smtp);
        if (r == MAILSMTP_NO_ERROR)
            return 0;
    }
    smtp_session_fail(s, SMTPREPLY_EHLO, r, t0, fail);
    return -1;
}

static int smtp_session_tls_check(smtp_session_t *s, const smtp_server_t *srv,
                                  smtpreply_stage_t stage, smtp_failure_t *fail)
{
    char err[300];
    if (smtp_tls_verify(s->smtp->stream, srv->host, srv->ca_file, err, sizeof(err)) != 0) {
        smtp_session_local(fail, stage, ERRCODE_TLS_FAILED, err);
        s->usable = false;
        return -1;
    }
    return 0;
}

static int smtp_session_auth(smtp_session_t *s, const smtp_server_t *srv, smtp_failure_t *fail)
{
    int type = (s->smtp->auth & MAILSMTP_AUTH_PLAIN)   ? MAILSMTP_AUTH_PLAIN
               : (s->smtp->auth & MAILSMTP_AUTH_LOGIN) ? MAILSMTP_AUTH_LOGIN
                                                       : 0;
    if (type == 0) {
        smtp_session_local(fail, SMTPREPLY_AUTH, ERRCODE_AUTH_FAILED,
                           "the server offers neither AUTH PLAIN nor AUTH LOGIN");
        return -1;
    }
    int64_t t0 = timefmt_mono_ms();
    int r = mailsmtp_auth_type(s->smtp, srv->username, srv->password ? srv->password : "", type);
    if (r == MAILSMTP_NO_ERROR)
        return 0;
    smtp_session_fail(s, SMTPREPLY_AUTH, r, t0, fail);
    /* libetpan failed the exchange without a failing reply (a mechanism it could not
     * finish, a 334 where 235 was due): the credentials were not accepted either way. */
    if (fail->code != 0 && fail->code < 400)
        fail->local = ERRCODE_AUTH_FAILED;
    return -1;
}

smtp_session_t *smtp_session_open(const smtp_server_t *srv, smtp_failure_t *fail)
{
    smtp_session_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    s->timeout_ms = srv->timeout_ms;
    s->smtp = mailsmtp_new(0, NULL);
    if (s->smtp == NULL)
        abort();
    mailsmtp_set_timeout(s->smtp, (time_t)((srv->timeout_ms + 999) / 1000));
    uint16_t port = (uint16_t)srv->port;

    int64_t t0 = timefmt_mono_ms();
    int r;
    if (srv->implicit_tls)
        r = mailsmtp_ssl_connect_with_callback(s->smtp, srv->host, port, smtp_tls_setup_cb,
                                               (void *)srv->host);
    else
        r = mailsmtp_socket_connect(s->smtp, srv->host, port);
    if (r != MAILSMTP_NO_ERROR) {
        if (r == MAILSMTP_ERROR_SSL) {
            smtp_session_local(fail, SMTPREPLY_CONNECT, ERRCODE_TLS_FAILED,
                               "TLS handshake with the server failed");
        } else {
            smtp_session_fail(s, SMTPREPLY_CONNECT, r, t0, fail);
            if (r == MAILSMTP_ERROR_CONNECTION_REFUSED)
                snprintf(fail->text, sizeof(fail->text), "cannot connect to %s:%d", srv->host,
                         srv->port);
        }
        goto fail;
    }
    s->usable = true;
    if (srv->implicit_tls && smtp_session_tls_check(s, srv, SMTPREPLY_CONNECT, fail) != 0)
        goto fail;
    if (smtp_session_hello(s, fail) != 0)
        goto fail;

    if (srv->starttls && !srv->implicit_tls) {
        /* Going on in plaintext when STARTTLS was asked for is what a downgrade attack
         * wants: a server that does not offer it is a TLS failure. */
        if (!(s->smtp->esmtp & MAILSMTP_ESMTP_STARTTLS)) {
            smtp_session_local(fail, SMTPREPLY_STARTTLS, ERRCODE_TLS_FAILED,
                               "the server does not offer STARTTLS");
            goto fail;
        }
        t0 = timefmt_mono_ms();
        r = mailsmtp_socket_starttls_with_callback(s->smtp, smtp_tls_setup_cb, (void *)srv->host);
        if (r != MAILSMTP_NO_ERROR) {
            if (r == MAILSMTP_ERROR_SSL) {
                smtp_session_local(fail, SMTPREPLY_STARTTLS, ERRCODE_TLS_FAILED,
                                   "TLS handshake after STARTTLS failed");
                s->usable = false;
            } else {
                smtp_session_fail(s, SMTPREPLY_STARTTLS, r, t0, fail);
            }
            goto fail;
        }
        if (smtp_session_tls_check(s, srv, SMTPREPLY_STARTTLS, fail) != 0)
            goto fail;
        /* RFC 3207: what was learnt before TLS is forgotten; ask again. */
        if (smtp_session_hello(s, fail) != 0)
            goto fail;
    }
    if (srv->username && *srv->username && smtp_session_auth(s, srv, fail) != 0)
        goto fail;
    return s;

fail:
    smtp_session_close(s);
    return NULL;
}

void smtp_session_close(smtp_session_t *s)
{
    if (s == NULL)
        return;
    if (s->usable)
        mailsmtp_quit(s->smtp);
    mailsmtp_free(s->smtp);
    free(s);
}

bool smtp_session_usable(const smtp_session_t *s)
{
    return s && s->usable;
}

size_t smtp_session_max_size(const smtp_session_t *s)
{
    return (s->smtp->esmtp & MAILSMTP_ESMTP_SIZE) ? s->smtp->smtp_max_msg_size : 0;
}

/* Ends a failed transaction so the session can carry the next one. */
static void smtp_session_reset(smtp_session_t *s)
{
    if (s->usable && mailsmtp_reset(s->smtp) != MAILSMTP_NO_ERROR)
        s->usable = false;
}

/* Reads one reply, every line of it, as libetpan would: the code of the last line, the
 * texts after "NNN-"/"NNN " joined by '\n' into `text`. Returns the code, or 0 when the
 * connection failed or the server sent something that is not a reply. */
static int smtp_session_read_reply(smtp_session_t *s, char *text, size_t size)
{
    MMAPString *buf = mmap_string_new("");
    int code = 0;
    size_t n = 0;
    if (buf == NULL)
        abort();
    text[0] = '\0';
    for (;;) {
        char *line = mailstream_read_line_remove_eol(s->smtp->stream, buf);
        if (line == NULL || strlen(line) < 3 || !isdigit((unsigned char)line[0]) ||
            !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2])) {
            code = 0;
            break;
        }
        code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        const char *t = line[3] ? line + 4 : "";
        int w = snprintf(text + n, size - n, "%s%s", n ? "\n" : "", t);
        if (w > 0)
            n = n + (size_t)w < size ? n + (size_t)w : size - 1;
        if (line[3] != '-')
            break;
    }
    mmap_string_free(buf);
    return code;
}

/* A failure from a reply read by smtp_session_read_reply(). */
static void smtp_session_reply_fail(smtp_session_t *s, smtpreply_stage_t stage, int code,
                                    const char *text, smtp_failure_t *fail)
{
    memset(fail, 0, sizeof(*fail));
    fail->stage = stage;
    fail->enhanced = s->enhanced;
    fail->code = code;
    if (code == 0) {
        fail->local = ERRCODE_CONNECTION_FAILED;
        snprintf(fail->text, sizeof(fail->text), "connection lost (during %s)",
                 smtpreply_stage_name(stage));
        s->usable = false;
        return;
    }
    smtp_session_text(fail->text, sizeof(fail->text), text);
    if (code == 421)
        s->usable = false;
}

/*
 * The envelope with PIPELINING (RFC 2920): MAIL, every RCPT and DATA go in one write, and
 * the replies are read in order; two round trips a message instead of three plus one per
 * recipient. Returns 0 when DATA was answered 354 with at least one recipient accepted.
 */
static int smtp_session_envelope_pipelined(smtp_session_t *s, const char *from,
                                           const char *const *rcpts, size_t count, size_t len,
                                           smtp_rcpt_result_t *rcpt, smtp_failure_t *fail)
{
    mimebuf_t cmd;
    char text[1024];
    mimebuf_init(&cmd, (count + 2) * 300);
    mimebuf_adds(&cmd, "MAIL FROM:<");
    mimebuf_adds(&cmd, from);
    mimebuf_adds(&cmd, ">");
    if (s->smtp->esmtp & MAILSMTP_ESMTP_SIZE) {
        char size[32];
        snprintf(size, sizeof(size), " SIZE=%zu", len);
        mimebuf_adds(&cmd, size);
    }
    mimebuf_adds(&cmd, "\r\n");
    for (size_t i = 0; i < count; i++) {
        mimebuf_adds(&cmd, "RCPT TO:<");
        mimebuf_adds(&cmd, rcpts[i]);
        mimebuf_adds(&cmd, ">\r\n");
    }
    mimebuf_adds(&cmd, "DATA\r\n");
    bool written = !cmd.toobig &&
                   mailstream_write(s->smtp->stream, cmd.data, cmd.len) == (ssize_t)cmd.len &&
                   mailstream_flush(s->smtp->stream) == 0;
    mimebuf_free(&cmd);
    if (!written) {
        smtp_session_reply_fail(s, SMTPREPLY_MAIL, 0, "", fail);
        return -1;
    }

    /* `fail` holds the MAIL failure, else the first refused recipient, unless the
     * connection went (421, no reply), which always decides. */
    bool mail_failed = false, have_fail = false;
    int code = smtp_session_read_reply(s, text, sizeof(text));
    if (code / 100 != 2) {
        smtp_session_reply_fail(s, SMTPREPLY_MAIL, code, text, fail);
        mail_failed = have_fail = true;
        if (!s->usable)
            return -1;
    }
    size_t accepted = 0;
    for (size_t i = 0; i < count; i++) {
        code = smtp_session_read_reply(s, text, sizeof(text));
        if (code / 100 == 2) {
            rcpt[i].code = 250;
            accepted++;
            continue;
        }
        smtp_failure_t f;
        smtp_session_reply_fail(s, SMTPREPLY_RCPT, code, text, &f);
        rcpt[i].code = code;
        snprintf(rcpt[i].text, sizeof(rcpt[i].text), "%.*s", (int)sizeof(rcpt[i].text) - 1, f.text);
        if (!have_fail || !s->usable) {
            *fail = f;
            have_fail = true;
        }
        if (!s->usable)
            return -1;
    }
    code = smtp_session_read_reply(s, text, sizeof(text));
    if (mail_failed || accepted == 0) {
        /* DATA accepted with nothing worth sending: ending it with "." could deliver an
         * empty message, so the connection is dropped and the server discards it. */
        if (code == 354 || code == 0)
            s->usable = false;
        return -1;
    }
    if (code != 354) {
        smtp_session_reply_fail(s, SMTPREPLY_DATA, code, text, fail);
        return -1;
    }
    return 0;
}

/* The envelope one command at a time, for servers without PIPELINING. */
static int smtp_session_envelope_serial(smtp_session_t *s, const char *from,
                                        const char *const *rcpts, size_t count, size_t len,
                                        smtp_rcpt_result_t *rcpt, smtp_failure_t *fail)
{
    int64_t t0 = timefmt_mono_ms();
    int r = (s->smtp->esmtp & MAILSMTP_ESMTP_SIZE)
                ? mailesmtp_mail_size(s->smtp, from, 0, NULL, len)
                : mailsmtp_mail(s->smtp, from);
    if (r != MAILSMTP_NO_ERROR) {
        smtp_session_fail(s, SMTPREPLY_MAIL, r, t0, fail);
        return -1;
    }

    size_t accepted = 0;
    bool have_first = false;
    for (size_t i = 0; i < count; i++) {
        t0 = timefmt_mono_ms();
        r = mailsmtp_rcpt(s->smtp, rcpts[i]);
        if (r == MAILSMTP_NO_ERROR) {
            rcpt[i].code = 250;
            accepted++;
            continue;
        }
        smtp_failure_t f;
        smtp_session_fail(s, SMTPREPLY_RCPT, r, t0, &f);
        rcpt[i].code = f.code;
        snprintf(rcpt[i].text, sizeof(rcpt[i].text), "%.*s", (int)sizeof(rcpt[i].text) - 1, f.text);
        if (!have_first || !s->usable) {
            *fail = f;
            have_first = true;
        }
        if (!s->usable)
            return -1;
    }
    if (accepted == 0)
        return -1; /* *fail holds the first refusal */

    t0 = timefmt_mono_ms();
    r = mailsmtp_data(s->smtp);
    if (r != MAILSMTP_NO_ERROR) {
        smtp_session_fail(s, SMTPREPLY_DATA, r, t0, fail);
        return -1;
    }
    return 0;
}

int smtp_session_send(smtp_session_t *s, const char *from, const char *const *rcpts, size_t count,
                      const char *msg, size_t len, smtp_rcpt_result_t *rcpt, smtp_failure_t *fail,
                      bool *data_sent)
{
    *data_sent = false;
    for (size_t i = 0; i < count; i++)
        memset(&rcpt[i], 0, sizeof(rcpt[i]));

    int env = (s->smtp->esmtp & MAILSMTP_ESMTP_PIPELINING)
                  ? smtp_session_envelope_pipelined(s, from, rcpts, count, len, rcpt, fail)
                  : smtp_session_envelope_serial(s, from, rcpts, count, len, rcpt, fail);
    if (env != 0)
        goto fail;

    /* libetpan ends the data with CRLF "." CRLF itself: the message's own last CRLF is
     * left out, or the receiver would see an extra empty line. */
    size_t n = len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n' ? len - 2 : len;
    *data_sent = true;
    int64_t t0 = timefmt_mono_ms();
    int r = mailsmtp_data_message(s->smtp, msg, n);
    if (r != MAILSMTP_NO_ERROR) {
        smtp_session_fail(s, SMTPREPLY_DATA, r, t0, fail);
        goto fail;
    }
    return 0;

fail:
    smtp_session_reset(s);
    return -1;
}
