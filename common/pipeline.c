#include "pipeline.h"

#include "dbstage.h"
#include "event.h"
#include "httpd.h"
#include "job.h"
#include "kafka.h"
#include "log.h"
#include "offtrack.h"
#include "redact.h"
#include "retry.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIPELINE_TOPICS       (1 + RETRY_TIERS)
#define PIPELINE_LAG_EVERY_MS 5000
/* How long one poll waits when nothing is in flight; with work in flight the loop polls
 * without waiting long so completions are published promptly. */
#define PIPELINE_IDLE_POLL_MS 100
#define PIPELINE_BUSY_POLL_MS 1

/* One assigned partition (of the main topic or a retry tier). */
struct pipeline_part_s {
    pipeline_part_t *next;
    char *topic;
    int32_t partition;
    offtrack_t *track;
    int in_flight;
    bool assigned;
    bool paused;      /* as last applied to the consumer */
    bool full;        /* its window of in-flight messages is full */
    bool delayed;     /* the head is a retry copy that is not due yet */
    int64_t due_ms;   /* when the delayed head is due */
    int64_t delay_at; /* its offset: later messages polled meanwhile are dropped */
    int64_t hold_at;  /* the lowest offset of a job that left unfinished, or -1 */
    int refs;         /* jobs holding it, plus one while assigned */
};

struct pipeline_s {
    const cfg_t *cfg;
    const char *name;
    const sender_ops_t *ops;
    void *engine;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    kafka_rebalance_t hooks;
    char *topics[PIPELINE_TOPICS]; /* main topic, then the retry tiers */
    char *dlq_topic;
    const char *status_topic;
    retry_policy_t policy;
    dbstage_t *db;
    jobq_t *done_q;
    pipeline_part_t *parts;
    int in_flight;
    int max_in_flight;
    int max_per_part;
    bool all_paused; /* the worker-wide window is full */
    bool stopping;
    atomic_int stop;
    int64_t next_lag_ms;
    int fatal;

    metrics_registry_t *metrics;
    httpd_t *httpd;
    metrics_counter_t *m_outcomes;  /* {outcome, error_code} */
    metrics_counter_t *m_retries;   /* {tier} */
    metrics_histogram_t *m_latency; /* accepted to decided, seconds */
    metrics_gauge_t *m_in_flight;
    metrics_gauge_t *m_lag; /* {topic, partition} */
    metrics_counter_t *m_resends;
};

static pipeline_t *pipeline_signal_target;
/* A SIGTERM or SIGINT that came before there was a pipeline to stop (during start-up). */
static volatile sig_atomic_t pipeline_signalled;

/* --- partitions ---------------------------------------------------------------------- */

/* The record of an assigned partition. Records of revoked partitions linger while jobs
 * still hold them, but are never found: a partition assigned again gets a fresh record, so
 * old jobs can no longer store offsets for it. */
