/*
 * httpd: a server on a free loopback port, driven with libcurl. The built-in endpoints, a
 * registered POST route (what its handler sees and what it answers), 404/405/413, address
 * parsing, and that a handler which blocks does not hold up other connections.
 */
#include "httpd.h"
#include "metrics.h"
#include "testutil.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct reply_s {
    long status;
    char body[8192];
    size_t len;
    char content_type[128];
    char allow[64];
    char echo[64];
} reply_t;

typedef struct upload_s {
    const char *data;
    size_t len;
    size_t pos;
} upload_t;

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
    reply_t *r = opaque;
    size_t len = size * n;
    size_t room = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, data, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

/* Keeps the value of a header we look at ("Name: value\r\n"). */
static void keep_header(const char *line, size_t len, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    if (len <= nlen + 1 || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return;
    const char *v = line + nlen + 1;
    while (*v == ' ')
        v++;
    size_t vlen = (size_t)(line + len - v);
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    snprintf(out, size, "%.*s", (int)vlen, v);
}

static size_t on_header(char *line, size_t size, size_t n, void *opaque)
{
    reply_t *r = opaque;
    keep_header(line, size * n, "Allow", r->allow, sizeof(r->allow));
    keep_header(line, size * n, "X-Echo", r->echo, sizeof(r->echo));
    return size * n;
}

static size_t on_read(char *buf, size_t size, size_t n, void *opaque)
{
    upload_t *u = opaque;
    size_t len = size * n;
    if (len > u->len - u->pos)
        len = u->len - u->pos;
    if (len > 700)
        len = 700; /* several chunks */
    memcpy(buf, u->data + u->pos, len);
    u->pos += len;
    return len;
}

/*
 * One request. `body` is sent with a Content-Length, or chunked when `chunked`; `header`
 * is one extra request header or NULL. Returns the curl result.
 */
static CURLcode http(const char *method, unsigned port, const char *target, const char *body,
                     size_t body_len, int chunked, const char *header, reply_t *r)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, target);
    memset(r, 0, sizeof(*r));
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    upload_t upload = {body, body_len, 0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (body != NULL && chunked) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    } else if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "HEAD") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (header != NULL)
        headers = curl_slist_append(headers, header);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    snprintf(r->content_type, sizeof(r->content_type), "%s", type ? type : "");
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

/* What the echo handler saw, for the test to check. */
typedef struct seen_s {
    pthread_mutex_t lock;
    int calls;
    char method[16], path[128], target[128], query[64], signature[64], org[64], body[2048];
    size_t body_len;
    int header_count;
} seen_t;

static int count_header(void *opaque, const char *name, const char *value)
{
    seen_t *seen = opaque;
    if (strcasecmp(name, "X-Webhook-Signature") == 0 && strcmp(value, "sha256=abc") == 0)
        seen->header_count++;
    return 0;
}

static void echo_handler(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
    seen_t *seen = opaque;
    size_t len;
    const char *body = httpd_request_body(req, &len);
    const char *sig = httpd_request_header(req, "x-webhook-signature");
    pthread_mutex_lock(&seen->lock);
    seen->calls++;
    snprintf(seen->method, sizeof(seen->method), "%s", httpd_request_method(req));
    snprintf(seen->path, sizeof(seen->path), "%s", httpd_request_path(req));
    snprintf(seen->target, sizeof(seen->target), "%s", httpd_request_target(req));
    snprintf(seen->query, sizeof(seen->query), "%s", httpd_request_query(req));
    snprintf(seen->signature, sizeof(seen->signature), "%s", sig ? sig : "(none)");
    snprintf(seen->org, sizeof(seen->org), "%s",
             httpd_request_param(req, 0) ? httpd_request_param(req, 0) : "(none)");
    CHECK(httpd_request_param(req, 1) == NULL);
    seen->body_len = len;
    snprintf(seen->body, sizeof(seen->body), "%s", body);
    seen->header_count = 0;
    httpd_request_headers(req, count_header, seen);
    pthread_mutex_unlock(&seen->lock);

    char answer[64];
    int n = snprintf(answer, sizeof(answer), "{\"accepted\":%zu}", len);
    httpd_response_set(resp, 202, "application/json", answer, (size_t)n);
    httpd_response_header(resp, "X-Echo", "yes");
}

