#include "wh_relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "strmap.h"
#include "timefmt.h"
#include "wh.h"

/* One callback with the relay. Its strings are copies, in `text`. */
typedef struct wh_job_s {
    struct wh_job_s *next;
    wh_relay_t *relay;
    httpd_response_t *resp;
    wh_callback_t cb;
    char *text;
    int64_t started;  /* timefmt_mono_ms() when submitted */
    int64_t next_try; /* when a job waiting for its ledger row is looked up again */
    bool acked;       /* Kafka acknowledged its event; only the record remains */
    bool unacked;     /* Kafka did not take its event (a keyed job back from the report) */
    bool correlated;
    wh_db_probe_t probe;
    wh_db_key_t dedupe; /* org_id and dedupe_key, when the callback has a key */
    /* With a key: org_id, a NUL, dedupe_key (the relay's in-flight map key), and the
     * copies of the same callback that arrived while this one was in flight. */
    char *inflight_key;
    size_t inflight_len;
    struct wh_job_s *followers, *next_follower;
} wh_job_t;

typedef struct wh_job_list_s {
    wh_job_t *head, *tail;
} wh_job_list_t;

struct wh_relay_s {
    wh_t *wh;
    pthread_t thread;
    bool started;
    /* Shared with the submitting and reporting threads. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wh_job_list_t incoming;
    bool stop;
    /* The relay thread's own: jobs whose ledger row has not appeared yet, and the keyed
     * jobs from their de-duplication check to their answer, by org_id and key. */
    wh_job_list_t waiting;
    strmap_t *inflight;
};

static void wh_job_push(wh_job_list_t *list, wh_job_t *job)
{
    job->next = NULL;
    if (list->tail != NULL)
        list->tail->next = job;
    else
        list->head = job;
    list->tail = job;
}

/* Sizes and copies the optional strings of a callback into one block. */
static char *wh_job_copy(const char *s, char **at)
{
    if (s == NULL)
        return NULL;
    size_t len = strlen(s);
    char *copy = *at;
    memcpy(copy, s, len + 1);
    *at += len + 1;
    return copy;
}

static wh_job_t *wh_job_new(wh_relay_t *relay, const wh_callback_t *cb, httpd_response_t *resp)
{
    const char *strings[] = {cb->org_id,     cb->provider_message_id, cb->message_id,
                             cb->error_code, cb->error_message,       cb->dedupe_key};
    size_t total = 0;
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        total += strings[i] != NULL ? strlen(strings[i]) + 1 : 0;
    if (cb->dedupe_key != NULL)
        total += strlen(cb->org_id) + 1 + strlen(cb->dedupe_key) + 1;
    wh_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        abort();
    job->text = malloc(total + 1);
    if (job->text == NULL)
        abort();
    char *at = job->text;
    job->relay = relay;
    job->resp = resp;
    job->cb = *cb;
    job->cb.org_id = wh_job_copy(cb->org_id, &at);
    job->cb.provider_message_id = wh_job_copy(cb->provider_message_id, &at);
    job->cb.message_id = wh_job_copy(cb->message_id, &at);
    job->cb.error_code = wh_job_copy(cb->error_code, &at);
    job->cb.error_message = wh_job_copy(cb->error_message, &at);
    job->cb.dedupe_key = wh_job_copy(cb->dedupe_key, &at);
    job->dedupe.org_id = job->cb.org_id;
    job->dedupe.key = job->cb.dedupe_key;
    if (cb->dedupe_key != NULL) {
        size_t olen = strlen(cb->org_id), klen = strlen(cb->dedupe_key);
        job->inflight_key = at;
        memcpy(at, cb->org_id, olen + 1);
        memcpy(at + olen + 1, cb->dedupe_key, klen + 1);
        job->inflight_len = olen + 1 + klen;
    }
    job->probe.pmid = job->cb.provider_message_id;
    job->started = timefmt_mono_ms();
    return job;
}

