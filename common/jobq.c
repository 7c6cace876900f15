#include "jobq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct jobq_s {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    jobq_node_t *head, *tail;
    size_t len;
    bool woken;
};

jobq_t *jobq_new(void)
{
    jobq_t *q = calloc(1, sizeof(*q));
    if (q == NULL)
        abort();
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &attr);
    pthread_condattr_destroy(&attr);
    return q;
}

void jobq_destroy(jobq_t *q)
{
    if (q == NULL)
        return;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    free(q);
}

void jobq_push(jobq_t *q, jobq_node_t *node)
{
    node->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = node;
    else
        q->head = node;
    q->tail = node;
    q->len++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

jobq_node_t *jobq_take(jobq_t *q, size_t max, int timeout_ms)
{
    pthread_mutex_lock(&q->lock);
    if (q->head == NULL && timeout_ms > 0 && !q->woken) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (q->head == NULL && !q->woken)
            if (pthread_cond_timedwait(&q->cond, &q->lock, &until) == ETIMEDOUT)
                break;
    }
    q->woken = false;
    jobq_node_t *first = q->head, *last = NULL, *n = q->head;
    size_t taken = 0;
    while (n != NULL && taken < max) {
        last = n;
        n = n->next;
        taken++;
    }
    if (last != NULL) {
        q->head = n;
        if (n == NULL)
            q->tail = NULL;
        last->next = NULL;
        q->len -= taken;
    }
    pthread_mutex_unlock(&q->lock);
    return last ? first : NULL;
}

void jobq_wake(jobq_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->woken = true;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

size_t jobq_len(jobq_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}