static void silent_handler(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
}

static httpd_t *start(metrics_registry_t *reg, const httpd_options_t *options)
{
    char errstr[256] = "";
    httpd_t *h = httpd_new("127.0.0.1:0", reg, options, errstr, sizeof(errstr));
    if (h == NULL)
        fprintf(stderr, "httpd_new: %s\n", errstr);
    return h;
}

static void test_builtin_endpoints(void)
{
    char errstr[256];
    metrics_registry_t *reg = metrics_registry_new();
    metrics_counter_t *c = metrics_counter_new(reg, "notify_test_total", "A test counter.", errstr,
                                               sizeof(errstr), "kind", NULL);
    metrics_counter_add(metrics_counter_with(c, "a\"b"), 5);
    httpd_t *h = start(reg, NULL);
    REQUIRE(h != NULL);
    unsigned port = httpd_port(h);
    CHECK(port > 0);
    reply_t r;

    CHECK_INT(http("GET", port, "/healthz", NULL, 0, 0, NULL, &r), CURLE_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "ok");

    CHECK_INT(http("GET", port, "/readyz", NULL, 0, 0, NULL, &r), CURLE_OK);
    CHECK_INT(r.status, 503);
    CHECK_STR(r.body, "not ready");
    httpd_set_ready(h, true);
    http("GET", port, "/readyz", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "ready");
    httpd_set_ready(h, false);
    http("GET", port, "/readyz", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 503);

    CHECK_INT(http("GET", port, "/metrics", NULL, 0, 0, NULL, &r), CURLE_OK);
    CHECK_INT(r.status, 200);
    CHECK(strncmp(r.content_type, "text/plain; version=0.0.4", 25) == 0);
    CHECK_STR(r.body, "# HELP notify_test_total A test counter.\n"
                      "# TYPE notify_test_total counter\n"
                      "notify_test_total{kind=\"a\\\"b\"} 5\n");

    http("HEAD", port, "/healthz", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "");

    http("POST", port, "/healthz", "x", 1, 0, NULL, &r);
    CHECK_INT(r.status, 405);
    CHECK_STR(r.allow, "GET, HEAD");
    http("DELETE", port, "/metrics", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 405);

    http("GET", port, "/nope", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 404);
    http("GET", port, "/healthz/", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 404);

    httpd_destroy(h);
    metrics_registry_destroy(reg);
}

static bool ready_fn(void *opaque)
{
    return *(int *)opaque != 0;
}

static void test_ready_callback(void)
{
    int ready = 0;
    httpd_options_t options = {.ready = ready_fn, .ready_opaque = &ready};
    httpd_t *h = start(NULL, &options);
    REQUIRE(h != NULL);
    reply_t r;
    http("GET", httpd_port(h), "/readyz", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 503);
    ready = 1;
    http("GET", httpd_port(h), "/readyz", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 200);
    /* Without a registry the metrics page is empty. */
    http("GET", httpd_port(h), "/metrics", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "");
    httpd_destroy(h);
}