static pipeline_part_t *pipeline_part_find(pipeline_t *pl, const char *topic, int32_t partition)
{
    for (pipeline_part_t *p = pl->parts; p; p = p->next)
        if (p->assigned && p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    return NULL;
}

static void pipeline_part_unref(pipeline_t *pl, pipeline_part_t *part)
{
    if (--part->refs > 0)
        return;
    for (pipeline_part_t **pp = &pl->parts; *pp; pp = &(*pp)->next) {
        if (*pp == part) {
            *pp = part->next;
            break;
        }
    }
    offtrack_destroy(part->track);
    free(part->topic);
    free(part);
}

/* Pauses or resumes one partition so that the consumer matches what the pipeline wants. */
static void pipeline_part_apply(pipeline_t *pl, pipeline_part_t *part)
{
    bool want = part->assigned && (part->full || part->delayed || pl->all_paused || pl->stopping);
    if (!part->assigned || want == part->paused)
        return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, part->topic, part->partition);
    rd_kafka_resp_err_t err = want ? rd_kafka_pause_partitions(pl->consumer, list)
                                   : rd_kafka_resume_partitions(pl->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        part->paused = want;
}

static void pipeline_apply_all(pipeline_t *pl)
{
    for (pipeline_part_t *p = pl->parts; p; p = p->next)
        pipeline_part_apply(pl, p);
}

/* Stores the offset after the finished prefix of a partition, if it is still ours. A job
 * that left unfinished (abandoned at shutdown, its outcome not published) counts as done
 * for the prefix, so the offset is held at it: Kafka must deliver it again. */
static void pipeline_store_offset(pipeline_t *pl, pipeline_part_t *part, int64_t offset)
{
    if (!part->assigned)
        return;
    if (part->hold_at >= 0 && offset > part->hold_at)
        offset = part->hold_at;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, part->topic, part->partition)->offset = offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(pl->consumer, list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_kv(LOG_LEVEL_WARN, "offset not stored", "topic", part->topic, "error",
               rd_kafka_err2str(err), NULL);
    rd_kafka_topic_partition_list_destroy(list);
}

/* --- jobs ---------------------------------------------------------------------------- */

static void pipeline_job_free(pipeline_t *pl, job_t *job)
{
    dbstage_job_release(job);
    request_destroy(job->req);
    if (job->msg)
        rd_kafka_message_destroy(job->msg);
    pipeline_part_unref(pl, job->part);
    free(job);
}

/* The job left the pipeline: its outcome is acknowledged (or it was abandoned at
 * shutdown, `store` false), so its slot of the partition's window is freed. */
static void pipeline_job_end(pipeline_t *pl, job_t *job, bool store)
{
    pipeline_part_t *part = job->part;
    int64_t offset = offtrack_done(part->track, job->seq);
    if (!store && (part->hold_at < 0 || job->msg->offset < part->hold_at))
        part->hold_at = job->msg->offset;
    if (store && offset >= 0)
        pipeline_store_offset(pl, part, offset);
    part->in_flight--;
    pl->in_flight--;
    metrics_gauge_set(metrics_gauge_with(pl->m_in_flight), pl->in_flight);
    if (part->full && part->in_flight <= pl->max_per_part / 2) {
        part->full = false;
        pipeline_part_apply(pl, part);
    }
    if (pl->all_paused && pl->in_flight <= pl->max_in_flight / 2) {
        pl->all_paused = false;
        pipeline_apply_all(pl);
    }
    pipeline_job_free(pl, job);
}

static const char *pipeline_outcome_name(job_outcome_t outcome)
{
    switch (outcome) {
    case JOB_OUTCOME_SENT:
        return "SENT";
    case JOB_OUTCOME_RETRY:
        return "RETRY_SCHEDULED";
    case JOB_OUTCOME_FAILED:
        return "FAILED";
    case JOB_OUTCOME_DUPLICATE:
        return "DUPLICATE";
    default:
        return "NONE";
    }
}

/* --- publishing outcomes ------------------------------------------------------------- */

static void pipeline_publish(pipeline_t *pl, job_t *job);

static void pipeline_dr(pipeline_t *pl, job_t *job, const rd_kafka_message_t *msg)
{
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* The outcome is not recorded, so the offset must not move: publish again. */
        log_kv(LOG_LEVEL_ERROR, "publishing an outcome failed; publishing it again", "topic",
               rd_kafka_topic_name(msg->rkt), "error", rd_kafka_err2str(msg->err), NULL);
        job->produce_failed = true;
    }
    if (--job->acks_pending > 0)
        return;
    if (job->produce_failed && !pl->stopping) {
        job->produce_failed = false;
        pipeline_publish(pl, job);
        return;
    }
    pipeline_job_end(pl, job, !job->produce_failed);
}

static void pipeline_dr_status(kafka_dr_t *dr, const rd_kafka_message_t *msg)
{
    job_t *job = (job_t *)(void *)((char *)dr - offsetof(job_t, dr_status));
    pipeline_dr(job->owner, job, msg);
}

static void pipeline_dr_copy(kafka_dr_t *dr, const rd_kafka_message_t *msg)
{
    job_t *job = (job_t *)(void *)((char *)dr - offsetof(job_t, dr_copy));
    pipeline_dr(job->owner, job, msg);
}

/* Produces, waiting for room in the producer's queue when it is full. */
static int pipeline_produce(pipeline_t *pl, const char *topic, const void *key, size_t key_len,
                            const void *value, size_t len, rd_kafka_headers_t *headers,
                            kafka_dr_t *dr)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            pl->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(dr), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (headers)
                rd_kafka_headers_destroy(headers);
            log_kv(LOG_LEVEL_ERROR, "produce failed", "topic", topic, "error",
                   rd_kafka_err2str(err), NULL);
            return -1;
        }
        rd_kafka_poll(pl->producer, 10);
    }
}

static void pipeline_header_num(rd_kafka_headers_t *h, const char *name, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, v);
    rd_kafka_header_add(h, name, -1, buf, n);
}

