#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct strmap_entry_s {
    struct strmap_entry_s *next;
    uint64_t hash;
    void *value;
    size_t len;
    unsigned char key[]; /* len bytes */
} strmap_entry_t;

struct strmap_s {
    strmap_entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

#define STRMAP_INITIAL_BUCKETS 64

/* FNV-1a, 64 bits. */
static uint64_t strmap_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

strmap_t *strmap_new(void)
{
    strmap_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        abort();
    m->nbuckets = STRMAP_INITIAL_BUCKETS;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    if (m->buckets == NULL)
        abort();
    return m;
}

void strmap_destroy(strmap_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        strmap_entry_t *e = m->buckets[i];
        while (e != NULL) {
            strmap_entry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

/* The link that points at the key's entry, or at the NULL that ends its bucket. */
static strmap_entry_t **strmap_find(const strmap_t *m, uint64_t hash, const void *key, size_t len)
{
    strmap_entry_t **at = &m->buckets[hash & (m->nbuckets - 1)];
    while (*at != NULL &&
           !((*at)->hash == hash && (*at)->len == len && memcmp((*at)->key, key, len) == 0))
        at = &(*at)->next;
    return at;
}

static void strmap_grow(strmap_t *m)
{
    size_t n = m->nbuckets * 2;
    strmap_entry_t **buckets = calloc(n, sizeof(*buckets));
    if (buckets == NULL)
        abort();
    for (size_t i = 0; i < m->nbuckets; i++) {
        strmap_entry_t *e = m->buckets[i];
        while (e != NULL) {
            strmap_entry_t *next = e->next;
            e->next = buckets[e->hash & (n - 1)];
            buckets[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = buckets;
    m->nbuckets = n;
}

void *strmap_get(const strmap_t *m, const void *key, size_t len)
{
    strmap_entry_t *e = *strmap_find(m, strmap_hash(key, len), key, len);
    return e != NULL ? e->value : NULL;
}

void *strmap_put(strmap_t *m, const void *key, size_t len, void *value)
{
    uint64_t hash = strmap_hash(key, len);
    strmap_entry_t **at = strmap_find(m, hash, key, len);
    void *old = NULL;
    if (*at != NULL) {
        old = (*at)->value;
        (*at)->value = value;
        goto out;
    }
    strmap_entry_t *e = malloc(sizeof(*e) + len);
    if (e == NULL)
        abort();
    e->next = NULL;
    e->hash = hash;
    e->value = value;
    e->len = len;
    memcpy(e->key, key, len);
    *at = e;
    if (++m->count > m->nbuckets)
        strmap_grow(m);
out:
    return old;
}

void *strmap_remove(strmap_t *m, const void *key, size_t len)
{
    strmap_entry_t **at = strmap_find(m, strmap_hash(key, len), key, len);
    strmap_entry_t *e = *at;
    if (e == NULL)
        return NULL;
    void *value = e->value;
    *at = e->next;
    free(e);
    m->count--;
    return value;
}

size_t strmap_count(const strmap_t *m)
{
    return m->count;
}

void strmap_sweep(strmap_t *m, bool (*keep)(void *value, void *opaque), void *opaque)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        strmap_entry_t **at = &m->buckets[i];
        while (*at != NULL) {
            strmap_entry_t *e = *at;
            if (keep(e->value, opaque)) {
                at = &e->next;
                continue;
            }
            *at = e->next;
            free(e);
            m->count--;
        }
    }
}
