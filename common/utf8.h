/* UTF-8 (RFC 3629): decoding one sequence, and cutting text without splitting one. */
#ifndef NOTIFY_UTF8_H
#define NOTIFY_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decodes the sequence at s[0..len). Returns its length in bytes (1-4) with the code point
 * in *cp (cp may be NULL), or 0 when it is malformed: truncated, overlong, a surrogate or
 * beyond U+10FFFF.
 */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* True when s[0..len) is well-formed UTF-8 throughout (utf8_decode() accepts every
 * sequence); NUL bytes are characters here like any other. */
bool utf8_valid(const char *s, size_t len);

/* The length of the longest prefix of s[0..len) that does not end inside a sequence:
 * what to keep when text must be cut at `len` bytes. */
size_t utf8_cut(const char *s, size_t len);

#endif
