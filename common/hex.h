/*
 * Hexadecimal text of bytes: encoding writes lower case (as signatures and digests are
 * compared in this project), decoding reads either case. Buffers are the caller's.
 */
#ifndef NOTIFY_HEX_H
#define NOTIFY_HEX_H

#include <stddef.h>

/* Return codes besides 0. */
#define HEX_ERR_INVALID (-1) /* odd length or a character that is not a hex digit */
#define HEX_ERR_SPACE   (-2) /* the output buffer is too small */

/*
 * Writes the 2 * len lower-case hex digits of `data` and a NUL into `out`. Returns 0, or
 * HEX_ERR_SPACE when out_size < 2 * len + 1 (then `out` is an empty string if out_size > 0).
 */
int hex_encode(const void *data, size_t len, char *out, size_t out_size);

/*
 * Decodes `text_len` hex digits (either case, no prefix, no separators) into `out` and sets
 * *out_len to text_len / 2. Returns 0, HEX_ERR_INVALID, or HEX_ERR_SPACE when the bytes do
 * not fit in out_size. On error *out_len is 0.
 */
int hex_decode(const char *text, size_t text_len, void *out, size_t out_size, size_t *out_len);

/* The value of one hex digit (either case), or -1. */
int hex_digit_value(unsigned char c);

#endif