/* Answers the callback, sends the answer and forgets the job. */
static void wh_job_answer(wh_job_t *job, int status, const char *outcome, const char *text)
{
    wh_t *wh = job->relay->wh;
    wh_answer(wh, job->resp, job->cb.route, status, outcome, text);
    metrics_histogram_observe(wh->latency[job->cb.route],
                              (double)(timefmt_mono_ms() - job->started) / 1000.0);
    httpd_response_resume(job->resp);
    free(job->text);
    free(job);
}

/*
 * Answers a job on the relay thread. A keyed job leaves the in-flight map, and the copies
 * that waited for it get its answer: a duplicate when it was published (or was one), else
 * the same refusal, so the provider retries them as it retries this one.
 */
static void wh_relay_finish(wh_relay_t *relay, wh_job_t *job, int status, const char *outcome,
                            const char *text)
{
    if (job->inflight_key != NULL) {
        strmap_remove(relay->inflight, job->inflight_key, job->inflight_len);
        wh_job_t *f = job->followers;
        while (f != NULL) {
            wh_job_t *next = f->next_follower;
            if (status == 200)
                wh_job_answer(f, 200, "duplicate", "duplicate callback");
            else
                wh_job_answer(f, status, outcome, text);
            f = next;
        }
    }
    wh_job_answer(job, status, outcome, text);
}

static void wh_relay_enqueue(wh_relay_t *relay, wh_job_t *job)
{
    pthread_mutex_lock(&relay->mu);
    wh_job_push(&relay->incoming, job);
    pthread_cond_signal(&relay->cv);
    pthread_mutex_unlock(&relay->mu);
}

void wh_relay_submit(wh_relay_t *relay, const wh_callback_t *cb, httpd_response_t *resp)
{
    wh_relay_enqueue(relay, wh_job_new(relay, cb, resp));
}

/* ---- publishing ---- */

/* The delivery report, on the producer's report thread. */
static void wh_relay_on_report(void *opaque, const char *error)
{
    wh_job_t *job = opaque;
    if (error != NULL)
        log_kv(LOG_LEVEL_WARN, "status event not acknowledged; answering 503", "error", error,
               NULL);
    if (job->cb.dedupe_key != NULL) {
        /* The record is database work, and the in-flight map is the relay thread's. */
        job->acked = error == NULL;
        job->unacked = error != NULL;
        wh_relay_enqueue(job->relay, job);
        return;
    }
    if (error != NULL) {
        wh_job_answer(job, 503, "unavailable", "status event not acknowledged");
        return;
    }
    wh_job_answer(job, 200, job->correlated ? "published" : "published_uncorrelated", "ok");
}

/*
 * The event's message_id and org_id come from the ledger row when it is this
 * organisation's (a callback signed with one org's secret must not speak for another's
 * messages). An event that nothing correlates is still published, with message_id null
 * unless the sender named it, and metadata {"uncorrelated":true}, so a consumer can tell it
 * apart and nothing is dropped.
 */
