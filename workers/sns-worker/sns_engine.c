#include "sns_engine.h"

#include "log.h"
#include "provcfg.h"
#include "sigv4.h"
#include "sns_publish.h"
#include "sns_response.h"
#include "timefmt.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SNS_DEFAULT_REGION "us-east-1"
#define SNS_SERVICE        "sns"
#define SNS_HOST_MAX       256
#define SNS_URL_MAX        512

/* One Publish in flight. */
typedef struct sns_engine_xfer_s {
    struct sns_engine_xfer_s *next; /* in the submit queue */
    sender_job_t *job;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *resp; /* grows as the answer arrives, up to SNS_RESPONSE_MAX_BODY */
    size_t resp_len, resp_cap;
    int resp_toobig;
    int64_t retry_after_ms;
    int64_t started_ms;
    char errbuf[CURL_ERROR_SIZE];
} sns_engine_xfer_t;

typedef struct sns_engine_s {
    sender_done_cb done;
    void *opaque;
    /* The configured endpoint, split once: the URL to call, the Host header to send and
     * sign, and the path to sign. Empty url: per-region AWS endpoints. */
    char url[SNS_URL_MAX];
    char host[SNS_HOST_MAX];
    char path[SNS_URL_MAX];
    long timeout_ms;

    CURLM *multi;
    sigv4_keycache_t *keys; /* engine thread only */
    pthread_t thread;

    pthread_mutex_t lock; /* guards the queue and stop */
    sns_engine_xfer_t *queue_head;
    sns_engine_xfer_t **queue_tail;
    int stop;

    /* Engine thread only: submitted transfers not yet in curl, and how many are. */
    sns_engine_xfer_t *wait_head;
    sns_engine_xfer_t **wait_tail;
    long active;
    long max_active;

    metrics_counter_t *requests; /* {outcome} */
    metrics_histogram_t *latency;
} sns_engine_t;

/* curl's transport failures, as data: what each means for the contract. The rest is
 * CONNECTION_FAILED. */
static const struct {
    CURLcode curl;
    errcode_t code;
} sns_engine_curl_errors[] = {
    {CURLE_OPERATION_TIMEDOUT, ERRCODE_TIMEOUT},
    {CURLE_SSL_CONNECT_ERROR, ERRCODE_TLS_FAILED},
    {CURLE_PEER_FAILED_VERIFICATION, ERRCODE_TLS_FAILED},
    {CURLE_SSL_CERTPROBLEM, ERRCODE_TLS_FAILED},
    {CURLE_SSL_CIPHER, ERRCODE_TLS_FAILED},
    {CURLE_SSL_CACERT_BADFILE, ERRCODE_TLS_FAILED},
    {CURLE_SSL_ISSUER_ERROR, ERRCODE_TLS_FAILED},
    {CURLE_SSL_CRL_BADFILE, ERRCODE_TLS_FAILED},
};

static errcode_t sns_engine_curl_code(CURLcode rc)
{
    for (size_t i = 0; i < sizeof(sns_engine_curl_errors) / sizeof(sns_engine_curl_errors[0]); i++)
        if (sns_engine_curl_errors[i].curl == rc)
            return sns_engine_curl_errors[i].code;
    return ERRCODE_CONNECTION_FAILED;
}

static size_t sns_engine_write(char *data, size_t size, size_t nmemb, void *ud)
{
    sns_engine_xfer_t *x = ud;
    size_t n = size * nmemb;
    size_t room = SNS_RESPONSE_MAX_BODY - x->resp_len;
    if (n > room) {
        /* Not an SNS answer; keep what fits, classify by the status. */
        x->resp_toobig = 1;
        n = room;
    }
    if (x->resp_len + n + 1 > x->resp_cap) {
        size_t cap = x->resp_cap ? x->resp_cap : 1024;
        while (cap < x->resp_len + n + 1)
            cap *= 2;
        char *p = realloc(x->resp, cap);
        if (p == NULL)
            abort();
        x->resp = p;
        x->resp_cap = cap;
    }
    memcpy(x->resp + x->resp_len, data, n);
    x->resp_len += n;
    x->resp[x->resp_len] = '\0';
    return size * nmemb;
}

