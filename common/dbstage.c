#include "dbstage.h"

#include "db.h"
#include "errcode.h"
#include "ledger.h"
#include "log.h"
#include "provcfg.h"
#include "quota.h"
#include "secret.h"
#include "timefmt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Jobs taken per round: one ledger statement covers them all. */
#define DBSTAGE_BATCH 1000
/* After a database error the round waits this long and is tried again; offsets do not
 * move meanwhile, so nothing is lost, only delayed. */
#define DBSTAGE_RETRY_MS 500
/* How long the thread waits for work before it looks at idle quota leases. */
#define DBSTAGE_WAIT_MS 200

/* job_t.phase */
enum { DBSTAGE_FRESH = 0, DBSTAGE_SENT = 1 };

/*
 * Two lanes, each a thread with its own connection, so that reserving the next batch and
 * recording the last one's outcomes overlap: the fresh lane (config, ledger reserve,
 * quota, submit) and the sent lane (throttle, decide, ledger finish).
 */
typedef struct dbstage_lane_s {
    dbstage_t *st;
    const char *name;
    bool fresh;
    db_t *db;
    ledger_t *ledger;
    jobq_t *q;
    jobq_node_t *retry; /* work of a round that failed on the database */
    int64_t retry_at;
    pthread_t thread;
    bool started;
    ledger_reserve_item_t reserve[DBSTAGE_BATCH];
    ledger_finish_item_t finish[DBSTAGE_BATCH];
} dbstage_lane_t;

struct dbstage_s {
    dbstage_conf_t conf;
    void *engine;
    secret_ring_t *ring;
    provcfg_t *pc; /* the fresh lane's connection */
    /* Both lanes use the quota (take, throttle); it has a connection of its own. */
    db_t *quota_db;
    quota_t *quota;
    pthread_mutex_t quota_lock;
    atomic_int stop;
    dbstage_lane_t fresh;
    dbstage_lane_t sent;
    metrics_counter_t *m_db_errors;
};

static void dbstage_release_email(const void *c)
{
    provcfg_email_release(c);
}

static void dbstage_release_sms(const void *c)
{
    provcfg_sms_release(c);
}

void dbstage_job_release(job_t *job)
{
    if (job->config != NULL && job->config_release != NULL)
        job->config_release(job->config);
    job->config = NULL;
    job->sj.config = NULL;
}

static void dbstage_to_loop(dbstage_t *st, job_t *job)
{
    job->decided_ms = timefmt_now_ms();
    jobq_push(st->conf.done_q, &job->node);
}

/* Sets the outcome of a job whose result is filled in: sent, retried on a tier, or final. */
static void dbstage_decide(dbstage_t *st, job_t *job)
{
    if (job->result.ok) {
        job->outcome = JOB_OUTCOME_SENT;
        return;
    }
    int tier = job->result.retryable ? retry_choose_tier(st->conf.policy, job->attempt,
                                                         timefmt_now_ms(), job->wait_until_ms)
                                     : -1;
    if (tier >= 0) {
        job->outcome = JOB_OUTCOME_RETRY;
        job->tier = tier;
    } else {
        job->outcome = JOB_OUTCOME_FAILED;
    }
}

static void dbstage_set_error(job_t *job, errcode_t code, const char *message)
{
    memset(&job->result, 0, sizeof(job->result));
    snprintf(job->result.error_code, sizeof(job->result.error_code), "%s", errcode_name(code));
    snprintf(job->result.error_message, sizeof(job->result.error_message), "%s", message);
    job->result.retryable = errcode_retryable(code);
}

/* A job that never reached the ledger: decided and handed to the loop. */
static void dbstage_decide_now(dbstage_t *st, job_t *job)
{
    dbstage_decide(st, job);
    dbstage_to_loop(st, job);
}

static void dbstage_db_error(dbstage_t *st, const char *what, const char *errstr)
{
    metrics_counter_inc(metrics_counter_with(st->m_db_errors));
    log_kv(LOG_LEVEL_WARN, "database unavailable; the batch waits and is tried again", "step", what,
           "error", errstr, NULL);
}

static void dbstage_requeue(jobq_node_t **list, jobq_node_t *n)
{
    n->next = *list;
    *list = n;
}

/* --- fresh jobs: config, prepare, ledger, quota, submit ------------------------------ */