static void wh_relay_publish(wh_relay_t *relay, wh_job_t *job)
{
    char errstr[256];
    const wh_callback_t *cb = &job->cb;
    const ledger_row_t *row = &job->probe.row;
    if (job->probe.result == WH_DB_OK && cb->provider_message_id != NULL) {
        job->correlated = strcmp(row->org_id, cb->org_id) == 0;
        if (!job->correlated)
            log_kv(LOG_LEVEL_WARN, "provider message id belongs to another organisation", "org_id",
                   cb->org_id, "provider_message_id", cb->provider_message_id, NULL);
    }
    event_t ev;
    event_init(&ev, EVENT_SOURCE_WEBHOOK);
    ev.message_id = job->correlated ? row->message_id : cb->message_id;
    ev.org_id = cb->org_id;
    ev.channel = cb->channel;
    ev.provider = cb->provider;
    ev.status = cb->status;
    ev.attempt = job->correlated ? row->attempts : 0;
    ev.provider_message_id = cb->provider_message_id;
    ev.error_code = cb->error_code;
    ev.error_message = cb->error_message;
    ev.retryable = cb->retryable;
    if (cb->occurred_at > 0)
        ev.occurred_at = cb->occurred_at;
    ev.metadata = job->correlated ? NULL : "{\"uncorrelated\":true}";
    char *json = event_serialize(&ev, errstr, sizeof(errstr));
    if (json == NULL) {
        log_kv(LOG_LEVEL_WARN, "callback makes no valid event", "error", errstr, NULL);
        wh_relay_finish(relay, job, 400, "malformed", errstr);
        return;
    }
    const char *key = ev.message_id ? ev.message_id : cb->provider_message_id;
    if (wh_emit_send(relay->wh->emit, key, json, strlen(json), wh_relay_on_report, job, errstr,
                     sizeof(errstr)) != 0) {
        log_kv(LOG_LEVEL_WARN, "status event not acknowledged; answering 503", "error", errstr,
               NULL);
        wh_relay_finish(relay, job, 503, "unavailable", "status event not acknowledged");
    }
    free(json);
}

/* ---- the relay thread ---- */

/*
 * Runs `query` (wh_dbpool_seen_many or wh_dbpool_mark_seen_many) over the keys of the n
 * jobs, WH_DB_KEYS_MAX at a time. Returns how many of the jobs, from the first, were
 * answered by the database: the rest (from the first failed part on) were not.
 */
static size_t wh_relay_keys(wh_relay_t *relay, wh_job_t *const *jobs, size_t n,
                            wh_db_result_t (*query)(wh_dbpool_t *, wh_db_key_t *const *, size_t))
{
    wh_db_key_t *keys[WH_DB_KEYS_MAX];
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < WH_DB_KEYS_MAX ? n - done : WH_DB_KEYS_MAX;
        for (size_t i = 0; i < k; i++)
            keys[i] = &jobs[done + i]->dedupe;
        if (query(relay->wh->pool, keys, k) != WH_DB_OK)
            break;
        done += k;
    }
    return done;
}

/*
 * Jobs whose event Kafka acknowledged and that still have their de-duplication record to
 * write: one statement for all of them, then their answers. The record is written only
 * now that the event is on the topic; a failure costs at most one duplicate event when
 * the provider retries, never a lost one.
 */
static void wh_relay_record(wh_relay_t *relay, wh_job_t *const *jobs, size_t n)
{
    size_t recorded = wh_relay_keys(relay, jobs, n, wh_dbpool_mark_seen_many);
    if (recorded < n)
        log_kv(LOG_LEVEL_WARN, "callbacks not recorded for de-duplication", NULL);
    for (size_t i = 0; i < n; i++)
        wh_relay_finish(relay, jobs[i], 200,
                        jobs[i]->correlated ? "published" : "published_uncorrelated", "ok");
}

/*
 * New jobs that have a de-duplication key, checked in one statement: a key seen before is
 * answered as a duplicate, and so is every job when the database did not answer (503).
 * Returns how many of the jobs go on, moved to the front of `jobs`.
 */
static size_t wh_relay_dedupe(wh_relay_t *relay, wh_job_t **jobs, size_t n)
{
    size_t checked = wh_relay_keys(relay, jobs, n, wh_dbpool_seen_many);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        wh_job_t *job = jobs[i];
        if (i >= checked)
            wh_relay_finish(relay, job, 503, "unavailable", "database unavailable");
        else if (job->dedupe.seen)
            wh_relay_finish(relay, job, 200, "duplicate", "duplicate callback");
        else
            jobs[kept++] = job;
    }
    return kept;
}

