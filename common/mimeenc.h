/*
 * The encodings an email message is written with (RFC 2045, RFC 2047, RFC 5322): body
 * transfer encodings that keep every line far below SMTP's 998 octets, and header fields
 * folded at white space, with RFC 2047 encoded-words for text that is not plain ASCII.
 * Everything is written with CRLF line ends into a capped buffer (mimebuf.h).
 */
#ifndef NOTIFY_MIMEENC_H
#define NOTIFY_MIMEENC_H

#include <stddef.h>

#include "mimebuf.h"

/* Header lines are folded to this length where white space allows (RFC 5322's "should"). */
#define MIMEENC_FOLD_AT 78
/* Body lines: RFC 2045's limit for quoted-printable and base64. */
#define MIMEENC_BODY_LINE 76

typedef enum {
    MIMEENC_QP = 0,
    MIMEENC_BASE64,
} mimeenc_cte_t;

/* "quoted-printable" or "base64". */
const char *mimeenc_cte_name(mimeenc_cte_t cte);

/*
 * Quoted-printable (RFC 2045 6.7) of `len` bytes of text: every line break of the input
 * (CRLF, LF or a lone CR) becomes CRLF, lines are at most 76 octets with soft breaks,
 * '=' and bytes outside printable ASCII are =XX, and a space or TAB before a line end is
 * encoded so transport cannot strip it. A line starting with '.' is written as "=2E" so
 * the message does not depend on the SMTP client's dot-stuffing.
 */
int mimeenc_qp(mimebuf_t *b, const char *s, size_t len);

/* Base64 in lines of 76 characters, each ended by CRLF. */
int mimeenc_base64(mimebuf_t *b, const void *data, size_t len);

/* The transfer encoding that makes `len` bytes of text smaller: quoted-printable for
 * mostly-ASCII text, base64 when most bytes would need escaping (CJK, emoji). */
mimeenc_cte_t mimeenc_choose(const char *s, size_t len);

/*
 * RFC 2047 "B" encoded-words for `len` bytes of UTF-8, each holding whole characters and at
 * most 45 octets of text (72 characters a word, under the 75 allowed), separated by single
 * spaces: the same form as request_subject_encode() gives for a non-ASCII subject.
 * Returned malloc'd and NUL-terminated.
 */
char *mimeenc_words(const char *s, size_t len, size_t *out_len);

/*
 * Writes "<name>: <value>CRLF" for an unstructured field (Subject, X-Idempotency-Key):
 *   - printable ASCII (TAB allowed) is written as it is, folded before spaces;
 *   - anything else, or ASCII with a run of text too long to fold under 998 octets, is
 *     written as encoded-words (mimeenc_words()), folded between words.
 * `value` may already be encoded-words (request_subject_encode()); it is then printable
 * ASCII and written as it is.
 */
int mimeenc_header_text(mimebuf_t *b, const char *name, const char *value, size_t len);

/*
 * Writes "<name>: " then the mailboxes, ", " between them, each "display <addr>" or just
 * "addr", folded between mailboxes. `names` may be NULL (no display names) or hold NULL
 * entries. A display name of printable ASCII up to 200 octets is a quoted-string; any other
 * is encoded-words. Addresses are validated addr-specs (emailaddr.h), written as they are.
 */
int mimeenc_header_mailboxes(mimebuf_t *b, const char *name, const char *const *names,
                             const char *const *addrs, size_t count);

#endif