/* The headers of a retry or dead-letter copy (contract "Pipeline headers"). */
static rd_kafka_headers_t *pipeline_copy_headers(job_t *job, int attempt, int64_t not_before)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(6);
    pipeline_header_num(h, RETRY_H_ATTEMPT, attempt);
    if (not_before > 0)
        pipeline_header_num(h, RETRY_H_NOT_BEFORE, not_before);
    rd_kafka_header_add(h, RETRY_H_ORIGINAL_TOPIC, -1, job->original_topic, -1);
    pipeline_header_num(h, RETRY_H_ORIGINAL_PART, job->original_partition);
    pipeline_header_num(h, RETRY_H_ORIGINAL_OFFSET, job->original_offset);
    if (job->result.error_code[0])
        rd_kafka_header_add(h, RETRY_H_LAST_ERROR, -1, job->result.error_code, -1);
    return h;
}

static void pipeline_count_outcome(pipeline_t *pl, job_t *job)
{
    const char *code = job->result.error_code[0] ? job->result.error_code : "";
    metrics_counter_inc(
        metrics_counter_with(pl->m_outcomes, pipeline_outcome_name(job->outcome), code));
    metrics_histogram_observe(metrics_histogram_with(pl->m_latency),
                              (double)(job->decided_ms - job->accepted_ms) / 1000.0);
    if (job->outcome == JOB_OUTCOME_RETRY)
        metrics_counter_inc(metrics_counter_with(pl->m_retries, retry_tier_suffix(job->tier) + 1));
}

/* Logs the outcome as the seed asks: INFO for a send, WARN for waits, ERROR for failures. */
static void pipeline_log_outcome(pipeline_t *pl, job_t *job)
{
    const request_t *req = job->req;
    const char *mid = req ? req->message_id : NULL, *org = req ? req->org_id : NULL;
    char attempt[16];
    snprintf(attempt, sizeof(attempt), "%d", job->attempt);
    switch (job->outcome) {
    case JOB_OUTCOME_SENT:
        log_kv(LOG_LEVEL_INFO, "sent", "message_id", mid, "org_id", org, "provider_message_id",
               job->result.provider_message_id, "attempt", attempt, NULL);
        break;
    case JOB_OUTCOME_DUPLICATE:
        log_kv(LOG_LEVEL_INFO, "duplicate: already sent, not sent again", "message_id", mid,
               "org_id", org, "provider_message_id", job->result.provider_message_id, NULL);
        break;
    case JOB_OUTCOME_RETRY:
        log_kv(strcmp(job->result.error_code, "RATE_LIMIT") == 0 ||
                       strcmp(job->result.error_code, "QUOTA_EXCEEDED") == 0
                   ? LOG_LEVEL_WARN
                   : LOG_LEVEL_ERROR,
               "retry scheduled", "message_id", mid, "org_id", org, "error_code",
               job->result.error_code, "error_message", job->result.error_message, "attempt",
               attempt, "tier", retry_tier_suffix(job->tier) + 1, NULL);
        break;
    case JOB_OUTCOME_FAILED:
        log_kv(LOG_LEVEL_ERROR, "failed", "message_id", mid, "org_id", org, "error_code",
               job->result.error_code, "error_message", job->result.error_message, "attempt",
               attempt, NULL);
        break;
    default:
        break;
    }
}