static void test_route(void)
{
    char errstr[256];
    seen_t seen;
    memset(&seen, 0, sizeof(seen));
    pthread_mutex_init(&seen.lock, NULL);
    httpd_options_t options = {.body_limit = 1024};
    httpd_t *h = start(NULL, &options);
    REQUIRE(h != NULL);
    unsigned port = httpd_port(h);
    REQUIRE(httpd_route(h, "POST", "/api/webhooks/email/*/delivery", echo_handler, &seen, errstr,
                        sizeof(errstr)) == 0);
    REQUIRE(httpd_route(h, "PUT", "/silent", silent_handler, NULL, errstr, sizeof(errstr)) == 0);
    reply_t r;

    const char *json = "{\"provider_message_id\":\"<m1@x>\",\"status\":\"delivered\"}";
    CHECK_INT(http("POST", port, "/api/webhooks/email/acme%20corp/delivery?a=1&b=%20x", json,
                   strlen(json), 0, "X-Webhook-Signature: sha256=abc", &r),
              CURLE_OK);
    CHECK_INT(r.status, 202);
    CHECK_STR(r.content_type, "application/json");
    CHECK_STR(r.echo, "yes");
    char expected[64];
    snprintf(expected, sizeof(expected), "{\"accepted\":%zu}", strlen(json));
    CHECK_STR(r.body, expected);
    CHECK_INT(seen.calls, 1);
    CHECK_STR(seen.method, "POST");
    CHECK_STR(seen.path, "/api/webhooks/email/acme corp/delivery");
    CHECK_STR(seen.target, "/api/webhooks/email/acme%20corp/delivery?a=1&b=%20x");
    CHECK_STR(seen.query, "a=1&b=%20x");
    CHECK_STR(seen.org, "acme corp");
    CHECK_STR(seen.signature, "sha256=abc");
    CHECK_INT(seen.header_count, 1);
    CHECK_STR(seen.body, json);
    CHECK_INT(seen.body_len, strlen(json));

    /* An empty body, a chunked body, and one of exactly the limit all reach the handler. */
    http("POST", port, "/api/webhooks/email/o1/delivery", "", 0, 0, NULL, &r);
    CHECK_INT(r.status, 202);
    CHECK_INT(seen.body_len, 0);
    CHECK_STR(seen.query, "");
    char big[4096];
    memset(big, 'b', sizeof(big));
    http("POST", port, "/api/webhooks/email/o1/delivery", big, 1024, 0, NULL, &r);
    CHECK_INT(r.status, 202);
    CHECK_INT(seen.body_len, 1024);
    http("POST", port, "/api/webhooks/email/o1/delivery", big, 1024, 1, NULL, &r);
    CHECK_INT(r.status, 202);
    CHECK_INT(seen.body_len, 1024);
    int calls = seen.calls;

    /* Over the limit, declared or chunked: 413, and the handler never runs. */
    CHECK_INT(http("POST", port, "/api/webhooks/email/o1/delivery", big, 1025, 0, NULL, &r),
              CURLE_OK);
    CHECK_INT(r.status, 413);
    CHECK_INT(http("POST", port, "/api/webhooks/email/o1/delivery", big, sizeof(big), 1, NULL, &r),
              CURLE_OK);
    CHECK_INT(r.status, 413);
    CHECK_INT(seen.calls, calls);

    /* Wrong method on a route's path, unmatched paths. */
    http("GET", port, "/api/webhooks/email/o1/delivery", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 405);
    CHECK_STR(r.allow, "POST");
    http("POST", port, "/api/webhooks/email//delivery", "x", 1, 0, NULL, &r);
    CHECK_INT(r.status, 404);
    http("POST", port, "/api/webhooks/email/o1/delivery/more", "x", 1, 0, NULL, &r);
    CHECK_INT(r.status, 404);
    CHECK_INT(seen.calls, calls);

    /* A handler that answers nothing gives 500. */
    http("PUT", port, "/silent", "x", 1, 0, NULL, &r);
    CHECK_INT(r.status, 500);

    /* The server still answers after all of that. */
    http("GET", port, "/healthz", NULL, 0, 0, NULL, &r);
    CHECK_INT(r.status, 200);
    httpd_destroy(h);
    pthread_mutex_destroy(&seen.lock);
}

static void test_default_body_limit(void)
{
    char errstr[256];
    seen_t seen;
    memset(&seen, 0, sizeof(seen));
    pthread_mutex_init(&seen.lock, NULL);
    httpd_t *h = start(NULL, NULL);
    REQUIRE(h != NULL);
    REQUIRE(httpd_route(h, "POST", "/in", echo_handler, &seen, errstr, sizeof(errstr)) == 0);
    size_t size = 2 * HTTPD_DEFAULT_BODY_LIMIT;
    char *body = malloc(size);
    REQUIRE(body != NULL);
    memset(body, 'x', size);
    reply_t r;
    CHECK_INT(http("POST", httpd_port(h), "/in", body, HTTPD_DEFAULT_BODY_LIMIT, 0, NULL, &r),
              CURLE_OK);
    CHECK_INT(r.status, 202);
    CHECK_INT(seen.body_len, HTTPD_DEFAULT_BODY_LIMIT);
    CHECK_INT(http("POST", httpd_port(h), "/in", body, HTTPD_DEFAULT_BODY_LIMIT + 1, 0, NULL, &r),
              CURLE_OK);
    CHECK_INT(r.status, 413);
    CHECK_INT(http("POST", httpd_port(h), "/in", body, size, 1, NULL, &r), CURLE_OK);
    CHECK_INT(r.status, 413);
    CHECK_INT(seen.calls, 1);
    free(body);
    httpd_destroy(h);
    pthread_mutex_destroy(&seen.lock);
}