/* Picks up Retry-After (delta-seconds; an HTTP-date is left to the default wait). */
static size_t sns_engine_header(char *data, size_t size, size_t nmemb, void *ud)
{
    sns_engine_xfer_t *x = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *p = data + sizeof(name) - 1;
        const char *end = data + n;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        int64_t secs = 0;
        int digits = 0;
        while (p < end && *p >= '0' && *p <= '9' && digits < 9) {
            secs = secs * 10 + (*p - '0');
            p++;
            digits++;
        }
        if (digits > 0)
            x->retry_after_ms = secs * 1000;
    }
    return n;
}

static void sns_engine_xfer_free(sns_engine_xfer_t *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x->resp);
    free(x);
}

/* Adds "Name: value" to the request's headers. */
static void sns_engine_xfer_header(sns_engine_xfer_t *x, const char *name, const char *value)
{
    char line[4096 + 64];
    int n = snprintf(line, sizeof(line), "%s: %s", name, value);
    if (n < 0 || (size_t)n >= sizeof(line))
        abort(); /* every value is bounded by the caller */
    struct curl_slist *l = curl_slist_append(x->headers, line);
    if (l == NULL)
        abort();
    x->headers = l;
}

/* A region is a short run of letters, digits and '-'; anything else would end up in a
 * host name and a signed scope, so it is refused. */
static int sns_engine_region_ok(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return 0;
    return 1;
}

static const char *sns_engine_region(const provcfg_sms_t *c)
{
    return c->aws_region && *c->aws_region ? c->aws_region : SNS_DEFAULT_REGION;
}

static void sns_engine_report(sns_engine_t *e, sender_job_t *job, const sender_result_t *r,
                              const char *outcome)
{
    metrics_counter_inc(metrics_counter_with(e->requests, outcome));
    e->done(job, r, e->opaque);
}

static void sns_engine_fail(sns_engine_t *e, sender_job_t *job, errcode_t code, const char *msg)
{
    sender_result_t r;
    memset(&r, 0, sizeof(r));
    snprintf(r.error_code, sizeof(r.error_code), "%s", errcode_name(code));
    r.retryable = errcode_retryable(code);
    snprintf(r.error_message, sizeof(r.error_message), "%s", msg);
    sns_engine_report(e, job, &r, errcode_name(code));
}

/*
 * Builds, signs and adds one Publish. Returns 0, or -1 with errstr (the job is then
 * failed by the caller with CONFIG_ERROR: only a bad configuration gets here).
 */
