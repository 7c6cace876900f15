#include "sim_callback.h"

#include "crypto.h"
#include "hex.h"
#include "timefmt.h"
#include "twilio_form.h"
#include "twiliosig.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sim_callback_item_s {
    struct sim_callback_item_s *next;
    char *url, *token, *account, *sid, *from, *to;
    char final_status[16];
    int error_code;
    int stage; /* 0 queued, 1 sent, 2 final */
    int64_t due_ms;
    /* While on the wire. */
    twilio_form_t *form;
    struct curl_slist *headers;
    CURL *easy;
    struct sim_callback_item_s *aprev, *anext; /* the curl thread's list of those on the wire */
} sim_callback_item_t;

struct sim_callback_s {
    int delay_ms;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t lock;
    sim_callback_item_t *head, *tail; /* due times never decrease along the list */
    sim_callback_item_t *active;      /* on the wire; the curl thread's only */
    bool stop;
    uint64_t sent, failed;
};

static char *sim_callback_dup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL)
        abort();
    return d;
}

static void sim_callback_item_free(sim_callback_item_t *it)
{
    free(it->url);
    free(it->token);
    free(it->account);
    free(it->sid);
    free(it->from);
    free(it->to);
    twilio_form_destroy(it->form);
    curl_slist_free_all(it->headers);
    free(it);
}

static void sim_callback_push(sim_callback_t *cb, sim_callback_item_t *it)
{
    it->next = NULL;
    pthread_mutex_lock(&cb->lock);
    if (cb->tail)
        cb->tail->next = it;
    else
        cb->head = it;
    cb->tail = it;
    pthread_mutex_unlock(&cb->lock);
    curl_multi_wakeup(cb->multi);
}

static const char *sim_callback_status(const sim_callback_item_t *it)
{
    if (it->stage == 0)
        return "queued";
    if (it->stage == 1)
        return "sent";
    return it->final_status[0] ? it->final_status : "delivered";
}

static void sim_callback_start(sim_callback_t *cb, sim_callback_item_t *it)
{
    const char *status = sim_callback_status(it);
    char sig[TWILIOSIG_SIZE], line[128], code[16], token[33], dlr[16];
    unsigned char rnd[16];
    bool final = it->stage == 2;
    bool failed = final && strcmp(status, "delivered") != 0;
    CURL *e;

    /* The parameters Twilio sends for an SMS, in its order. */
    twiliosig_param_t params[10];
    size_t n = 0;
    if (failed && it->error_code > 0) {
        snprintf(code, sizeof(code), "%d", it->error_code);
        params[n++] = (twiliosig_param_t){"ErrorCode", code};
    }
    params[n++] = (twiliosig_param_t){"SmsSid", it->sid};
    params[n++] = (twiliosig_param_t){"SmsStatus", status};
    params[n++] = (twiliosig_param_t){"MessageStatus", status};
    params[n++] = (twiliosig_param_t){"To", it->to};
    params[n++] = (twiliosig_param_t){"MessageSid", it->sid};
    params[n++] = (twiliosig_param_t){"AccountSid", it->account};
    params[n++] = (twiliosig_param_t){"From", it->from};
    params[n++] = (twiliosig_param_t){"ApiVersion", "2010-04-01"};
    if (final && strcmp(status, "failed") != 0) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        /* YYMMDDhhmm: the century is dropped from a four-digit year. */
        strftime(dlr, sizeof(dlr), "%Y%m%d%H%M", &tm);
        params[n++] = (twiliosig_param_t){"RawDlrDoneDate", dlr + 2};
    }
    it->form = twilio_form_new();
    for (size_t i = 0; i < n; i++) {
        if (twilio_form_add(it->form, params[i].name, params[i].value) != 0)
            abort();
    }

    /* Signed over what is sent: the URL exactly as given and the decoded parameters. */
    if (twiliosig_compute(it->token, strlen(it->token), it->url, params, n, sig) != 0)
        abort();
    snprintf(line, sizeof(line), "X-Twilio-Signature: %s", sig);
    it->headers = curl_slist_append(NULL, line);
    crypto_random_bytes(rnd, sizeof(rnd));
    hex_encode(rnd, sizeof(rnd), token, sizeof(token));
    snprintf(line, sizeof(line), "I-Twilio-Idempotency-Token: %s", token);
    it->headers = curl_slist_append(it->headers, line);
    it->headers = curl_slist_append(it->headers, "Expect:");

    e = curl_easy_init();
    if (e == NULL || it->headers == NULL)
        abort();
    curl_easy_setopt(e, CURLOPT_URL, it->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)twilio_form_len(it->form));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, twilio_form_data(it->form));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "TwilioProxy/1.1");
    curl_easy_setopt(e, CURLOPT_PRIVATE, it);
    curl_multi_add_handle(cb->multi, e);
    it->easy = e;
    it->aprev = NULL;
    it->anext = cb->active;
    if (cb->active)
        cb->active->aprev = it;
    cb->active = it;
}

