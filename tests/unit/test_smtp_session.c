/*
 * The SMTP session (workers/email-worker/smtp_session.c) over libetpan against a scripted
 * server on 127.0.0.1: pipelined and one-by-one envelopes, multi-line replies, refused
 * recipients, 421 in the middle of a transaction, greeting failures, ENHANCEDSTATUSCODES.
 */
#include "smtp_session.h"
#include "smtp_tls.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One step: a line the client must send (its start), then the reply (CRLF-separated lines,
 * sent as they are); a NULL reply closes the connection. "." stands for the whole message
 * after DATA: the server reads up to the end-of-data line. */
typedef struct step_s {
    const char *expect;
    const char *reply;
} step_t;

typedef struct server_s {
    int lfd;
    int port;
    const char *greeting;
    const step_t *steps;
    pthread_t thread;
    int matched;   /* steps that went as scripted */
    char bad[256]; /* the first line that did not */
    char data[4096];
} server_t;

static int read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        char c;
        if (read(fd, &c, 1) != 1)
            return -1;
        if (c == '\n')
            break;
        if (c != '\r')
            buf[n++] = c;
    }
    buf[n] = '\0';
    return 0;
}

static void send_reply(int fd, const char *reply)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s\r\n", reply);
    if (write(fd, buf, (size_t)n) != n)
        perror("write");
}

static void *server_run(void *arg)
{
    server_t *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    send_reply(fd, s->greeting);
    for (const step_t *st = s->steps; st->expect; st++) {
        char line[1024];
        if (strcmp(st->expect, ".") == 0) {
            size_t n = 0;
            for (;;) {
                if (read_line(fd, line, sizeof(line)) != 0)
                    goto out;
                if (strcmp(line, ".") == 0)
                    break;
                n += (size_t)snprintf(s->data + n, sizeof(s->data) - n, "%s\n", line);
                if (n >= sizeof(s->data))
                    n = sizeof(s->data) - 1;
            }
        } else {
            if (read_line(fd, line, sizeof(line)) != 0)
                goto out;
            if (strncmp(line, st->expect, strlen(st->expect)) != 0) {
                snprintf(s->bad, sizeof(s->bad), "expected %.60s, got %.160s", st->expect, line);
                goto out;
            }
        }
        s->matched++;
        if (st->reply == NULL)
            goto out;
        send_reply(fd, st->reply);
    }
out:
    close(fd);
    return NULL;
}

static void server_start(server_t *s, const char *greeting, const step_t *steps)
{
    memset(s, 0, sizeof(*s));
    s->greeting = greeting;
    s->steps = steps;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->lfd, 4) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
        abort();
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, server_run, s);
}

static int server_finish(server_t *s)
{
    pthread_join(s->thread, NULL);
    close(s->lfd);
    if (s->bad[0])
        fprintf(stderr, "  server: %s\n", s->bad);
    return s->matched;
}

static smtp_session_t *open_to(server_t *s, smtp_failure_t *f)
{
    smtp_server_t srv = {.host = "127.0.0.1", .port = s->port, .timeout_ms = 3000};
    return smtp_session_open(&srv, f);
}

#define EHLO_PIPE  "250-test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE 100000"
#define EHLO_PLAIN "250-test\r\n250 SIZE 100000"

static const char MSG[] = "Subject: t\r\n\r\nhello\r\n.leading dot\r\n";

