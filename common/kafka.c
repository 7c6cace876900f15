#include "kafka.h"

#include "log.h"
#include "timefmt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* librdkafka syslog levels 0-7 onto ours. */
static log_level_t kafka_log_level(int level)
{
    if (level <= 3)
        return LOG_LEVEL_ERROR;
    if (level == 4)
        return LOG_LEVEL_WARN;
    if (level <= 6)
        return LOG_LEVEL_INFO;
    return LOG_LEVEL_DEBUG;
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_kv(kafka_log_level(level), buf, "component", "librdkafka", "facility", fac, "client",
           rk ? rd_kafka_name(rk) : NULL, NULL);
}

static int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                          size_t errstr_size)
{
    char rderr[256];
    if (rd_kafka_conf_set(conf, name, value, rderr, sizeof(rderr)) != RD_KAFKA_CONF_OK) {
        /* librdkafka's message may quote the value; name the property only. */
        snprintf(errstr, errstr_size, "librdkafka refused property '%s'", name);
        return -1;
    }
    return 0;
}

/* A librdkafka property and its value. */
typedef struct kafka_prop_s {
    const char *name;
    const char *value;
} kafka_prop_t;

/* bootstrap.servers, then `defaults` (NULL-terminated, may be NULL), then the KAFKA_*
 * pass-through properties, so an operator's setting wins over a default of ours. */
static rd_kafka_conf_t *kafka_conf_build(const cfg_t *cfg, const kafka_prop_t *defaults,
                                         char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_set(conf, "bootstrap.servers", cfg_str(cfg, CFG_KAFKA_BOOTSTRAP_SERVERS), errstr,
                       errstr_size) != 0)
        goto fail;
    for (const kafka_prop_t *d = defaults; d && d->name; d++)
        if (kafka_conf_set(conf, d->name, d->value, errstr, errstr_size) != 0)
            goto fail;
    for (size_t i = 0; i < cfg_kafka_count(cfg); i++)
        if (kafka_conf_set(conf, cfg_kafka_name(cfg, i), cfg_kafka_value(cfg, i), errstr,
                           errstr_size) != 0)
            goto fail;
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_conf_t *kafka_conf_new(const cfg_t *cfg, char *errstr, size_t errstr_size)
{
    return kafka_conf_build(cfg, NULL, errstr, errstr_size);
}

static void kafka_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    kafka_dr_t *dr = msg->_private;
    if (dr != NULL && dr->cb != NULL)
        dr->cb(dr, msg);
}

/* An idempotent producer on bootstrap.servers, `defaults` (may be NULL) and the KAFKA_*
 * properties; idempotence and acks are not overridable. */
static rd_kafka_t *kafka_producer_build(const cfg_t *cfg, const kafka_prop_t *defaults,
                                        char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = NULL;
    rd_kafka_conf_t *conf = kafka_conf_build(cfg, defaults, errstr, errstr_size);
    if (conf == NULL)
        goto out;
    if (kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "acks", "all", errstr, errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr_msg_cb);
    /* rd_kafka_new() takes ownership of conf on success only. */
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (rk == NULL)
        rd_kafka_conf_destroy(conf);
out:
    return rk;
}

rd_kafka_t *kafka_producer_new(const cfg_t *cfg, char *errstr, size_t errstr_size)
{
    return kafka_producer_build(cfg, NULL, errstr, errstr_size);
}

rd_kafka_t *kafka_stream_producer_new(const cfg_t *cfg, char *errstr, size_t errstr_size)
{
    static const kafka_prop_t defaults[] = {
        {"linger.ms", "20"},
        {NULL, NULL},
    };
    return kafka_producer_build(cfg, defaults, errstr, errstr_size);
}

/*
 * What kafka.c keeps for each consumer, as its opaque: the owner's hooks (may be NULL) and
 * whether the group has given it an assignment yet (see kafka_consumer_destroy()).
 */
typedef struct kafka_member_s {
    kafka_rebalance_t *hooks;
    bool assigned;
    rd_kafka_t *abandoned;       /* set when kafka_consumer_destroy() leaves it be */
    struct kafka_member_s *next; /* in kafka_abandoned */
} kafka_member_t;

/*
 * Applies assignments and revocations as they come, in the protocol the group chose
 * (incremental for cooperative-sticky, whole for eager assignors). Being our own callback,
 * it leaves the assignment in place until the consumer loop polls, which is what
 * kafka_consumer_destroy() waits on.
 */