static provcfg_err_t dbstage_load_config(dbstage_t *st, job_t *job, char *errstr, size_t size)
{
    const char *org = job->req->org_id;
    provcfg_err_t e;
    if (st->conf.ops->config == SENDER_CONFIG_EMAIL) {
        const provcfg_email_t *c = NULL;
        e = provcfg_get_email(st->pc, org, &c, errstr, size);
        job->config = c;
        job->config_release = dbstage_release_email;
    } else {
        const provcfg_sms_t *c = NULL;
        provcfg_sms_type_t type =
            st->conf.ops->config == SENDER_CONFIG_TWILIO ? PROVCFG_SMS_TWILIO : PROVCFG_SMS_AWS_SNS;
        e = provcfg_get_sms(st->pc, org, type, &c, errstr, size);
        job->config = c;
        job->config_release = dbstage_release_sms;
    }
    job->sj.config = job->config;
    return e;
}

/* Hands a reserved job to the quota and, when it may go, to the engine. Returns -1 when
 * the database failed (the job waits for the next round). */
static int dbstage_quota_and_submit(dbstage_t *st, job_t *job, jobq_node_t **finish_now)
{
    char errstr[256];
    int64_t wait_until = 0;
    pthread_mutex_lock(&st->quota_lock);
    quota_result_t q = quota_take(st->quota, job->req->org_id, timefmt_now_ms(), &wait_until,
                                  errstr, sizeof(errstr));
    pthread_mutex_unlock(&st->quota_lock);
    if (q == QUOTA_ERR_DB) {
        dbstage_db_error(st, "quota", errstr);
        return -1;
    }
    if (q != QUOTA_OK) {
        /* Nothing was sent: record the reservation as RESERVED with the wait. */
        bool throttled = q == QUOTA_THROTTLED;
        dbstage_set_error(job, quota_errcode(q),
                          throttled ? "the provider throttled this organisation; waiting"
                                    : "the organisation's quota is used up until its reset");
        job->wait_until_ms = wait_until;
        dbstage_requeue(finish_now, &job->node);
        return 0;
    }
    job->send_started_ms = timefmt_now_ms();
    st->conf.ops->submit(st->engine, &job->sj);
    return 0;
}

static void dbstage_round_fresh(dbstage_lane_t *lane, jobq_node_t *list)
{
    dbstage_t *st = lane->st;
    char errstr[512];
    job_t *batch[DBSTAGE_BATCH];
    size_t n = 0;
    jobq_node_t *finish_now = NULL;

    /* Provider configuration and the provider's own checks. */
    while (list) {
        job_t *job = JOB_FROM_NODE(list);
        list = list->next;
        if (job->config == NULL) {
            provcfg_err_t e = dbstage_load_config(st, job, errstr, sizeof(errstr));
            if (e == PROVCFG_ERR_DB) {
                dbstage_db_error(st, "provider config", errstr);
                dbstage_requeue(&lane->retry, &job->node);
                continue;
            }
            if (e != PROVCFG_OK) {
                dbstage_set_error(job, provcfg_errcode(e), errstr);
                dbstage_decide_now(st, job);
                continue;
            }
            if (st->conf.ops->prepare &&
                !st->conf.ops->prepare(st->engine, &job->sj, &job->result)) {
                dbstage_decide_now(st, job);
                continue;
            }
        }
        if (job->reserved) {
            /* Reserved in an earlier round whose quota step failed on the database. */
            if (dbstage_quota_and_submit(st, job, &finish_now) != 0)
                dbstage_requeue(&lane->retry, &job->node);
            continue;
        }
        batch[n++] = job;
    }

    /* One statement reserves every key of the round. */
    for (size_t i = 0; i < n; i++) {
        const request_t *req = batch[i]->req;
        lane->reserve[i] = (ledger_reserve_item_t){
            .org_id = req->org_id,
            .channel = event_channel_name(st->conf.ops->channel),
            .idempotency_key = req->idempotency_key,
            .message_id = req->message_id,
            .provider = event_provider_name(st->conf.ops->provider),
            .origin = batch[i]->origin,
        };
    }
    ledger_err_t le =
        n ? ledger_reserve(lane->ledger, lane->reserve, n, errstr, sizeof(errstr)) : LEDGER_OK;
    if (le != LEDGER_OK) {
        dbstage_db_error(st, "ledger reserve", errstr);
        for (size_t i = 0; i < n; i++)
            dbstage_requeue(&lane->retry, &batch[i]->node);
        n = 0;
    }

    for (size_t i = 0; i < n; i++) {
        job_t *job = batch[i];
        const ledger_reserve_item_t *it = &lane->reserve[i];
        switch (it->verdict) {
        case LEDGER_DUPLICATE:
            memset(&job->result, 0, sizeof(job->result));
            job->result.ok = true;
            snprintf(job->result.provider_message_id, sizeof(job->result.provider_message_id), "%s",
                     it->sent_provider_message_id ? it->sent_provider_message_id : "");
            /* Also for the same request replayed after a crash that came between
             * recording SENT and storing its offset: nothing is sent again either way,
             * and the provider's id is reported. */
            job->outcome = JOB_OUTCOME_DUPLICATE;
            dbstage_to_loop(st, job);
            break;
        case LEDGER_CONFLICT:
            dbstage_set_error(job, ERRCODE_IDEMPOTENCY_CONFLICT,
                              "another request with this idempotency key is being sent");
            dbstage_decide_now(st, job);
            break;
        case LEDGER_INVALID:
            dbstage_set_error(job, ERRCODE_INVALID_REQUEST,
                              "the ledger refused the request's keys");
            dbstage_decide_now(st, job);
            break;
        case LEDGER_SEND:
        case LEDGER_RESEND:
            job->reserved = true;
            job->resend = it->verdict == LEDGER_RESEND;
            job->ledger_attempts = it->attempts;
            if (job->resend)
                log_kv(LOG_LEVEL_WARN,
                       "sending again a request whose earlier send may have reached the "
                       "provider (its worker stopped before recording the outcome)",
                       "message_id", job->req->message_id, "org_id", job->req->org_id, NULL);
            if (dbstage_quota_and_submit(st, job, &finish_now) != 0)
                dbstage_requeue(&lane->retry, &job->node);
            break;
        }
    }
    while (finish_now) {
        jobq_node_t *next = finish_now->next;
        JOB_FROM_NODE(finish_now)->phase = DBSTAGE_SENT;
        jobq_push(st->sent.q, finish_now);
        finish_now = next;
    }
}