static void pipeline_publish(pipeline_t *pl, job_t *job)
{
    char errstr[256];
    const request_t *req = job->req;
    event_t ev;
    event_init(&ev, EVENT_SOURCE_WORKER);
    ev.message_id = req ? req->message_id : NULL;
    ev.org_id = req ? req->org_id : NULL;
    ev.channel = pl->ops->channel;
    ev.provider = pl->ops->provider;
    ev.attempt = job->attempt;
    ev.metadata = req ? req->metadata : NULL;
    ev.occurred_at = job->decided_ms;
    if (pl->ops->channel == EVENT_CHANNEL_SMS && req && req->sms.body)
        ev.segments = req->sms.seg.segments;
    if (job->result.provider_message_id[0])
        ev.provider_message_id = job->result.provider_message_id;
    switch (job->outcome) {
    case JOB_OUTCOME_SENT:
        ev.status = EVENT_STATUS_SENT;
        break;
    case JOB_OUTCOME_DUPLICATE:
        ev.status = EVENT_STATUS_DUPLICATE;
        break;
    case JOB_OUTCOME_RETRY:
        ev.status = EVENT_STATUS_RETRY_SCHEDULED;
        ev.next_attempt_at = job->decided_ms + pl->policy.delays_ms[job->tier];
        break;
    default:
        ev.status = EVENT_STATUS_FAILED;
        break;
    }
    if (job->outcome == JOB_OUTCOME_RETRY || job->outcome == JOB_OUTCOME_FAILED) {
        ev.error_code = job->result.error_code;
        ev.error_message = job->result.error_message[0] ? job->result.error_message : NULL;
        ev.retryable = job->result.retryable;
    }
    char *json = event_serialize(&ev, errstr, sizeof(errstr));
    if (json == NULL) {
        /* A bug in the outcome, not in the input: leave the offset where it is. */
        log_kv(LOG_LEVEL_ERROR, "status event not built; the message stays unacknowledged", "error",
               errstr, NULL);
        pl->fatal = 1;
        pipeline_job_end(pl, job, false);
        return;
    }

    job->dr_status.cb = pipeline_dr_status;
    job->dr_copy.cb = pipeline_dr_copy;
    job->acks_pending = 1;
    const char *copy_topic = NULL;
    char topic[300];
    rd_kafka_headers_t *headers = NULL;
    if (job->outcome == JOB_OUTCOME_RETRY) {
        snprintf(topic, sizeof(topic), "%s%s", pl->topics[0], retry_tier_suffix(job->tier));
        copy_topic = topic;
        headers = pipeline_copy_headers(job, job->attempt + 1, ev.next_attempt_at);
        job->acks_pending = 2;
    } else if (job->outcome == JOB_OUTCOME_FAILED) {
        copy_topic = pl->dlq_topic;
        headers = pipeline_copy_headers(job, job->attempt, 0);
        job->acks_pending = 2;
    }

    const char *key = ev.message_id;
    int rc = pipeline_produce(pl, pl->status_topic, key, key ? strlen(key) : 0, json, strlen(json),
                              NULL, &job->dr_status);
    free(json);
    if (rc != 0) {
        job->acks_pending--;
        job->produce_failed = true;
    }
    if (copy_topic) {
        rc = pipeline_produce(pl, copy_topic, job->msg->key, job->msg->key_len, job->msg->payload,
                              job->msg->len, headers, &job->dr_copy);
        if (rc != 0) {
            job->acks_pending--;
            job->produce_failed = true;
        }
    }
    if (job->acks_pending == 0) {
        /* Neither produce was accepted: stop rather than spin; the offset stays. */
        pl->fatal = 1;
        pipeline_job_end(pl, job, false);
    }
}

/* A job decided by the database stage (or here): count, log, publish. */
static void pipeline_decided(pipeline_t *pl, job_t *job)
{
    if (job->outcome == JOB_OUTCOME_NONE) {
        /* Abandoned at shutdown: neither published nor stored; Kafka delivers it again. */
        pipeline_job_end(pl, job, false);
        return;
    }
    if (job->resend)
        metrics_counter_inc(metrics_counter_with(pl->m_resends));
    pipeline_count_outcome(pl, job);
    pipeline_log_outcome(pl, job);
    pipeline_publish(pl, job);
}

static void pipeline_drain_done(pipeline_t *pl)
{
    jobq_node_t *n = jobq_take(pl->done_q, 100000, 0);
    while (n) {
        jobq_node_t *next = n->next;
        pipeline_decided(pl, JOB_FROM_NODE(n));
        n = next;
    }
}

/* --- consuming ------------------------------------------------------------------------ */

static int pipeline_header(const rd_kafka_message_t *m, const char *name, const void **value,
                           size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || h == NULL)
        return -1;
    return rd_kafka_header_get_last(h, name, value, len) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

static int64_t pipeline_header_int(const rd_kafka_message_t *m, const char *name, int64_t dflt)
{
    const void *v;
    size_t len;
    int64_t n;
    if (pipeline_header(m, name, &v, &len) != 0 || retry_parse_number(v, len, &n) != 0)
        return dflt;
    return n;
}

