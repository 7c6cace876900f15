/*
 * notifyctl dlq replay: reads a channel's dead-letter topic and produces each copy, key and
 * value untouched, to the topic the request first arrived on (x-original-topic), as a new
 * first attempt: the pipeline headers are left behind and x-replayed-from names the copy.
 * The ledger lets a key that failed be sent again, and answers DUPLICATE for one that was
 * sent meanwhile, so replaying is safe to repeat.
 *
 * The replay is a consumer group of its own (notifyctl-dlq-replay), and an offset is
 * stored only after the produce of its copy is acknowledged, so an interrupted replay
 * resumes where it stopped and replays nothing twice. The rate is bounded (--rate per
 * second) so that a large backlog does not flood the provider or the organisation's quota.
 */
#include "cmd_dlq.h"

#include "kafka.h"
#include "log.h"
#include "retry.h"
#include "timefmt.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DLQ_GROUP "notifyctl-dlq-replay"

static const char dlq_usage[] =
    "usage: notifyctl dlq replay --channel email|twilio|sns [--rate N] [--max N] [--idle-ms N]\n"
    "  Moves the channel's dead-letter copies back to their original topic as new first\n"
    "  attempts, at most N per second (--rate, default 50), at most --max copies (default\n"
    "  all), stopping when no copy arrived for --idle-ms (default 5000).\n";

static volatile sig_atomic_t dlq_interrupted;

static void dlq_on_signal(int sig)
{
    (void)sig;
    dlq_interrupted = 1;
}

static int dlq_number(const char *text, long long min, long long *out)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

static const char *dlq_base_topic(const cfg_t *cfg, const char *channel)
{
    if (strcmp(channel, "email") == 0)
        return cfg_str(cfg, CFG_TOPIC_EMAIL);
    if (strcmp(channel, "twilio") == 0)
        return cfg_str(cfg, CFG_TOPIC_SMS_TWILIO);
    if (strcmp(channel, "sns") == 0)
        return cfg_str(cfg, CFG_TOPIC_SMS_SNS);
    return NULL;
}

/* Produces one copy back to its original topic and waits for the acknowledgement. */
static int dlq_replay_one(rd_kafka_t *producer, const rd_kafka_message_t *m, const char *base,
                          char *errstr, size_t errstr_size)
{
    char topic[256], from[320];
    const void *v = NULL;
    size_t len = 0;
    rd_kafka_headers_t *h = NULL;
    snprintf(topic, sizeof(topic), "%s", base);
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, RETRY_H_ORIGINAL_TOPIC, &v, &len) == 0 && len > 0 &&
        len < sizeof(topic)) {
        memcpy(topic, v, len);
        topic[len] = '\0';
    }
    snprintf(from, sizeof(from), "%s/%" PRId32 "/%" PRId64, rd_kafka_topic_name(m->rkt),
             m->partition, m->offset);
    kafka_header_t headers[] = {{"x-replayed-from", from}};
    return kafka_produce_sync(producer, topic, m->key, m->key_len, m->payload, m->len, headers, 1,
                              30000, errstr, errstr_size);
}

static int dlq_replay(const cfg_t *cfg, const char *channel, long long rate, long long max,
                      long long idle_ms)
{
    int rc = 1;
    char errstr[512];
    const char *base = dlq_base_topic(cfg, channel);
    char dlq[300];
    snprintf(dlq, sizeof(dlq), "%s.dlq", base);
    rd_kafka_t *producer = kafka_producer_new(cfg, errstr, sizeof(errstr));
    rd_kafka_t *consumer = NULL;
    long long moved = 0;
    if (producer == NULL) {
        fprintf(stderr, "notifyctl: %s\n", errstr);
        goto out;
    }
    consumer = kafka_consumer_new(cfg, DLQ_GROUP, NULL, errstr, sizeof(errstr));
    if (consumer == NULL) {
        fprintf(stderr, "notifyctl: %s\n", errstr);
        goto out;
    }
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, dlq, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "notifyctl: subscribing to %s failed: %s\n", dlq, rd_kafka_err2str(err));
        goto out;
    }

    signal(SIGINT, dlq_on_signal);
    signal(SIGTERM, dlq_on_signal);
    int64_t start = timefmt_mono_ms(), last = start;
    while (!dlq_interrupted && (max == 0 || moved < max)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 200);
        if (m == NULL) {
            if (timefmt_mono_ms() - last >= idle_ms)
                break;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "notifyctl: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        /* The bound: never ahead of `rate` copies per second since the start. */
        int64_t due = start + (moved * 1000) / rate;
        for (int64_t now = timefmt_mono_ms(); now < due && !dlq_interrupted;
             now = timefmt_mono_ms()) {
            struct timespec ts = {0, (long)((due - now) * 1000000)};
            nanosleep(&ts, NULL);
        }
        if (dlq_replay_one(producer, m, base, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "notifyctl: %s; stopping (what was moved is committed)\n", errstr);
            rd_kafka_message_destroy(m);
            goto commit;
        }
        rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        rd_kafka_message_destroy(m);
        moved++;
        last = timefmt_mono_ms();
    }
    rc = 0;
commit:
    err = rd_kafka_commit(consumer, NULL, 0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        fprintf(stderr, "notifyctl: committing the replay's position failed: %s\n",
                rd_kafka_err2str(err));
        rc = 1;
    }
    printf("replayed %lld dead-letter copies from %s\n", moved, dlq);
out:
    if (consumer) {
        kafka_consumer_destroy(consumer, 10000);
    }
    if (producer) {
        rd_kafka_flush(producer, 10000);
        rd_kafka_destroy(producer);
    }
    return rc;
}

int ctl_dlq(const cfg_t *cfg, int argc, char **argv)
{
    const char *channel = NULL;
    long long rate = 50, max = 0, idle_ms = 5000;
    if (argc < 2 || strcmp(argv[1], "replay") != 0) {
        fputs(dlq_usage, stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        const char *eq = strchr(arg, '=');
        char name[32];
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        if (n >= sizeof(name))
            goto usage;
        memcpy(name, arg, n);
        name[n] = '\0';
        val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (val == NULL)
            goto usage;
        if (strcmp(name, "--channel") == 0)
            channel = val;
        else if (strcmp(name, "--rate") == 0 && dlq_number(val, 1, &rate) == 0)
            continue;
        else if (strcmp(name, "--max") == 0 && dlq_number(val, 0, &max) == 0)
            continue;
        else if (strcmp(name, "--idle-ms") == 0 && dlq_number(val, 0, &idle_ms) == 0)
            continue;
        else
            goto usage;
    }
    if (channel == NULL || dlq_base_topic(cfg, channel) == NULL)
        goto usage;
    return dlq_replay(cfg, channel, rate, max, idle_ms);
usage:
    fputs(dlq_usage, stderr);
    return 2;
}
