/*
 * Base64 (RFC 4648): the standard alphabet with '=' padding (section 4), and the URL- and
 * filename-safe alphabet without padding (section 5, as JWT and most web APIs use it).
 *
 * Every function writes into a buffer the caller provides, with its size; nothing
 * allocates. Size the buffers with base64_encoded_size() and base64_decoded_max().
 *
 * Decoding is strict, so that one byte string has exactly one accepted text form:
 *   - only characters of the alphabet; no whitespace, no line breaks;
 *   - standard: the length is a multiple of 4 and '=' appears only as the last one or two
 *     characters, exactly as many as the final group needs;
 *   - URL-safe: no '=' at all, and a length that is not 1 modulo 4;
 *   - the bits the final character carries beyond the data must be zero (so "QQ==" is
 *     accepted for "A" but "QR==" is rejected): a non-canonical encoding is rejected
 *     rather than silently read as another text that decodes to the same bytes.
 */
#ifndef NOTIFY_BASE64_H
#define NOTIFY_BASE64_H

#include <stddef.h>

/* Return codes besides 0. */
#define BASE64_ERR_INVALID (-1) /* the text is not valid base64 under the rules above */
#define BASE64_ERR_SPACE   (-2) /* the output buffer is too small (or the input too large) */

/* Characters of the padded standard encoding of `len` bytes, not counting the NUL. */
size_t base64_encoded_size(size_t len);

/* Characters of the unpadded URL-safe encoding of `len` bytes, not counting the NUL. */
size_t base64_url_encoded_size(size_t len);

/*
 * An upper bound of the bytes that `text_len` characters of either encoding decode to
 * (exact for valid unpadded text; for padded text the padding makes the result 1 or 2
 * smaller).
 */
size_t base64_decoded_max(size_t text_len);

/*
 * Encodes `len` bytes of `data` (may be NULL when len is 0) into `out` as NUL-terminated
 * text. Returns 0, or BASE64_ERR_SPACE when out_size is below the encoded size plus one
 * (then `out` is left an empty string if out_size > 0).
 */
int base64_encode(const void *data, size_t len, char *out, size_t out_size);
int base64_url_encode(const void *data, size_t len, char *out, size_t out_size);

/*
 * Decodes `text_len` characters of `text` (no NUL needed) into `out` and sets *out_len.
 * Returns 0, BASE64_ERR_INVALID, or BASE64_ERR_SPACE when the bytes do not fit in
 * out_size. On error *out_len is 0 and the contents of `out` are unspecified.
 */
int base64_decode(const char *text, size_t text_len, void *out, size_t out_size, size_t *out_len);
int base64_url_decode(const char *text, size_t text_len, void *out, size_t out_size,
                      size_t *out_len);

#endif