static void test_route_validation(void)
{
    char errstr[256];
    httpd_t *h = start(NULL, NULL);
    REQUIRE(h != NULL);
    CHECK(httpd_route(h, "post", "/x", silent_handler, NULL, errstr, sizeof(errstr)) == -1);
    CHECK(strstr(errstr, "method") != NULL);
    CHECK(httpd_route(h, "POST", "x", silent_handler, NULL, errstr, sizeof(errstr)) == -1);
    CHECK(strstr(errstr, "pattern") != NULL);
    CHECK(httpd_route(h, "POST", "/metrics", silent_handler, NULL, errstr, sizeof(errstr)) == -1);
    CHECK(httpd_route(h, "POST", "/a/b*c", silent_handler, NULL, errstr, sizeof(errstr)) == -1);
    CHECK(httpd_route(h, "POST", "/a?b", silent_handler, NULL, errstr, sizeof(errstr)) == -1);
    CHECK(httpd_route(h, "POST", "/x", NULL, NULL, errstr, sizeof(errstr)) == -1);
    int added = 0;
    for (int k = 0; k < HTTPD_MAX_ROUTES + 1; k++) {
        char pattern[32];
        snprintf(pattern, sizeof(pattern), "/r%d", k);
        added += httpd_route(h, "GET", pattern, silent_handler, NULL, errstr, sizeof(errstr)) == 0;
    }
    CHECK_INT(added, HTTPD_MAX_ROUTES);
    httpd_destroy(h);
}

static void test_addresses(void)
{
    char errstr[256];
    const char *bad[] = {
        "",         "8080",      "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:80x",
        "::1:8080", "[::1]8080", "[::1",      "[]:80",      "127.0.0.1:-1"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        errstr[0] = '\0';
        httpd_t *h = httpd_new(bad[k], NULL, NULL, errstr, sizeof(errstr));
        CHECK(h == NULL);
        if (h != NULL) {
            fprintf(stderr, "  accepted: %s\n", bad[k]);
            httpd_destroy(h);
        }
        CHECK(errstr[0] != '\0');
    }

    /* A port in use is reported with the reason. */
    httpd_t *first = start(NULL, NULL);
    REQUIRE(first != NULL);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", httpd_port(first));
    CHECK(httpd_new(addr, NULL, NULL, errstr, sizeof(errstr)) == NULL);
    CHECK(strstr(errstr, "bind") != NULL && strstr(errstr, "in use") != NULL);
    httpd_destroy(first);

    /* ":port" and "0.0.0.0:port" listen on every IPv4 interface. */
    httpd_t *any = httpd_new(":0", NULL, NULL, errstr, sizeof(errstr));
    REQUIRE(any != NULL);
    reply_t r;
    CHECK_INT(http("GET", httpd_port(any), "/healthz", NULL, 0, 0, NULL, &r), CURLE_OK);
    CHECK_INT(r.status, 200);
    httpd_destroy(any);
    any = httpd_new("0.0.0.0:0", NULL, NULL, errstr, sizeof(errstr));
    CHECK(any != NULL);
    httpd_destroy(any);

    /* IPv6 loopback, where the machine has it. */
    httpd_t *v6 = httpd_new("[::1]:0", NULL, NULL, errstr, sizeof(errstr));
    if (v6 == NULL) {
        fprintf(stderr, "  (no IPv6 loopback here: %s)\n", errstr);
        return;
    }
    char url[64];
    snprintf(url, sizeof(url), "http://[::1]:%u/healthz", httpd_port(v6));
    CURL *curl = curl_easy_init();
    memset(&r, 0, sizeof(r));
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    CHECK_INT(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(curl);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "ok");
    httpd_destroy(v6);

    /* "[::]" listens on IPv4 too. */
    httpd_t *dual = httpd_new("[::]:0", NULL, NULL, errstr, sizeof(errstr));
    REQUIRE(dual != NULL);
    CHECK_INT(http("GET", httpd_port(dual), "/healthz", NULL, 0, 0, NULL, &r), CURLE_OK);
    CHECK_INT(r.status, 200);
    httpd_destroy(dual);
}

