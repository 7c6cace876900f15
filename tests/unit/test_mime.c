/* The email message builder: headers, encodings, multipart structure, line lengths. */
#include "mime.h"
#include "mimebuf.h"
#include "mimeenc.h"
#include "request.h"
#include "testutil.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* 2026-11-27T04:55:31Z */
#define TEST_DATE_MS 1795755331000LL

static char *build(const mime_input_t *in, size_t max, mime_err_t *err, size_t *len)
{
    char errstr[256], *out = NULL;
    size_t n = 0;
    *err = mime_build(in, max, &out, &n, errstr, sizeof(errstr));
    if (len)
        *len = n;
    return out;
}

static mime_input_t base_input(void)
{
    mime_input_t in = {
        .from_email = "noreply@acme.example",
        .from_name = "Acme",
        .to = "bob@example.org",
        .subject = "Hello",
        .text_body = "hi",
        .idempotency_key = "key-1",
        .message_id = "<key-1-0123@acme.example>",
        .date_ms = TEST_DATE_MS,
    };
    return in;
}

/* Every line ends in CRLF, none is longer than `max` octets, no bare CR or LF. */
static bool lines_ok(const char *m, size_t len, size_t max)
{
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        if (m[i] == '\r') {
            if (i + 1 >= len || m[i + 1] != '\n')
                return false;
            i++;
            col = 0;
            continue;
        }
        if (m[i] == '\n')
            return false;
        if (++col > max)
            return false;
    }
    return len >= 2 && m[len - 2] == '\r' && m[len - 1] == '\n';
}

/* The header block (up to the empty line), unfolded, for substring checks. */
static char *headers_unfolded(const char *m)
{
    const char *end = strstr(m, "\r\n\r\n");
    size_t n = end ? (size_t)(end - m) + 2 : strlen(m);
    char *h = malloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i] == '\r' && m[i + 1] == '\n' && i + 2 < n &&
            (m[i + 2] == ' ' || m[i + 2] == '\t')) {
            i++;
            continue;
        }
        h[j++] = m[i];
    }
    h[j] = '\0';
    return h;
}

static void test_single_text_part(void)
{
    mime_input_t in = base_input();
    mime_err_t err;
    size_t len;
    char *m = build(&in, MIME_MAX_SIZE, &err, &len);
    REQUIRE(err == MIME_OK && m != NULL);
    CHECK_STR(m, "From: \"Acme\" <noreply@acme.example>\r\n"
                 "To: bob@example.org\r\n"
                 "Subject: Hello\r\n"
                 "Date: Fri, 27 Nov 2026 04:55:31 +0000\r\n"
                 "Message-ID: <key-1-0123@acme.example>\r\n"
                 "X-Idempotency-Key: key-1\r\n"
                 "MIME-Version: 1.0\r\n"
                 "Content-Type: text/plain; charset=UTF-8\r\n"
                 "Content-Transfer-Encoding: quoted-printable\r\n"
                 "\r\n"
                 "hi\r\n");
    CHECK_INT(len, strlen(m));
    free(m);
}

