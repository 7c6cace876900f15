#include "twilio_engine.h"

#include "log.h"
#include "provcfg.h"
#include "timefmt.h"
#include "twilio_api.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>

/* Twilio's answers are small JSON documents; anything past this is not read. */
#define TWILIO_ENGINE_BODY_MAX (64 * 1024)

typedef struct twilio_engine_s twilio_engine_t;

/* One request: built by submit() on the pipeline's thread, run by the curl thread. */
typedef struct twilio_xfer_s {
    struct twilio_xfer_s *next;
    sender_job_t *job;
    CURL *easy;
    twilio_form_t *form;
    struct curl_slist *headers;
    char url[TWILIO_API_URL_MAX];
    char *body;
    size_t body_len;
    char retry_after[64];
    char errbuf[CURL_ERROR_SIZE];
    int64_t started_ms;
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

    /* Handed from submit() to the curl thread. */
    pthread_mutex_t lock;
    twilio_xfer_t *incoming, *incoming_tail;
    bool stop;

    /* The curl thread's own. */
    twilio_xfer_t *waiting, *waiting_tail; /* taken in, not yet on a connection */
    size_t active;
    CURL **spare; /* easy handles kept for reuse */
    size_t spare_count;

    metrics_counter_t *m_requests;
    metrics_histogram_t *m_seconds;
};

static void twilio_engine_xfer_free(twilio_xfer_t *x)
{
    twilio_form_destroy(x->form);
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
}

static size_t twilio_engine_on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    twilio_xfer_t *x = opaque;
    size_t n = size * nmemb;
    size_t room = TWILIO_ENGINE_BODY_MAX - x->body_len;
    size_t take = n < room ? n : room;
    if (take > 0) {
        char *b = realloc(x->body, x->body_len + take + 1);
        if (b == NULL)
            abort();
        x->body = b;
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

static void twilio_engine_report(twilio_engine_t *eng, twilio_xfer_t *x, const sender_result_t *r,
                                 const char *outcome)
{
    metrics_counter_inc(metrics_counter_with(eng->m_requests, outcome));
    metrics_histogram_observe(eng->m_seconds, (double)(timefmt_mono_ms() - x->started_ms) / 1000.0);
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

/* Puts a transfer on a connection: an easy handle (a spare one when there is one). */
static void twilio_engine_start(twilio_engine_t *eng, twilio_xfer_t *x)
{
    const provcfg_sms_t *cfg = x->job->config;
    CURL *e = eng->spare_count > 0 ? eng->spare[--eng->spare_count] : twilio_engine_easy_new(eng);

    x->easy = e;
    x->started_ms = timefmt_mono_ms();
    x->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_USERNAME, cfg->twilio_account_sid);
    curl_easy_setopt(e, CURLOPT_PASSWORD, cfg->twilio_auth_token);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)twilio_form_len(x->form));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, twilio_form_data(x->form));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
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

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
    curl_multi_remove_handle(eng->multi, e);
    eng->active--;
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        twilio_api_classify(status, x->body, x->body_len, x->retry_after[0] ? x->retry_after : NULL,
                            timefmt_now_ms(), &r);
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
    twilio_engine_report(eng, x, &r, outcome);
    twilio_engine_xfer_free(x);
}