/* A handler that blocks until released: it holds up only its own event thread, the others
 * keep serving. */
typedef struct gate_s {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered;
    int open;
} gate_t;

static void gate_handler(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
    gate_t *g = opaque;
    pthread_mutex_lock(&g->lock);
    g->entered = 1;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    httpd_response_set(resp, 200, NULL, "released", 8);
}

typedef struct slow_call_s {
    unsigned port;
    reply_t reply;
} slow_call_t;

static void *slow_client(void *opaque)
{
    slow_call_t *call = opaque;
    http("POST", call->port, "/gate", "x", 1, 0, NULL, &call->reply);
    return NULL;
}

static void test_blocking_handler(void)
{
    char errstr[256];
    gate_t gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    /* Several event threads, as webhook-ingest runs them: a blocked one accepts nothing,
     * and the others serve the new connections. */
    httpd_options_t opts = {.threads = 4};
    httpd_t *h = start(NULL, &opts);
    REQUIRE(h != NULL);
    REQUIRE(httpd_route(h, "POST", "/gate", gate_handler, &gate, errstr, sizeof(errstr)) == 0);
    slow_call_t call = {httpd_port(h), {0}};
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, slow_client, &call) == 0);
    pthread_mutex_lock(&gate.lock);
    while (!gate.entered)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);

    /* The gate's handler is waiting; other requests are served meanwhile. */
    reply_t r;
    for (int k = 0; k < 5; k++) {
        CHECK_INT(http("GET", httpd_port(h), "/healthz", NULL, 0, 0, NULL, &r), CURLE_OK);
        CHECK_INT(r.status, 200);
    }

    pthread_mutex_lock(&gate.lock);
    gate.open = 1;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
    pthread_join(thread, NULL);
    CHECK_INT(call.reply.status, 200);
    CHECK_STR(call.reply.body, "released");
    httpd_destroy(h);
}

/* A handler that defers its answer, leaving the response for the test to answer. */
typedef struct later_s {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    httpd_response_t *resp;
} later_t;

static void later_handler(const httpd_request_t *req, httpd_response_t *resp, void *opaque)
{
    later_t *l = opaque;
    (void)req;
    httpd_response_defer(resp);
    pthread_mutex_lock(&l->lock);
    l->resp = resp;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

static httpd_response_t *later_wait(later_t *l)
{
    pthread_mutex_lock(&l->lock);
    while (l->resp == NULL)
        pthread_cond_wait(&l->cond, &l->lock);
    httpd_response_t *resp = l->resp;
    l->resp = NULL;
    pthread_mutex_unlock(&l->lock);
    return resp;
}

static void *later_client(void *opaque)
{
    slow_call_t *call = opaque;
    http("POST", call->port, "/later", "x", 1, 0, NULL, &call->reply);
    return NULL;
}

/* A client that gives up after 300 ms, before its deferred answer comes. */
static void *impatient_client(void *opaque)
{
    char url[128];
    slow_call_t *call = opaque;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/later", call->port);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "x");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 300L);
    curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    return NULL;
}

static void test_deferred_answer(void)
{
    char errstr[256];
    later_t later = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL};
    httpd_t *h = start(NULL, NULL);
    REQUIRE(h != NULL);
    REQUIRE(httpd_route(h, "POST", "/later", later_handler, &later, errstr, sizeof(errstr)) == 0);
    slow_call_t call = {httpd_port(h), {0}};
    pthread_t thread;
    REQUIRE(pthread_create(&thread, NULL, later_client, &call) == 0);
    httpd_response_t *resp = later_wait(&later);

    /* The handler has returned without an answer; the server is not held up. */
    reply_t r;
    for (int k = 0; k < 5; k++) {
        CHECK_INT(http("GET", httpd_port(h), "/healthz", NULL, 0, 0, NULL, &r), CURLE_OK);
        CHECK_INT(r.status, 200);
    }
    /* Answered from this thread, as a Kafka report thread would. */
    httpd_response_set(resp, 202, NULL, "later", 5);
    httpd_response_header(resp, "X-Echo", "deferred");
    httpd_response_resume(resp);
    pthread_join(thread, NULL);
    CHECK_INT(call.reply.status, 202);
    CHECK_STR(call.reply.body, "later");
    CHECK_STR(call.reply.echo, "deferred");

    /* A client that left before its answer: the answer is dropped, and the server still
     * stops (it waits for every deferred answer). */
    REQUIRE(pthread_create(&thread, NULL, impatient_client, &call) == 0);
    resp = later_wait(&later);
    pthread_join(thread, NULL);
    httpd_response_set(resp, 200, NULL, "too late", 8);
    httpd_response_resume(resp);
    httpd_destroy(h);
}