static void kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *partitions, void *opaque)
{
    kafka_member_t *member = opaque;
    kafka_rebalance_t *hooks = member->hooks;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && hooks && hooks->on_revoke)
        hooks->on_revoke(rk, partitions, rd_kafka_assignment_lost(rk), hooks->opaque);

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        member->assigned = true;
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, partitions);
        else
            rerr = rd_kafka_assign(rk, partitions);
    } else {
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, partitions);
        else
            rerr = rd_kafka_assign(rk, NULL);
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && hooks && hooks->on_assign && error == NULL &&
        rerr == RD_KAFKA_RESP_ERR_NO_ERROR)
        hooks->on_assign(rk, partitions, hooks->opaque);

    if (error != NULL) {
        log_kv(LOG_LEVEL_ERROR, "applying a rebalance failed", "error",
               rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    } else if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_kv(LOG_LEVEL_ERROR, "applying a rebalance failed", "error", rd_kafka_err2str(rerr),
               NULL);
    }
}

rd_kafka_t *kafka_consumer_new(const cfg_t *cfg, const char *group_id, kafka_rebalance_t *hooks,
                               char *errstr, size_t errstr_size)
{
    /*
     * Defaults an operator may override:
     * - fetch.wait.max.ms: a fetch the broker holds open delays partitions that resume
     *   meanwhile (after backpressure, or a retry copy coming due) until it returns, 500 ms
     *   by librdkafka's default; 50 ms keeps that wait short.
     * - auto.commit.interval.ms: stored offsets reach the broker within a second, so a
     *   worker killed without warning replays one second of finished work, not five.
     */
    static const kafka_prop_t defaults[] = {
        {"fetch.wait.max.ms", "50"},
        {"auto.commit.interval.ms", "1000"},
        {"auto.offset.reset", "earliest"},
        {NULL, NULL},
    };
    rd_kafka_t *rk = NULL;
    kafka_member_t *member = NULL;
    rd_kafka_conf_t *conf = kafka_conf_build(cfg, defaults, errstr, errstr_size);
    if (conf == NULL)
        goto out;
    /* What the pipeline's guarantees rest on is not overridable. */
    if (kafka_conf_set(conf, "group.id", group_id, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", errstr,
                       errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    member = calloc(1, sizeof(*member));
    if (member == NULL)
        abort();
    member->hooks = hooks;
    rd_kafka_conf_set_rebalance_cb(conf, kafka_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, member);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        free(member);
        goto out;
    }
    rd_kafka_poll_set_consumer(rk);
out:
    return rk;
}

/* Polls once, dropping any message (its offset was never stored: see kafka.h). */
static void kafka_consumer_poll_drop(rd_kafka_t *consumer)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 100);
    if (m)
        rd_kafka_message_destroy(m);
}

/* Consumers kafka_consumer_destroy() could not destroy safely: kept reachable until the
 * process exits, so that leak checkers see them as held, not lost. */
static kafka_member_t *kafka_abandoned;
static pthread_mutex_t kafka_abandoned_lock = PTHREAD_MUTEX_INITIALIZER;

void kafka_consumer_destroy(rd_kafka_t *consumer, int timeout_ms)
{
    if (consumer == NULL)
        return;
    kafka_member_t *member = rd_kafka_opaque(consumer);
    int64_t deadline = timefmt_mono_ms() + timeout_ms;
    rd_kafka_topic_partition_list_t *list = NULL;
    int subscribed = 0;
    if (rd_kafka_subscription(consumer, &list) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        subscribed = list->cnt;
        rd_kafka_topic_partition_list_destroy(list);
    }
    /* A subscribed member finishes its first join before it leaves: its JoinGroup may be
     * in flight, and an answer that arrives while it closes still chooses the protocol. */
    while (subscribed > 0 && !member->assigned && timefmt_mono_ms() < deadline)
        kafka_consumer_poll_drop(consumer);
    rd_kafka_unsubscribe(consumer);
    while (timefmt_mono_ms() < deadline) {
        int held = 0;
        if (rd_kafka_assignment(consumer, &list) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            held = list->cnt;
            rd_kafka_topic_partition_list_destroy(list);
        }
        if (held == 0)
            break;
        kafka_consumer_poll_drop(consumer);
    }
    rd_kafka_consumer_close(consumer);
    /* A member that joined but has no first assignment (the join did not finish in time)
     * would abort in rd_kafka_destroy(); it is left to the process's exit instead. */
    if (subscribed > 0 && !member->assigned) {
        log_kv(LOG_LEVEL_WARN,
               "consumer closed before its first group assignment; its handle is kept "
               "until the process exits (librdkafka could abort destroying it)",
               "client", rd_kafka_name(consumer), NULL);
        pthread_mutex_lock(&kafka_abandoned_lock);
        member->abandoned = consumer;
        member->next = kafka_abandoned;
        kafka_abandoned = member;
        pthread_mutex_unlock(&kafka_abandoned_lock);
    } else {
        rd_kafka_destroy(consumer);
        free(member);
    }
}

