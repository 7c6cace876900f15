#include "offtrack.h"

#include <stdbool.h>
#include <stdlib.h>

typedef struct offtrack_slot_s {
    int64_t offset;
    bool done;
} offtrack_slot_t;

struct offtrack_s {
    offtrack_slot_t *slots; /* ring; capacity is a power of two */
    size_t cap;
    uint64_t head; /* sequence of the oldest slot still held */
    uint64_t tail; /* sequence the next accepted message gets */
    size_t pending;
};

offtrack_t *offtrack_new(void)
{
    offtrack_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        abort();
    t->cap = 64;
    t->slots = calloc(t->cap, sizeof(*t->slots));
    if (t->slots == NULL)
        abort();
    return t;
}

void offtrack_destroy(offtrack_t *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t);
}

static void offtrack_grow(offtrack_t *t)
{
    size_t cap = t->cap * 2;
    offtrack_slot_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        abort();
    for (uint64_t s = t->head; s < t->tail; s++)
        slots[s & (cap - 1)] = t->slots[s & (t->cap - 1)];
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
}

uint64_t offtrack_accept(offtrack_t *t, int64_t offset)
{
    if (t->tail - t->head == t->cap)
        offtrack_grow(t);
    uint64_t seq = t->tail++;
    offtrack_slot_t *slot = &t->slots[seq & (t->cap - 1)];
    slot->offset = offset;
    slot->done = false;
    t->pending++;
    return seq;
}

int64_t offtrack_done(offtrack_t *t, uint64_t seq)
{
    if (seq < t->head || seq >= t->tail)
        return -1;
    offtrack_slot_t *slot = &t->slots[seq & (t->cap - 1)];
    if (slot->done)
        return -1;
    slot->done = true;
    t->pending--;
    int64_t store = -1;
    while (t->head < t->tail && t->slots[t->head & (t->cap - 1)].done) {
        store = t->slots[t->head & (t->cap - 1)].offset + 1;
        t->head++;
    }
    return store;
}

size_t offtrack_pending(const offtrack_t *t)
{
    return t->pending;
}