static void test_alternative_order_and_headers(void)
{
    mime_input_t in = base_input();
    emailaddr_list_t cc;
    emailaddr_list_init(&cc);
    cc.addrs[0] = "c1@example.org";
    cc.addrs[1] = "c2@example.org";
    cc.count = 2;
    in.cc = &cc;
    in.reply_to = "help@acme.example";
    in.html_body = "<p>hi</p>";
    mime_err_t err;
    size_t len;
    char *m = build(&in, MIME_MAX_SIZE, &err, &len);
    REQUIRE(err == MIME_OK);
    char *h = headers_unfolded(m);
    CHECK(strstr(h, "\r\nCc: c1@example.org, c2@example.org\r\n") != NULL);
    CHECK(strstr(h, "\r\nReply-To: help@acme.example\r\n") != NULL);
    CHECK(strstr(h, "Bcc") == NULL);
    const char *ct = strstr(h, "Content-Type: multipart/alternative; boundary=\"=_");
    REQUIRE(ct != NULL);
    char boundary[64];
    const char *q = strchr(ct, '"') + 1;
    size_t bl = (size_t)(strchr(q, '"') - q);
    REQUIRE(bl < sizeof(boundary));
    memcpy(boundary, q, bl);
    boundary[bl] = '\0';
    char marker[160];
    snprintf(marker, sizeof(marker), "\r\n--%s\r\nContent-Type: text/plain", boundary);
    const char *p1 = strstr(m, marker);
    snprintf(marker, sizeof(marker), "\r\n--%s\r\nContent-Type: text/html", boundary);
    const char *p2 = strstr(m, marker);
    snprintf(marker, sizeof(marker), "\r\n--%s--\r\n", boundary);
    const char *end = strstr(m, marker);
    CHECK(p1 != NULL && p2 != NULL && end != NULL);
    CHECK(p1 < p2 && p2 < end);
    CHECK(end && end + strlen(marker) == m + len); /* the close delimiter ends the message */
    CHECK(strstr(m, "\r\n\r\n<p>hi</p>\r\n") != NULL);
    CHECK(lines_ok(m, len, 78));
    free(h);
    free(m);
}

static void test_html_only_and_no_body(void)
{
    mime_input_t in = base_input();
    in.text_body = NULL;
    in.html_body = "<b>x</b>";
    mime_err_t err;
    char *m = build(&in, MIME_MAX_SIZE, &err, NULL);
    REQUIRE(err == MIME_OK);
    CHECK(strstr(m, "Content-Type: text/html; charset=UTF-8\r\n") != NULL);
    CHECK(strstr(m, "multipart") == NULL);
    free(m);
    in.html_body = NULL;
    m = build(&in, MIME_MAX_SIZE, &err, NULL);
    CHECK(err == MIME_ERR_INPUT);
    CHECK(m == NULL);
}

static void test_encoded_words(void)
{
    mime_input_t in = base_input();
    in.subject = "Caf\xc3\xa9 \xe2\x82\xac";
    in.from_name = "J\xc3\xbcrgen \"the\" Boss";
    mime_err_t err;
    size_t len;
    char *m = build(&in, MIME_MAX_SIZE, &err, &len);
    REQUIRE(err == MIME_OK);
    /* base64("Café €") */
    CHECK(strstr(m, "Subject: =?UTF-8?B?Q2Fmw6kg4oKs?=\r\n") != NULL);
    CHECK(strstr(m, "From: =?UTF-8?B?SsO8cmdlbiAidGhlIiBCb3Nz?= <noreply@acme.example>\r\n") !=
          NULL);
    free(m);

    /* ASCII display names with specials are quoted and escaped. */
    in = base_input();
    in.from_name = "Acme, \"Billing\" \\ Team";
    m = build(&in, MIME_MAX_SIZE, &err, &len);
    REQUIRE(err == MIME_OK);
    CHECK(strstr(m, "From: \"Acme, \\\"Billing\\\" \\\\ Team\" <noreply@acme.example>\r\n") !=
          NULL);
    free(m);

    /* A long non-ASCII subject: several words, folded, each at most 75 characters. */
    char subject[600];
    size_t n = 0;
    while (n + 2 < 400) {
        subject[n++] = (char)0xc3;
        subject[n++] = (char)0xa9;
    }
    subject[n] = '\0';
    in = base_input();
    in.subject = subject;
    m = build(&in, MIME_MAX_SIZE, &err, &len);
    REQUIRE(err == MIME_OK);
    /* "Subject: " and one 72-character word is the longest line. */
    CHECK(lines_ok(m, len, 9 + 72));
    CHECK(strstr(m, "?=\r\n =?UTF-8?B?") != NULL);
    char *h = headers_unfolded(m);
    size_t expect_len;
    char *expect = request_subject_encode(subject, strlen(subject), &expect_len);
    char line[1200];
    snprintf(line, sizeof(line), "\r\nSubject: %s\r\n", expect);
    CHECK(strstr(h, line) != NULL);
    free(expect);
    free(h);
    free(m);
}

