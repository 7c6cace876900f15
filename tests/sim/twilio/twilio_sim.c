/*
 * twilio-sim: a stand-in for Twilio's Messages API, for the tests, the benchmark and the
 * demo (no public simulator exists). It speaks the same protocol as the real thing:
 *
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json
 *     HTTP Basic auth checked against the configured accounts (401 / 20003 otherwise);
 *     the form validated as Twilio does (To E.164: 21604/21211; From: 21603/21212; Body
 *     required and at most 1600 characters: 21602/21617; ValidityPeriod 1-14400: 21624;
 *     StatusCallback an http(s) URL: 21609); Twilio's magic test numbers
 *     +15005550001/2/3/4/9 answer 21211/21612/21408/21610/21614;
 *     201 with a Twilio-shaped message resource, or Twilio-shaped errors
 *     {"code","message","more_info","status"}.
 *   then, when StatusCallback was given, the signed status callbacks (sim_callback.h).
 *
 * Faults (sim_rules.h) come from --fault=RULE at start or POST /sim/rules at run time:
 * errors with chosen codes for a share of requests, 429 with Retry-After, slow answers,
 * dropped connections, failed deliveries. GET /sim/stats counts what happened and
 * GET /sim/messages lists the last messages accepted, with the raw form and headers, so
 * tests can check the bytes a client sent. DELETE /sim/rules clears the rules.
 *
 *   twilio-sim --listen=127.0.0.1:0 --account=ACxxx:token [--port-file=F]
 *              [--fault=RULE]... [--callback-delay-ms=N] [--seed=N]
 *
 * Each connection has its own thread (libmicrohttpd), so a slow answer holds up only its
 * own connection, as with the real API.
 */
#include "base64.h"
#include "sim_callback.h"
#include "sim_rules.h"
#include "smsseg.h"
#include "formenc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SIM_MAX_ACCOUNTS 16
#define SIM_BODY_MAX     (64 * 1024)
#define SIM_RECENT       256

typedef struct sim_account_s {
    char sid[64];
    char token[128];
} sim_account_t;

/* One accepted message, as GET /sim/messages shows it. */
typedef struct sim_recent_s {
    char *json; /* the serialised entry */
} sim_recent_t;

typedef struct sim_s {
    sim_account_t accounts[SIM_MAX_ACCOUNTS];
    size_t naccounts;
    sim_rules_t *rules;
    sim_callback_t *callbacks;
    uint64_t sid_prefix;
    atomic_uint_fast64_t sid_counter;
    atomic_uint_fast64_t n_requests, n_created, n_rejected, n_auth_failed, n_faults, n_dropped;
    pthread_mutex_t recent_lock;
    sim_recent_t recent[SIM_RECENT];
    size_t recent_next;
} sim_t;

/* Per-request state: the body as it arrives. */
typedef struct sim_conn_s {
    char *body;
    size_t len;
    bool too_big;
} sim_conn_t;

/* --- answers ---------------------------------------------------------------------------- */

static enum MHD_Result sim_send(struct MHD_Connection *c, unsigned status, const char *type,
                                const char *body, int retry_after_s, bool www_auth)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    if (retry_after_s >= 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", retry_after_s);
        MHD_add_response_header(r, "Retry-After", v);
    }
    if (www_auth)
        MHD_add_response_header(r, "WWW-Authenticate", "Basic realm=\"Twilio API\"");
    MHD_add_response_header(r, "Twilio-Request-Id", "RQ00000000000000000000000000000000");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static const char *sim_default_message(int code)
{
    static const struct {
        int code;
        const char *message;
    } table[] = {
        {20003, "Authenticate"},
        {20404, "The requested resource was not found"},
        {20429, "Too Many Requests"},
        {20500, "Internal Server Error"},
        {20503, "Service Unavailable"},
        {21211, "The 'To' number is not a valid phone number."},
        {21408, "Permission to send an SMS has not been enabled for the region indicated by the "
                "'To' number."},
        {21610, "Attempt to send to unsubscribed recipient"},
        {21612, "The 'To' phone number is not currently reachable via SMS."},
        {21614, "'To' number is not a valid mobile number"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].code == code)
            return table[i].message;
    }
    return "Error";
}