int kafka_ensure_topics(rd_kafka_t *rk, const char *const *topics, size_t count, int timeout_ms,
                        char *errstr, size_t errstr_size)
{
    int rc = -1;
    rd_kafka_NewTopic_t **nt = calloc(count, sizeof(*nt));
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_event_t *ev = NULL;
    if (nt == NULL)
        abort();
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
    for (size_t i = 0; i < count; i++) {
        /* -1: the broker's num.partitions and default.replication.factor (KIP-464). */
        nt[i] = rd_kafka_NewTopic_new(topics[i], -1, -1, errstr, errstr_size);
        if (nt[i] == NULL)
            goto out;
    }
    rd_kafka_CreateTopics(rk, nt, count, opts, queue);
    ev = rd_kafka_queue_poll(queue, timeout_ms + 1000);
    if (ev == NULL) {
        snprintf(errstr, errstr_size, "creating topics timed out");
        goto out;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "creating topics failed: %s",
                 rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            snprintf(errstr, errstr_size, "creating topic %s failed: %s",
                     rd_kafka_topic_result_name(res[i]), rd_kafka_err2str(err));
            goto out;
        }
    }
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    for (size_t i = 0; i < count; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(queue);
    return rc;
}

int kafka_check(const cfg_t *cfg, int timeout_ms, char *errstr, size_t errstr_size)
{
    int rc = -1;
    rd_kafka_t *rk = NULL;
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, errstr, errstr_size);
    const struct rd_kafka_metadata *md = NULL;
    if (conf == NULL)
        goto out;
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "no broker answered within %d ms: %s", timeout_ms,
                 rd_kafka_err2str(err));
        goto out;
    }
    if (md->broker_cnt == 0) {
        snprintf(errstr, errstr_size, "the cluster reported no brokers");
        goto out;
    }
    rc = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

/* Delivery result of one synchronous produce, written by the delivery report callback. */
typedef struct kafka_sync_s {
    kafka_dr_t dr; /* first: the opaque points here */
    int done;
    rd_kafka_resp_err_t err;
} kafka_sync_t;

static void kafka_sync_dr_cb(kafka_dr_t *dr, const rd_kafka_message_t *msg)
{
    kafka_sync_t *sync = (kafka_sync_t *)dr;
    sync->err = msg->err;
    sync->done = 1;
}

int kafka_produce_sync(rd_kafka_t *producer, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, const kafka_header_t *headers,
                       size_t header_count, int timeout_ms, char *errstr, size_t errstr_size)
{
    kafka_sync_t sync = {{kafka_sync_dr_cb}, 0, RD_KAFKA_RESP_ERR_NO_ERROR};
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(header_count);
    for (size_t i = 0; i < header_count; i++)
        rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value, -1);

    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&sync), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(hdrs); /* not taken over on failure */
        snprintf(errstr, errstr_size, "produce to %s failed: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    int64_t deadline = timefmt_mono_ms() + timeout_ms;
    while (!sync.done && timefmt_mono_ms() < deadline)
        rd_kafka_poll(producer, 50);
    if (!sync.done) {
        /* The message stays queued and &sync would dangle in its opaque: wait for it to
         * leave the queue (purge it) before returning. */
        rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        while (!sync.done)
            rd_kafka_poll(producer, 50);
        snprintf(errstr, errstr_size, "produce to %s not acknowledged within %d ms", topic,
                 timeout_ms);
        return -1;
    }
    if (sync.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "produce to %s failed: %s", topic,
                 rd_kafka_err2str(sync.err));
        return -1;
    }
    return 0;
}