static void sim_callback_finish(sim_callback_t *cb, CURL *e, CURLcode rc)
{
    sim_callback_item_t *it = NULL;
    long status = 0;

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&it);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(cb->multi, e);
    curl_easy_cleanup(e);
    it->easy = NULL;
    if (it->aprev)
        it->aprev->anext = it->anext;
    else
        cb->active = it->anext;
    if (it->anext)
        it->anext->aprev = it->aprev;
    bool ok = rc == CURLE_OK && status >= 200 && status <= 299;
    pthread_mutex_lock(&cb->lock);
    if (ok)
        cb->sent++;
    else
        cb->failed++;
    pthread_mutex_unlock(&cb->lock);
    twilio_form_destroy(it->form);
    it->form = NULL;
    curl_slist_free_all(it->headers);
    it->headers = NULL;
    if (it->stage < 2) {
        it->stage++;
        it->due_ms = timefmt_mono_ms() + cb->delay_ms;
        sim_callback_push(cb, it);
    } else {
        sim_callback_item_free(it);
    }
}

static void *sim_callback_thread(void *arg)
{
    sim_callback_t *cb = arg;
    for (;;) {
        int64_t now = timefmt_mono_ms();
        int wait_ms = 1000;
        pthread_mutex_lock(&cb->lock);
        if (cb->stop) {
            pthread_mutex_unlock(&cb->lock);
            break;
        }
        while (cb->head && cb->head->due_ms <= now) {
            sim_callback_item_t *it = cb->head;
            cb->head = it->next;
            if (cb->head == NULL)
                cb->tail = NULL;
            pthread_mutex_unlock(&cb->lock);
            sim_callback_start(cb, it);
            pthread_mutex_lock(&cb->lock);
        }
        if (cb->head && cb->head->due_ms - now < wait_ms)
            wait_ms = (int)(cb->head->due_ms - now);
        pthread_mutex_unlock(&cb->lock);

        int running = 0;
        curl_multi_perform(cb->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(cb->multi, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE)
                sim_callback_finish(cb, msg->easy_handle, msg->data.result);
        }
        curl_multi_poll(cb->multi, NULL, 0, wait_ms > 0 ? wait_ms : 1, NULL);
    }
    return NULL;
}

sim_callback_t *sim_callback_new(int delay_ms)
{
    sim_callback_t *cb = calloc(1, sizeof(*cb));
    if (cb == NULL)
        abort();
    cb->delay_ms = delay_ms;
    cb->multi = curl_multi_init();
    if (cb->multi == NULL)
        abort();
    curl_multi_setopt(cb->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    pthread_mutex_init(&cb->lock, NULL);
    if (pthread_create(&cb->thread, NULL, sim_callback_thread, cb) != 0)
        abort();
    return cb;
}

void sim_callback_destroy(sim_callback_t *cb)
{
    if (cb == NULL)
        return;
    pthread_mutex_lock(&cb->lock);
    cb->stop = true;
    pthread_mutex_unlock(&cb->lock);
    curl_multi_wakeup(cb->multi);
    pthread_join(cb->thread, NULL);
    while (cb->active) {
        sim_callback_item_t *it = cb->active;
        cb->active = it->anext;
        curl_multi_remove_handle(cb->multi, it->easy);
        curl_easy_cleanup(it->easy);
        sim_callback_item_free(it);
    }
    while (cb->head) {
        sim_callback_item_t *next = cb->head->next;
        sim_callback_item_free(cb->head);
        cb->head = next;
    }
    curl_multi_cleanup(cb->multi);
    pthread_mutex_destroy(&cb->lock);
    free(cb);
}

void sim_callback_schedule(sim_callback_t *cb, const char *url, const char *auth_token,
                           const char *account_sid, const char *message_sid, const char *from,
                           const char *to, const char *final_status, int error_code)
{
    sim_callback_item_t *it = calloc(1, sizeof(*it));
    if (it == NULL)
        abort();
    it->url = sim_callback_dup(url);
    it->token = sim_callback_dup(auth_token);
    it->account = sim_callback_dup(account_sid);
    it->sid = sim_callback_dup(message_sid);
    it->from = sim_callback_dup(from);
    it->to = sim_callback_dup(to);
    snprintf(it->final_status, sizeof(it->final_status), "%s", final_status ? final_status : "");
    it->error_code = error_code;
    it->due_ms = timefmt_mono_ms() + cb->delay_ms;
    sim_callback_push(cb, it);
}

void sim_callback_stats(sim_callback_t *cb, uint64_t *sent, uint64_t *failed)
{
    pthread_mutex_lock(&cb->lock);
    *sent = cb->sent;
    *failed = cb->failed;
    pthread_mutex_unlock(&cb->lock);
}