static void test_header_injection_is_encoded(void)
{
    mime_input_t in = base_input();
    in.idempotency_key = "k\r\nBcc: evil@x.org";
    in.from_name = "Acme\r\nBcc: evil@x.org";
    mime_err_t err;
    size_t len;
    char *m = build(&in, MIME_MAX_SIZE, &err, &len);
    REQUIRE(err == MIME_OK);
    CHECK(strstr(m, "\nBcc") == NULL);
    CHECK(strstr(m, "X-Idempotency-Key: =?UTF-8?B?") != NULL);
    CHECK(lines_ok(m, len, 78));
    free(m);
}

static void test_long_ascii_subject_folds(void)
{
    /* 990 octets of words: folded under 78; one 990-octet run: encoded-words instead. */
    char subject[1000];
    for (size_t i = 0; i < 990; i++)
        subject[i] = i % 10 == 9 ? ' ' : 'a';
    subject[990] = '\0';
    mime_input_t in = base_input();
    in.subject = subject;
    mime_err_t err;
    size_t len;
    char *m = build(&in, MIME_MAX_SIZE, &err, &len);
    REQUIRE(err == MIME_OK);
    CHECK(lines_ok(m, len, 78));
    char *h = headers_unfolded(m);
    CHECK(strstr(h, subject) != NULL);
    free(h);
    free(m);

    memset(subject, 'b', 990);
    m = build(&in, MIME_MAX_SIZE, &err, &len);
    REQUIRE(err == MIME_OK);
    CHECK(lines_ok(m, len, 998));
    CHECK(strstr(m, "Subject: =?UTF-8?B?") != NULL);
    free(m);
}

/* `xs` octets 'x' and then `tail` encode as the same octets 'x' and then `want`. */
static void check_qp_after_xs(size_t xs, const char *tail, const char *want_tail)
{
    char text[128], want[160];
    memset(text, 'x', xs);
    snprintf(text + xs, sizeof(text) - xs, "%s", tail);
    memset(want, 'x', xs);
    snprintf(want + xs, sizeof(want) - xs, "%s", want_tail);
    mimebuf_t b;
    mimebuf_init(&b, 1 << 20);
    mimeenc_qp(&b, text, strlen(text));
    CHECK_STR(b.data, want);
    mimebuf_free(&b);
}

static void test_qp_body(void)
{
    mimebuf_t b;
    mimebuf_init(&b, 1 << 20);
    /* LF and lone CR become CRLF; '=' and UTF-8 escaped; trailing space kept; a leading dot
     * escaped. */
    const char *text = "a=b\n.dot\rcaf\xc3\xa9 \nend";
    mimeenc_qp(&b, text, strlen(text));
    CHECK_STR(b.data, "a=3Db\r\n=2Edot\r\ncaf=C3=A9=20\r\nend");
    mimebuf_free(&b);

    /* A 5000-octet line is broken softly into lines of at most 76. */
    char *longline = malloc(5001);
    memset(longline, 'x', 5000);
    longline[5000] = '\0';
    mimebuf_init(&b, 1 << 20);
    mimeenc_qp(&b, longline, 5000);
    mimebuf_add(&b, "\r\n", 2);
    CHECK(lines_ok(b.data, b.len, 76));
    size_t xs = 0;
    for (size_t i = 0; i < b.len; i++)
        xs += b.data[i] == 'x';
    CHECK_INT(xs, 5000);
    mimebuf_free(&b);
    free(longline);

    /* At the 75th column: a '.' goes to the next line, escaped there; a space before a
     * line break needs three octets, so it goes to the next line too. */
    check_qp_after_xs(75, ".y", "=\r\n=2Ey");
    check_qp_after_xs(74, " \nz \tw", "=\r\n=20\r\nz \tw");
}

