/*
 * A queue of jobs between threads: an intrusive list (each element starts with its `next`
 * pointer, see jobq_node_t) under a mutex, with a condition variable for a consumer that
 * waits and an optional wake-up callback for one that polls something else meanwhile.
 * Elements are taken in batches, which is how the database stage turns many messages
 * into one statement.
 */
#ifndef NOTIFY_JOBQ_H
#define NOTIFY_JOBQ_H

#include <stddef.h>

typedef struct jobq_node_s jobq_node_t;
struct jobq_node_s {
    jobq_node_t *next;
};

typedef struct jobq_s jobq_t;

jobq_t *jobq_new(void);
/* The queue must be empty or its elements owned elsewhere. */
void jobq_destroy(jobq_t *q);

void jobq_push(jobq_t *q, jobq_node_t *node);

/*
 * Takes up to `max` elements in the order they were pushed and returns them as a list
 * (NULL when none). Waits up to timeout_ms for the first one (0: do not wait).
 */
jobq_node_t *jobq_take(jobq_t *q, size_t max, int timeout_ms);

/* Wakes a jobq_take() that is waiting, even with nothing queued. */
void jobq_wake(jobq_t *q);

size_t jobq_len(jobq_t *q);

#endif
