#include "twilio_engine.h"

#include "log.h"
#include "provcfg.h"
#include "timefmt.h"
#include "twilio_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Twilio's answers are small JSON documents; anything past this is not read. */
#define TWILIO_ENGINE_BODY_MAX (64 * 1024)
/* A recycled transfer keeps an answer buffer up to this size; a larger one is freed. */
#define TWILIO_ENGINE_BODY_KEEP 4096
/* Socket events taken from the epoll set per wait. */
#define TWILIO_ENGINE_EVENTS 64
/* The longest wait when curl has no timer pending: submit() and destroy() wake the thread
 * through its eventfd, so this only bounds how long a lost wake-up could go unnoticed. */
#define TWILIO_ENGINE_IDLE_MS 1000

/* The two headers every request carries. curl only reads a header list, so these nodes are
 * built once, and each transfer puts its own X-Idempotency-Key node in front of them. */
static char twilio_engine_accept[] = "Accept: application/json";
/* curl would wait for "100 Continue" before a large body; Twilio never needs it. */
static char twilio_engine_expect[] = "Expect:";
static struct curl_slist twilio_engine_expect_node = {twilio_engine_expect, NULL};
static struct curl_slist twilio_engine_fixed_headers = {twilio_engine_accept,
                                                        &twilio_engine_expect_node};

typedef struct twilio_engine_s twilio_engine_t;

/* One request on a connection, built and run by the curl thread. Once reported it goes
 * back to the thread's free list with its form and answer buffer: there are never more
 * than TWILIO_MAX_CONNECTIONS of them, a steady flow of messages allocates nothing here,
 * and nothing the thread allocates is freed by another thread (which would contend for
 * the thread's malloc arena). */
typedef struct twilio_xfer_s {
    struct twilio_xfer_s *next;
    sender_job_t *job;
    CURL *easy;
    twilio_form_t *form;
    struct curl_slist idem_node; /* X-Idempotency-Key when there is one, then the fixed ones */
    char idem[3 * REQUEST_IDEMPOTENCY_KEY_MAX * 4 + 32];
    char url[TWILIO_API_URL_MAX];
    char *body;
    size_t body_len;
    size_t body_cap;
    char retry_after[64];
    char errbuf[CURL_ERROR_SIZE];
} twilio_xfer_t;

struct twilio_engine_s {
    sender_done_cb done;
    void *done_opaque;
    char *base_url;
    char *public_base; /* PUBLIC_BASE_URL, "" when not set */
    long timeout_ms;
    size_t max_active;

    CURLM *multi;
    pthread_t thread;
    int epfd;    /* the sockets curl asks to watch, and wake_fd */
    int wake_fd; /* an eventfd through which submit() and destroy() wake the curl thread */

    /* Handed from submit() to the curl thread: jobs linked through engine_data. */
    pthread_mutex_t lock;
    sender_job_t *incoming, *incoming_tail;
    bool stop;

    /* The curl thread's own. */
    sender_job_t *waiting, *waiting_tail; /* taken in, not yet on a connection */
    twilio_xfer_t *free_list;             /* reported transfers, ready for reuse */
    size_t active;
    int64_t timer_at; /* curl's next deadline (monotonic ms): -1 none, 0 due now */
    CURL **spare;     /* easy handles kept for reuse */
    size_t spare_count;

    metrics_counter_t *m_requests;
    metrics_histogram_t *m_seconds;
};

static void twilio_engine_xfer_free(twilio_xfer_t *x)
{
    twilio_form_destroy(x->form);
    free(x->body);
    free(x);
}

/* A transfer for the next request: a reported one when there is one, else a new one. */
static twilio_xfer_t *twilio_engine_xfer_get(twilio_engine_t *eng)
{
    twilio_xfer_t *x = eng->free_list;

    if (x) {
        eng->free_list = x->next;
    } else {
        x = calloc(1, sizeof(*x));
        if (x == NULL)
            abort();
        x->form = twilio_form_new();
    }
    x->next = NULL;
    x->easy = NULL;
    x->body_len = 0;
    x->retry_after[0] = '\0';
    x->errbuf[0] = '\0';
    return x;
}

