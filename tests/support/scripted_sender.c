#include "scripted_sender.h"

#include "timefmt.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A report waiting for its time. */
typedef struct scripted_pending_s {
    struct scripted_pending_s *next;
    int64_t due_ms;
    sender_job_t *job;
    sender_result_t result;
} scripted_pending_t;

typedef struct scripted_s {
    sender_done_cb done;
    void *opaque;
    int log_fd;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    scripted_pending_t *pending; /* sorted by due_ms */
    bool stop;
    pthread_t thread;
} scripted_t;

static void scripted_log(scripted_t *s, const sender_job_t *job, const sender_result_t *r)
{
    if (s->log_fd < 0)
        return;
    char line[512];
    int n = snprintf(line, sizeof(line), "%s %d %s\n", job->req->message_id, job->attempt,
                     r->ok ? "OK" : r->error_code);
    if (n > 0 && (size_t)n < sizeof(line) && write(s->log_fd, line, (size_t)n) < 0)
        perror("scripted sender: send log");
}

static void scripted_report(scripted_t *s, sender_job_t *job, const sender_result_t *r)
{
    scripted_log(s, job, r);
    s->done(job, r, s->opaque);
}

static void *scripted_thread(void *arg)
{
    scripted_t *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->pending == NULL && s->stop)
            break;
        if (s->pending == NULL) {
            pthread_cond_wait(&s->cond, &s->lock);
            continue;
        }
        int64_t now = timefmt_mono_ms();
        if (!s->stop && s->pending->due_ms > now) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = s->pending->due_ms - now;
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
            continue;
        }
        /* Due, or stopping: a slow send still finishes when the engine is destroyed. */
        scripted_pending_t *p = s->pending;
        s->pending = p->next;
        pthread_mutex_unlock(&s->lock);
        scripted_report(s, p->job, &p->result);
        free(p);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void *scripted_create(const cfg_t *cfg, metrics_registry_t *metrics, sender_done_cb done,
                             void *opaque, char *errstr, size_t errstr_size)
{
    scripted_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    s->done = done;
    s->opaque = opaque;
    s->log_fd = -1;
    const char *path = getenv("NOTIFY_TEST_SEND_LOG");
    if (path && *path) {
        s->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->log_fd < 0) {
            snprintf(errstr, errstr_size, "cannot open NOTIFY_TEST_SEND_LOG");
            free(s);
            return NULL;
        }
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (pthread_create(&s->thread, NULL, scripted_thread, s) != 0)
        abort();
    return s;
}

/* Reads the step of the script for this attempt into `result`; the delay into *delay_ms. */
static void scripted_plan(const sender_job_t *job, sender_result_t *result, int64_t *delay_ms)
{
    const request_t *req = job->req;
    memset(result, 0, sizeof(*result));
    result->ok = true;
    *delay_ms = 0;
    json_object *meta = req->metadata ? json_tokener_parse(req->metadata) : NULL;
    json_object *script = NULL, *delay = NULL;
    const char *step = "OK";
    if (meta && json_object_object_get_ex(meta, "test_delay_ms", &delay))
        *delay_ms = json_object_get_int64(delay);
    if (meta && json_object_object_get_ex(meta, "test_script", &script) &&
        json_object_is_type(script, json_type_array) && json_object_array_length(script) > 0) {
        size_t n = json_object_array_length(script);
        size_t i = (size_t)job->attempt - 1 < n ? (size_t)job->attempt - 1 : n - 1;
        const char *s = json_object_get_string(json_object_array_get_idx(script, i));
        if (s)
            step = s;
    }
    if (strncmp(step, "FAIL:", 5) == 0 || strncmp(step, "RETRY:", 6) == 0) {
        bool retry = step[0] == 'R';
        result->ok = false;
        result->retryable = retry;
        snprintf(result->error_code, sizeof(result->error_code), "%s", step + (retry ? 6 : 5));
        snprintf(result->error_message, sizeof(result->error_message), "scripted %s on attempt %d",
                 retry ? "retryable failure" : "failure", job->attempt);
    } else if (strncmp(step, "THROTTLE:", 9) == 0) {
        result->ok = false;
        result->retryable = true;
        snprintf(result->error_code, sizeof(result->error_code), "RATE_LIMIT");
        snprintf(result->error_message, sizeof(result->error_message), "scripted throttling");
        result->throttled = true;
        result->retry_after_ms = strtoll(step + 9, NULL, 10);
    } else {
        snprintf(result->provider_message_id, sizeof(result->provider_message_id), "scripted-%s-%d",
                 req->message_id, job->attempt);
    }
    json_object_put(meta);
}

static void scripted_submit(void *engine, sender_job_t *job)
{
    scripted_t *s = engine;
    sender_result_t result;
    int64_t delay;
    scripted_plan(job, &result, &delay);
    if (delay <= 0) {
        scripted_report(s, job, &result);
        return;
    }
    scripted_pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        abort();
    p->job = job;
    p->result = result;
    p->due_ms = timefmt_mono_ms() + delay;
    pthread_mutex_lock(&s->lock);
    scripted_pending_t **pp = &s->pending;
    while (*pp && (*pp)->due_ms <= p->due_ms)
        pp = &(*pp)->next;
    p->next = *pp;
    *pp = p;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void scripted_destroy(void *engine)
{
    scripted_t *s = engine;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    if (s->log_fd >= 0)
        close(s->log_fd);
    free(s);
}

const sender_ops_t scripted_sender_email = {
    .name = "scripted-email",
    .channel = EVENT_CHANNEL_EMAIL,
    .provider = EVENT_PROVIDER_SMTP,
    .request = REQUEST_CHANNEL_EMAIL,
    .config = SENDER_CONFIG_EMAIL,
    .create = scripted_create,
    .prepare = NULL,
    .submit = scripted_submit,
    .destroy = scripted_destroy,
};

const sender_ops_t scripted_sender_twilio = {
    .name = "scripted-twilio",
    .channel = EVENT_CHANNEL_SMS,
    .provider = EVENT_PROVIDER_TWILIO,
    .request = REQUEST_CHANNEL_TWILIO,
    .config = SENDER_CONFIG_TWILIO,
    .create = scripted_create,
    .prepare = NULL,
    .submit = scripted_submit,
    .destroy = scripted_destroy,
};