/* The head of a retry tier is not due: hold the partition there until it is. */
static void pipeline_delay(pipeline_t *pl, pipeline_part_t *part, int64_t offset, int64_t due)
{
    part->delayed = true;
    part->due_ms = due;
    part->delay_at = offset;
    pipeline_part_apply(pl, part);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, part->topic, part->partition)->offset = offset;
    rd_kafka_error_t *error = rd_kafka_seek_partitions(pl->consumer, list, 0);
    if (error) {
        log_kv(LOG_LEVEL_ERROR, "seek back to a delayed retry copy failed", "topic", part->topic,
               "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static void pipeline_resume_due(pipeline_t *pl, int64_t now)
{
    for (pipeline_part_t *p = pl->parts; p; p = p->next) {
        if (p->delayed && now >= p->due_ms) {
            p->delayed = false;
            pipeline_part_apply(pl, p);
        }
    }
}

/* A value that cannot become a request: FAILED at once, with its DLQ copy. */
static void pipeline_reject(job_t *job, errcode_t code, const char *errstr)
{
    job->outcome = JOB_OUTCOME_FAILED;
    snprintf(job->result.error_code, sizeof(job->result.error_code), "%s", errcode_name(code));
    snprintf(job->result.error_message, sizeof(job->result.error_message), "%s", errstr);
    job->result.retryable = false;
    job->decided_ms = timefmt_now_ms();
}

static void pipeline_accept(pipeline_t *pl, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    pipeline_part_t *part = pipeline_part_find(pl, topic, m->partition);
    if (part == NULL || !part->assigned || (part->delayed && m->offset >= part->delay_at)) {
        /* Not ours any more, or polled after its partition was held: Kafka delivers it
         * again from the stored position. */
        rd_kafka_message_destroy(m);
        return;
    }
    int64_t now = timefmt_now_ms();
    /*
     * The retry headers are the pipeline's own, written on the copies it puts on its retry
     * tiers; on the main topic they can only come from a producer, and are ignored there.
     * Trusted, a far-future x-not-before would hold the partition for good, and forged
     * x-original-* coordinates would make the request the holder of another request's
     * ledger reservation.
     */
    bool tier_copy = strcmp(topic, pl->topics[0]) != 0;
    int64_t not_before = tier_copy ? pipeline_header_int(m, RETRY_H_NOT_BEFORE, 0) : 0;
    if (not_before > now) {
        pipeline_delay(pl, part, m->offset, not_before);
        rd_kafka_message_destroy(m);
        return;
    }

    job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        abort();
    job->msg = m;
    job->part = part;
    part->refs++;
    job->seq = offtrack_accept(part->track, m->offset);
    part->in_flight++;
    pl->in_flight++;
    metrics_gauge_set(metrics_gauge_with(pl->m_in_flight), pl->in_flight);
    job->accepted_ms = now;
    job->owner = pl;

    int64_t attempt = tier_copy ? pipeline_header_int(m, RETRY_H_ATTEMPT, 1) : 1;
    job->attempt = (attempt >= 1 && attempt <= RETRY_MAX_ATTEMPTS) ? (int)attempt : 1;
    const void *v;
    size_t len;
    if (tier_copy && pipeline_header(m, RETRY_H_ORIGINAL_TOPIC, &v, &len) == 0 && len > 0 &&
        len < sizeof(job->original_topic)) {
        memcpy(job->original_topic, v, len);
        job->original_topic[len] = '\0';
        job->original_partition = (int32_t)pipeline_header_int(m, RETRY_H_ORIGINAL_PART, 0);
        job->original_offset = pipeline_header_int(m, RETRY_H_ORIGINAL_OFFSET, 0);
    } else {
        snprintf(job->original_topic, sizeof(job->original_topic), "%s", topic);
        job->original_partition = m->partition;
        job->original_offset = m->offset;
    }
    snprintf(job->origin, sizeof(job->origin), "%s/%" PRId32 "/%" PRId64, job->original_topic,
             job->original_partition, job->original_offset);

    char errstr[512];
    errcode_t code = request_parse(m->payload ? m->payload : "", m->payload ? m->len : 0,
                                   pl->ops->request, &job->req, errstr, sizeof(errstr));
    if (code != ERRCODE_OK) {
        pipeline_reject(job, code, errstr);
        pipeline_decided(pl, job);
    } else {
        job->sj.req = job->req;
        job->sj.attempt = job->attempt;
        dbstage_push(pl->db, job);
    }

    if (!part->full && part->in_flight >= pl->max_per_part) {
        part->full = true;
        pipeline_part_apply(pl, part);
    }
    if (!pl->all_paused && pl->in_flight >= pl->max_in_flight) {
        pl->all_paused = true;
        pipeline_apply_all(pl);
    }
}

/* Serves completions and delivery reports until `part` (or, when NULL, the whole worker)
 * has nothing in flight, or the deadline passes. Returns true when drained. */
static bool pipeline_drain(pipeline_t *pl, pipeline_part_t *part, int64_t deadline)
{
    while ((part ? part->in_flight : pl->in_flight) > 0 && timefmt_mono_ms() < deadline) {
        pipeline_drain_done(pl);
        rd_kafka_poll(pl->producer, 5);
    }
    return (part ? part->in_flight : pl->in_flight) == 0;
}

static void pipeline_on_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                               void *opaque)
{
    pipeline_t *pl = opaque;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (pipeline_part_find(pl, tp->topic, tp->partition) != NULL)
            continue;
        pipeline_part_t *p = calloc(1, sizeof(*p));
        if (p == NULL || (p->topic = strdup(tp->topic)) == NULL)
            abort();
        p->partition = tp->partition;
        p->track = offtrack_new();
        p->hold_at = -1;
        p->assigned = true;
        p->refs = 1;
        p->next = pl->parts;
        pl->parts = p;
        pipeline_part_apply(pl, p);
        log_kv(LOG_LEVEL_INFO, "partition assigned", "topic", p->topic, NULL);
    }
}

