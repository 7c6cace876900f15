#include "mimeenc.h"

#include "base64.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* RFC 5322: a line is at most 998 octets before its CRLF. */
#define MIMEENC_LINE_MAX 998
/* Octets of UTF-8 in one encoded-word: 45 octets are 60 base64 characters, plus the 12 of
 * "=?UTF-8?B?" and "?=", 72 of the 75 RFC 2047 allows. request.c uses the same figure. */
#define MIMEENC_WORD_OCTETS 45
/* Longest display name written as a quoted-string; longer ones are encoded-words, which
 * fold, so no header line can outgrow the limit. */
#define MIMEENC_QUOTED_MAX 200
/* An addr-spec in angle brackets with a comma after it. */
#define MIMEENC_ADDR_TOKEN 264

static const char mimeenc_hex[] = "0123456789ABCDEF";

const char *mimeenc_cte_name(mimeenc_cte_t cte)
{
    return cte == MIMEENC_BASE64 ? "base64" : "quoted-printable";
}

/* Octets quoted-printable writes as themselves anywhere: printable ASCII but '='. A space
 * or TAB is written as itself too, unless a line break or the end follows it. */
static bool mimeenc_qp_literal(unsigned char c)
{
    return c >= 33 && c <= 126 && c != '=';
}

/* Is s[i] the start of a line break, or the end of the text? */
static bool mimeenc_at_break(const char *s, size_t len, size_t i)
{
    return i >= len || s[i] == '\r' || s[i] == '\n';
}

/*
 * How many octets from s[i] on are written as they are, on the current line (at most
 * `room`): literals, and spaces and TABs that a line break or the end does not follow.
 */
static size_t mimeenc_qp_run(const char *s, size_t len, size_t i, size_t room)
{
    size_t end = len - i < room ? len : i + room;
    size_t j = i;
    while (j < end) {
        unsigned char c = (unsigned char)s[j];
        if (!mimeenc_qp_literal(c) &&
            !((c == ' ' || c == '\t') && !mimeenc_at_break(s, len, j + 1)))
            break;
        j++;
    }
    return j - i;
}

int mimeenc_qp(mimebuf_t *b, const char *s, size_t len)
{
    /* Staged in a local block and appended a block at a time: the message is built on the
     * pipeline's database thread, where a call per byte shows. Room is kept for a whole
     * line, the most one step writes. */
    char out[4096];
    size_t n = 0, col = 0;
    size_t i = 0;
    while (i < len) {
        if (n > sizeof(out) - 2 * MIMEENC_BODY_LINE) {
            mimebuf_add(b, out, n);
            n = 0;
        }
        /* Text that needs no escaping goes in runs, up to the column where a soft break
         * must come (its '=' takes the 76th octet). A '.' opening a line is escaped. */
        if (col < MIMEENC_BODY_LINE - 1 && !(col == 0 && s[i] == '.')) {
            size_t run = mimeenc_qp_run(s, len, i, MIMEENC_BODY_LINE - 1 - col);
            if (run > 0) {
                memcpy(out + n, s + i, run);
                n += run;
                col += run;
                i += run;
                continue;
            }
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < len && s[i + 1] == '\n')
                i++;
            out[n++] = '\r';
            out[n++] = '\n';
            col = 0;
            i++;
            continue;
        }
        /* A space or TAB right before a line end would be lost to transport; encode it. */
        bool wsp_ok = (c == ' ' || c == '\t') && !mimeenc_at_break(s, len, i + 1);
        bool literal = mimeenc_qp_literal(c) || wsp_ok;
        size_t width = literal ? 1 : 3;
        /* Keep room for the '=' of a soft break: at most 76 octets a line. */
        if (col + width > MIMEENC_BODY_LINE - 1) {
            out[n++] = '=';
            out[n++] = '\r';
            out[n++] = '\n';
            col = 0;
        }
        if (c == '.' && col == 0)
            literal = false, width = 3;
        if (literal) {
            out[n++] = (char)c;
        } else {
            out[n++] = '=';
            out[n++] = mimeenc_hex[c >> 4];
            out[n++] = mimeenc_hex[c & 15];
        }
        col += width;
        i++;
    }
    mimebuf_add(b, out, n);
    return b->toobig ? -1 : 0;
}

int mimeenc_base64(mimebuf_t *b, const void *data, size_t len)
{
    /* 57 octets are exactly one line of 76 characters. */
    const unsigned char *p = data;
    char line[MIMEENC_BODY_LINE + 1];
    for (size_t off = 0; off < len; off += 57) {
        size_t n = len - off < 57 ? len - off : 57;
        if (base64_encode(p + off, n, line, sizeof(line)) != 0)
            abort(); /* 57 octets always fit: cannot happen */
        mimebuf_add(b, line, base64_encoded_size(n));
        mimebuf_add(b, "\r\n", 2);
    }
    return b->toobig ? -1 : 0;
}

mimeenc_cte_t mimeenc_choose(const char *s, size_t len)
{
    /* Quoted-printable costs 2 extra octets per escaped byte, base64 one third of all:
     * base64 is smaller once more than a sixth of the bytes need escaping. */
    size_t escaped = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!mimeenc_qp_literal(c) && c != ' ' && c != '\t' && c != '\r' && c != '\n')
            escaped++;
    }
    return escaped * 6 > len ? MIMEENC_BASE64 : MIMEENC_QP;
}

/* Octets of the UTF-8 character starting at s[i] (1 for a byte that does not start one). */
static size_t mimeenc_utf8_len(const char *s, size_t len, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    size_t n = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 1;
    return n > len - i ? len - i : n;
}