static void test_pipelined_partial_refusal(void)
{
    static const step_t steps[] = {
        {"EHLO", EHLO_PIPE},
        {"MAIL FROM:<a@x.org> SIZE=", "250 2.1.0 Ok"},
        {"RCPT TO:<b@x.org>", "250 2.1.5 Ok"},
        {"RCPT TO:<c@x.org>", "550-5.1.1 <c@x.org>: no such user\r\n550 5.1.1 try another"},
        {"RCPT TO:<d@x.org>", "250 2.1.5 Ok"},
        {"DATA", "354 go ahead"},
        {".", "250 2.0.0 queued"},
        {"QUIT", "221 bye"},
        {NULL, NULL},
    };
    server_t srv;
    server_start(&srv, "220 test ESMTP", steps);
    smtp_failure_t f;
    smtp_session_t *s = open_to(&srv, &f);
    REQUIRE(s != NULL);
    const char *rcpts[] = {"b@x.org", "c@x.org", "d@x.org"};
    smtp_rcpt_result_t rr[3];
    bool sent;
    CHECK_INT(smtp_session_send(s, "a@x.org", rcpts, 3, MSG, strlen(MSG), rr, &f, &sent), 0);
    CHECK(sent);
    CHECK_INT(rr[0].code, 250);
    CHECK_INT(rr[1].code, 550);
    CHECK_STR(rr[1].text, "5.1.1 <c@x.org>: no such user 5.1.1 try another");
    CHECK_INT(rr[2].code, 250);
    smtp_session_close(s);
    CHECK_INT(server_finish(&srv), 8);
    /* The message as sent: dot-stuffed on the wire, no empty line added at the end. */
    CHECK_STR(srv.data, "Subject: t\n\nhello\n..leading dot\n");
}

static void test_pipelined_all_refused_then_reset(void)
{
    static const step_t steps[] = {
        {"EHLO", EHLO_PIPE},
        {"MAIL FROM:<a@x.org>", "250 2.1.0 Ok"},
        {"RCPT TO:<b@x.org>", "550 5.7.1 <b@x.org>: Relay access denied"},
        {"DATA", "554 5.5.1 Error: no valid recipients"},
        {"RSET", "250 2.0.0 Ok"},
        {"QUIT", "221 bye"},
        {NULL, NULL},
    };
    server_t srv;
    server_start(&srv, "220 test ESMTP", steps);
    smtp_failure_t f;
    smtp_session_t *s = open_to(&srv, &f);
    REQUIRE(s != NULL);
    const char *rcpts[] = {"b@x.org"};
    smtp_rcpt_result_t rr[1];
    bool sent;
    CHECK_INT(smtp_session_send(s, "a@x.org", rcpts, 1, MSG, strlen(MSG), rr, &f, &sent), -1);
    CHECK(!sent);
    CHECK_INT(f.stage, SMTPREPLY_RCPT);
    CHECK_INT(f.code, 550);
    CHECK(f.enhanced);
    smtpreply_verdict_t v = smtp_failure_verdict(&f);
    CHECK_INT(v.code, ERRCODE_RELAY_DENIED);
    CHECK(smtp_session_usable(s));
    smtp_session_close(s);
    CHECK_INT(server_finish(&srv), 6);
}

static void test_pipelined_421_mid_envelope(void)
{
    static const step_t steps[] = {
        {"EHLO", EHLO_PIPE},
        {"MAIL FROM:<a@x.org>", "250 2.1.0 Ok"},
        {"RCPT TO:<b@x.org>", "250 2.1.5 Ok"},
        {"RCPT TO:<c@x.org>", "421 4.3.2 Shutting down"},
        /* Read what the client pipelined before closing: closing with unread data would
         * reset the connection and lose the 421 on the way. */
        {"DATA", NULL},
        {NULL, NULL},
    };
    server_t srv;
    server_start(&srv, "220 test ESMTP", steps);
    smtp_failure_t f;
    smtp_session_t *s = open_to(&srv, &f);
    REQUIRE(s != NULL);
    const char *rcpts[] = {"b@x.org", "c@x.org"};
    smtp_rcpt_result_t rr[2];
    bool sent;
    CHECK_INT(smtp_session_send(s, "a@x.org", rcpts, 2, MSG, strlen(MSG), rr, &f, &sent), -1);
    CHECK_INT(f.code, 421);
    smtpreply_verdict_t v = smtp_failure_verdict(&f);
    CHECK_INT(v.code, ERRCODE_SMTP_421);
    CHECK(v.retryable);
    CHECK(!smtp_session_usable(s));
    smtp_session_close(s);
    server_finish(&srv);
}