static void pipeline_on_revoke(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *parts,
                               int lost, void *opaque)
{
    pipeline_t *pl = opaque;
    int64_t deadline = timefmt_mono_ms() + cfg_int(pl->cfg, CFG_DRAIN_GRACE_MS);
    /* Finish what these partitions have in flight before handing them over, so their next
     * owner neither repeats nor loses any of it. A lost partition is already someone
     * else's: nothing of it may be stored or committed. */
    for (int i = 0; i < parts->cnt && !lost; i++) {
        pipeline_part_t *p =
            pipeline_part_find(pl, parts->elems[i].topic, parts->elems[i].partition);
        if (p != NULL && !pipeline_drain(pl, p, deadline))
            log_kv(LOG_LEVEL_WARN, "revoked partition not drained within DRAIN_GRACE_MS", "topic",
                   p->topic, NULL);
    }
    if (!lost) {
        rd_kafka_resp_err_t err = rd_kafka_commit(rk, NULL, 0);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_kv(LOG_LEVEL_WARN, "commit before revocation failed", "error",
                   rd_kafka_err2str(err), NULL);
    }
    for (int i = 0; i < parts->cnt; i++) {
        pipeline_part_t *p =
            pipeline_part_find(pl, parts->elems[i].topic, parts->elems[i].partition);
        if (p == NULL)
            continue;
        p->assigned = false;
        log_kv(LOG_LEVEL_INFO, lost ? "partition lost" : "partition revoked", "topic", p->topic,
               NULL);
        pipeline_part_unref(pl, p);
    }
}

static void pipeline_update_lag(pipeline_t *pl)
{
    for (pipeline_part_t *p = pl->parts; p; p = p->next) {
        if (!p->assigned)
            continue;
        int64_t lo = 0, hi = 0;
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition);
        if (rd_kafka_get_watermark_offsets(pl->consumer, p->topic, p->partition, &lo, &hi) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_position(pl->consumer, list) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            list->elems[0].offset >= 0 && hi >= list->elems[0].offset) {
            char part[16];
            snprintf(part, sizeof(part), "%" PRId32, p->partition);
            metrics_gauge_set(metrics_gauge_with(pl->m_lag, p->topic, part),
                              (double)(hi - list->elems[0].offset));
        }
        rd_kafka_topic_partition_list_destroy(list);
    }
}

/* --- life cycle ----------------------------------------------------------------------- */

static int pipeline_metrics_new(pipeline_t *pl, char *errstr, size_t errstr_size)
{
    static const double latency_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,     2.5,  5,     10,   30,  60};
    pl->metrics = metrics_registry_new();
    pl->m_outcomes = metrics_counter_new(pl->metrics, "notify_messages_total",
                                         "Requests by outcome and error code", errstr, errstr_size,
                                         "outcome", "error_code", NULL);
    pl->m_retries = metrics_counter_new(pl->metrics, "notify_retries_total",
                                        "Copies scheduled on each retry tier", errstr, errstr_size,
                                        "tier", NULL);
    pl->m_latency = metrics_histogram_new(
        pl->metrics, "notify_send_latency_seconds",
        "From accepting a request to deciding its outcome", latency_buckets,
        sizeof(latency_buckets) / sizeof(latency_buckets[0]), errstr, errstr_size, NULL);
    pl->m_in_flight =
        metrics_gauge_new(pl->metrics, "notify_in_flight", "Requests accepted and not yet finished",
                          errstr, errstr_size, NULL);
    pl->m_lag = metrics_gauge_new(pl->metrics, "notify_consumer_lag",
                                  "Messages behind the end of each assigned partition", errstr,
                                  errstr_size, "topic", "partition", NULL);
    pl->m_resends = metrics_counter_new(
        pl->metrics, "notify_resends_total",
        "Requests sent again because a crash left their reservation open (possible duplicates)",
        errstr, errstr_size, NULL);
    return (pl->m_outcomes && pl->m_retries && pl->m_latency && pl->m_in_flight && pl->m_lag &&
            pl->m_resends)
               ? 0
               : -1;
}

