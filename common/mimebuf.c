#include "mimebuf.h"

#include <stdlib.h>
#include <string.h>

void mimebuf_init(mimebuf_t *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void mimebuf_free(mimebuf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap_alloc = 0;
}

int mimebuf_add(mimebuf_t *b, const void *data, size_t len)
{
    if (b->toobig)
        return -1;
    if (len > b->max - b->len) {
        b->toobig = true;
        return -1;
    }
    if (b->len + len + 1 > b->cap_alloc) {
        size_t want = b->cap_alloc ? b->cap_alloc : 4096;
        while (want < b->len + len + 1)
            want *= 2;
        char *p = realloc(b->data, want);
        if (p == NULL)
            abort();
        b->data = p;
        b->cap_alloc = want;
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int mimebuf_adds(mimebuf_t *b, const char *s)
{
    return mimebuf_add(b, s, strlen(s));
}

int mimebuf_addc(mimebuf_t *b, char c)
{
    return mimebuf_add(b, &c, 1);
}

char *mimebuf_take(mimebuf_t *b, size_t *len)
{
    if (b->toobig) {
        mimebuf_free(b);
        return NULL;
    }
    if (b->data == NULL && mimebuf_add(b, "", 0) != 0)
        return NULL;
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap_alloc = 0;
    return p;
}