/* A reported transfer goes back to the free list; an unusually large answer buffer is not
 * kept. */
static void twilio_engine_xfer_put(twilio_engine_t *eng, twilio_xfer_t *x)
{
    x->job = NULL;
    if (x->body_cap > TWILIO_ENGINE_BODY_KEEP) {
        free(x->body);
        x->body = NULL;
        x->body_cap = 0;
    }
    x->next = eng->free_list;
    eng->free_list = x;
}

static size_t twilio_engine_on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    twilio_xfer_t *x = opaque;
    size_t n = size * nmemb;
    size_t room = TWILIO_ENGINE_BODY_MAX - x->body_len;
    size_t take = n < room ? n : room;
    if (take > 0) {
        if (x->body_len + take + 1 > x->body_cap) {
            size_t cap = x->body_cap ? x->body_cap : 1024;
            while (cap < x->body_len + take + 1)
                cap *= 2;
            char *b = realloc(x->body, cap);
            if (b == NULL)
                abort();
            x->body = b;
            x->body_cap = cap;
        }
        memcpy(x->body + x->body_len, data, take);
        x->body_len += take;
        x->body[x->body_len] = '\0';
    }
    return n; /* the rest is dropped, not an error: the start says what happened */
}

static size_t twilio_engine_on_header(char *data, size_t size, size_t nmemb, void *opaque)
{
    twilio_xfer_t *x = opaque;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        size_t vlen = n - (sizeof(name) - 1);
        const char *v = data + sizeof(name) - 1;
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen < sizeof(x->retry_after)) {
            memcpy(x->retry_after, v, vlen);
            x->retry_after[vlen] = '\0';
        }
    }
    return n;
}

/* `seconds` is curl's own measure of the transfer (0 for one never started), which spares
 * reading the clock around every request. */
static void twilio_engine_report(twilio_engine_t *eng, twilio_xfer_t *x, const sender_result_t *r,
                                 const char *outcome, double seconds)
{
    metrics_counter_inc(metrics_counter_with(eng->m_requests, outcome));
    metrics_histogram_observe(eng->m_seconds, seconds);
    eng->done(x->job, r, eng->done_opaque);
}

/* Options every request has: set once on a new handle, kept while the handle is reused
 * (curl resets its per-transfer state itself). */
static CURL *twilio_engine_easy_new(const twilio_engine_t *eng)
{
    CURL *e = curl_easy_init();
    if (e == NULL)
        abort();
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, eng->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "notify-delivery/" NOTIFY_VERSION " twilio-worker");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, twilio_engine_on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, twilio_engine_on_header);
    return e;
}

/* Builds the request of a job and puts it on a connection: an easy handle (a spare one
 * when there is one). A request that cannot be built is reported at once. */
