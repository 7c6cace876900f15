#include "smtp_engine.h"

#include "crypto.h"
#include "hex.h"
#include "log.h"
#include "provcfg.h"
#include "smtp_message.h"
#include "smtp_session.h"
#include "smtp_tls.h"
#include "timefmt.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The key of a pool: the org id and a digest of everything a session depends on. */
#define SMTP_POOL_KEY_SIZE (REQUEST_ORG_ID_MAX + 2 + 2 * CRYPTO_SHA256_SIZE)

/* A job waiting in a pool's queue. */
typedef struct smtp_item_s {
    struct smtp_item_s *next;
    sender_job_t *job;
} smtp_item_t;

typedef struct smtp_engine_s smtp_engine_t;

typedef struct smtp_pool_s {
    struct smtp_pool_s *next;
    smtp_engine_t *engine;
    char key[SMTP_POOL_KEY_SIZE];
    pthread_cond_t cond; /* jobs arrived, or the engine stops */
    smtp_item_t *head, *tail;
    int queued;
    int threads; /* running */
    int idle;    /* running and waiting for a job */
    int max;     /* the organisation's pool_size */
} smtp_pool_t;

struct smtp_engine_s {
    sender_done_cb done;
    void *done_opaque;
    int timeout_ms;
    int idle_ms;
    pthread_mutex_t lock;
    pthread_cond_t exited; /* a thread ended */
    smtp_pool_t *pools;
    int threads;
    bool stopping;
    metrics_counter_t *m_connections;
    metrics_counter_t *m_connect_failures;
    metrics_counter_t *m_rejected;
};

/* --- results ---------------------------------------------------------------------- */

static void smtp_engine_fail(sender_result_t *r, const smtp_failure_t *f, bool data_sent)
{
    smtpreply_verdict_t v = smtp_failure_verdict(f);
    memset(r, 0, sizeof(*r));
    snprintf(r->error_code, sizeof(r->error_code), "%s", errcode_name(v.code));
    r->retryable = v.retryable;
    if (f->code)
        snprintf(r->error_message, sizeof(r->error_message), "%d %s (reply to %s)", f->code,
                 f->text, smtpreply_stage_name(f->stage));
    else
        snprintf(r->error_message, sizeof(r->error_message), "%s%s", f->text,
                 data_sent ? " (after the message was sent: the server may have kept it)" : "");
}

/* --- one job ---------------------------------------------------------------------- */

static void smtp_engine_server(const smtp_engine_t *e, const provcfg_email_t *cfg,
                               smtp_server_t *srv)
{
    memset(srv, 0, sizeof(*srv));
    srv->host = cfg->smtp_host;
    srv->port = cfg->smtp_port > 0 ? cfg->smtp_port : 587;
    srv->username = cfg->smtp_username;
    srv->password = cfg->smtp_password;
    srv->implicit_tls = cfg->use_ssl;
    srv->starttls = cfg->use_tls && !cfg->use_ssl;
    srv->ca_file = cfg->ca_file;
    srv->timeout_ms = e->timeout_ms;
}

/* Opens a session when the thread has none that works. Returns it, or NULL with `r`. */
static smtp_session_t *smtp_engine_connect(smtp_engine_t *e, smtp_session_t **sess,
                                           const provcfg_email_t *cfg, sender_result_t *r,
                                           bool *fresh)
{
    if (*sess && smtp_session_usable(*sess)) {
        *fresh = false;
        return *sess;
    }
    smtp_session_close(*sess);
    smtp_server_t srv;
    smtp_failure_t f;
    smtp_engine_server(e, cfg, &srv);
    *sess = smtp_session_open(&srv, &f);
    *fresh = true;
    if (*sess == NULL) {
        metrics_counter_inc(e->m_connect_failures);
        smtp_engine_fail(r, &f, false);
        log_kv(LOG_LEVEL_WARN, "SMTP session not opened", "org_id", cfg->org_id, "host",
               cfg->smtp_host, "error_code", r->error_code, "error", r->error_message, NULL);
        return NULL;
    }
    metrics_counter_inc(e->m_connections);
    return *sess;
}

static void smtp_engine_log_rejected(smtp_engine_t *e, const sender_job_t *job,
                                     const smtp_message_t *m, const smtp_rcpt_result_t *rcpt)
{
    for (size_t i = 0; i < m->rcpt_count; i++) {
        if (rcpt[i].code == 250)
            continue;
        char code[16];
        snprintf(code, sizeof(code), "%d", rcpt[i].code);
        metrics_counter_inc(e->m_rejected);
        log_kv(LOG_LEVEL_WARN, "recipient refused; the message went to the others", "message_id",
               job->req->message_id, "org_id", job->req->org_id, "recipient", m->rcpts[i],
               "smtp_code", code, "reply", rcpt[i].text, NULL);
    }
}

