/*
 * libmicrohttpd calls the access handler several times per request: once when the headers
 * are in (the route is chosen then, and a request that cannot succeed, an unknown path, a
 * wrong method or a Content-Length over the limit, is answered at once without reading its
 * body, which also closes the connection), once per piece of body (appended, up to the
 * limit), and once more at the end, when the handler runs. /healthz, /readyz and /metrics
 * are answered in that last call too: an answer queued before libmicrohttpd has seen the
 * end of the request makes it close the connection, and a load balancer's probe or a
 * scraper would pay a new connection each time. The per-request state is created in the
 * URI callback, which is also the only place the request target is seen exactly as sent,
 * and freed in the completion callback, which libmicrohttpd calls for every request whose
 * URI it reported.
 *
 * A deferred answer: the handler suspends the connection (libmicrohttpd then neither reads
 * from it nor times it out) and returns; whoever answers later resumes it, and
 * libmicrohttpd calls the access handler once more, which sends what was set. Suspending
 * happens inside the handler, before the response can reach another thread, so a resume
 * never overtakes its suspend.
 *
 * We open the listening socket ourselves so that a bind failure can say why (address in
 * use, permission) and so that the port is known before the first request.
 */
#include "httpd.h"

#include "log.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTPD_TEXT         "text/plain; charset=utf-8"
#define HTTPD_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define HTTPD_METHOD_MAX   16

/*
 * Event threads when the caller names none: one serves a worker's probes and scrapes. A
 * server with real traffic (webhook-ingest) asks for more, so that the cores are kept busy
 * and a handler that blocks holds up only the connections of its own thread.
 */
#define HTTPD_DEFAULT_THREADS 1

typedef struct httpd_route_s {
    char method[HTTPD_METHOD_MAX];
    char *pattern;
    httpd_handler_t handler;
    void *opaque;
} httpd_route_t;

struct httpd_s {
    struct MHD_Daemon *daemon;
    metrics_registry_t *metrics;
    size_t body_limit;
    bool (*ready_fn)(void *opaque);
    void *ready_opaque;
    atomic_bool ready;
    unsigned port;
    /* Deferred answers not yet sent, and whether new requests are still taken; the lock
     * and condition serve httpd_destroy(), which waits for the count to reach zero. */
    pthread_mutex_t pending_lock;
    pthread_cond_t pending_cond;
    size_t pending;
    atomic_bool stopping;
    /*
     * Routes are appended, never changed or removed: a slot is filled under the mutex and
     * then published by a release store of the count, so connection threads read the
     * table without a lock.
     */
    pthread_mutex_t routes_lock;
    httpd_route_t routes[HTTPD_MAX_ROUTES];
    atomic_size_t nroutes;
};

struct httpd_response_s {
    httpd_request_t *req;
    int status;
    char *content_type;
    char *body;
    size_t len;
    char *header_names[HTTPD_MAX_RESPONSE_HEADERS];
    char *header_values[HTTPD_MAX_RESPONSE_HEADERS];
    size_t nheaders;
};

struct httpd_request_s {
    httpd_t *httpd;
    struct MHD_Connection *connection;
    const char *method; /* libmicrohttpd's, valid until the request completes */
    const char *path;
    char *target; /* the request target as sent */
    const char *query;
    int started;
    const httpd_route_t *route;
    char *body;
    size_t body_len;
    size_t body_cap;
    int too_big;
    char *param_buf; /* the captured segments, NUL-separated */
    const char *params[HTTPD_MAX_PARAMS];
    size_t nparams;
    int deferred; /* the handler called httpd_response_defer(); set on the event thread */
    httpd_response_t resp;
};

/* Allocation failure aborts: a supervised daemon is restarted (see architecture.md). */
static void *httpd_alloc(void *p)
{
    if (p == NULL)
        abort();
    return p;
}

static char *httpd_strdup(const char *s)
{
    return httpd_alloc(strdup(s));
}

static void httpd_errno(char *errstr, size_t errstr_size, const char *what, const char *addr,
                        int err)
{
    char msg[128];
    if (strerror_r(err, msg, sizeof(msg)) != 0)
        snprintf(msg, sizeof(msg), "error %d", err);
    snprintf(errstr, errstr_size, "%s %s: %s", what, addr, msg);
}

/* ---- address and socket ---- */

/*
 * "host:port", "[v6]:port" or ":port" into a socket address. The port is decimal and at
 * most 65535; a host name is resolved (numeric addresses are the usual case).
 */
