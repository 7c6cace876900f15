/*
 * A map from byte-string keys to pointers: chained buckets, doubled when the entries
 * outnumber them. Keys are copied; values are borrowed. Not thread-safe: one owner.
 */
#ifndef NOTIFY_STRMAP_H
#define NOTIFY_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strmap_s strmap_t;

strmap_t *strmap_new(void);
/* Frees the map and its key copies, not the values. NULL is ignored. */
void strmap_destroy(strmap_t *m);

/* The value under the `len` bytes at `key`, or NULL. */
void *strmap_get(const strmap_t *m, const void *key, size_t len);

/* Sets the value (not NULL) under the key; returns the value it replaced, or NULL. */
void *strmap_put(strmap_t *m, const void *key, size_t len, void *value);

/* Removes the key; returns its value, or NULL when it was not there. */
void *strmap_remove(strmap_t *m, const void *key, size_t len);

size_t strmap_count(const strmap_t *m);

/*
 * Calls keep(value, opaque) for every entry, in no particular order, and removes those for
 * which it returns false (it may free the value then). The map must not be changed from
 * inside keep().
 */
void strmap_sweep(strmap_t *m, bool (*keep)(void *value, void *opaque), void *opaque);

#endif