static void test_base64_for_mostly_non_ascii(void)
{
    char body[301];
    for (size_t i = 0; i < 300; i += 3) {
        body[i] = (char)0xe6;
        body[i + 1] = (char)0x97;
        body[i + 2] = (char)0xa5;
    }
    body[300] = '\0';
    CHECK(mimeenc_choose(body, 300) == MIMEENC_BASE64);
    CHECK(mimeenc_choose("plain text", 10) == MIMEENC_QP);
    mime_input_t in = base_input();
    in.text_body = body;
    mime_err_t err;
    size_t len;
    char *m = build(&in, MIME_MAX_SIZE, &err, &len);
    REQUIRE(err == MIME_OK);
    CHECK(strstr(m, "Content-Transfer-Encoding: base64\r\n") != NULL);
    CHECK(lines_ok(m, len, 76));
    free(m);
}

static void test_size_limit(void)
{
    size_t big = 2u * 1024u * 1024u;
    char *body = malloc(big + 1);
    memset(body, 'y', big);
    body[big] = '\0';
    mime_input_t in = base_input();
    in.text_body = body;
    mime_err_t err;
    size_t len;
    char *m = build(&in, big, &err, &len);
    CHECK(err == MIME_ERR_TOO_LARGE);
    CHECK(m == NULL);
    m = build(&in, MIME_MAX_SIZE, &err, &len);
    CHECK(err == MIME_OK);
    CHECK(len > big);
    free(m);
    /* Exactly at the limit passes, one octet less fails. */
    m = build(&in, len, &err, NULL);
    CHECK(err == MIME_OK);
    free(m);
    m = build(&in, len - 1, &err, NULL);
    CHECK(err == MIME_ERR_TOO_LARGE);
    free(body);
}

static void test_message_id(void)
{
    char id[MIME_MESSAGE_ID_SIZE];
    REQUIRE(mime_message_id("order-42.a", "no@mail.acme.example", id, sizeof(id)) == 0);
    CHECK(strncmp(id, "<order-42.a-", 12) == 0);
    CHECK(strlen(id) == 12 + 24 + strlen("@mail.acme.example>"));
    CHECK(strcmp(id + 12 + 24, "@mail.acme.example>") == 0);

    REQUIRE(mime_message_id("a b@c=d..e.", "x@y.org", id, sizeof(id)) == 0);
    CHECK(strncmp(id, "<a=20b=40c=3Dd.=2Ee.-", 21) == 0);
    REQUIRE(mime_message_id(".lead", "x@y.org", id, sizeof(id)) == 0);
    CHECK(strncmp(id, "<=2Elead-", 9) == 0);

    char longkey[256];
    memset(longkey, '<', 255);
    longkey[255] = '\0';
    REQUIRE(mime_message_id(longkey, "x@y.org", id, sizeof(id)) == 0);
    CHECK(strncmp(id, "<sha256-", 8) == 0);
    CHECK(strlen(id) == 8 + 64 + 1 + 24 + strlen("@y.org>"));

    /* Two ids for the same key differ (the random part). */
    char id2[MIME_MESSAGE_ID_SIZE];
    mime_message_id("k", "x@y.org", id, sizeof(id));
    mime_message_id("k", "x@y.org", id2, sizeof(id2));
    CHECK(strcmp(id, id2) != 0);
}

static void test_date(void)
{
    char d[40];
    mime_date(0, d, sizeof(d));
    CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 +0000");
    mime_date(TEST_DATE_MS, d, sizeof(d));
    CHECK_STR(d, "Fri, 27 Nov 2026 04:55:31 +0000");
}

int main(void)
{
    TEST_RUN(test_single_text_part);
    TEST_RUN(test_alternative_order_and_headers);
    TEST_RUN(test_html_only_and_no_body);
    TEST_RUN(test_encoded_words);
    TEST_RUN(test_header_injection_is_encoded);
    TEST_RUN(test_long_ascii_subject_folds);
    TEST_RUN(test_qp_body);
    TEST_RUN(test_base64_for_mostly_non_ascii);
    TEST_RUN(test_size_limit);
    TEST_RUN(test_message_id);
    TEST_RUN(test_date);
    return TEST_EXIT();
}