char *mimeenc_words(const char *s, size_t len, size_t *out_len)
{
    mimebuf_t b;
    mimebuf_init(&b, (size_t)-1 / 2);
    char word[4 * MIMEENC_WORD_OCTETS];
    size_t start = 0;
    while (start < len) {
        size_t chunk = 0;
        while (start + chunk < len) {
            size_t n = mimeenc_utf8_len(s, len, start + chunk);
            if (chunk + n > MIMEENC_WORD_OCTETS)
                break;
            chunk += n;
        }
        if (start > 0)
            mimebuf_addc(&b, ' ');
        mimebuf_adds(&b, "=?UTF-8?B?");
        if (base64_encode(s + start, chunk, word, sizeof(word)) != 0)
            abort(); /* 45 octets always fit: cannot happen */
        mimebuf_add(&b, word, base64_encoded_size(chunk));
        mimebuf_adds(&b, "?=");
        start += chunk;
    }
    return mimebuf_take(&b, out_len);
}

/* --- folding ----------------------------------------------------------------------- */

typedef struct mimeenc_fold_s {
    mimebuf_t *b;
    size_t col;
    bool any; /* a token is on the header already */
} mimeenc_fold_t;

static void mimeenc_fold_start(mimeenc_fold_t *f, mimebuf_t *b, const char *name)
{
    f->b = b;
    f->any = false;
    mimebuf_adds(b, name);
    mimebuf_addc(b, ':');
    f->col = strlen(name) + 1;
}

/* Writes a space and the token, or CRLF, a space and the token when the line would pass
 * 78 octets. Never folds before an empty token, so no line is only white space. */
static void mimeenc_fold_token(mimeenc_fold_t *f, const char *tok, size_t len)
{
    if (f->any && len > 0 && f->col + 1 + len > MIMEENC_FOLD_AT) {
        mimebuf_add(f->b, "\r\n", 2);
        f->col = 0;
    }
    mimebuf_addc(f->b, ' ');
    mimebuf_add(f->b, tok, len);
    f->col += 1 + len;
    f->any = true;
}

/* Tokens are separated by single spaces; writes them folded. */
static void mimeenc_fold_spaced(mimeenc_fold_t *f, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ' ') {
            mimeenc_fold_token(f, s + start, i - start);
            start = i + 1;
        }
    }
}

static bool mimeenc_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 || c > 0x7E) && c != '\t')
            return false;
    }
    return true;
}

/* The longest run without a space. */
static size_t mimeenc_longest_run(const char *s, size_t len)
{
    size_t best = 0, run = 0;
    for (size_t i = 0; i < len; i++) {
        run = s[i] == ' ' ? 0 : run + 1;
        if (run > best)
            best = run;
    }
    return best;
}

int mimeenc_header_text(mimebuf_t *b, const char *name, const char *value, size_t len)
{
    mimeenc_fold_t f;
    /* "Name: " and a run that cannot be folded must fit in one line. */
    if (mimeenc_printable(value, len) &&
        strlen(name) + 2 + mimeenc_longest_run(value, len) <= MIMEENC_LINE_MAX) {
        mimeenc_fold_start(&f, b, name);
        mimeenc_fold_spaced(&f, value, len);
    } else {
        size_t wlen;
        char *words = mimeenc_words(value, len, &wlen);
        mimeenc_fold_start(&f, b, name);
        mimeenc_fold_spaced(&f, words, wlen);
        free(words);
    }
    mimebuf_add(b, "\r\n", 2);
    return b->toobig ? -1 : 0;
}

/* Writes a display name as one quoted-string token, or as encoded-word tokens. */
static void mimeenc_fold_display(mimeenc_fold_t *f, const char *name)
{
    size_t len = strlen(name);
    if (mimeenc_printable(name, len) && len <= MIMEENC_QUOTED_MAX) {
        char q[2 * MIMEENC_QUOTED_MAX + 3];
        size_t n = 0;
        q[n++] = '"';
        for (size_t i = 0; i < len; i++) {
            if (name[i] == '"' || name[i] == '\\')
                q[n++] = '\\';
            q[n++] = name[i];
        }
        q[n++] = '"';
        mimeenc_fold_token(f, q, n);
        return;
    }
    size_t wlen;
    char *words = mimeenc_words(name, len, &wlen);
    mimeenc_fold_spaced(f, words, wlen);
    free(words);
}

int mimeenc_header_mailboxes(mimebuf_t *b, const char *name, const char *const *names,
                             const char *const *addrs, size_t count)
{
    mimeenc_fold_t f;
    mimeenc_fold_start(&f, b, name);
    for (size_t i = 0; i < count; i++) {
        const char *display = names ? names[i] : NULL;
        bool last = i + 1 == count;
        char tok[MIMEENC_ADDR_TOKEN];
        size_t alen = strlen(addrs[i]);
        if (alen > MIMEENC_ADDR_TOKEN - 4)
            alen = MIMEENC_ADDR_TOKEN - 4; /* validated addresses are shorter */
        size_t n = 0;
        if (display && *display) {
            mimeenc_fold_display(&f, display);
            tok[n++] = '<';
        }
        memcpy(tok + n, addrs[i], alen);
        n += alen;
        if (display && *display)
            tok[n++] = '>';
        if (!last)
            tok[n++] = ',';
        mimeenc_fold_token(&f, tok, n);
    }
    mimebuf_add(b, "\r\n", 2);
    return b->toobig ? -1 : 0;
}