static void smtp_engine_run_job(smtp_engine_t *e, smtp_session_t **sess, sender_job_t *job)
{
    const provcfg_email_t *cfg = job->config;
    sender_result_t r;
    smtp_message_t m;
    smtp_rcpt_result_t rcpt[3 * EMAILADDR_LIST_MAX + 1];
    memset(&r, 0, sizeof(r));

    if (smtp_message_build(job->req, cfg, MIME_MAX_SIZE, timefmt_now_ms(), &m, &r) != 0)
        goto report;
    for (int round = 0; round < 2; round++) {
        bool fresh;
        smtp_session_t *s = smtp_engine_connect(e, sess, cfg, &r, &fresh);
        if (s == NULL)
            break;
        size_t limit = smtp_session_max_size(s);
        if (limit > 0 && m.len > limit) {
            smtp_failure_t f = {.stage = SMTPREPLY_MAIL, .local = ERRCODE_MESSAGE_TOO_LARGE};
            snprintf(f.text, sizeof(f.text),
                     "the message (%zu octets) is over the server's SIZE %zu", m.len, limit);
            smtp_engine_fail(&r, &f, false);
            break;
        }
        smtp_failure_t f;
        bool data_sent;
        if (smtp_session_send(s, m.from, m.rcpts, m.rcpt_count, m.data, m.len, rcpt, &f,
                              &data_sent) == 0) {
            r.ok = true;
            /* The id without its angle brackets. */
            snprintf(r.provider_message_id, sizeof(r.provider_message_id), "%.*s",
                     (int)strlen(m.message_id) - 2, m.message_id + 1);
            smtp_engine_log_rejected(e, job, &m, rcpt);
            break;
        }
        smtp_engine_fail(&r, &f, data_sent);
        /* A kept session the server had closed meanwhile (idle timeout, 421): nothing was
         * handed over, so the message goes once more on a new connection. */
        bool closed = !smtp_session_usable(s) && (f.code == 0 || f.code == 421);
        if (!(closed && !fresh && !data_sent))
            break;
    }
    smtp_message_free(&m);

report:
    e->done(job, &r, e->done_opaque);
}

/* --- threads ---------------------------------------------------------------------- */

static void *smtp_engine_thread(void *arg)
{
    smtp_pool_t *p = arg;
    smtp_engine_t *e = p->engine;
    smtp_session_t *sess = NULL;

    pthread_mutex_lock(&e->lock);
    for (;;) {
        if (p->head == NULL) {
            if (e->stopping)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += e->idle_ms / 1000;
            ts.tv_nsec += (long)(e->idle_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            p->idle++;
            int rc = pthread_cond_timedwait(&p->cond, &e->lock, &ts);
            p->idle--;
            if (rc != 0 && p->head == NULL)
                break; /* idle for SMTP_IDLE_MS: close the session and end */
            continue;
        }
        smtp_item_t *it = p->head;
        p->head = it->next;
        p->queued--;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&e->lock);
        smtp_engine_run_job(e, &sess, it->job);
        free(it);
        pthread_mutex_lock(&e->lock);
    }
    p->threads--;
    e->threads--;
    pthread_cond_broadcast(&e->exited);
    pthread_mutex_unlock(&e->lock);
    smtp_session_close(sess);
    return NULL;
}

/* Starts a thread for `p`; called with the lock held. */
static void smtp_engine_spawn(smtp_engine_t *e, smtp_pool_t *p)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, smtp_engine_thread, p) == 0) {
        p->threads++;
        e->threads++;
    } else if (p->threads == 0) {
        abort(); /* no thread to send with at all: the supervisor restarts the worker */
    }
    pthread_attr_destroy(&attr);
}

static void smtp_engine_key(const provcfg_email_t *cfg, char *key, size_t size)
{
    /* Every field a session depends on, NUL-separated, hashed: the password never sits
     * in memory longer than the row does. */
    char port[16], flags[4];
    snprintf(port, sizeof(port), "%d", cfg->smtp_port);
    snprintf(flags, sizeof(flags), "%d%d", cfg->use_tls ? 1 : 0, cfg->use_ssl ? 1 : 0);
    const char *parts[] = {cfg->smtp_host,     port,  cfg->smtp_username,
                           cfg->smtp_password, flags, cfg->ca_file};
    size_t total = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        total += (parts[i] ? strlen(parts[i]) : 0) + 1;
    char *buf = malloc(total);
    if (buf == NULL)
        abort();
    size_t n = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t l = parts[i] ? strlen(parts[i]) : 0;
        if (l)
            memcpy(buf + n, parts[i], l);
        n += l;
        buf[n++] = '\0';
    }
    unsigned char sum[CRYPTO_SHA256_SIZE];
    crypto_sha256(buf, n, sum);
    OPENSSL_cleanse(buf, n);
    free(buf);
    char hexsum[2 * CRYPTO_SHA256_SIZE + 1];
    hex_encode(sum, sizeof(sum), hexsum, sizeof(hexsum));
    snprintf(key, size, "%s/%s", cfg->org_id, hexsum);
}