static void twilio_engine_start(twilio_engine_t *eng, sender_job_t *job)
{
    const provcfg_sms_t *cfg = job->config;
    const request_t *req = job->req;
    twilio_xfer_t *x = twilio_engine_xfer_get(eng);
    char callback[REQUEST_URL_MAX + 256];
    static const char idem_name[] = "X-Idempotency-Key: ";
    sender_result_t r;

    x->job = job;
    callback[0] = '\0';
    if (eng->public_base[0] && twilio_api_status_callback_url(eng->public_base, req->org_id,
                                                              callback, sizeof(callback)) != 0)
        callback[0] = '\0';
    if (twilio_api_messages_url(eng->base_url, cfg->twilio_account_sid, x->url, sizeof(x->url)) !=
            0 ||
        twilio_api_message_form_fill(x->form, req, cfg->twilio_from_number,
                                     callback[0] ? callback : NULL) != 0) {
        memset(&r, 0, sizeof(r));
        snprintf(r.error_code, sizeof(r.error_code), "%s", errcode_name(ERRCODE_CONFIG_ERROR));
        snprintf(r.error_message, sizeof(r.error_message),
                 "the Twilio request cannot be built (account SID or form too long)");
        twilio_engine_report(eng, x, &r, "not_sent", 0.0);
        twilio_engine_xfer_put(eng, x);
        return;
    }
    x->idem_node.data = NULL;
    x->idem_node.next = &twilio_engine_fixed_headers;
    memcpy(x->idem, idem_name, sizeof(idem_name) - 1);
    if (twilio_api_idempotency_header(req->idempotency_key, x->idem + sizeof(idem_name) - 1,
                                      sizeof(x->idem) - (sizeof(idem_name) - 1)) == 0)
        x->idem_node.data = x->idem;

    CURL *e = eng->spare_count > 0 ? eng->spare[--eng->spare_count] : twilio_engine_easy_new(eng);
    x->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_USERNAME, cfg->twilio_account_sid);
    curl_easy_setopt(e, CURLOPT_PASSWORD, cfg->twilio_auth_token);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)twilio_form_len(x->form));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, twilio_form_data(x->form));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER,
                     x->idem_node.data ? &x->idem_node : &twilio_engine_fixed_headers);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(eng->multi, e) != CURLM_OK)
        abort();
    eng->active++;
}

static twilio_api_fail_t twilio_engine_fail_kind(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return TWILIO_API_FAIL_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return TWILIO_API_FAIL_TLS;
    case CURLE_OPERATION_TIMEDOUT:
        return TWILIO_API_FAIL_TIMEOUT;
    default:
        return TWILIO_API_FAIL_OTHER;
    }
}

static void twilio_engine_finish(twilio_engine_t *eng, CURL *e, CURLcode rc)
{
    twilio_xfer_t *x = NULL;
    sender_result_t r;
    const char *outcome;
    curl_off_t total_us = 0;

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total_us);
    curl_multi_remove_handle(eng->multi, e);
    eng->active--;
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        /* The wall clock matters only to a Retry-After given as an HTTP date. */
        twilio_api_classify(status, x->body, x->body_len, x->retry_after[0] ? x->retry_after : NULL,
                            x->retry_after[0] ? timefmt_now_ms() : 0, &r);
        outcome = status >= 200 && status <= 299 ? "accepted"
                  : status == 429                ? "throttled"
                  : status >= 500                ? "server_error"
                                                 : "refused";
    } else {
        char detail[CURL_ERROR_SIZE + 64];
        snprintf(detail, sizeof(detail), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
        twilio_api_classify_failure(twilio_engine_fail_kind(rc), detail, &r);
        outcome = "transport_error";
    }
    x->easy = NULL;
    /* The handle still points at this transfer's buffers: nothing reads them until the
     * next start sets them again. */
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    eng->spare[eng->spare_count++] = e;
    twilio_engine_report(eng, x, &r, outcome, (double)total_us / 1e6);
    twilio_engine_xfer_put(eng, x);
}

/* CURLMOPT_SOCKETFUNCTION: keeps the epoll set to the sockets curl waits on, so that a
 * wait costs the same whether one connection is busy or all of them. */
