/*
 * A growable byte buffer with a hard cap, for building email messages (curl's dynbuf with
 * its `toobig`): once an append would pass the cap the buffer refuses it and stays
 * refused, so a builder can append without a check at every call and ask once at the end
 * whether the message fit.
 */
#ifndef NOTIFY_MIMEBUF_H
#define NOTIFY_MIMEBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mimebuf_s {
    char *data; /* NUL-terminated while not over the cap */
    size_t len;
    size_t cap_alloc;
    size_t max; /* most bytes the content may hold */
    bool toobig;
} mimebuf_t;

/* An empty buffer that holds at most `max` bytes. */
void mimebuf_init(mimebuf_t *b, size_t max);
/* Frees the content; the buffer can be initialised again. */
void mimebuf_free(mimebuf_t *b);

/* Appends `len` bytes. Returns 0, or -1 (and marks the buffer too big) when they do not fit
 * under the cap. Allocation failure aborts. */
int mimebuf_add(mimebuf_t *b, const void *data, size_t len);
int mimebuf_adds(mimebuf_t *b, const char *s);
int mimebuf_addc(mimebuf_t *b, char c);

/* Hands the content to the caller (free() it) and empties the buffer; NULL when too big. */
char *mimebuf_take(mimebuf_t *b, size_t *len);

#endif
