#include "mime.h"

#include "crypto.h"
#include "hex.h"
#include "mimebuf.h"
#include "mimeenc.h"
#include "request.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An encoded key longer than this is replaced by its hash in the Message-ID. */
#define MIME_ID_KEY_MAX    120
#define MIME_RANDOM_OCTETS 12

/* RFC 5322 3.2.3 atext, less '=' which the Message-ID uses as its escape character. */
static bool mime_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-/?^_`{|}~", c) != NULL;
}

static void mime_random_hex(char *out, size_t octets)
{
    unsigned char r[32];
    crypto_random_bytes(r, octets);
    hex_encode(r, octets, out, 2 * octets + 1);
}

int mime_message_id(const char *key, const char *from_email, char *out, size_t out_size)
{
    char left[3 * MIME_ID_KEY_MAX + 8];
    size_t n = 0;
    bool hashed = false;
    for (size_t i = 0; key[i] != '\0'; i++) {
        unsigned char c = (unsigned char)key[i];
        /* A dot may not start the id nor follow another dot (dot-atom-text). */
        bool dot_ok = c == '.' && i > 0 && key[i - 1] != '.';
        if (n + 3 > MIME_ID_KEY_MAX) {
            hashed = true;
            break;
        }
        if (mime_atext(c) || dot_ok) {
            left[n++] = (char)c;
        } else {
            n += (size_t)snprintf(left + n, sizeof(left) - n, "=%02X", c);
        }
    }
    if (hashed) {
        unsigned char sum[CRYPTO_SHA256_SIZE];
        crypto_sha256(key, strlen(key), sum);
        n = (size_t)snprintf(left, sizeof(left), "sha256-");
        hex_encode(sum, sizeof(sum), left + n, sizeof(left) - n);
        n += 2 * sizeof(sum);
    }
    left[n] = '\0';
    const char *at = strrchr(from_email, '@');
    const char *domain = at ? at + 1 : "localhost";
    char rnd[2 * MIME_RANDOM_OCTETS + 1];
    mime_random_hex(rnd, MIME_RANDOM_OCTETS);
    int w = snprintf(out, out_size, "<%s-%s@%s>", left, rnd, domain);
    return w > 0 && (size_t)w < out_size ? 0 : -1;
}

void mime_date(int64_t epoch_ms, char *out, size_t out_size)
{
    /* Names from a table, not strftime(): the header must not follow the locale. */
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, out_size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

/* One text part's headers and body. In a multipart the CRLF written after the body
 * belongs to the boundary line that follows (RFC 2046 5.1.1), so the body keeps its own
 * last line end, if it has one. */
static void mime_part(mimebuf_t *b, const char *subtype, const char *body, bool multipart)
{
    size_t len = strlen(body);
    mimeenc_cte_t cte = mimeenc_choose(body, len);
    mimebuf_adds(b, "Content-Type: text/");
    mimebuf_adds(b, subtype);
    mimebuf_adds(b, "; charset=UTF-8\r\nContent-Transfer-Encoding: ");
    mimebuf_adds(b, mimeenc_cte_name(cte));
    mimebuf_adds(b, "\r\n\r\n");
    if (cte == MIMEENC_BASE64) {
        mimeenc_base64(b, body, len);
    } else {
        mimeenc_qp(b, body, len);
        if (multipart || len == 0 || (body[len - 1] != '\n' && body[len - 1] != '\r'))
            mimebuf_add(b, "\r\n", 2);
    }
}

static void mime_headers(mimebuf_t *b, const mime_input_t *in)
{
    const char *names[1] = {in->from_name};
    const char *addrs[1] = {in->from_email};
    mimeenc_header_mailboxes(b, "From", names, addrs, 1);
    addrs[0] = in->to;
    mimeenc_header_mailboxes(b, "To", NULL, addrs, 1);
    if (in->cc && in->cc->count > 0)
        mimeenc_header_mailboxes(b, "Cc", NULL, (const char *const *)in->cc->addrs, in->cc->count);
    if (in->reply_to && *in->reply_to) {
        addrs[0] = in->reply_to;
        mimeenc_header_mailboxes(b, "Reply-To", NULL, addrs, 1);
    }
    const char *subject = in->subject ? in->subject : "";
    size_t slen;
    char *encoded = request_subject_encode(subject, strlen(subject), &slen);
    mimeenc_header_text(b, "Subject", encoded, slen);
    free(encoded);
    char date[40];
    mime_date(in->date_ms, date, sizeof(date));
    mimebuf_adds(b, "Date: ");
    mimebuf_adds(b, date);
    mimebuf_adds(b, "\r\nMessage-ID: ");
    mimebuf_adds(b, in->message_id);
    mimebuf_adds(b, "\r\n");
    mimeenc_header_text(b, "X-Idempotency-Key", in->idempotency_key, strlen(in->idempotency_key));
    mimebuf_adds(b, "MIME-Version: 1.0\r\n");
}

mime_err_t mime_build(const mime_input_t *in, size_t max_size, char **out, size_t *out_len,
                      char *errstr, size_t errstr_size)
{
    mime_err_t result = MIME_ERR_INPUT;
    mimebuf_t b;
    mimebuf_init(&b, max_size);
    *out = NULL;
    if (in->from_email == NULL || in->to == NULL || in->idempotency_key == NULL ||
        in->message_id == NULL) {
        snprintf(errstr, errstr_size, "the message needs a sender, a recipient, a key and an id");
        goto out;
    }
    const char *text = in->text_body;
    const char *html = in->html_body;
    if (text == NULL && html == NULL) {
        snprintf(errstr, errstr_size, "the message has no body");
        goto out;
    }

    mime_headers(&b, in);
    if (text && html) {
        char boundary[2 + 2 * MIME_RANDOM_OCTETS + 1] = "=_";
        mime_random_hex(boundary + 2, MIME_RANDOM_OCTETS);
        mimebuf_adds(&b, "Content-Type: multipart/alternative; boundary=\"");
        mimebuf_adds(&b, boundary);
        mimebuf_adds(&b, "\"\r\n\r\n");
        /* Plainest first: a client shows the last part it understands (RFC 2046 5.1.4). */
        const char *parts[2][2] = {{"plain", text}, {"html", html}};
        for (size_t i = 0; i < 2; i++) {
            mimebuf_adds(&b, "--");
            mimebuf_adds(&b, boundary);
            mimebuf_adds(&b, "\r\n");
            mime_part(&b, parts[i][0], parts[i][1], true);
        }
        mimebuf_adds(&b, "--");
        mimebuf_adds(&b, boundary);
        mimebuf_adds(&b, "--\r\n");
    } else {
        mime_part(&b, text ? "plain" : "html", text ? text : html, false);
    }
    if (b.toobig) {
        result = MIME_ERR_TOO_LARGE;
        snprintf(errstr, errstr_size, "the message is larger than %zu octets once encoded",
                 max_size);
        goto out;
    }
    *out = mimebuf_take(&b, out_len);
    result = MIME_OK;

out:
    mimebuf_free(&b);
    return result;
}