static int pipeline_subscribe(pipeline_t *pl, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(PIPELINE_TOPICS);
    for (int i = 0; i < PIPELINE_TOPICS; i++)
        rd_kafka_topic_partition_list_add(list, pl->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(pl->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "subscribe failed: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static const char *pipeline_base_topic(const cfg_t *cfg, const sender_ops_t *ops)
{
    switch (ops->request) {
    case REQUEST_CHANNEL_EMAIL:
        return cfg_str(cfg, CFG_TOPIC_EMAIL);
    case REQUEST_CHANNEL_TWILIO:
        return cfg_str(cfg, CFG_TOPIC_SMS_TWILIO);
    case REQUEST_CHANNEL_SNS:
        return cfg_str(cfg, CFG_TOPIC_SMS_SNS);
    }
    return NULL;
}

static char *pipeline_strcat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s == NULL)
        abort();
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

pipeline_t *pipeline_new(const cfg_t *cfg, const char *name, const sender_ops_t *ops, char *errstr,
                         size_t errstr_size)
{
    pipeline_t *pl = calloc(1, sizeof(*pl));
    if (pl == NULL)
        abort();
    pl->cfg = cfg;
    pl->name = name;
    pl->ops = ops;
    pl->max_in_flight = (int)cfg_int(cfg, CFG_MAX_IN_FLIGHT);
    pl->max_per_part = (int)cfg_int(cfg, CFG_MAX_IN_FLIGHT_PER_PARTITION);
    pl->status_topic = cfg_str(cfg, CFG_TOPIC_STATUS);
    atomic_init(&pl->stop, 0);

    char why[256];
    if (retry_policy_parse(cfg_str(cfg, CFG_RETRY_DELAYS_MS), &pl->policy, why, sizeof(why)) != 0) {
        snprintf(errstr, errstr_size, "RETRY_DELAYS_MS: %s", why);
        goto fail;
    }
    const char *base = pipeline_base_topic(cfg, ops);
    pl->topics[0] = pipeline_strcat(base, "");
    for (int i = 0; i < RETRY_TIERS; i++)
        pl->topics[1 + i] = pipeline_strcat(base, retry_tier_suffix(i));
    pl->dlq_topic = pipeline_strcat(base, ".dlq");

    if (pipeline_metrics_new(pl, errstr, errstr_size) != 0)
        goto fail;
    pl->done_q = jobq_new();
    dbstage_conf_t dconf = {
        .cfg = cfg,
        .name = name,
        .ops = ops,
        .policy = &pl->policy,
        .done_q = pl->done_q,
        .metrics = pl->metrics,
    };
    pl->db = dbstage_new(&dconf, errstr, errstr_size);
    if (pl->db == NULL)
        goto fail;
    pl->engine = ops->create(cfg, pl->metrics, dbstage_sender_done, pl->db, errstr, errstr_size);
    if (pl->engine == NULL)
        goto fail;
    dbstage_set_engine(pl->db, pl->engine);

    pl->producer = kafka_stream_producer_new(cfg, errstr, errstr_size);
    if (pl->producer == NULL)
        goto fail;
    if (cfg_bool(cfg, CFG_TOPIC_AUTO_CREATE)) {
        /* A consumer does not create topics, and one subscribed to a topic that appears
         * later only notices at its next metadata refresh: create them all first. */
        const char *all[PIPELINE_TOPICS + 2];
        for (int i = 0; i < PIPELINE_TOPICS; i++)
            all[i] = pl->topics[i];
        all[PIPELINE_TOPICS] = pl->dlq_topic;
        all[PIPELINE_TOPICS + 1] = pl->status_topic;
        if (kafka_ensure_topics(pl->producer, all, PIPELINE_TOPICS + 2, 15000, why, sizeof(why)) !=
            0)
            log_kv(LOG_LEVEL_WARN, "topics not created; they must exist already", "error", why,
                   NULL);
    }
    pl->hooks.on_assign = pipeline_on_assign;
    pl->hooks.on_revoke = pipeline_on_revoke;
    pl->hooks.opaque = pl;
    const char *group =
        cfg_str(cfg, CFG_CONSUMER_GROUP)[0] ? cfg_str(cfg, CFG_CONSUMER_GROUP) : name;
    pl->consumer = kafka_consumer_new(cfg, group, &pl->hooks, errstr, errstr_size);
    if (pl->consumer == NULL)
        goto fail;
    if (pipeline_subscribe(pl, errstr, errstr_size) != 0)
        goto fail;

    pl->httpd = httpd_new(cfg_str(cfg, CFG_HTTP_ADDR), pl->metrics, NULL, errstr, errstr_size);
    if (pl->httpd == NULL)
        goto fail;
    return pl;
fail:
    pipeline_destroy(pl);
    return NULL;
}

static void pipeline_on_signal(int sig)
{
    (void)sig;
    pipeline_signalled = 1;
    if (pipeline_signal_target)
        pipeline_stop(pipeline_signal_target);
}

void pipeline_stop(pipeline_t *pl)
{
    atomic_store(&pl->stop, 1);
}

metrics_registry_t *pipeline_metrics(pipeline_t *pl)
{
    return pl->metrics;
}

int pipeline_run(pipeline_t *pl)
{
    log_kv(LOG_LEVEL_INFO, "started", "topic", pl->topics[0], "provider",
           event_provider_name(pl->ops->provider), NULL);
    httpd_set_ready(pl->httpd, true);
    while (!atomic_load(&pl->stop) && !pl->fatal) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(
            pl->consumer, pl->in_flight > 0 ? PIPELINE_BUSY_POLL_MS : PIPELINE_IDLE_POLL_MS);
        if (m != NULL) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                pipeline_accept(pl, m);
            } else {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    log_kv(LOG_LEVEL_WARN, "consumer error", "error", rd_kafka_message_errstr(m),
                           NULL);
                rd_kafka_message_destroy(m);
            }
        }
        pipeline_drain_done(pl);
        rd_kafka_poll(pl->producer, 0);
        int64_t now = timefmt_now_ms();
        pipeline_resume_due(pl, now);
        if (now >= pl->next_lag_ms) {
            pipeline_update_lag(pl);
            pl->next_lag_ms = now + PIPELINE_LAG_EVERY_MS;
        }
    }

    /* Stop taking work, finish what is in flight, store and commit, then leave. */
    log_kv(LOG_LEVEL_INFO, "stopping: draining in-flight messages", NULL);
    httpd_set_ready(pl->httpd, false);
    pl->stopping = true;
    pipeline_apply_all(pl);
    int64_t deadline = timefmt_mono_ms() + cfg_int(pl->cfg, CFG_DRAIN_GRACE_MS);
    if (!pipeline_drain(pl, NULL, deadline))
        log_kv(LOG_LEVEL_WARN,
               "not every in-flight message finished within DRAIN_GRACE_MS; "
               "the rest will be delivered again",
               NULL);
    return pl->fatal;
}