static int twilio_engine_on_socket(CURL *easy, curl_socket_t s, int what, void *opaque,
                                   void *socketp)
{
    twilio_engine_t *eng = opaque;
    struct epoll_event ev;
    int rc = -1;
    (void)easy;

    if (what == CURL_POLL_REMOVE) {
        /* It fails only when curl closed the socket first, which took it out of the set. */
        epoll_ctl(eng->epfd, EPOLL_CTL_DEL, s, NULL);
        rc = 0;
        goto out;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.fd = s;
    /* socketp marks a socket already in the set; the number of a socket curl closed may come
     * back for a new one, hence the fallback either way. */
    if (epoll_ctl(eng->epfd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) != 0 &&
        epoll_ctl(eng->epfd, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev) != 0) {
        log_kv(LOG_LEVEL_ERROR, "epoll_ctl failed on a Twilio connection", "error", strerror(errno),
               NULL);
        goto out;
    }
    if (socketp == NULL)
        curl_multi_assign(eng->multi, s, eng);
    rc = 0;
out:
    return rc;
}

/* CURLMOPT_TIMERFUNCTION: curl's next deadline, which bounds the thread's next wait. curl
 * calls it only when the deadline changes, so it is kept as a point in time. */
static int twilio_engine_on_timer(CURLM *multi, long timeout_ms, void *opaque)
{
    twilio_engine_t *eng = opaque;
    (void)multi;
    eng->timer_at = timeout_ms < 0 ? -1 : timeout_ms == 0 ? 0 : timefmt_mono_ms() + timeout_ms;
    return 0;
}

/* How long the thread may wait for its sockets; *timer is set when curl's timer, not the
 * idle bound, is what ends the wait. */
static int twilio_engine_wait_ms(const twilio_engine_t *eng, bool *timer)
{
    int64_t left = eng->timer_at <= 0 ? eng->timer_at : eng->timer_at - timefmt_mono_ms();
    *timer = eng->timer_at >= 0 && left <= TWILIO_ENGINE_IDLE_MS;
    if (!*timer)
        return TWILIO_ENGINE_IDLE_MS;
    return left <= 0 ? 0 : (int)left;
}

static void twilio_engine_read_done(twilio_engine_t *eng)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(eng->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE)
            twilio_engine_finish(eng, msg->easy_handle, msg->data.result);
    }
}

/* Takes what submit() handed over. Returns whether the engine is stopping. */
static bool twilio_engine_take(twilio_engine_t *eng)
{
    pthread_mutex_lock(&eng->lock);
    bool stop = eng->stop;
    if (eng->incoming) {
        if (eng->waiting_tail)
            eng->waiting_tail->engine_data = eng->incoming;
        else
            eng->waiting = eng->incoming;
        eng->waiting_tail = eng->incoming_tail;
        eng->incoming = eng->incoming_tail = NULL;
    }
    pthread_mutex_unlock(&eng->lock);
    return stop;
}

/*
 * The curl thread, on curl_multi_socket_action() and epoll: each turn takes what submit()
 * handed over, starts what the connection limit allows, waits for a socket, curl's timer or
 * a wake-up, and has curl act on the sockets that are ready and nothing else.
 */