/* The built-in endpoints keep the connection open, as probes and scrapers reuse it. */
static void test_keep_alive(void)
{
    char url[128];
    httpd_t *h = start(NULL, NULL);
    REQUIRE(h != NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", httpd_port(h));
    CURL *curl = curl_easy_init();
    reply_t r;
    memset(&r, 0, sizeof(r));
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    for (int k = 0; k < 3; k++) {
        long connects = -1;
        CHECK_INT(curl_easy_perform(curl), CURLE_OK);
        curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
        CHECK_INT(connects, k == 0 ? 1 : 0);
    }
    curl_easy_cleanup(curl);
    httpd_destroy(h);
}

#define CLIENTS  4
#define REQUESTS 25

static void *busy_client(void *opaque)
{
    unsigned port = *(unsigned *)opaque;
    long failures = 0;
    reply_t r;
    for (int k = 0; k < REQUESTS; k++) {
        http("POST", port, "/api/webhooks/email/o1/delivery", "{}", 2, 0, NULL, &r);
        failures += r.status != 202;
        http("GET", port, "/metrics", NULL, 0, 0, NULL, &r);
        failures += r.status != 200;
    }
    return (void *)failures;
}

static void test_concurrent_clients(void)
{
    char errstr[256];
    seen_t seen;
    memset(&seen, 0, sizeof(seen));
    pthread_mutex_init(&seen.lock, NULL);
    metrics_registry_t *reg = metrics_registry_new();
    metrics_counter_new(reg, "x_total", "", errstr, sizeof(errstr), NULL);
    httpd_t *h = start(reg, NULL);
    REQUIRE(h != NULL);
    REQUIRE(httpd_route(h, "POST", "/api/webhooks/email/*/delivery", echo_handler, &seen, errstr,
                        sizeof(errstr)) == 0);
    unsigned port = httpd_port(h);
    pthread_t threads[CLIENTS];
    for (int t = 0; t < CLIENTS; t++)
        REQUIRE(pthread_create(&threads[t], NULL, busy_client, &port) == 0);
    long failures = 0;
    for (int t = 0; t < CLIENTS; t++) {
        void *result;
        pthread_join(threads[t], &result);
        failures += (long)result;
    }
    CHECK_INT(failures, 0);
    CHECK_INT(seen.calls, CLIENTS * REQUESTS);
    httpd_destroy(h);
    metrics_registry_destroy(reg);
    pthread_mutex_destroy(&seen.lock);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    TEST_RUN(test_builtin_endpoints);
    TEST_RUN(test_ready_callback);
    TEST_RUN(test_route);
    TEST_RUN(test_default_body_limit);
    TEST_RUN(test_route_validation);
    TEST_RUN(test_addresses);
    TEST_RUN(test_blocking_handler);
    TEST_RUN(test_concurrent_clients);
    TEST_RUN(test_deferred_answer);
    TEST_RUN(test_keep_alive);
    curl_global_cleanup();
    return TEST_EXIT();
}