void pipeline_destroy(pipeline_t *pl)
{
    if (pl == NULL)
        return;
    /* The engine reports what it still holds, the stage hands back its leftovers and
     * quota; whatever comes back undecided is freed without storing its offset. */
    if (pl->engine)
        pl->ops->destroy(pl->engine);
    if (pl->db)
        dbstage_destroy(pl->db);
    if (pl->done_q) {
        pl->stopping = true;
        pipeline_drain_done(pl);
    }
    if (pl->producer) {
        rd_kafka_flush(pl->producer, 10000);
        rd_kafka_poll(pl->producer, 0);
    }
    if (pl->consumer) {
        rd_kafka_resp_err_t err = rd_kafka_commit(pl->consumer, NULL, 0);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_kv(LOG_LEVEL_WARN, "final commit failed", "error", rd_kafka_err2str(err), NULL);
        kafka_consumer_destroy(pl->consumer, 10000);
    }
    if (pl->producer)
        rd_kafka_destroy(pl->producer);
    httpd_destroy(pl->httpd);
    while (pl->parts) {
        pipeline_part_t *p = pl->parts;
        pl->parts = p->next;
        offtrack_destroy(p->track);
        free(p->topic);
        free(p);
    }
    jobq_destroy(pl->done_q);
    metrics_registry_destroy(pl->metrics);
    for (int i = 0; i < PIPELINE_TOPICS; i++)
        free(pl->topics[i]);
    free(pl->dlq_topic);
    free(pl);
}

int pipeline_main(const cfg_t *cfg, const char *name, const sender_ops_t *ops)
{
    char errstr[512];
    /* The handler goes in first: a SIGTERM while starting (the consumer may have joined its
     * group already) must stop the worker cleanly, not kill it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pipeline_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pipeline_t *pl = pipeline_new(cfg, name, ops, errstr, sizeof(errstr));
    if (pl == NULL) {
        log_kv(LOG_LEVEL_ERROR, "start-up failed", "error", errstr, NULL);
        return 1;
    }
    pipeline_signal_target = pl;
    if (pipeline_signalled)
        pipeline_stop(pl);
    int rc = pipeline_run(pl);
    pipeline_destroy(pl);
    pipeline_signal_target = NULL;
    log_kv(LOG_LEVEL_INFO, "stopped", NULL);
    return rc;
}
