/*
 * Offsets of one partition that may be stored: messages are accepted in offset order and
 * finish in any order; the offset to store is the one after the longest finished prefix,
 * so a crash replays only what had not finished (and what finished after an unfinished
 * one). A ring of slots, one per accepted message, indexed by a sequence number.
 */
#ifndef NOTIFY_OFFTRACK_H
#define NOTIFY_OFFTRACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct offtrack_s offtrack_t;

offtrack_t *offtrack_new(void);
void offtrack_destroy(offtrack_t *t);

/* Accepts the message at `offset` (greater than every offset accepted before) and returns
 * its sequence number for offtrack_done(). */
uint64_t offtrack_accept(offtrack_t *t, int64_t offset);

/*
 * Marks the message of sequence `seq` finished. Returns the offset to store (the offset
 * after the last message of the finished prefix) when the prefix grew, else -1.
 */
int64_t offtrack_done(offtrack_t *t, uint64_t seq);

/* Accepted and not yet finished. */
size_t offtrack_pending(const offtrack_t *t);

#endif