static void *twilio_engine_thread(void *arg)
{
    twilio_engine_t *eng = arg;

    /* Named so that top -H and perf tell it from the pipeline's threads. */
    prctl(PR_SET_NAME, "twilio-http", 0, 0, 0);

    for (;;) {
        pthread_mutex_lock(&eng->lock);
        bool stop = eng->stop;
        if (eng->incoming) {
            if (eng->waiting_tail)
                eng->waiting_tail->next = eng->incoming;
            else
                eng->waiting = eng->incoming;
            eng->waiting_tail = eng->incoming_tail;
            eng->incoming = eng->incoming_tail = NULL;
        }
        pthread_mutex_unlock(&eng->lock);

        /* Beyond one request per allowed connection, requests wait here rather than in
         * curl, so that waiting for a connection never eats into a request's timeout. */
        while (eng->waiting && eng->active < eng->max_active) {
            twilio_xfer_t *x = eng->waiting;
            eng->waiting = x->next;
            if (eng->waiting == NULL)
                eng->waiting_tail = NULL;
            x->next = NULL;
            twilio_engine_start(eng, x);
        }
        if (stop && eng->active == 0 && eng->waiting == NULL)
            break;

        int running = 0;
        curl_multi_perform(eng->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(eng->multi, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE)
                twilio_engine_finish(eng, msg->easy_handle, msg->data.result);
        }
        if (eng->waiting && eng->active < eng->max_active)
            continue;
        curl_multi_poll(eng->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

static void *twilio_engine_create(const cfg_t *cfg, metrics_registry_t *metrics,
                                  sender_done_cb done, void *opaque, char *errstr,
                                  size_t errstr_size)
{
    twilio_engine_t *eng = calloc(1, sizeof(*eng));
    char probe[TWILIO_API_URL_MAX];

    if (eng == NULL)
        abort();
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
    eng->spare = calloc(eng->max_active, sizeof(*eng->spare));
    eng->multi = curl_multi_init();
    if (eng->spare == NULL || eng->multi == NULL)
        abort();
    curl_multi_setopt(eng->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)eng->max_active);
    curl_multi_setopt(eng->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)eng->max_active);
    curl_multi_setopt(eng->multi, CURLMOPT_MAXCONNECTS, (long)eng->max_active);

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

static void twilio_engine_submit(void *engine, sender_job_t *job)
{
    twilio_engine_t *eng = engine;
    const provcfg_sms_t *cfg = job->config;
    const request_t *req = job->req;
    twilio_xfer_t *x = calloc(1, sizeof(*x));
    char callback[REQUEST_URL_MAX + 256];
    char idem[3 * REQUEST_IDEMPOTENCY_KEY_MAX * 4 + 32];
    char key[sizeof(idem) - 32];
    sender_result_t r;

    if (x == NULL)
        abort();
    x->job = job;
    x->started_ms = timefmt_mono_ms();
    callback[0] = '\0';
    if (eng->public_base[0] && twilio_api_status_callback_url(eng->public_base, req->org_id,
                                                              callback, sizeof(callback)) != 0)
        callback[0] = '\0';
    x->form = twilio_api_message_form(req, cfg->twilio_from_number, callback[0] ? callback : NULL);
    if (twilio_api_messages_url(eng->base_url, cfg->twilio_account_sid, x->url, sizeof(x->url)) !=
            0 ||
        x->form == NULL) {
        memset(&r, 0, sizeof(r));
        snprintf(r.error_code, sizeof(r.error_code), "%s", errcode_name(ERRCODE_CONFIG_ERROR));
        snprintf(r.error_message, sizeof(r.error_message),
                 "the Twilio request cannot be built (account SID or form too long)");
        twilio_engine_report(eng, x, &r, "not_sent");
        twilio_engine_xfer_free(x);
        return;
    }
    x->headers = curl_slist_append(NULL, "Accept: application/json");
    /* curl would wait for "100 Continue" before a large body; Twilio never needs it. */
    x->headers = curl_slist_append(x->headers, "Expect:");
    if (twilio_api_idempotency_header(req->idempotency_key, key, sizeof(key)) == 0) {
        snprintf(idem, sizeof(idem), "X-Idempotency-Key: %s", key);
        x->headers = curl_slist_append(x->headers, idem);
    }
    if (x->headers == NULL)
        abort();

    /* Only the first of a burst wakes the thread: until it takes the list, a wake-up for
     * the earlier ones is already pending. */
    pthread_mutex_lock(&eng->lock);
    bool wake = eng->incoming == NULL;
    if (eng->incoming_tail)
        eng->incoming_tail->next = x;
    else
        eng->incoming = x;
    eng->incoming_tail = x;
    pthread_mutex_unlock(&eng->lock);
    if (wake)
        curl_multi_wakeup(eng->multi);
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
    curl_multi_wakeup(eng->multi);
    pthread_join(eng->thread, NULL);
    pthread_mutex_destroy(&eng->lock);
    for (size_t i = 0; i < eng->spare_count; i++)
        curl_easy_cleanup(eng->spare[i]);
    curl_multi_cleanup(eng->multi);
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
