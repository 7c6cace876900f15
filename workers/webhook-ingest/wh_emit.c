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

#define WH_EMIT_LINGER_MS "2"

struct wh_emit_s {
    rd_kafka_t *producer;
    char *topic;
    pthread_t poller;
    bool poller_started;
    atomic_int stop;
};

/* Who is told about one event; allocated by wh_emit_send(), freed with its report. */
typedef struct wh_emit_wait_s {
    wh_emit_done_t done;
    void *opaque;
} wh_emit_wait_t;

static void wh_emit_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    wh_emit_wait_t *w = msg->_private;
    if (w == NULL)
        return;
    w->done(w->opaque, msg->err == RD_KAFKA_RESP_ERR_NO_ERROR ? NULL : rd_kafka_err2str(msg->err));
    free(w);
}

static void *wh_emit_poll_thread(void *arg)
{
    wh_emit_t *em = arg;
    while (!atomic_load(&em->stop))
        rd_kafka_poll(em->producer, 100);
    return NULL;
}

/* True when the operator passed a setting `name` (or its alias) of their own through
 * KAFKA_*, which then wins over ours. */
static bool wh_emit_has(const cfg_t *cfg, const char *name, const char *alias)
{
    for (size_t i = 0; i < cfg_kafka_count(cfg); i++) {
        const char *n = cfg_kafka_name(cfg, i);
        if (strcmp(n, name) == 0 || strcmp(n, alias) == 0)
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
    /*
     * A callback waits for its own event only: a short linger keeps that wait short while
     * concurrent callbacks still share batches. 2 ms, measured (bench_webhook.py, 64 and
     * 256 connections, linger 0 to 5): at 5 ms the linger is most of a callback's time,
     * half the rate at 64 connections; at 1 ms and below the producer's broker thread wakes
     * so often that CPU per callback rises by half and every rate falls.
     */
    if (wh_emit_set(conf, "enable.idempotence", "true", errstr, errstr_size) != 0 ||
        wh_emit_set(conf, "acks", "all", errstr, errstr_size) != 0 ||
        (!wh_emit_has(cfg, "linger.ms", "queue.buffering.max.ms") &&
         wh_emit_set(conf, "linger.ms", WH_EMIT_LINGER_MS, errstr, errstr_size) != 0) ||
        (!wh_emit_has(cfg, "message.timeout.ms", "delivery.timeout.ms") &&
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

int wh_emit_send(wh_emit_t *em, const char *key, const char *value, size_t len, wh_emit_done_t done,
                 void *opaque, char *errstr, size_t errstr_size)
{
    wh_emit_wait_t *w = malloc(sizeof(*w));
    if (w == NULL)
        abort();
    w->done = done;
    w->opaque = opaque;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        em->producer, RD_KAFKA_V_TOPIC(em->topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(err));
        free(w);
        return -1;
    }
    return 0;
}

bool wh_emit_healthy(wh_emit_t *em)
{
    char reason[256];
    return rd_kafka_fatal_error(em->producer, reason, sizeof(reason)) == RD_KAFKA_RESP_ERR_NO_ERROR;
}