static void *twilio_engine_thread(void *arg)
{
    twilio_engine_t *eng = arg;
    struct epoll_event evs[TWILIO_ENGINE_EVENTS];
    int running = 0;

    /* Named so that top -H and perf tell it from the pipeline's threads. */
    prctl(PR_SET_NAME, "twilio-http", 0, 0, 0);

    for (;;) {
        bool stop = twilio_engine_take(eng);

        /* Beyond one request per allowed connection, requests wait here rather than in
         * curl, so that waiting for a connection never eats into a request's timeout. */
        while (eng->waiting && eng->active < eng->max_active) {
            sender_job_t *job = eng->waiting;
            eng->waiting = job->engine_data;
            if (eng->waiting == NULL)
                eng->waiting_tail = NULL;
            job->engine_data = NULL;
            twilio_engine_start(eng, job);
        }
        if (stop && eng->active == 0 && eng->waiting == NULL)
            break;

        /* A handle just added sets the timer to 0: curl starts it on the timeout action. */
        bool timer;
        int timeout = twilio_engine_wait_ms(eng, &timer);
        int n = timeout == 0 ? 0 : epoll_wait(eng->epfd, evs, TWILIO_ENGINE_EVENTS, timeout);
        bool acted = false;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == eng->wake_fd) {
                uint64_t v;
                /* Non-blocking: a concurrent read already took the count. */
                if (read(eng->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    log_kv(LOG_LEVEL_WARN, "reading the Twilio thread's eventfd failed", "error",
                           strerror(errno), NULL);
                continue;
            }
            int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                        (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                        (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(eng->multi, evs[i].data.fd, flags, &running);
            acted = true;
        }
        /* Any socket action also runs curl's expired timers. Without one, a wait that the
         * timer ended means it fired: it is a one-shot, which curl sets again if it needs. */
        if (!acted && n == 0) {
            if (timer)
                eng->timer_at = -1;
            curl_multi_socket_action(eng->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        twilio_engine_read_done(eng);
    }
    return NULL;
}

/* Wakes the curl thread from its wait. */
static void twilio_engine_wake(twilio_engine_t *eng)
{
    uint64_t one = 1;
    /* Only a counter at its maximum refuses, and then a wake-up is pending anyway. */
    if (write(eng->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_kv(LOG_LEVEL_WARN, "waking the Twilio thread failed", "error", strerror(errno), NULL);
}

static void *twilio_engine_create(const cfg_t *cfg, metrics_registry_t *metrics,
                                  sender_done_cb done, void *opaque, char *errstr,
                                  size_t errstr_size)
{
    twilio_engine_t *eng = calloc(1, sizeof(*eng));
    char probe[TWILIO_API_URL_MAX];
    struct epoll_event ev;

    if (eng == NULL)
        abort();
    eng->epfd = -1;
    eng->wake_fd = -1;
    eng->timer_at = -1;
    eng->done = done;
    eng->done_opaque = opaque;
    eng->base_url = strdup(cfg_str(cfg, CFG_TWILIO_API_BASE_URL));
    eng->public_base = strdup(cfg_str(cfg, CFG_PUBLIC_BASE_URL));
    if (eng->base_url == NULL || eng->public_base == NULL)
        abort();
    eng->timeout_ms = (long)cfg_int(cfg, CFG_TWILIO_TIMEOUT_MS);
    eng->max_active = (size_t)cfg_int(cfg, CFG_TWILIO_MAX_CONNECTIONS);
    /* The longest SID Twilio issues is 34 characters; a base that leaves no room for it is
     * refused now rather than failing every message. */
    if (twilio_api_messages_url(eng->base_url, "AC00000000000000000000000000000000", probe,
                                sizeof(probe)) != 0) {
        snprintf(errstr, errstr_size, "TWILIO_API_BASE_URL: too long");
        goto fail;
    }
    if (eng->public_base[0] &&
        twilio_api_status_callback_url(eng->public_base, "org", probe, REQUEST_URL_MAX) != 0) {
        snprintf(errstr, errstr_size, "PUBLIC_BASE_URL: too long for a status callback URL");
        goto fail;
    }
    eng->epfd = epoll_create1(EPOLL_CLOEXEC);
    eng->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = eng->wake_fd;
    if (eng->epfd < 0 || eng->wake_fd < 0 ||
        epoll_ctl(eng->epfd, EPOLL_CTL_ADD, eng->wake_fd, &ev) != 0) {
        snprintf(errstr, errstr_size, "cannot set up the Twilio thread's epoll set: %s",
                 strerror(errno));
        goto fail;
    }
    eng->spare = calloc(eng->max_active, sizeof(*eng->spare));
    eng->multi = curl_multi_init();
    if (eng->spare == NULL || eng->multi == NULL)
        abort();
    curl_multi_setopt(eng->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)eng->max_active);
    curl_multi_setopt(eng->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)eng->max_active);
    curl_multi_setopt(eng->multi, CURLMOPT_MAXCONNECTS, (long)eng->max_active);
    curl_multi_setopt(eng->multi, CURLMOPT_SOCKETFUNCTION, twilio_engine_on_socket);
    curl_multi_setopt(eng->multi, CURLMOPT_SOCKETDATA, eng);
    curl_multi_setopt(eng->multi, CURLMOPT_TIMERFUNCTION, twilio_engine_on_timer);
    curl_multi_setopt(eng->multi, CURLMOPT_TIMERDATA, eng);

    char e2[256];
    eng->m_requests = metrics_counter_new(metrics, "notify_twilio_requests_total",
                                          "Requests to the Twilio API, by outcome.", e2, sizeof(e2),
                                          "outcome", NULL);
    eng->m_seconds = metrics_histogram_new(metrics, "notify_twilio_request_seconds",
                                           "Time from a Twilio request's start to its answer.",
                                           NULL, 0, e2, sizeof(e2), NULL);

    pthread_mutex_init(&eng->lock, NULL);
    if (pthread_create(&eng->thread, NULL, twilio_engine_thread, eng) != 0) {
        snprintf(errstr, errstr_size, "cannot start the Twilio thread");
        pthread_mutex_destroy(&eng->lock);
        goto fail;
    }
    return eng;

fail:
    if (eng->multi)
        curl_multi_cleanup(eng->multi);
    if (eng->epfd >= 0)
        close(eng->epfd);
    if (eng->wake_fd >= 0)
        close(eng->wake_fd);
    free(eng->spare);
    free(eng->base_url);
    free(eng->public_base);
    free(eng);
    return NULL;
}

/* What only the provider knows: a row that cannot be used to call Twilio. */
static bool twilio_engine_prepare(void *engine, sender_job_t *job, sender_result_t *result)
{
    const provcfg_sms_t *cfg = job->config;
    (void)engine;
    if (cfg->twilio_account_sid && cfg->twilio_account_sid[0] && cfg->twilio_auth_token &&
        cfg->twilio_auth_token[0] && cfg->twilio_from_number && cfg->twilio_from_number[0])
        return true;
    memset(result, 0, sizeof(*result));
    snprintf(result->error_code, sizeof(result->error_code), "%s",
             errcode_name(ERRCODE_CONFIG_ERROR));
    snprintf(result->error_message, sizeof(result->error_message),
             "sms_provider_config: the Twilio account SID, auth token or from number is empty");
    return false;
}

/* The request is built on the curl thread when a connection is free for it: the job waits
 * in a list until then, linked through its engine_data. */
static void twilio_engine_submit(void *engine, sender_job_t *job)
{
    twilio_engine_t *eng = engine;

    job->engine_data = NULL;
    /* Only the first of a burst wakes the thread: until it takes the list, a wake-up for
     * the earlier ones is already pending. */
    pthread_mutex_lock(&eng->lock);
    bool wake = eng->incoming == NULL;
    if (eng->incoming_tail)
        eng->incoming_tail->engine_data = job;
    else
        eng->incoming = job;
    eng->incoming_tail = job;
    pthread_mutex_unlock(&eng->lock);
    if (wake)
        twilio_engine_wake(eng);
}

static void twilio_engine_destroy(void *engine)
{
    twilio_engine_t *eng = engine;
    if (eng == NULL)
        return;
    /* The thread finishes every request it holds (each has its timeout) and reports it. */
    pthread_mutex_lock(&eng->lock);
    eng->stop = true;
    pthread_mutex_unlock(&eng->lock);
    twilio_engine_wake(eng);
    pthread_join(eng->thread, NULL);
    pthread_mutex_destroy(&eng->lock);
    while (eng->free_list) {
        twilio_xfer_t *x = eng->free_list;
        eng->free_list = x->next;
        twilio_engine_xfer_free(x);
    }
    for (size_t i = 0; i < eng->spare_count; i++)
        curl_easy_cleanup(eng->spare[i]);
    curl_multi_cleanup(eng->multi);
    close(eng->epfd);
    close(eng->wake_fd);
    free(eng->spare);
    free(eng->base_url);
    free(eng->public_base);
    free(eng);
}

const sender_ops_t twilio_sender = {
    .name = "twilio",
    .channel = EVENT_CHANNEL_SMS,
    .provider = EVENT_PROVIDER_TWILIO,
    .request = REQUEST_CHANNEL_TWILIO,
    .config = SENDER_CONFIG_TWILIO,
    .create = twilio_engine_create,
    .prepare = twilio_engine_prepare,
    .submit = twilio_engine_submit,
    .destroy = twilio_engine_destroy,
};
