/*
 * The small HTTP endpoint every binary serves: GET /healthz, GET /readyz and GET /metrics,
 * plus routes a binary registers for itself (webhook-ingest's POST callbacks).
 *
 * libmicrohttpd serves every connection from a few event threads (epoll), so a request
 * costs no thread of its own and no thread switch of its own. A handler therefore must
 * not wait long: one that would (webhook-ingest answers only once Kafka has acknowledged
 * the status event) defers its answer with httpd_response_defer(), hands the response to
 * whoever will answer, and returns; the connection waits, without a thread and without
 * the idle timeout, until httpd_response_resume() sends the answer. The connection limit
 * bounds the clients served at once, and the per-connection timeout closes idle and slow
 * clients.
 *
 * A handler runs after the whole body has been read (within the body limit; a request
 * whose body is larger is answered 413 without calling the handler), gets the request
 * through the httpd_request_* accessors and answers through httpd_response_*. Handlers run
 * concurrently on the event threads, so what they share must be thread-safe.
 */
#ifndef NOTIFY_HTTPD_H
#define NOTIFY_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

typedef struct httpd_s httpd_t;
typedef struct httpd_request_s httpd_request_t;
typedef struct httpd_response_s httpd_response_t;

#define HTTPD_DEFAULT_BODY_LIMIT       (1024 * 1024)
#define HTTPD_DEFAULT_CONNECTION_LIMIT 64
#define HTTPD_DEFAULT_TIMEOUT_SECONDS  30
#define HTTPD_MAX_ROUTES               32
#define HTTPD_MAX_PARAMS               8
#define HTTPD_MAX_RESPONSE_HEADERS     8

typedef struct httpd_options_s {
    size_t body_limit;         /* bytes; 0 means HTTPD_DEFAULT_BODY_LIMIT */
    unsigned connection_limit; /* concurrent connections; 0 means the default */
    unsigned timeout_seconds;  /* idle time before a connection is closed; 0: the default */
    unsigned threads;          /* event threads; 0 means the default (1) */
    /*
     * Readiness for GET /readyz: when set, called on each request (from connection
     * threads, so it must be thread-safe) and ready while it returns true. When NULL,
     * the flag set with httpd_set_ready() decides.
     */
    bool (*ready)(void *opaque);
    void *ready_opaque;
} httpd_options_t;

/*
 * Starts serving on `addr`: "host:port", "[v6]:port" (e.g. "[::1]:8080"; "[::]" listens
 * on IPv6 and IPv4), or ":port" for every IPv4 interface. Port 0 picks a free port (see
 * httpd_port()). GET /metrics renders `metrics` (may be NULL: an empty page; the registry
 * must outlive the server). `options` may be NULL for the defaults. Returns NULL with
 * errstr when the address is malformed or cannot be bound.
 */
httpd_t *httpd_new(const char *addr, metrics_registry_t *metrics, const httpd_options_t *options,
                   char *errstr, size_t errstr_size);

/* The port it listens on (the chosen one when the address said 0). */
unsigned httpd_port(const httpd_t *httpd);

/* Sets the readiness flag (false at start) used when no ready callback was given. */
void httpd_set_ready(httpd_t *httpd, bool ready);

/*
 * Stops accepting, answers new requests on open connections 503, waits for requests in
 * progress to finish, deferred answers included (a handler that never returns, or a
 * deferred response never resumed, blocks this), and frees the server. Routes' opaque
 * pointers are not touched.
 */
void httpd_destroy(httpd_t *httpd);

typedef void (*httpd_handler_t)(const httpd_request_t *req, httpd_response_t *resp, void *opaque);

/*
 * Adds a route: `method` (e.g. "POST") and a path pattern of '/'-separated segments where
 * a segment "*" matches any one non-empty segment, captured for httpd_request_param():
 *   httpd_route(h, "POST", "/api/webhooks/email/" "*" "/delivery", on_delivery, ctx, ...)
 * (written as three literals here only because the pattern contains the end of a comment).
 * Routes may be added while serving; the first route added that matches wins. A path
 * matched by a route of another method is answered 405 with an Allow header, an unmatched
 * path 404. /healthz, /readyz and /metrics cannot be taken. Returns 0, or -1 with errstr
 * (bad method or pattern, more than HTTPD_MAX_ROUTES).
 */
int httpd_route(httpd_t *httpd, const char *method, const char *pattern, httpd_handler_t handler,
                void *opaque, char *errstr, size_t errstr_size);

/* The request, valid during the handler call. Strings are NUL-terminated. */
const char *httpd_request_method(const httpd_request_t *req);
/* The path, percent-decoded, without the query: "/api/webhooks/sms/acme/delivery". */
const char *httpd_request_path(const httpd_request_t *req);
/*
 * The request target exactly as the client sent it ("/cb?a=1&b=%20"): what a signature
 * over the called URL covers. httpd_request_query() is its part after '?' ("" if none).
 */
const char *httpd_request_target(const httpd_request_t *req);
const char *httpd_request_query(const httpd_request_t *req);
/* A header's value by name, case-insensitively; NULL when absent. */
const char *httpd_request_header(const httpd_request_t *req, const char *name);
/* Calls fn for each header in the order received; stops early when fn returns non-zero. */
void httpd_request_headers(const httpd_request_t *req,
                           int (*fn)(void *opaque, const char *name, const char *value),
                           void *opaque);
/* The raw body (NUL-terminated for convenience; *len excludes the NUL), "" when empty. */
const char *httpd_request_body(const httpd_request_t *req, size_t *len);
/* The segment matched by the index-th "*" of the route (decoded), or NULL. */
const char *httpd_request_param(const httpd_request_t *req, size_t index);

/*
 * Sets the answer (the body is copied). content_type may be NULL for
 * "text/plain; charset=utf-8". A handler that sets nothing answers 500.
 */
void httpd_response_set(httpd_response_t *resp, int status, const char *content_type,
                        const char *body, size_t len);
/* Adds a header (copied), up to HTTPD_MAX_RESPONSE_HEADERS. Returns 0 or -1 when full. */
int httpd_response_header(httpd_response_t *resp, const char *name, const char *value);

/*
 * Defers the answer: called by a handler (on its event thread, before the response is
 * handed to any other thread), which then returns without answering. The request's
 * accessors are not valid after the handler returns; the response stays valid, to be set
 * with httpd_response_set()/_header() by any one thread and then sent, exactly once, with
 * httpd_response_resume(). Every deferred response must be resumed: httpd_destroy() waits
 * for it.
 */
void httpd_response_defer(httpd_response_t *resp);
/* Sends the answer of a deferred response (from any thread); resp is not valid after. */
void httpd_response_resume(httpd_response_t *resp);

#endif