static void test_serial_envelope_and_lost_connection(void)
{
    static const step_t steps[] = {
        {"EHLO", EHLO_PLAIN},
        {"MAIL FROM:<a@x.org> SIZE=", "250 Ok"},
        {"RCPT TO:<b@x.org>", "452 Too many recipients"},
        {"RSET", "250 Ok"},
        {"MAIL FROM:<a@x.org>", "250 Ok"},
        {"RCPT TO:<b@x.org>", "250 Ok"},
        {"DATA", "354 go ahead"},
        {".", NULL}, /* the connection drops after the message, without a reply */
        {NULL, NULL},
    };
    server_t srv;
    server_start(&srv, "220 test ESMTP", steps);
    smtp_failure_t f;
    smtp_session_t *s = open_to(&srv, &f);
    REQUIRE(s != NULL);
    const char *rcpts[] = {"b@x.org"};
    smtp_rcpt_result_t rr[1];
    bool sent;
    CHECK_INT(smtp_session_send(s, "a@x.org", rcpts, 1, MSG, strlen(MSG), rr, &f, &sent), -1);
    CHECK_INT(f.code, 452);
    CHECK(!f.enhanced);
    CHECK(smtp_session_usable(s));
    smtpreply_verdict_t v = smtp_failure_verdict(&f);
    CHECK_INT(v.code, ERRCODE_SMTP_452);
    CHECK(v.retryable);
    CHECK_INT(smtp_session_send(s, "a@x.org", rcpts, 1, MSG, strlen(MSG), rr, &f, &sent), -1);
    CHECK(sent);
    CHECK_INT(f.code, 0);
    v = smtp_failure_verdict(&f);
    CHECK_INT(v.code, ERRCODE_CONNECTION_FAILED);
    CHECK(v.retryable);
    CHECK(!smtp_session_usable(s));
    smtp_session_close(s);
    CHECK_INT(server_finish(&srv), 8);
}

static void test_greeting_refused(void)
{
    static const step_t steps[] = {{NULL, NULL}};
    server_t srv;
    server_start(&srv, "554 5.7.1 no service for you, client host [127.0.0.1] blocked", steps);
    smtp_failure_t f;
    smtp_session_t *s = open_to(&srv, &f);
    CHECK(s == NULL);
    CHECK_INT(f.stage, SMTPREPLY_CONNECT);
    CHECK_INT(f.code, 554);
    smtpreply_verdict_t v = smtp_failure_verdict(&f);
    CHECK_INT(v.code, ERRCODE_BLACKLISTED);
    server_finish(&srv);
}

static void test_starttls_required_not_offered(void)
{
    static const step_t steps[] = {{"EHLO", EHLO_PLAIN}, {"QUIT", "221 bye"}, {NULL, NULL}};
    server_t srv;
    server_start(&srv, "220 test ESMTP", steps);
    smtp_server_t cfg = {
        .host = "127.0.0.1", .port = srv.port, .timeout_ms = 3000, .starttls = true};
    smtp_failure_t f;
    smtp_session_t *s = smtp_session_open(&cfg, &f);
    CHECK(s == NULL);
    CHECK_INT(f.local, ERRCODE_TLS_FAILED);
    CHECK(strstr(f.text, "STARTTLS") != NULL);
    server_finish(&srv);
}

int main(void)
{
    smtp_tls_global_init();
    smtp_session_global_init(3000);
    TEST_RUN(test_pipelined_partial_refusal);
    TEST_RUN(test_pipelined_all_refused_then_reset);
    TEST_RUN(test_pipelined_421_mid_envelope);
    TEST_RUN(test_serial_envelope_and_lost_connection);
    TEST_RUN(test_greeting_refused);
    TEST_RUN(test_starttls_required_not_offered);
    return TEST_EXIT();
}