/* Looks up the batch's jobs of one provider, WH_DB_PROBES_MAX at a time. */
static void wh_relay_lookup(wh_relay_t *relay, wh_job_t **jobs, size_t n, event_provider_t provider)
{
    wh_db_probe_t *probes[WH_DB_PROBES_MAX];
    size_t k = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && jobs[i]->cb.provider == provider)
            probes[k++] = &jobs[i]->probe;
        if (k == WH_DB_PROBES_MAX || (i == n && k > 0)) {
            wh_db_result_t r =
                wh_dbpool_lookup_many(relay->wh->pool, event_provider_name(provider), probes, k);
            for (size_t j = 0; r != WH_DB_OK && j < k; j++)
                probes[j]->result = WH_DB_UNAVAILABLE;
            k = 0;
        }
    }
}

/* Correlates a batch, then publishes, answers or keeps waiting each job. */
static void wh_relay_batch(wh_relay_t *relay, wh_job_t **jobs, size_t n)
{
    static const event_provider_t providers[] = {EVENT_PROVIDER_SMTP, EVENT_PROVIDER_TWILIO,
                                                 EVENT_PROVIDER_AWS_SNS};
    for (size_t p = 0; p < sizeof(providers) / sizeof(providers[0]); p++)
        wh_relay_lookup(relay, jobs, n, providers[p]);
    int64_t now = timefmt_mono_ms();
    for (size_t i = 0; i < n; i++) {
        wh_job_t *job = jobs[i];
        if (job->probe.result == WH_DB_UNAVAILABLE)
            wh_relay_finish(relay, job, 503, "unavailable", "database unavailable");
        else if (job->probe.result == WH_DB_NOT_FOUND &&
                 now < job->started + WH_RELAY_CORRELATE_WAIT_MS) {
            job->next_try = now + WH_RELAY_CORRELATE_STEP_MS;
            wh_job_push(&relay->waiting, job);
        } else
            wh_relay_publish(relay, job);
    }
}

/* A growing array of jobs, kept by the relay thread from one pass to the next. */
typedef struct wh_job_vec_s {
    wh_job_t **v;
    size_t n, cap;
} wh_job_vec_t;

static void wh_job_vec_add(wh_job_vec_t *vec, wh_job_t *job)
{
    if (vec->n == vec->cap) {
        vec->cap = vec->cap ? vec->cap * 2 : 64;
        vec->v = realloc(vec->v, vec->cap * sizeof(*vec->v));
        if (vec->v == NULL)
            abort();
    }
    vec->v[vec->n++] = job;
}

/* Waits for work: new jobs, or the next waiting job's turn. Called with the lock held. */
static void wh_relay_wait(wh_relay_t *relay)
{
    if (relay->incoming.head != NULL || relay->stop)
        return;
    if (relay->waiting.head == NULL) {
        pthread_cond_wait(&relay->cv, &relay->mu);
        return;
    }
    /* The waiting list is in next_try order: each pass appends with the same step. */
    int64_t at = relay->waiting.head->next_try;
    if (at <= timefmt_mono_ms())
        return;
    struct timespec ts = {(time_t)(at / 1000), (long)(at % 1000) * 1000000L};
    pthread_cond_timedwait(&relay->cv, &relay->mu, &ts);
}

/*
 * A new keyed job whose key is in flight already (the same callback, resent while the
 * first copy waits for Kafka or for its record, or twice in one pass) waits for that
 * copy's answer instead of making a second event; true when it does. Otherwise a keyed
 * job puts its key in flight.
 */
static bool wh_relay_follow(wh_relay_t *relay, wh_job_t *job)
{
    if (job->inflight_key == NULL)
        return false;
    wh_job_t *holder = strmap_get(relay->inflight, job->inflight_key, job->inflight_len);
    if (holder == NULL) {
        strmap_put(relay->inflight, job->inflight_key, job->inflight_len, job);
        return false;
    }
    job->next_follower = holder->followers;
    holder->followers = job;
    return true;
}

/*
 * One pass over what arrived: de-duplication records of acknowledged events, the
 * de-duplication check of new callbacks with a key, then the ledger lookup of every
 * callback that has a provider id (new ones, and waiting ones whose turn came), each step
 * one statement for the whole pass.
 */
