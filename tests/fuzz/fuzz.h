/*
 * What the fuzz targets share: an invariant check that aborts with the broken rule (so
 * libFuzzer records the input as a crash, not only memory errors), and a NUL-terminated
 * copy of the input for the parsers that take C strings.
 */
#ifndef NOTIFY_FUZZ_H
#define NOTIFY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* The input as a C string (malloc'd); an embedded NUL simply ends it early. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) {
        abort();
    }
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Code points of valid UTF-8 text: the bytes that do not continue a sequence. */
static inline size_t fuzz_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