static int sns_engine_xfer_start(sns_engine_t *e, sns_engine_xfer_t *x, char *errstr,
                                 size_t errstr_size)
{
    const sender_job_t *job = x->job;
    const request_t *req = job->req;
    const provcfg_sms_t *c = job->config;
    const char *region = sns_engine_region(c);
    char url[SNS_URL_MAX], host[SNS_HOST_MAX];
    const char *path;

    if (!sns_engine_region_ok(region)) {
        snprintf(errstr, errstr_size, "aws_region is not a region name");
        return -1;
    }
    if (e->url[0]) {
        snprintf(url, sizeof(url), "%s", e->url);
        snprintf(host, sizeof(host), "%s", e->host);
        path = e->path;
    } else {
        snprintf(url, sizeof(url), "https://sns.%s.amazonaws.com/", region);
        snprintf(host, sizeof(host), "sns.%s.amazonaws.com", region);
        path = "/";
    }

    const sns_publish_t p = {
        .phone_number = req->to,
        .message = req->sms.body,
        .sender_id = c->aws_sender_id,
        .sms_type = request_sms_type_name(req->sms.type),
        .max_price = req->sms.max_price,
        .idempotency_key = req->idempotency_key,
    };
    size_t body_len = 0;
    x->body = sns_publish_body(&p, &body_len);
    if (x->body == NULL) {
        snprintf(errstr, errstr_size, "request without phone number or body");
        return -1;
    }

    char amz_date[SIGV4_AMZ_DATE_SIZE];
    sigv4_amz_date(time(NULL), amz_date);
    sigv4_header_t h[4] = {
        {"Host", host},
        {"Content-Type", SNS_PUBLISH_CONTENT_TYPE},
        {"X-Amz-Date", amz_date},
        {"X-Amz-Security-Token", c->aws_session_token},
    };
    size_t nh = c->aws_session_token && *c->aws_session_token ? 4 : 3;
    const sigv4_request_t sr = {
        .method = "POST",
        .path = path,
        .query = "",
        .headers = h,
        .header_count = nh,
        .body = x->body,
        .body_len = body_len,
        .amz_date = amz_date,
        .region = region,
        .service = SNS_SERVICE,
        .access_key = c->aws_access_key,
    };
    if (strlen(c->aws_access_key) > 128 || strpbrk(c->aws_access_key, "\r\n ,/") != NULL) {
        snprintf(errstr, errstr_size, "aws_access_key is not an access key id");
        return -1;
    }
    unsigned char key[CRYPTO_SHA256_SIZE];
    char authz[512];
    if (sigv4_keycache_get(e->keys, c->aws_access_key, c->aws_secret_key, amz_date, region,
                           SNS_SERVICE, key) != 0) {
        snprintf(errstr, errstr_size, "cannot derive the signing key");
        return -1;
    }
    int rc = sigv4_authorization(&sr, key, authz, sizeof(authz), errstr, errstr_size);
    explicit_bzero(key, sizeof(key));
    if (rc != 0)
        return -1;

    for (size_t i = 0; i < nh; i++) {
        /* A line break in a stored value (a pasted token) would split the header. */
        if (strlen(h[i].value) > 4096 || strpbrk(h[i].value, "\r\n") != NULL) {
            snprintf(errstr, errstr_size, "%s is longer than 4096 bytes or has a line break",
                     h[i].name);
            return -1;
        }
        sns_engine_xfer_header(x, h[i].name, h[i].value);
    }
    sns_engine_xfer_header(x, "Authorization", authz);
    explicit_bzero(authz, sizeof(authz));
    /* No "Expect: 100-continue": it costs a round trip per request and SNS does not need
     * it. */
    struct curl_slist *l = curl_slist_append(x->headers, "Expect:");
    if (l == NULL)
        abort();
    x->headers = l;

    x->easy = curl_easy_init();
    if (x->easy == NULL)
        abort();
    CURL *ez = x->easy;
    curl_easy_setopt(ez, CURLOPT_URL, url);
    curl_easy_setopt(ez, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(ez, CURLOPT_POST, 1L);
    curl_easy_setopt(ez, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(ez, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(ez, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(ez, CURLOPT_USERAGENT, "notify-delivery/" NOTIFY_VERSION " sns-worker");
    curl_easy_setopt(ez, CURLOPT_WRITEFUNCTION, sns_engine_write);
    curl_easy_setopt(ez, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(ez, CURLOPT_HEADERFUNCTION, sns_engine_header);
    curl_easy_setopt(ez, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(ez, CURLOPT_PRIVATE, x);
    curl_easy_setopt(ez, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(ez, CURLOPT_TIMEOUT_MS, e->timeout_ms);
    curl_easy_setopt(ez, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ez, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Already curl's defaults; stated so that nobody turns them off by accident. */
    curl_easy_setopt(ez, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(ez, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(ez, CURLOPT_FOLLOWLOCATION, 0L);
    x->started_ms = timefmt_mono_ms();
    if (curl_multi_add_handle(e->multi, ez) != CURLM_OK) {
        snprintf(errstr, errstr_size, "curl_multi_add_handle failed");
        return -1;
    }
    return 0;
}

/* Reports a finished transfer and frees it. */
static void sns_engine_xfer_finish(sns_engine_t *e, sns_engine_xfer_t *x, CURLcode rc)
{
    sender_job_t *job = x->job;
    const provcfg_sms_t *c = job->config;
    sender_result_t r;
    memset(&r, 0, sizeof(r));
    metrics_histogram_observe(e->latency, (double)(timefmt_mono_ms() - x->started_ms) / 1000.0);

    if (rc != CURLE_OK) {
        errcode_t code = sns_engine_curl_code(rc);
        snprintf(r.error_code, sizeof(r.error_code), "%s", errcode_name(code));
        r.retryable = errcode_retryable(code);
        snprintf(r.error_message, sizeof(r.error_message), "%s",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
        sns_engine_report(e, job, &r, errcode_name(code));
        goto out;
    }

    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    sns_response_t resp;
    char perr[128];
    int parsed = !x->resp_toobig && x->resp_len > 0 &&
                 sns_response_parse(x->resp, x->resp_len, &resp, perr, sizeof(perr)) == 0;
    if (x->resp_len == 0)
        snprintf(perr, sizeof(perr), "empty body");
    sns_response_outcome_t o;
    sns_response_classify((int)status, parsed ? &resp : NULL, &o);
    if (o.code == ERRCODE_OK) {
        r.ok = true;
        snprintf(r.provider_message_id, sizeof(r.provider_message_id), "%s", resp.message_id);
        sns_engine_report(e, job, &r, "SENT");
        goto out;
    }
    snprintf(r.error_code, sizeof(r.error_code), "%s", errcode_name(o.code));
    r.retryable = o.retryable;
    r.throttled = o.throttled;
    r.retry_after_ms = o.throttled ? x->retry_after_ms : 0;
    if (parsed && resp.error_code[0])
        snprintf(r.error_message, sizeof(r.error_message), "HTTP %ld %s: %.400s", status,
                 resp.error_code, resp.error_message);
    else
        snprintf(r.error_message, sizeof(r.error_message), "HTTP %ld without an SNS answer%s%s",
                 status, parsed ? "" : ": ", parsed ? "" : perr);
    if (o.hint) {
        /* Only a person can fix this: say what to look at. Never the keys or signature. */
        char status_text[16];
        snprintf(status_text, sizeof(status_text), "%ld", status);
        log_kv(LOG_LEVEL_ERROR, "sns: AWS refused the organisation's credentials or setup",
               "org_id", c->org_id, "aws_error", parsed ? resp.error_code : NULL, "aws_message",
               parsed ? resp.error_message : NULL, "aws_request_id",
               parsed ? resp.request_id : NULL, "http_status", status_text, "action", o.hint, NULL);
    }
    sns_engine_report(e, job, &r, errcode_name(o.code));
out:
    if (x->easy)
        curl_multi_remove_handle(e->multi, x->easy);
    sns_engine_xfer_free(x);
}

/*
 * Starts waiting transfers while fewer than max_active are in curl. Transfers are signed
 * and handed to curl only here, not when submitted: curl's timeout counts from the moment
 * a transfer is added, so a backlog queued inside curl would time out before it was even
 * sent, and a signature made long before sending could fall outside AWS's 15 minutes.
 */
static void sns_engine_start_waiting(sns_engine_t *e)
{
    while (e->wait_head && e->active < e->max_active) {
        sns_engine_xfer_t *x = e->wait_head;
        e->wait_head = x->next;
        if (e->wait_head == NULL)
            e->wait_tail = &e->wait_head;
        x->next = NULL;
        char errstr[256] = "";
        if (sns_engine_xfer_start(e, x, errstr, sizeof(errstr)) != 0) {
            sender_job_t *job = x->job;
            sns_engine_xfer_free(x);
            log_kv(LOG_LEVEL_ERROR, "sns: cannot build the Publish", "org_id", job->req->org_id,
                   "message_id", job->req->message_id, "reason", errstr, NULL);
            sns_engine_fail(e, job, ERRCODE_CONFIG_ERROR, errstr);
            continue;
        }
        e->active++;
    }
}

static void *sns_engine_thread(void *arg)
{
    sns_engine_t *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->lock);
        if (e->queue_head) {
            *e->wait_tail = e->queue_head;
            e->wait_tail = e->queue_tail;
            e->queue_head = NULL;
            e->queue_tail = &e->queue_head;
        }
        int stopping = e->stop;
        pthread_mutex_unlock(&e->lock);

        sns_engine_start_waiting(e);
        int running = 0;
        curl_multi_perform(e->multi, &running);
        CURLMsg *msg;
        int left, finished = 0;
        while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            sns_engine_xfer_t *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            sns_engine_xfer_finish(e, x, msg->data.result);
            e->active--;
            finished++;
        }
        if (finished && e->wait_head)
            continue; /* start the next ones at once */
        if (stopping && e->active == 0 && e->wait_head == NULL) {
            pthread_mutex_lock(&e->lock);
            int idle = e->queue_head == NULL;
            pthread_mutex_unlock(&e->lock);
            if (idle)
                break;
        }
        /* Woken early by submit() and destroy() through curl_multi_wakeup(). */
        curl_multi_poll(e->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

/* Splits SNS_ENDPOINT_URL into what is sent and signed: the Host header carries the port
 * when the URL names one, exactly as curl would write it. */
static int sns_engine_endpoint(sns_engine_t *e, const char *endpoint, char *errstr,
                               size_t errstr_size)
{
    int result = -1;
    char *host = NULL, *port = NULL, *path = NULL;
    CURLU *u = curl_url();
    if (u == NULL)
        abort();
    if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        snprintf(errstr, errstr_size, "SNS_ENDPOINT_URL: not a URL curl can use");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL; /* no explicit port */
    if (strlen(endpoint) >= sizeof(e->url) || strlen(host) + 8 >= sizeof(e->host) ||
        strlen(path) >= sizeof(e->path)) {
        snprintf(errstr, errstr_size, "SNS_ENDPOINT_URL: too long");
        goto out;
    }
    snprintf(e->url, sizeof(e->url), "%s", endpoint);
    if (port)
        snprintf(e->host, sizeof(e->host), "%s:%s", host, port);
    else
        snprintf(e->host, sizeof(e->host), "%s", host);
    snprintf(e->path, sizeof(e->path), "%s", path[0] ? path : "/");
    result = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return result;
}

static void *sns_engine_create(const cfg_t *cfg, metrics_registry_t *metrics, sender_done_cb done,
                               void *opaque, char *errstr, size_t errstr_size)
{
    sns_engine_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        abort();
    e->done = done;
    e->opaque = opaque;
    e->timeout_ms = (long)cfg_int(cfg, CFG_SNS_TIMEOUT_MS);
    const char *endpoint = cfg_str(cfg, CFG_SNS_ENDPOINT_URL);
    if (endpoint && *endpoint && sns_engine_endpoint(e, endpoint, errstr, errstr_size) != 0) {
        free(e);
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errstr, errstr_size, "curl_global_init failed");
        free(e);
        return NULL;
    }
    e->multi = curl_multi_init();
    if (e->multi == NULL)
        abort();
    long maxconn = (long)cfg_int(cfg, CFG_SNS_MAX_CONNECTIONS);
    curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxconn);
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, maxconn);
    e->keys = sigv4_keycache_new();
    char merr[128];
    e->requests = metrics_counter_new(metrics, "notify_sns_requests_total",
                                      "SNS Publish requests by outcome (SENT or error code).", merr,
                                      sizeof(merr), "outcome", NULL);
    e->latency = metrics_histogram_new(metrics, "notify_sns_request_seconds",
                                       "Time of one SNS Publish, queueing in curl included.", NULL,
                                       0, merr, sizeof(merr), NULL);
    pthread_mutex_init(&e->lock, NULL);
    e->queue_tail = &e->queue_head;
    e->wait_tail = &e->wait_head;
    /* Enough to keep every connection busy while answers are being read. */
    e->max_active = maxconn;
    if (pthread_create(&e->thread, NULL, sns_engine_thread, e) != 0)
        abort();
    return e;
}

static bool sns_engine_prepare(void *engine, sender_job_t *job, sender_result_t *result)
{
    const provcfg_sms_t *c = job->config;
    const char *why = NULL;
    if (c->aws_access_key == NULL || !*c->aws_access_key || c->aws_secret_key == NULL ||
        !*c->aws_secret_key)
        why = "the organisation's SNS configuration has no access key or secret key";
    else if (!sns_engine_region_ok(sns_engine_region(c)))
        why = "the organisation's aws_region is not a region name";
    if (why == NULL)
        return true;
    memset(result, 0, sizeof(*result));
    snprintf(result->error_code, sizeof(result->error_code), "%s",
             errcode_name(ERRCODE_CONFIG_ERROR));
    result->retryable = errcode_retryable(ERRCODE_CONFIG_ERROR);
    snprintf(result->error_message, sizeof(result->error_message), "%s", why);
    return false;
}

static void sns_engine_submit(void *engine, sender_job_t *job)
{
    sns_engine_t *e = engine;
    sns_engine_xfer_t *x = calloc(1, sizeof(*x));
    if (x == NULL)
        abort();
    x->job = job;
    pthread_mutex_lock(&e->lock);
    *e->queue_tail = x;
    e->queue_tail = &x->next;
    pthread_mutex_unlock(&e->lock);
    curl_multi_wakeup(e->multi);
}

static void sns_engine_destroy(void *engine)
{
    sns_engine_t *e = engine;
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->lock);
    e->stop = 1;
    pthread_mutex_unlock(&e->lock);
    curl_multi_wakeup(e->multi);
    pthread_join(e->thread, NULL);
    curl_multi_cleanup(e->multi);
    sigv4_keycache_destroy(e->keys);
    pthread_mutex_destroy(&e->lock);
    curl_global_cleanup();
    free(e);
}

const sender_ops_t sns_sender = {
    .name = "sns",
    .channel = EVENT_CHANNEL_SMS,
    .provider = EVENT_PROVIDER_AWS_SNS,
    .request = REQUEST_CHANNEL_SNS,
    .config = SENDER_CONFIG_SNS,
    .create = sns_engine_create,
    .prepare = sns_engine_prepare,
    .submit = sns_engine_submit,
    .destroy = sns_engine_destroy,
};
