/*
 * One SMTP client session over libetpan: connect (plain, STARTTLS or implicit TLS, with
 * the peer verified by smtp_tls.h), EHLO, AUTH, then any number of transactions, each
 * reported recipient by recipient. A session is used by one thread at a time; libetpan's
 * calls block, bounded by the session's timeout for connect and for each reply.
 *
 * Every failure is described by an smtp_failure_t: the stage, the server's reply code and
 * text read from the session (libetpan's own error enums lose the detail), or a local
 * condition (TLS verification, timeout, lost connection) with the contract code decided
 * here; smtp_failure_verdict() turns it into the contract's code and retry decision.
 */
#ifndef NOTIFY_SMTP_SESSION_H
#define NOTIFY_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "errcode.h"
#include "smtpreply.h"

typedef struct smtp_session_s smtp_session_t;

/* Where to connect and how; borrowed for the duration of smtp_session_open() only. */
typedef struct smtp_server_s {
    const char *host;
    int port;
    const char *username; /* NULL: no AUTH */
    const char *password;
    bool starttls;     /* require STARTTLS */
    bool implicit_tls; /* TLS from the first byte (465) */
    const char *ca_file;
    int timeout_ms; /* connect and each reply */
} smtp_server_t;

typedef struct smtp_failure_s {
    smtpreply_stage_t stage;
    int code;        /* the server's reply code; 0 when there was no reply */
    char text[400];  /* the server's text, or what went wrong locally */
    errcode_t local; /* set when the failure is not a server reply: TLS_FAILED, TIMEOUT,
                        CONNECTION_FAILED, AUTH_FAILED, MESSAGE_TOO_LARGE; else ERRCODE_OK */
    bool enhanced;   /* the server advertised ENHANCEDSTATUSCODES */
} smtp_failure_t;

/*
 * Once at start-up, before any session: the timeout of every read and write. Debian's
 * libetpan 1.9.4 does not apply the session's own timeout (mailsmtp_set_timeout) to the
 * reads of a plaintext connection, which then wait for the library's global delay
 * (5 minutes) instead: a server that accepts the connection and never greets would hold
 * a pool thread that long. Setting the global makes every wait the configured one.
 */
void smtp_session_global_init(int timeout_ms);

/* The contract's code and retry decision of a failure. */
smtpreply_verdict_t smtp_failure_verdict(const smtp_failure_t *f);

/* Opens a ready session (greeted, TLS verified, authenticated), or NULL with *fail. */
smtp_session_t *smtp_session_open(const smtp_server_t *srv, smtp_failure_t *fail);

/* QUITs politely when the session is still usable, then frees it. NULL is allowed. */
void smtp_session_close(smtp_session_t *s);

/* False once the connection is known to be gone (a 421, a read or write failure): the
 * session must then be closed, not reused. */
bool smtp_session_usable(const smtp_session_t *s);

/* The server's SIZE limit (0: none advertised). */
size_t smtp_session_max_size(const smtp_session_t *s);

/* What happened to one recipient of a transaction. */
typedef struct smtp_rcpt_result_s {
    int code; /* 250 when accepted; the reply code otherwise (0: not asked) */
    char text[200];
} smtp_rcpt_result_t;

/*
 * One transaction: MAIL FROM (with SIZE when the server supports it), RCPT TO for each of
 * the `count` recipients (results in rcpt[]), DATA and the message (`len` bytes, CRLF line
 * ends, ending in CRLF, no line starting with '.' required: libetpan dot-stuffs).
 *
 * Returns 0 when the server accepted the message for at least one recipient (the others'
 * rejections are in rcpt[]); -1 with *fail otherwise, when no recipient was accepted
 * (fail describes the first rejection), or the transaction failed. After a failure on a
 * usable session the transaction is reset (RSET), so the session can be reused.
 * `data_sent` is set when the message itself was handed to the server, after which a lost
 * connection leaves it unknown whether the server kept the message.
 */
int smtp_session_send(smtp_session_t *s, const char *from, const char *const *rcpts, size_t count,
                      const char *msg, size_t len, smtp_rcpt_result_t *rcpt, smtp_failure_t *fail,
                      bool *data_sent);

#endif