/* --- sent jobs: decide, record in the ledger, throttle, hand to the loop -------------- */

static void dbstage_round_sent(dbstage_lane_t *lane, jobq_node_t *list)
{
    dbstage_t *st = lane->st;
    char errstr[512];
    job_t *batch[DBSTAGE_BATCH];
    size_t n = 0;

    while (list) {
        job_t *job = JOB_FROM_NODE(list);
        list = list->next;
        if (job->result.throttled && !job->throttle_recorded) {
            int64_t until = 0;
            pthread_mutex_lock(&st->quota_lock);
            int rc = quota_throttle(st->quota, job->req->org_id, job->result.retry_after_ms,
                                    timefmt_now_ms(), &until, errstr, sizeof(errstr));
            pthread_mutex_unlock(&st->quota_lock);
            if (rc != 0) {
                dbstage_db_error(st, "quota throttle", errstr);
                dbstage_requeue(&lane->retry, &job->node);
                continue;
            }
            job->throttle_recorded = true;
            if (until > job->wait_until_ms)
                job->wait_until_ms = until;
        }
        if (job->outcome == JOB_OUTCOME_NONE)
            dbstage_decide(st, job);
        batch[n++] = job;
    }
    if (n == 0)
        return;

    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        job_t *job = batch[i];
        ledger_state_t state = job->outcome == JOB_OUTCOME_SENT    ? LEDGER_STATE_SENT
                               : job->outcome == JOB_OUTCOME_RETRY ? LEDGER_STATE_RESERVED
                                                                   : LEDGER_STATE_FAILED;
        lane->finish[m++] = (ledger_finish_item_t){
            .org_id = job->req->org_id,
            .channel = event_channel_name(st->conf.ops->channel),
            .idempotency_key = job->req->idempotency_key,
            .origin = job->origin,
            .state = state,
            .attempts = job->ledger_attempts,
            .provider_message_id =
                job->result.provider_message_id[0] ? job->result.provider_message_id : NULL,
            .last_error_code = job->result.error_code[0] ? job->result.error_code : NULL,
        };
    }
    ledger_err_t le = ledger_finish(lane->ledger, lane->finish, m, errstr, sizeof(errstr));
    if (le != LEDGER_OK) {
        dbstage_db_error(st, "ledger finish", errstr);
        for (size_t i = 0; i < n; i++)
            dbstage_requeue(&lane->retry, &batch[i]->node);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        job_t *job = batch[i];
        if (lane->finish[i].result == LEDGER_FINISH_TAKEN_OVER)
            log_kv(LOG_LEVEL_WARN,
                   "the ledger row was taken over before this outcome was "
                   "recorded; publishing it anyway",
                   "message_id", job->req->message_id, "org_id", job->req->org_id, NULL);
        else if (lane->finish[i].result == LEDGER_FINISH_APPLIED_NO_PMID)
            log_kv(LOG_LEVEL_ERROR,
                   "provider message id already recorded for another row; "
                   "webhooks for it will not find this request",
                   "message_id", job->req->message_id, "provider_message_id",
                   job->result.provider_message_id, NULL);
        dbstage_to_loop(st, job);
    }
}