/* --- sender_ops_t ----------------------------------------------------------------- */

static void *smtp_engine_create(const cfg_t *cfg, metrics_registry_t *metrics, sender_done_cb done,
                                void *done_opaque, char *errstr, size_t errstr_size)
{
    smtp_tls_global_init();
    smtp_engine_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        abort();
    e->done = done;
    e->done_opaque = done_opaque;
    e->timeout_ms = (int)cfg_int(cfg, CFG_SMTP_TIMEOUT_MS);
    e->idle_ms = (int)cfg_int(cfg, CFG_SMTP_IDLE_MS);
    smtp_session_global_init(e->timeout_ms);
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->exited, NULL);
    char err[256];
    e->m_connections = metrics_counter_new(metrics, "notify_smtp_connections_total",
                                           "SMTP sessions opened (connected, TLS verified, "
                                           "authenticated).",
                                           err, sizeof(err), NULL);
    e->m_connect_failures = metrics_counter_new(
        metrics, "notify_smtp_connect_failures_total",
        "SMTP sessions that could not be opened (connect, TLS, AUTH).", err, sizeof(err), NULL);
    e->m_rejected = metrics_counter_new(
        metrics, "notify_smtp_recipients_rejected_total",
        "Recipients refused by the server in messages sent to other recipients.", err, sizeof(err),
        NULL);
    return e;
}

static bool smtp_engine_prepare(void *engine, sender_job_t *job, sender_result_t *result)
{
    smtp_message_t m;
    if (smtp_message_build(job->req, job->config, MIME_MAX_SIZE, timefmt_now_ms(), &m, result) != 0)
        return false;
    smtp_message_free(&m);
    return true;
}

static void smtp_engine_submit(void *engine, sender_job_t *job)
{
    smtp_engine_t *e = engine;
    const provcfg_email_t *cfg = job->config;
    char key[SMTP_POOL_KEY_SIZE];
    smtp_engine_key(cfg, key, sizeof(key));
    smtp_item_t *it = calloc(1, sizeof(*it));
    if (it == NULL)
        abort();
    it->job = job;

    pthread_mutex_lock(&e->lock);
    smtp_pool_t *p = e->pools;
    while (p && strcmp(p->key, key) != 0)
        p = p->next;
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL)
            abort();
        p->engine = e;
        snprintf(p->key, sizeof(p->key), "%s", key);
        pthread_cond_init(&p->cond, NULL);
        p->next = e->pools;
        e->pools = p;
    }
    p->max = cfg->pool_size > 0 ? cfg->pool_size : 5;
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    p->queued++;
    /* A waiting thread takes it; more jobs than waiting threads start another thread,
     * up to the organisation's pool size. */
    if (p->idle > 0)
        pthread_cond_signal(&p->cond);
    if (p->queued > p->idle && p->threads < p->max)
        smtp_engine_spawn(e, p);
    pthread_mutex_unlock(&e->lock);
}

static void smtp_engine_destroy(void *engine)
{
    smtp_engine_t *e = engine;
    pthread_mutex_lock(&e->lock);
    /* Threads send what is queued, then end. */
    e->stopping = true;
    for (smtp_pool_t *p = e->pools; p; p = p->next)
        pthread_cond_broadcast(&p->cond);
    while (e->threads > 0)
        pthread_cond_wait(&e->exited, &e->lock);
    pthread_mutex_unlock(&e->lock);
    while (e->pools) {
        smtp_pool_t *p = e->pools;
        e->pools = p->next;
        pthread_cond_destroy(&p->cond);
        free(p);
    }
    pthread_cond_destroy(&e->exited);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

const sender_ops_t smtp_sender = {
    .name = "smtp",
    .channel = EVENT_CHANNEL_EMAIL,
    .provider = EVENT_PROVIDER_SMTP,
    .request = REQUEST_CHANNEL_EMAIL,
    .config = SENDER_CONFIG_EMAIL,
    .create = smtp_engine_create,
    .prepare = smtp_engine_prepare,
    .submit = smtp_engine_submit,
    .destroy = smtp_engine_destroy,
};