static int httpd_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *ss_len,
                            char *errstr, size_t errstr_size)
{
    char host[256];
    const char *host_start, *port;
    size_t host_len;
    int bracketed = 0;

    if (addr == NULL || addr[0] == '\0') {
        snprintf(errstr, errstr_size, "empty HTTP address");
        return -1;
    }
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(errstr, errstr_size, "HTTP address %s: expected [v6-address]:port", addr);
            return -1;
        }
        bracketed = 1;
        host_start = addr + 1;
        host_len = (size_t)(close - host_start);
        port = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (colon == NULL) {
            snprintf(errstr, errstr_size, "HTTP address %s: missing :port", addr);
            return -1;
        }
        host_len = (size_t)(colon - addr);
        if (memchr(addr, ':', host_len) != NULL) {
            snprintf(errstr, errstr_size, "HTTP address %s: write an IPv6 address as [addr]:port",
                     addr);
            return -1;
        }
        host_start = addr;
        port = colon + 1;
    }
    if (host_len >= sizeof(host) || (bracketed && host_len == 0)) {
        snprintf(errstr, errstr_size, "HTTP address %s: bad host", addr);
        return -1;
    }
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    size_t digits = strspn(port, "0123456789");
    if (digits == 0 || digits > 5 || port[digits] != '\0' || strtol(port, NULL, 10) > 65535) {
        snprintf(errstr, errstr_size, "HTTP address %s: port must be 0-65535", addr);
        return -1;
    }

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | (bracketed ? AI_NUMERICHOST : 0);
    int rc = getaddrinfo(host_len > 0 ? host : "0.0.0.0", port, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(*ss)) {
        snprintf(errstr, errstr_size, "HTTP address %s: %s", addr,
                 rc != 0 ? gai_strerror(rc) : "no address");
        if (res != NULL)
            freeaddrinfo(res);
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *ss_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int httpd_listen(const struct sockaddr_storage *ss, socklen_t ss_len, const char *addr,
                        unsigned *port, char *errstr, size_t errstr_size)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        httpd_errno(errstr, errstr_size, "socket for", addr, errno);
        return -1;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (ss->ss_family == AF_INET6) {
        /* "[::]" means every address, IPv4 included; a specific address is itself alone. */
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        int v6only = memcmp(&in6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) != 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    if (bind(fd, (const struct sockaddr *)ss, ss_len) != 0) {
        httpd_errno(errstr, errstr_size, "bind", addr, errno);
        goto fail;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        httpd_errno(errstr, errstr_size, "listen", addr, errno);
        goto fail;
    }
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
        httpd_errno(errstr, errstr_size, "getsockname", addr, errno);
        goto fail;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
fail:
    close(fd);
    return -1;
}

/* ---- routes ---- */

static int httpd_is_builtin(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
           strcmp(path, "/metrics") == 0;
}

/*
 * Matches `path` against `pattern` segment by segment. When `buf` is given (room for the
 * path), the segments under "*" are copied there and listed in params.
 */
static int httpd_match(const char *pattern, const char *path, char *buf, const char **params,
                       size_t *nparams)
{
    const char *p = pattern, *s = path;
    size_t n = 0;
    while (*p != '\0' && *s != '\0') {
        if (*p != '/' || *s != '/')
            return 0;
        p++;
        s++;
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (plen == 1 && *p == '*') {
            if (slen == 0 || n == HTTPD_MAX_PARAMS)
                return 0;
            if (buf != NULL) {
                memcpy(buf, s, slen);
                buf[slen] = '\0';
                params[n] = buf;
                buf += slen + 1;
            }
            n++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return 0;
        }
        p += plen;
        s += slen;
    }
    if (*p != '\0' || *s != '\0')
        return 0;
    if (nparams != NULL)
        *nparams = n;
    return 1;
}

static int httpd_valid_pattern(const char *pattern)
{
    if (pattern == NULL || pattern[0] != '/' || strchr(pattern, '?') != NULL ||
        httpd_is_builtin(pattern))
        return 0;
    size_t stars = 0;
    for (const char *seg = pattern; *seg != '\0';) {
        seg++; /* the '/' */
        size_t len = strcspn(seg, "/");
        const char *star = memchr(seg, '*', len);
        if (star != NULL && len != 1)
            return 0; /* '*' only as a whole segment */
        stars += star != NULL;
        seg += len;
    }
    return stars <= HTTPD_MAX_PARAMS;
}

static int httpd_valid_method(const char *method)
{
    size_t len = method ? strlen(method) : 0;
    if (len == 0 || len >= HTTPD_METHOD_MAX)
        return 0;
    return strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == len;
}

int httpd_route(httpd_t *httpd, const char *method, const char *pattern, httpd_handler_t handler,
                void *opaque, char *errstr, size_t errstr_size)
{
    int result = -1;
    if (httpd == NULL || handler == NULL) {
        snprintf(errstr, errstr_size, "httpd_route: no server or no handler");
        return -1;
    }
    if (!httpd_valid_method(method)) {
        snprintf(errstr, errstr_size, "httpd_route: bad method \"%s\"", method ? method : "");
        return -1;
    }
    if (!httpd_valid_pattern(pattern)) {
        snprintf(errstr, errstr_size, "httpd_route: bad or reserved path pattern \"%s\"",
                 pattern ? pattern : "");
        return -1;
    }
    pthread_mutex_lock(&httpd->routes_lock);
    size_t n = atomic_load_explicit(&httpd->nroutes, memory_order_relaxed);
    if (n == HTTPD_MAX_ROUTES) {
        snprintf(errstr, errstr_size, "httpd_route: more than %d routes", HTTPD_MAX_ROUTES);
        goto done;
    }
    httpd_route_t *route = &httpd->routes[n];
    snprintf(route->method, sizeof(route->method), "%s", method);
    route->pattern = httpd_strdup(pattern);
    route->handler = handler;
    route->opaque = opaque;
    atomic_store_explicit(&httpd->nroutes, n + 1, memory_order_release);
    result = 0;
done:
    pthread_mutex_unlock(&httpd->routes_lock);
    return result;
}

/*
 * The route for this method and path, or NULL; then *allow lists the methods of the routes
 * whose pattern matched (empty when none did: 404).
 */
static const httpd_route_t *httpd_find_route(httpd_t *h, const char *method, const char *path,
                                             char *allow, size_t allow_size)
{
    size_t n = atomic_load_explicit(&h->nroutes, memory_order_acquire);
    size_t used = 0;
    allow[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        const httpd_route_t *route = &h->routes[k];
        if (!httpd_match(route->pattern, path, NULL, NULL, NULL))
            continue;
        if (strcmp(route->method, method) == 0)
            return route;
        if (strstr(allow, route->method) == NULL && used < allow_size) {
            int w =
                snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "", route->method);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return NULL;
}

/* ---- responses ---- */

void httpd_response_set(httpd_response_t *resp, int status, const char *content_type,
                        const char *body, size_t len)
{
    free(resp->content_type);
    free(resp->body);
    resp->status = status;
    resp->content_type = httpd_strdup(content_type ? content_type : HTTPD_TEXT);
    resp->body = httpd_alloc(malloc(len + 1));
    if (len > 0)
        memcpy(resp->body, body, len);
    resp->body[len] = '\0';
    resp->len = len;
}

int httpd_response_header(httpd_response_t *resp, const char *name, const char *value)
{
    if (resp->nheaders == HTTPD_MAX_RESPONSE_HEADERS || name == NULL || value == NULL)
        return -1;
    resp->header_names[resp->nheaders] = httpd_strdup(name);
    resp->header_values[resp->nheaders] = httpd_strdup(value);
    resp->nheaders++;
    return 0;
}

static void httpd_response_free(httpd_response_t *resp)
{
    free(resp->content_type);
    free(resp->body);
    for (size_t k = 0; k < resp->nheaders; k++) {
        free(resp->header_names[k]);
        free(resp->header_values[k]);
    }
    resp->content_type = resp->body = NULL;
    resp->status = 0;
    resp->nheaders = 0;
}

void httpd_response_defer(httpd_response_t *resp)
{
    httpd_request_t *req = resp->req;
    httpd_t *h = req->httpd;
    if (req->deferred)
        return;
    req->deferred = 1;
    pthread_mutex_lock(&h->pending_lock);
    h->pending++;
    pthread_mutex_unlock(&h->pending_lock);
    MHD_suspend_connection(req->connection);
}

void httpd_response_resume(httpd_response_t *resp)
{
    /* What the answering thread wrote is published by libmicrohttpd's own lock, which
     * both the resume and the event thread that picks it up take. */
    MHD_resume_connection(resp->req->connection);
}

static enum MHD_Result httpd_send(struct MHD_Connection *connection, httpd_response_t *resp)
{
    enum MHD_Result ret = MHD_NO;
    if (resp->status == 0) {
        static const char msg[] = "handler gave no answer\n";
        httpd_response_set(resp, 500, NULL, msg, sizeof(msg) - 1);
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        goto done;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (size_t k = 0; k < resp->nheaders; k++)
        MHD_add_response_header(r, resp->header_names[k], resp->header_values[k]);
    ret = MHD_queue_response(connection, (unsigned)resp->status, r);
    MHD_destroy_response(r);
done:
    httpd_response_free(resp);
    return ret;
}

/* A short text answer, with one optional extra header. */
static enum MHD_Result httpd_send_text(struct MHD_Connection *connection, int status,
                                       const char *type, const char *text, size_t len,
                                       const char *header, const char *value)
{
    httpd_response_t resp;
    memset(&resp, 0, sizeof(resp));
    httpd_response_set(&resp, status, type, text, len);
    if (header != NULL)
        httpd_response_header(&resp, header, value);
    return httpd_send(connection, &resp);
}

#define HTTPD_SEND_LITERAL(conn, status, text, header, value) \
    httpd_send_text(conn, status, HTTPD_TEXT, text, sizeof(text) - 1, header, value)

static bool httpd_is_ready(httpd_t *h)
{
    if (h->ready_fn != NULL)
        return h->ready_fn(h->ready_opaque);
    return atomic_load(&h->ready);
}

static enum MHD_Result httpd_builtin(httpd_t *h, httpd_request_t *req)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return HTTPD_SEND_LITERAL(req->connection, 405, "method not allowed\n", "Allow",
                                  "GET, HEAD");
    if (strcmp(req->path, "/healthz") == 0)
        return HTTPD_SEND_LITERAL(req->connection, 200, "ok", NULL, NULL);
    if (strcmp(req->path, "/readyz") == 0) {
        if (httpd_is_ready(h))
            return HTTPD_SEND_LITERAL(req->connection, 200, "ready", NULL, NULL);
        return HTTPD_SEND_LITERAL(req->connection, 503, "not ready", NULL, NULL);
    }
    char *text = metrics_render(h->metrics);
    if (text == NULL)
        return HTTPD_SEND_LITERAL(req->connection, 500, "cannot render metrics\n", NULL, NULL);
    enum MHD_Result ret =
        httpd_send_text(req->connection, 200, HTTPD_METRICS_TYPE, text, strlen(text), NULL, NULL);
    free(text);
    return ret;
}

/* ---- request lifecycle ---- */

static enum MHD_Result httpd_begin(httpd_t *h, httpd_request_t *req)
{
    if (httpd_is_builtin(req->path) && strcmp(req->method, "GET") != 0 &&
        strcmp(req->method, "HEAD") != 0)
        return httpd_builtin(h, req); /* 405 without reading a body */
    if (httpd_is_builtin(req->path))
        return MHD_YES; /* answered in the last call, see the top of this file */
    /* Once httpd_destroy() began, a request on a kept-alive connection must not start a
     * new deferred answer that the drain would have to wait for. */
    if (atomic_load(&h->stopping))
        return HTTPD_SEND_LITERAL(req->connection, 503, "shutting down\n", NULL, NULL);

    char allow[128];
    req->route = httpd_find_route(h, req->method, req->path, allow, sizeof(allow));
    if (req->route == NULL && allow[0] != '\0')
        return HTTPD_SEND_LITERAL(req->connection, 405, "method not allowed\n", "Allow", allow);
    if (req->route == NULL)
        return HTTPD_SEND_LITERAL(req->connection, 404, "not found\n", NULL, NULL);

    /* A declared length over the limit is refused before a byte of the body is read. */
    const char *length = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length != NULL && strtoull(length, NULL, 10) > h->body_limit)
        return HTTPD_SEND_LITERAL(req->connection, 413, "request body too large\n", NULL, NULL);

    req->param_buf = httpd_alloc(malloc(strlen(req->path) + 1));
    httpd_match(req->route->pattern, req->path, req->param_buf, req->params, &req->nparams);
    return MHD_YES;
}

/* Keeps the body up to the limit; past it, the rest is read and dropped, then 413. */
static void httpd_append(httpd_t *h, httpd_request_t *req, const char *data, size_t len)
{
    if (req->too_big)
        return;
    if (len > h->body_limit - req->body_len) {
        req->too_big = 1;
        free(req->body);
        req->body = NULL;
        req->body_len = req->body_cap = 0;
        return;
    }
    size_t need = req->body_len + len + 1;
    if (need > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 4096;
        while (cap < need)
            cap *= 2;
        if (cap > h->body_limit + 1)
            cap = h->body_limit + 1;
        req->body = httpd_alloc(realloc(req->body, cap));
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
}

static enum MHD_Result httpd_finish(httpd_t *h, httpd_request_t *req)
{
    if (req->deferred)
        return httpd_send(req->connection, &req->resp); /* resumed: the answer is in */
    if (httpd_is_builtin(req->path))
        return httpd_builtin(h, req);
    if (req->too_big)
        return HTTPD_SEND_LITERAL(req->connection, 413, "request body too large\n", NULL, NULL);
    req->route->handler(req, &req->resp, req->route->opaque);
    if (req->deferred)
        return MHD_YES;
    return httpd_send(req->connection, &req->resp);
}

static enum MHD_Result httpd_on_request(void *cls, struct MHD_Connection *connection,
                                        const char *url, const char *method, const char *version,
                                        const char *upload_data, size_t *upload_data_size,
                                        void **con_cls)
{
    httpd_t *h = cls;
    httpd_request_t *req = *con_cls;
    if (req == NULL)
        return MHD_NO; /* the URI callback always sets it */
    if (!req->started) {
        req->started = 1;
        req->connection = connection;
        req->method = method;
        req->path = url;
        return httpd_begin(h, req);
    }
    if (*upload_data_size > 0) {
        httpd_append(h, req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return httpd_finish(h, req);
}

static void *httpd_on_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
    httpd_request_t *req = httpd_alloc(calloc(1, sizeof(*req)));
    req->httpd = cls;
    req->connection = connection;
    req->resp.req = req;
    req->target = httpd_strdup(uri);
    const char *q = strchr(req->target, '?');
    req->query = q != NULL ? q + 1 : "";
    return req;
}

static void httpd_on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                               enum MHD_RequestTerminationCode toe)
{
    httpd_t *h = cls;
    httpd_request_t *req = *con_cls;
    if (req == NULL)
        return;
    /* Counted out here rather than when the answer is sent: a client that left while its
     * answer was deferred is closed on resume without another call of the handler. */
    if (req->deferred) {
        pthread_mutex_lock(&h->pending_lock);
        if (--h->pending == 0)
            pthread_cond_broadcast(&h->pending_cond);
        pthread_mutex_unlock(&h->pending_lock);
    }
    free(req->target);
    free(req->body);
    free(req->param_buf);
    httpd_response_free(&req->resp);
    free(req);
    *con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void httpd_on_log(void *cls, const char *fmt,
                                                               va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = strlen(msg);
    while (len > 0 && msg[len - 1] == '\n')
        msg[--len] = '\0';
    log_warn("httpd: %s", msg);
}

/* ---- request accessors ---- */

const char *httpd_request_method(const httpd_request_t *req)
{
    return req->method;
}

const char *httpd_request_path(const httpd_request_t *req)
{
    return req->path;
}

const char *httpd_request_target(const httpd_request_t *req)
{
    return req->target;
}

const char *httpd_request_query(const httpd_request_t *req)
{
    return req->query;
}

const char *httpd_request_header(const httpd_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

typedef struct httpd_header_visit_s {
    int (*fn)(void *opaque, const char *name, const char *value);
    void *opaque;
} httpd_header_visit_t;

static enum MHD_Result httpd_visit_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                          const char *value)
{
    httpd_header_visit_t *visit = cls;
    return visit->fn(visit->opaque, key, value ? value : "") == 0 ? MHD_YES : MHD_NO;
}

void httpd_request_headers(const httpd_request_t *req,
                           int (*fn)(void *opaque, const char *name, const char *value),
                           void *opaque)
{
    httpd_header_visit_t visit = {fn, opaque};
    MHD_get_connection_values(req->connection, MHD_HEADER_KIND, httpd_visit_header, &visit);
}

const char *httpd_request_body(const httpd_request_t *req, size_t *len)
{
    if (len != NULL)
        *len = req->body_len;
    return req->body != NULL ? req->body : "";
}

const char *httpd_request_param(const httpd_request_t *req, size_t index)
{
    return index < req->nparams ? req->params[index] : NULL;
}

/* ---- server ---- */

httpd_t *httpd_new(const char *addr, metrics_registry_t *metrics, const httpd_options_t *options,
                   char *errstr, size_t errstr_size)
{
    struct sockaddr_storage ss;
    socklen_t ss_len = 0;
    unsigned port = 0;
    if (httpd_parse_addr(addr, &ss, &ss_len, errstr, errstr_size) != 0)
        return NULL;
    int fd = httpd_listen(&ss, ss_len, addr, &port, errstr, errstr_size);
    if (fd < 0)
        return NULL;

    httpd_options_t defaults;
    memset(&defaults, 0, sizeof(defaults));
    if (options == NULL)
        options = &defaults;
    httpd_t *h = httpd_alloc(calloc(1, sizeof(*h)));
    h->metrics = metrics;
    h->body_limit = options->body_limit ? options->body_limit : HTTPD_DEFAULT_BODY_LIMIT;
    h->ready_fn = options->ready;
    h->ready_opaque = options->ready_opaque;
    atomic_init(&h->ready, false);
    atomic_init(&h->nroutes, 0);
    atomic_init(&h->stopping, false);
    h->port = port;
    pthread_mutex_init(&h->routes_lock, NULL);
    pthread_mutex_init(&h->pending_lock, NULL);
    pthread_cond_init(&h->pending_cond, NULL);

    unsigned limit =
        options->connection_limit ? options->connection_limit : HTTPD_DEFAULT_CONNECTION_LIMIT;
    unsigned timeout =
        options->timeout_seconds ? options->timeout_seconds : HTTPD_DEFAULT_TIMEOUT_SECONDS;
    /*
     * A few event threads sharing the listening socket, on epoll (no FD_SETSIZE limit; a
     * worker has many descriptors for librdkafka and libpq). libmicrohttpd divides the
     * connection limit among the threads, so there are never more threads than
     * connections allowed, or one would take none.
     */
    unsigned threads = options->threads ? options->threads : HTTPD_DEFAULT_THREADS;
    if (threads > limit)
        threads = limit;
    /* One thread is libmicrohttpd's own polling thread: the pool option is left out, as a
     * pool of one (or none) makes it log a warning. */
    struct MHD_OptionItem pool[] = {{MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL},
                                    {MHD_OPTION_END, 0, NULL}};
    if (threads <= 1)
        pool[0].option = MHD_OPTION_END;
    /* MHD_USE_ITC: MHD_quiesce_daemon() needs it to stop a lone polling thread accepting. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, httpd_on_request, h, MHD_OPTION_EXTERNAL_LOGGER, httpd_on_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_URI_LOG_CALLBACK, httpd_on_uri, h,
        MHD_OPTION_NOTIFY_COMPLETED, httpd_on_completed, h, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_ARRAY, pool, MHD_OPTION_END);
    if (h->daemon == NULL) {
        /*
         * The socket is not closed here: libmicrohttpd closes it on some of its failure
         * paths and not on others, and closing a descriptor twice could close one another
         * thread has just opened. The binary exits on this error anyway.
         */
        snprintf(errstr, errstr_size, "cannot start the HTTP server on %s", addr);
        pthread_cond_destroy(&h->pending_cond);
        pthread_mutex_destroy(&h->pending_lock);
        pthread_mutex_destroy(&h->routes_lock);
        free(h);
        return NULL;
    }
    return h;
}

unsigned httpd_port(const httpd_t *httpd)
{
    return httpd->port;
}

void httpd_set_ready(httpd_t *httpd, bool ready)
{
    atomic_store(&httpd->ready, ready);
}

void httpd_destroy(httpd_t *httpd)
{
    if (httpd == NULL)
        return;
    /*
     * libmicrohttpd must not be stopped with a connection suspended, so: no new
     * connections, no new requests on open ones (503), then wait for every deferred answer
     * to be sent. The answers always come (see httpd_response_defer()).
     */
    atomic_store(&httpd->stopping, true);
    MHD_socket fd = MHD_quiesce_daemon(httpd->daemon);
    pthread_mutex_lock(&httpd->pending_lock);
    while (httpd->pending > 0)
        pthread_cond_wait(&httpd->pending_cond, &httpd->pending_lock);
    pthread_mutex_unlock(&httpd->pending_lock);
    /* Waits for the event threads; the listening socket is ours again since the quiesce. */
    MHD_stop_daemon(httpd->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    size_t n = atomic_load(&httpd->nroutes);
    for (size_t k = 0; k < n; k++)
        free(httpd->routes[k].pattern);
    pthread_cond_destroy(&httpd->pending_cond);
    pthread_mutex_destroy(&httpd->pending_lock);
    pthread_mutex_destroy(&httpd->routes_lock);
    free(httpd);
}