/* --- the lanes ------------------------------------------------------------------------ */

static void dbstage_lane_round(dbstage_lane_t *lane, jobq_node_t *list)
{
    if (lane->fresh)
        dbstage_round_fresh(lane, list);
    else
        dbstage_round_sent(lane, list);
}

static void *dbstage_lane_thread(void *arg)
{
    dbstage_lane_t *lane = arg;
    dbstage_t *st = lane->st;
    char errstr[256];
    int64_t next_idle = 0;
    while (!atomic_load(&st->stop)) {
        int64_t now = timefmt_mono_ms();
        if (lane->retry && now >= lane->retry_at) {
            jobq_node_t *again = lane->retry;
            lane->retry = NULL;
            lane->retry_at = 0;
            dbstage_lane_round(lane, again);
        }
        jobq_node_t *list = jobq_take(lane->q, DBSTAGE_BATCH, DBSTAGE_WAIT_MS);
        if (list)
            dbstage_lane_round(lane, list);
        /* Work that failed waits DBSTAGE_RETRY_MS from its first failure. */
        if (lane->retry && lane->retry_at == 0)
            lane->retry_at = timefmt_mono_ms() + DBSTAGE_RETRY_MS;
        if (lane->fresh && now >= next_idle) {
            pthread_mutex_lock(&st->quota_lock);
            if (quota_release_idle(st->quota, timefmt_now_ms(), errstr, sizeof(errstr)) != 0)
                log_kv(LOG_LEVEL_WARN, "handing back idle quota failed", "error", errstr, NULL);
            pthread_mutex_unlock(&st->quota_lock);
            next_idle = now + 1000;
        }
    }
    return NULL;
}

static db_t *dbstage_connect(const dbstage_conf_t *conf, char *errstr, size_t errstr_size)
{
    const cfg_t *cfg = conf->cfg;
    return db_new(cfg_str(cfg, CFG_DATABASE_URL), conf->name,
                  (int)cfg_int(cfg, CFG_DB_CONNECT_TIMEOUT_MS),
                  (int)cfg_int(cfg, CFG_DB_STATEMENT_TIMEOUT_MS), errstr, errstr_size);
}

static int dbstage_lane_init(dbstage_t *st, dbstage_lane_t *lane, bool fresh, char *errstr,
                             size_t errstr_size)
{
    lane->st = st;
    lane->fresh = fresh;
    lane->name = fresh ? "fresh" : "sent";
    lane->q = jobq_new();
    lane->db = dbstage_connect(&st->conf, errstr, errstr_size);
    if (lane->db == NULL)
        return -1;
    lane->ledger =
        ledger_new(lane->db, cfg_int(st->conf.cfg, CFG_LEDGER_STALE_MS), errstr, errstr_size);
    return lane->ledger ? 0 : -1;
}

static quota_kind_t dbstage_quota_kind(const sender_ops_t *ops)
{
    switch (ops->config) {
    case SENDER_CONFIG_TWILIO:
        return QUOTA_KIND_TWILIO;
    case SENDER_CONFIG_SNS:
        return QUOTA_KIND_SNS;
    default:
        return QUOTA_KIND_EMAIL;
    }
}

dbstage_t *dbstage_new(const dbstage_conf_t *conf, char *errstr, size_t errstr_size)
{
    const cfg_t *cfg = conf->cfg;
    dbstage_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        abort();
    st->conf = *conf;
    atomic_init(&st->stop, 0);
    pthread_mutex_init(&st->quota_lock, NULL);
    st->m_db_errors = metrics_counter_new(conf->metrics, "notify_db_errors_total",
                                          "Rounds of the database stage that failed and waited",
                                          errstr, errstr_size, NULL);
    st->ring = secret_ring_from_cfg(cfg, errstr, errstr_size);
    if (st->ring == NULL)
        goto fail;
    if (dbstage_lane_init(st, &st->fresh, true, errstr, errstr_size) != 0 ||
        dbstage_lane_init(st, &st->sent, false, errstr, errstr_size) != 0)
        goto fail;
    st->pc = provcfg_new(st->fresh.db, st->ring, cfg_int(cfg, CFG_PROVIDER_CONFIG_TTL_MS), errstr,
                         errstr_size);
    if (st->pc == NULL)
        goto fail;
    st->quota_db = dbstage_connect(conf, errstr, errstr_size);
    if (st->quota_db == NULL)
        goto fail;
    st->quota = quota_new(st->quota_db, dbstage_quota_kind(conf->ops), NULL, conf->metrics, errstr,
                          errstr_size);
    if (st->quota == NULL)
        goto fail;
    dbstage_lane_t *lanes[] = {&st->fresh, &st->sent};
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&lanes[i]->thread, NULL, dbstage_lane_thread, lanes[i]) != 0)
            abort();
        lanes[i]->started = true;
    }
    return st;