/* Twilio's error body; code 0 leaves the code out (a bare proxy or load-balancer error). */
static enum MHD_Result sim_error(struct MHD_Connection *c, unsigned status, int code,
                                 const char *message, int retry_after_s)
{
    json_object *o = json_object_new_object();
    if (code > 0) {
        char more[96];
        snprintf(more, sizeof(more), "https://www.twilio.com/docs/errors/%d", code);
        json_object_object_add(o, "code", json_object_new_int(code));
        json_object_object_add(
            o, "message", json_object_new_string(message ? message : sim_default_message(code)));
        json_object_object_add(o, "more_info", json_object_new_string(more));
    } else {
        json_object_object_add(o, "message", json_object_new_string(message ? message : "Error"));
    }
    json_object_object_add(o, "status", json_object_new_int((int)status));
    enum MHD_Result rc = sim_send(
        c, status, "application/json",
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        retry_after_s, status == 401);
    json_object_put(o);
    return rc;
}

/* The code Twilio sends with a status when a rule names none; 0 (no code, as a proxy in
 * front of the API would answer) for the others. */
static int sim_status_code(int status)
{
    switch (status) {
    case 401:
        return 20003;
    case 404:
        return 20404;
    case 429:
        return 20429;
    case 500:
        return 20500;
    case 503:
        return 20503;
    default:
        return 0;
    }
}

/* --- the Messages resource -------------------------------------------------------------- */

static const sim_account_t *sim_authenticate(const sim_t *sim, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char decoded[512];
    size_t dlen = 0;

    if (h == NULL || strncasecmp(h, "Basic ", 6) != 0)
        return NULL;
    h += 6;
    if (base64_decode(h, strlen(h), decoded, sizeof(decoded) - 1, &dlen) != 0)
        return NULL;
    decoded[dlen] = '\0';
    char *colon = strchr(decoded, ':');
    if (colon == NULL)
        return NULL;
    *colon = '\0';
    for (size_t i = 0; i < sim->naccounts; i++) {
        if (strcmp(sim->accounts[i].sid, decoded) == 0 &&
            strcmp(sim->accounts[i].token, colon + 1) == 0)
            return &sim->accounts[i];
    }
    return NULL;
}

static bool sim_e164(const char *s)
{
    size_t n = 0;
    if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
        return false;
    for (const char *p = s + 1; *p; p++, n++) {
        if (*p < '0' || *p > '9')
            return false;
    }
    return n >= 2 && n <= 15;
}

/* A From: E.164, a short code (digits) or an alphanumeric sender ID (up to 11). */
static bool sim_from_valid(const char *s)
{
    if (sim_e164(s))
        return true;
    size_t n = strlen(s);
    if (n == 0 || n > 11)
        return false;
    for (const char *p = s; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              *p == ' '))
            return false;
    }
    return true;
}

/* Twilio's magic test numbers (test credentials), answered the same way here. */
static int sim_magic_to(const char *to)
{
    static const struct {
        const char *to;
        int code;
    } magic[] = {
        {"+15005550001", 21211}, {"+15005550002", 21612}, {"+15005550003", 21408},
        {"+15005550004", 21610}, {"+15005550009", 21614},
    };
    for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++) {
        if (strcmp(magic[i].to, to) == 0)
            return magic[i].code;
    }
    return 0;
}

