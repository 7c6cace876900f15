#include "wh_emit.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"

struct wh_emit_s {
    rd_kafka_t *producer;
    char *topic;
    pthread_t poller;
    bool poller_started;
    atomic_int stop;
};

/* One handler waiting for one delivery report; lives on the handler's stack. */
typedef struct wh_emit_wait_s {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    rd_kafka_resp_err_t err;
} wh_emit_wait_t;

static void wh_emit_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    wh_emit_wait_t *w = msg->_private;
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->err = msg->err;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void *wh_emit_poll_thread(void *arg)
{
    wh_emit_t *em = arg;
    while (!atomic_load(&em->stop))
        rd_kafka_poll(em->producer, 100);
    return NULL;
}

/* True when the operator passed a timeout of their own through KAFKA_*. */
static bool wh_emit_has_timeout(const cfg_t *cfg)
{
    for (size_t i = 0; i < cfg_kafka_count(cfg); i++) {
        const char *n = cfg_kafka_name(cfg, i);
        if (strcmp(n, "message.timeout.ms") == 0 || strcmp(n, "delivery.timeout.ms") == 0)
            return true;
    }
    return false;
}

static int wh_emit_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                       size_t errstr_size)
{
    return rd_kafka_conf_set(conf, name, value, errstr, errstr_size) == RD_KAFKA_CONF_OK ? 0 : -1;
}

wh_emit_t *wh_emit_new(const cfg_t *cfg, char *errstr, size_t errstr_size)
{
    wh_emit_t *em = calloc(1, sizeof(*em));
    if (em == NULL)
        abort();
    atomic_init(&em->stop, 0);
    em->topic = strdup(cfg_str(cfg, CFG_TOPIC_STATUS));
    if (em->topic == NULL)
        abort();
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, errstr, errstr_size);
    if (conf == NULL)
        goto fail;
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%lld",
             (long long)cfg_int(cfg, CFG_WEBHOOK_KAFKA_TIMEOUT_MS));
    /* A callback waits for its own event only: a short linger keeps that wait short while
     * concurrent callbacks still share batches. */
    if (wh_emit_set(conf, "enable.idempotence", "true", errstr, errstr_size) != 0 ||
        wh_emit_set(conf, "acks", "all", errstr, errstr_size) != 0 ||
        wh_emit_set(conf, "linger.ms", "1", errstr, errstr_size) != 0 ||
        (!wh_emit_has_timeout(cfg) &&
         wh_emit_set(conf, "message.timeout.ms", timeout, errstr, errstr_size) != 0)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, wh_emit_dr_cb);
    em->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (em->producer == NULL) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if (cfg_bool(cfg, CFG_TOPIC_AUTO_CREATE)) {
        char why[256];
        const char *topics[1] = {em->topic};
        if (kafka_ensure_topics(em->producer, topics, 1, 15000, why, sizeof(why)) != 0)
            log_kv(LOG_LEVEL_WARN, "status topic not created; it must exist already", "error", why,
                   NULL);
    }
    if (pthread_create(&em->poller, NULL, wh_emit_poll_thread, em) != 0) {
        snprintf(errstr, errstr_size, "cannot start the producer's report thread");
        goto fail;
    }
    em->poller_started = true;
    return em;
fail:
    wh_emit_destroy(em);
    return NULL;
}

void wh_emit_destroy(wh_emit_t *em)
{
    if (em == NULL)
        return;
    if (em->producer)
        rd_kafka_flush(em->producer, 30000);
    atomic_store(&em->stop, 1);
    if (em->poller_started)
        pthread_join(em->poller, NULL);
    if (em->producer)
        rd_kafka_destroy(em->producer);
    free(em->topic);
    free(em);
}

int wh_emit_publish(wh_emit_t *em, const char *key, const char *value, size_t len, char *errstr,
                    size_t errstr_size)
{
    int result = -1;
    wh_emit_wait_t w = {.done = false, .err = RD_KAFKA_RESP_ERR_NO_ERROR};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);

    rd_kafka_resp_err_t err = rd_kafka_producev(
        em->producer, RD_KAFKA_V_TOPIC(em->topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(&w), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
        goto out;
    }
    /* The report always comes (message.timeout.ms bounds it), and `w` must live until it
     * has, so the wait has no timeout of its own. */
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    if (w.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "delivery: %s", rd_kafka_err2str(w.err));
        goto out;
    }
    result = 0;
out:
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return result;
}

bool wh_emit_healthy(wh_emit_t *em)
{
    char reason[256];
    return rd_kafka_fatal_error(em->producer, reason, sizeof(reason)) == RD_KAFKA_RESP_ERR_NO_ERROR;
}