fail:
    dbstage_destroy(st);
    return NULL;
}

void dbstage_set_engine(dbstage_t *st, void *engine)
{
    st->engine = engine;
}

void dbstage_push(dbstage_t *st, job_t *job)
{
    job->phase = DBSTAGE_FRESH;
    jobq_push(st->fresh.q, &job->node);
}

void dbstage_sender_done(sender_job_t *sj, const sender_result_t *result, void *opaque)
{
    dbstage_t *st = opaque;
    job_t *job = (job_t *)(void *)((char *)sj - offsetof(job_t, sj));
    job->result = *result;
    /* A refused credential is most often a rotated one: the next request of the
     * organisation reads the row again rather than the cached copy (provcfg is
     * thread-safe, and this runs on the engine's thread). */
    if (!result->ok && errcode_credentials_refused(result->error_code)) {
        provcfg_invalidate(st->pc, job->req->org_id);
        log_kv(LOG_LEVEL_ERROR,
               "the provider refused the organisation's credentials; its "
               "configuration is read again at the next request",
               "org_id", job->req->org_id, "error_code", result->error_code, "error",
               result->error_message, NULL);
    }
    job->phase = DBSTAGE_SENT;
    jobq_push(st->sent.q, &job->node);
}

/* Hands every job of a list back to the loop undecided (not published, not stored). */
static void dbstage_abandon(dbstage_t *st, jobq_node_t *list)
{
    while (list) {
        jobq_node_t *next = list->next;
        job_t *job = JOB_FROM_NODE(list);
        job->outcome = JOB_OUTCOME_NONE;
        jobq_push(st->conf.done_q, list);
        list = next;
    }
}

static void dbstage_lane_destroy(dbstage_lane_t *lane)
{
    /* What is left was never decided: Kafka delivers it again, and a reservation it made
     * is answered RESEND then. */
    dbstage_abandon(lane->st, lane->retry);
    if (lane->q) {
        dbstage_abandon(lane->st, jobq_take(lane->q, SIZE_MAX, 0));
        jobq_destroy(lane->q);
    }
    ledger_destroy(lane->ledger);
    db_destroy(lane->db);
}

/*
 * Records once more, from the calling thread, what the engine reported while the lanes
 * were stopping: those messages did reach the provider, and recording them (where the
 * database answers) spares a second send after the restart. What still fails is
 * abandoned with the rest.
 */
static void dbstage_final_round(dbstage_lane_t *lane)
{
    if (!lane->started)
        return;
    jobq_node_t *list = lane->retry;
    lane->retry = NULL;
    jobq_node_t *queued = jobq_take(lane->q, SIZE_MAX, 0);
    while (queued) {
        jobq_node_t *next = queued->next;
        dbstage_requeue(&list, queued);
        queued = next;
    }
    while (list) {
        jobq_node_t *chunk = list, *tail = list;
        for (size_t n = 1; n < DBSTAGE_BATCH && tail->next; n++)
            tail = tail->next;
        list = tail->next;
        tail->next = NULL;
        dbstage_round_sent(lane, chunk);
    }
}

void dbstage_destroy(dbstage_t *st)
{
    char errstr[256];
    if (st == NULL)
        return;
    atomic_store(&st->stop, 1);
    dbstage_lane_t *lanes[] = {&st->fresh, &st->sent};
    for (int i = 0; i < 2; i++) {
        if (lanes[i]->started) {
            jobq_wake(lanes[i]->q);
            pthread_join(lanes[i]->thread, NULL);
        }
    }
    dbstage_final_round(&st->sent);
    provcfg_destroy(st->pc);
    dbstage_lane_destroy(&st->fresh);
    dbstage_lane_destroy(&st->sent);
    if (st->quota && quota_release_all(st->quota, errstr, sizeof(errstr)) != 0)
        log_kv(LOG_LEVEL_WARN, "handing back leased quota failed", "error", errstr, NULL);
    quota_destroy(st->quota);
    db_destroy(st->quota_db);
    secret_ring_destroy(st->ring);
    pthread_mutex_destroy(&st->quota_lock);
    free(st);
}
