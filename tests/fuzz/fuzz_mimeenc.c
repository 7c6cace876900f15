/*
 * Email encodings (mimeenc.h) of a request's text. Whatever the text, the output is
 * 7-bit, ends lines with CRLF only, keeps body lines within 76 octets and header lines
 * within 998, and never lets a line of the body start with a lone '.'; quoted-printable
 * decodes back to the text.
 */
#include "fuzz.h"
#include "mimebuf.h"
#include "mimeenc.h"

/* Lines of `s` are CRLF-terminated, printable (TAB allowed) and at most `max` octets. */
static void check_lines(const char *s, size_t len, size_t max, int body)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') {
            FUZZ_CHECK(i + 1 < len && s[i + 1] == '\n');
            FUZZ_CHECK(i - start <= max);
            FUZZ_CHECK(!body || i == start || s[start] != '.');
            start = i + 2;
            i++;
            continue;
        }
        FUZZ_CHECK(c != '\n' && c != 0 && c < 0x80);
        FUZZ_CHECK(c == '\t' || c >= 0x20);
    }
    FUZZ_CHECK(len - start <= max);
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decoding the quoted-printable `qp` gives back `s` with every line break (CRLF, lone CR,
 * lone LF) as CRLF, and no line ends in a space or TAB. */
static void check_qp_round_trip(const char *s, size_t len, const char *qp, size_t qlen)
{
    char *want = malloc(2 * len + 1), *got = malloc(qlen + 1);
    size_t w = 0, g = 0;
    FUZZ_CHECK(want != NULL && got != NULL);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\r' || s[i] == '\n') {
            if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
                i++;
            want[w++] = '\r';
            want[w++] = '\n';
        } else {
            want[w++] = s[i];
        }
    }
    for (size_t i = 0; i < qlen; i++) {
        if (qp[i] == '\r') {
            FUZZ_CHECK(i == 0 || (qp[i - 1] != ' ' && qp[i - 1] != '\t'));
            got[g++] = qp[i];
        } else if (qp[i] != '=') {
            got[g++] = qp[i];
        } else if (i + 2 < qlen && qp[i + 1] == '\r' && qp[i + 2] == '\n') {
            i += 2; /* a soft line break */
        } else {
            FUZZ_CHECK(i + 2 < qlen); /* "=XX", whole */
            int hi = hex_value(qp[i + 1]), lo = hex_value(qp[i + 2]);
            FUZZ_CHECK(hi >= 0 && lo >= 0);
            got[g++] = (char)(hi * 16 + lo);
            i += 2;
        }
    }
    FUZZ_CHECK(g == w && memcmp(got, want, w) == 0);
    free(want);
    free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    mimebuf_t b;
    size_t len;

    mimebuf_init(&b, 1 << 20);
    FUZZ_CHECK(mimeenc_qp(&b, s, size) == 0);
    char *out = mimebuf_take(&b, &len);
    check_lines(out, len, MIMEENC_BODY_LINE, 1);
    check_qp_round_trip(s, size, out, len);
    free(out);

    mimebuf_init(&b, 1 << 20);
    FUZZ_CHECK(mimeenc_base64(&b, data, size) == 0);
    out = mimebuf_take(&b, &len);
    check_lines(out, len, MIMEENC_BODY_LINE, 1);
    free(out);

    (void)mimeenc_choose(s, size);

    mimebuf_init(&b, 1 << 20);
    if (mimeenc_header_text(&b, "Subject", s, size) == 0) {
        out = mimebuf_take(&b, &len);
        check_lines(out, len, 998, 0);
        FUZZ_CHECK(len >= 2 && out[len - 2] == '\r' && out[len - 1] == '\n');
        free(out);
    } else {
        mimebuf_free(&b);
    }

    out = mimeenc_words(s, size, &len);
    if (out != NULL) {
        FUZZ_CHECK(strlen(out) == len);
        free(out);
    }
    return 0;
}