static void wh_relay_pass(wh_relay_t *relay, wh_job_t *taken, wh_job_vec_t *record,
                          wh_job_vec_t *fresh, wh_job_vec_t *lookup)
{
    record->n = fresh->n = lookup->n = 0;
    while (taken != NULL) {
        wh_job_t *job = taken;
        taken = job->next;
        if (job->unacked)
            wh_relay_finish(relay, job, 503, "unavailable", "status event not acknowledged");
        else if (job->acked)
            wh_job_vec_add(record, job);
        else if (!wh_relay_follow(relay, job))
            wh_job_vec_add(fresh, job);
    }
    if (record->n > 0)
        wh_relay_record(relay, record->v, record->n);

    /* Keyed jobs first, so that one statement checks them all. */
    size_t keyed = 0;
    for (size_t i = 0; i < fresh->n; i++) {
        if (fresh->v[i]->cb.dedupe_key != NULL) {
            wh_job_t *t = fresh->v[keyed];
            fresh->v[keyed++] = fresh->v[i];
            fresh->v[i] = t;
        }
    }
    size_t kept = keyed > 0 ? wh_relay_dedupe(relay, fresh->v, keyed) : 0;
    for (size_t i = 0; i < fresh->n; i++) {
        if (i < keyed && i >= kept)
            continue; /* answered by the de-duplication check */
        wh_job_t *job = fresh->v[i];
        if (job->cb.provider_message_id == NULL) {
            job->probe.result = WH_DB_NOT_FOUND;
            wh_relay_publish(relay, job);
        } else {
            wh_job_vec_add(lookup, job);
        }
    }

    int64_t now = timefmt_mono_ms();
    while (relay->waiting.head != NULL && relay->waiting.head->next_try <= now) {
        wh_job_t *job = relay->waiting.head;
        relay->waiting.head = job->next;
        if (relay->waiting.head == NULL)
            relay->waiting.tail = NULL;
        wh_job_vec_add(lookup, job);
    }
    if (lookup->n > 0)
        wh_relay_batch(relay, lookup->v, lookup->n);
}

static void *wh_relay_thread(void *arg)
{
    wh_relay_t *relay = arg;
    wh_job_vec_t record = {0}, fresh = {0}, lookup = {0};
    pthread_mutex_lock(&relay->mu);
    while (!relay->stop) {
        wh_relay_wait(relay);
        wh_job_t *taken = relay->incoming.head;
        relay->incoming.head = relay->incoming.tail = NULL;
        pthread_mutex_unlock(&relay->mu);
        wh_relay_pass(relay, taken, &record, &fresh, &lookup);
        pthread_mutex_lock(&relay->mu);
    }
    pthread_mutex_unlock(&relay->mu);
    free(record.v);
    free(fresh.v);
    free(lookup.v);
    return NULL;
}

wh_relay_t *wh_relay_new(wh_t *wh, char *errstr, size_t errstr_size)
{
    wh_relay_t *relay = calloc(1, sizeof(*relay));
    if (relay == NULL)
        abort();
    relay->wh = wh;
    relay->inflight = strmap_new();
    pthread_mutex_init(&relay->mu, NULL);
    /* Waiting jobs are timed on the monotonic clock, like everything else here. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&relay->cv, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&relay->thread, NULL, wh_relay_thread, relay);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "cannot start the relay thread: %s", strerror(rc));
        wh_relay_destroy(relay);
        return NULL;
    }
    relay->started = true;
    return relay;
}

void wh_relay_destroy(wh_relay_t *relay)
{
    if (relay == NULL)
        return;
    if (relay->started) {
        pthread_mutex_lock(&relay->mu);
        relay->stop = true;
        pthread_cond_signal(&relay->cv);
        pthread_mutex_unlock(&relay->mu);
        pthread_join(relay->thread, NULL);
    }
    pthread_cond_destroy(&relay->cv);
    pthread_mutex_destroy(&relay->mu);
    strmap_destroy(relay->inflight);
    free(relay);
}