static void sim_date(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static void sim_remember(sim_t *sim, json_object *entry)
{
    char *text = strdup(json_object_to_json_string_ext(entry, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
    if (text == NULL)
        abort();
    pthread_mutex_lock(&sim->recent_lock);
    free(sim->recent[sim->recent_next].json);
    sim->recent[sim->recent_next].json = text;
    sim->recent_next = (sim->recent_next + 1) % SIM_RECENT;
    pthread_mutex_unlock(&sim->recent_lock);
}

static enum MHD_Result sim_create_message(sim_t *sim, struct MHD_Connection *c, const char *sid,
                                          const sim_conn_t *conn)
{
    char err[128], msgbuf[256];
    const sim_account_t *acct = sim_authenticate(sim, c);
    formenc_t *p = NULL;
    enum MHD_Result rc;
    sim_verdict_t v;

    atomic_fetch_add(&sim->n_requests, 1);
    if (acct == NULL || strcmp(acct->sid, sid) != 0) {
        atomic_fetch_add(&sim->n_auth_failed, 1);
        return sim_error(c, 401, 20003, "Authenticate", -1);
    }
    p = formenc_parse(conn->body ? conn->body : "", conn->len, err, sizeof(err));
    if (p == NULL) {
        atomic_fetch_add(&sim->n_rejected, 1);
        return sim_error(c, 400, 20001, "Invalid form body", -1);
    }
    const char *to = formenc_get(p, "To");
    const char *from = formenc_get(p, "From");
    const char *body = formenc_get(p, "Body");
    const char *callback = formenc_get(p, "StatusCallback");
    const char *validity = formenc_get(p, "ValidityPeriod");

    /* Faults first: a throttled or failing Twilio answers before it looks at the form. */
    sim_rules_match(sim->rules, to, &v);
    if (v.delay_ms > 0)
        usleep((useconds_t)v.delay_ms * 1000);
    if (v.drop) {
        atomic_fetch_add(&sim->n_dropped, 1);
        rc = MHD_NO;
        goto out;
    }
    if (v.status >= 300) {
        int code = v.code ? v.code : sim_status_code(v.status);
        atomic_fetch_add(&sim->n_faults, 1);
        rc = sim_error(c, (unsigned)v.status, code, NULL, v.retry_after_s);
        goto out;
    }

    smsseg_info_t seg;
    int magic = 0;
    memset(&seg, 0, sizeof(seg));
    if (to == NULL || to[0] == '\0') {
        rc = sim_error(c, 400, 21604, "A 'To' phone number is required.", -1);
    } else if (!sim_e164(to)) {
        snprintf(msgbuf, sizeof(msgbuf), "The 'To' number %.40s is not a valid phone number.", to);
        rc = sim_error(c, 400, 21211, msgbuf, -1);
    } else if (from == NULL || from[0] == '\0') {
        rc = sim_error(c, 400, 21603, "A 'From' phone number is required.", -1);
    } else if (!sim_from_valid(from)) {
        snprintf(msgbuf, sizeof(msgbuf),
                 "The 'From' number %.40s is not a valid phone number, shortcode, or "
                 "alphanumeric sender ID.",
                 from);
        rc = sim_error(c, 400, 21212, msgbuf, -1);
    } else if (body == NULL || body[0] == '\0' || smsseg_analyze(body, strlen(body), &seg) != 0) {
        rc = sim_error(c, 400, 21602, "Message body is required.", -1);
    } else if (seg.chars > SMSSEG_MAX_CHARS) {
        rc = sim_error(c, 400, 21617,
                       "The concatenated message body exceeds the 1600 character limit.", -1);
    } else if (validity &&
               (strspn(validity, "0123456789") != strlen(validity) || strlen(validity) > 6 ||
                strtol(validity, NULL, 10) < 1 || strtol(validity, NULL, 10) > 14400)) {
        rc = sim_error(c, 400, 21624, "Validity Period must be between 1 and 14400 seconds.", -1);
    } else if (callback && strncmp(callback, "http://", 7) != 0 &&
               strncmp(callback, "https://", 8) != 0) {
        rc = sim_error(c, 400, 21609, "Invalid StatusCallback URL.", -1);
    } else if ((magic = sim_magic_to(to)) != 0) {
        rc = sim_error(c, 400, magic, NULL, -1);
    } else {
        rc = MHD_YES;
        goto accept;
    }
    atomic_fetch_add(&sim->n_rejected, 1);
    goto out;

accept:;
    char msid[40], date[64], uri[160], media[160], segs[16];
    snprintf(msid, sizeof(msid), "SM%016" PRIx64 "%016" PRIx64, sim->sid_prefix,
             (uint64_t)atomic_fetch_add(&sim->sid_counter, 1));
    sim_date(date, sizeof(date));
    snprintf(uri, sizeof(uri), "/2010-04-01/Accounts/%s/Messages/%s.json", acct->sid, msid);
    snprintf(media, sizeof(media), "/2010-04-01/Accounts/%s/Messages/%s/Media.json", acct->sid,
             msid);
    snprintf(segs, sizeof(segs), "%zu", seg.segments);

    json_object *o = json_object_new_object();
    json_object_object_add(o, "account_sid", json_object_new_string(acct->sid));
    json_object_object_add(o, "api_version", json_object_new_string("2010-04-01"));
    json_object_object_add(o, "body", json_object_new_string(body));
    json_object_object_add(o, "date_created", json_object_new_string(date));
    json_object_object_add(o, "date_sent", NULL);
    json_object_object_add(o, "date_updated", json_object_new_string(date));
    json_object_object_add(o, "direction", json_object_new_string("outbound-api"));
    json_object_object_add(o, "error_code", NULL);
    json_object_object_add(o, "error_message", NULL);
    json_object_object_add(o, "from", json_object_new_string(from));
    json_object_object_add(o, "messaging_service_sid", NULL);
    json_object_object_add(o, "num_media", json_object_new_string("0"));
    json_object_object_add(o, "num_segments", json_object_new_string(segs));
    json_object_object_add(o, "price", NULL);
    json_object_object_add(o, "price_unit", json_object_new_string("USD"));
    json_object_object_add(o, "sid", json_object_new_string(msid));
    json_object_object_add(o, "status", json_object_new_string("queued"));
    json_object *sub = json_object_new_object();
    json_object_object_add(sub, "media", json_object_new_string(media));
    json_object_object_add(o, "subresource_uris", sub);
    json_object_object_add(o, "to", json_object_new_string(to));
    json_object_object_add(o, "uri", json_object_new_string(uri));
    rc = sim_send(
        c, 201, "application/json",
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        -1, false);
    json_object_put(o);
    atomic_fetch_add(&sim->n_created, 1);

    /* What the client sent, for tests that check the bytes. */
    const char *idem = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Idempotency-Key");
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    json_object *e = json_object_new_object();
    json_object_object_add(e, "sid", json_object_new_string(msid));
    json_object_object_add(e, "account_sid", json_object_new_string(acct->sid));
    json_object_object_add(e, "to", json_object_new_string(to));
    json_object_object_add(e, "from", json_object_new_string(from));
    json_object_object_add(e, "body", json_object_new_string(body));
    json_object_object_add(e, "status_callback",
                           callback ? json_object_new_string(callback) : NULL);
    json_object_object_add(e, "validity_period",
                           validity ? json_object_new_string(validity) : NULL);
    json_object_object_add(e, "idempotency_key", idem ? json_object_new_string(idem) : NULL);
    json_object_object_add(e, "content_type", ctype ? json_object_new_string(ctype) : NULL);
    json_object_object_add(e, "accept", accept ? json_object_new_string(accept) : NULL);
    json_object_object_add(
        e, "form", json_object_new_string_len(conn->body ? conn->body : "", (int)conn->len));
    sim_remember(sim, e);
    json_object_put(e);

    if (callback && callback[0])
        sim_callback_schedule(sim->callbacks, callback, acct->token, acct->sid, msid, from, to,
                              v.final_status, v.final_error_code);

out:
    formenc_destroy(p);
    return rc;
}

/* --- control endpoints ------------------------------------------------------------------ */

static enum MHD_Result sim_stats(sim_t *sim, struct MHD_Connection *c)
{
    char out[512];
    uint64_t cb_sent = 0, cb_failed = 0;
    sim_callback_stats(sim->callbacks, &cb_sent, &cb_failed);
    snprintf(out, sizeof(out),
             "{\"requests\":%" PRIu64 ",\"created\":%" PRIu64 ",\"rejected\":%" PRIu64
             ",\"auth_failed\":%" PRIu64 ",\"faults\":%" PRIu64 ",\"dropped\":%" PRIu64
             ",\"callbacks_sent\":%" PRIu64 ",\"callbacks_failed\":%" PRIu64 "}",
             (uint64_t)atomic_load(&sim->n_requests), (uint64_t)atomic_load(&sim->n_created),
             (uint64_t)atomic_load(&sim->n_rejected), (uint64_t)atomic_load(&sim->n_auth_failed),
             (uint64_t)atomic_load(&sim->n_faults), (uint64_t)atomic_load(&sim->n_dropped), cb_sent,
             cb_failed);
    return sim_send(c, 200, "application/json", out, -1, false);
}

static enum MHD_Result sim_messages(sim_t *sim, struct MHD_Connection *c)
{
    size_t cap = 2, len = 1;
    char *out = malloc(cap + 1);
    if (out == NULL)
        abort();
    out[0] = '[';
    pthread_mutex_lock(&sim->recent_lock);
    for (size_t k = 0; k < SIM_RECENT; k++) {
        const char *j = sim->recent[(sim->recent_next + k) % SIM_RECENT].json;
        if (j == NULL)
            continue;
        size_t jl = strlen(j);
        if (len + jl + 3 > cap) {
            cap = (len + jl + 3) * 2;
            out = realloc(out, cap + 1);
            if (out == NULL)
                abort();
        }
        if (len > 1)
            out[len++] = ',';
        memcpy(out + len, j, jl);
        len += jl;
    }
    pthread_mutex_unlock(&sim->recent_lock);
    out[len++] = ']';
    out[len] = '\0';
    enum MHD_Result rc = sim_send(c, 200, "application/json", out, -1, false);
    free(out);
    return rc;
}

/* --- the server ------------------------------------------------------------------------- */

/* "/2010-04-01/Accounts/{sid}/Messages.json": the sid into `sid`, or false. */
static bool sim_messages_path(const char *url, char *sid, size_t size)
{
    static const char prefix[] = "/2010-04-01/Accounts/";
    static const char suffix[] = "/Messages.json";
    size_t ul = strlen(url), pl = sizeof(prefix) - 1, sl = sizeof(suffix) - 1;
    if (ul <= pl + sl || strncmp(url, prefix, pl) != 0 || strcmp(url + ul - sl, suffix) != 0)
        return false;
    size_t n = ul - pl - sl;
    if (n >= size || memchr(url + pl, '/', n) != NULL)
        return false;
    memcpy(sid, url + pl, n);
    sid[n] = '\0';
    return true;
}

static enum MHD_Result sim_on_request(void *opaque, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    sim_t *sim = opaque;
    sim_conn_t *conn = *con_cls;
    char sid[64];

    if (conn == NULL) {
        conn = calloc(1, sizeof(*conn));
        if (conn == NULL)
            abort();
        *con_cls = conn;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (conn->len + n > SIM_BODY_MAX) {
            conn->too_big = true;
        } else {
            char *b = realloc(conn->body, conn->len + n + 1);
            if (b == NULL)
                abort();
            conn->body = b;
            memcpy(conn->body + conn->len, upload_data, n);
            conn->len += n;
            conn->body[conn->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (conn->too_big)
        return sim_error(c, 413, 0, "Request Entity Too Large", -1);

    if (strcmp(method, "POST") == 0 && sim_messages_path(url, sid, sizeof(sid)))
        return sim_create_message(sim, c, sid, conn);
    if (strcmp(method, "GET") == 0 && strcmp(url, "/sim/stats") == 0)
        return sim_stats(sim, c);
    if (strcmp(method, "GET") == 0 && strcmp(url, "/sim/messages") == 0)
        return sim_messages(sim, c);
    if (strcmp(url, "/sim/rules") == 0 && strcmp(method, "POST") == 0) {
        char err[160];
        if (sim_rules_add(sim->rules, conn->body ? conn->body : "", conn->len, err, sizeof(err)) !=
            0)
            return sim_send(c, 400, "text/plain", err, -1, false);
        return sim_send(c, 204, "text/plain", "", -1, false);
    }
    if (strcmp(url, "/sim/rules") == 0 && strcmp(method, "DELETE") == 0) {
        sim_rules_clear(sim->rules);
        return sim_send(c, 204, "text/plain", "", -1, false);
    }
    if (strcmp(url, "/healthz") == 0)
        return sim_send(c, 200, "text/plain", "ok\n", -1, false);
    return sim_error(c, 404, 20404, "The requested resource was not found", -1);
}

static void sim_on_completed(void *opaque, struct MHD_Connection *c, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    sim_conn_t *conn = *con_cls;
    if (conn) {
        free(conn->body);
        free(conn);
        *con_cls = NULL;
    }
}

/* Binds host:port (IPv4; port 0 picks one). Returns the socket or -1. */
static int sim_listen(const char *addr, unsigned *port)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int one = 1;

    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static void sim_usage(FILE *out)
{
    fprintf(out, "usage: twilio-sim --listen=HOST:PORT --account=SID:TOKEN [--account=...]\n"
                 "                  [--port-file=FILE] [--fault=RULE]... [--callback-delay-ms=N]\n"
                 "                  [--seed=N]\n"
                 "RULE is a form, e.g. 'share=0.1&status=500' or 'to=%%2B15005550100&status=429"
                 "&retry_after=2&count=1' (see sim_rules.h)\n");
}

int main(int argc, char **argv)
{
    static sim_t sim;
    const char *listen_addr = "127.0.0.1:0", *port_file = NULL;
    int callback_delay_ms = 50;
    unsigned seed = (unsigned)time(NULL);
    char err[160];
    int rc = 2;
    sigset_t sigs;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    sim.rules = sim_rules_new(0);
    pthread_mutex_init(&sim.recent_lock, NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--listen=", 9) == 0) {
            listen_addr = a + 9;
        } else if (strncmp(a, "--port-file=", 12) == 0) {
            port_file = a + 12;
        } else if (strncmp(a, "--account=", 10) == 0) {
            const char *colon = strchr(a + 10, ':');
            sim_account_t *acct = &sim.accounts[sim.naccounts];
            if (colon == NULL || sim.naccounts == SIM_MAX_ACCOUNTS ||
                (size_t)(colon - (a + 10)) >= sizeof(acct->sid) ||
                strlen(colon + 1) >= sizeof(acct->token)) {
                fprintf(stderr, "twilio-sim: --account: SID:TOKEN expected\n");
                goto out;
            }
            memcpy(acct->sid, a + 10, (size_t)(colon - (a + 10)));
            acct->sid[colon - (a + 10)] = '\0';
            snprintf(acct->token, sizeof(acct->token), "%s", colon + 1);
            sim.naccounts++;
        } else if (strncmp(a, "--fault=", 8) == 0) {
            if (sim_rules_add(sim.rules, a + 8, strlen(a + 8), err, sizeof(err)) != 0) {
                fprintf(stderr, "twilio-sim: --fault: %s\n", err);
                goto out;
            }
        } else if (strncmp(a, "--callback-delay-ms=", 20) == 0) {
            callback_delay_ms = (int)strtol(a + 20, NULL, 10);
        } else if (strncmp(a, "--seed=", 7) == 0) {
            seed = (unsigned)strtoul(a + 7, NULL, 10);
        } else if (strcmp(a, "--help") == 0) {
            sim_usage(stdout);
            rc = 0;
            goto out;
        } else {
            fprintf(stderr, "twilio-sim: unknown argument '%s'\n", a);
            sim_usage(stderr);
            goto out;
        }
    }
    if (sim.naccounts == 0) {
        fprintf(stderr, "twilio-sim: at least one --account=SID:TOKEN is required\n");
        goto out;
    }
    sim_rules_destroy(sim.rules);
    sim.rules = sim_rules_new(seed);
    /* Re-read the faults into the seeded set (the first pass only validated them). */
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--fault=", 8) == 0)
            sim_rules_add(sim.rules, argv[i] + 8, strlen(argv[i] + 8), err, sizeof(err));
    }
    sim.sid_prefix = ((uint64_t)seed << 32) ^ (uint64_t)getpid();

    /* Signals are taken by sigwait() below, never by a server thread. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned port = 0;
    int fd = sim_listen(listen_addr, &port);
    if (fd < 0) {
        fprintf(stderr, "twilio-sim: cannot listen on %s: %s\n", listen_addr, strerror(errno));
        rc = 1;
        goto out;
    }
    sim.callbacks = sim_callback_new(callback_delay_ms);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
            MHD_USE_ITC,
        0, NULL, NULL, sim_on_request, &sim, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, sim_on_completed, &sim, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)4096, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "twilio-sim: cannot start the HTTP server\n");
        close(fd);
        rc = 1;
        goto out;
    }
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0) {
            fprintf(stderr, "twilio-sim: cannot write %s\n", port_file);
            MHD_stop_daemon(d);
            rc = 1;
            goto out;
        }
    }
    printf("twilio-sim listening on port %u\n", port);
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    close(fd);
    rc = 0;

out:
    sim_callback_destroy(sim.callbacks);
    sim_rules_destroy(sim.rules);
    for (size_t i = 0; i < SIM_RECENT; i++)
        free(sim.recent[i].json);
    pthread_mutex_destroy(&sim.recent_lock);
    curl_global_cleanup();
    return rc;
}
