/*
 * Against the real broker of the test stack (KAFKA_BOOTSTRAP_SERVERS): the clients that
 * common/kafka builds from the configuration produce with headers, are acknowledged, and
 * a consumer of a fresh group reads the messages back, stores and commits their offsets,
 * and a second consumer of that group resumes after them.
 */
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "testutil.h"
#include "timefmt.h"

#include <stdlib.h>
#include <unistd.h>

extern char **environ;

static char err[512];
static char topic[128];
static char group[128];

static cfg_t *test_cfg(void)
{
    cfg_t *cfg = cfg_new(CFG_BIN_ALL);
    if (cfg_load_env(cfg, environ, err, sizeof(err)) != 0) {
        fprintf(stderr, "environment: %s\n", err);
        exit(1);
    }
    return cfg;
}

static void test_check(void)
{
    cfg_t *cfg = test_cfg();
    CHECK(kafka_check(cfg, 10000, err, sizeof(err)) == 0);

    /* Nothing listens on port 1: the check fails within its timeout, with a reason. */
    REQUIRE(cfg_set(cfg, "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1", err, sizeof(err)) == 0);
    int64_t start = timefmt_mono_ms();
    err[0] = '\0';
    CHECK(kafka_check(cfg, 1500, err, sizeof(err)) == -1);
    CHECK(strstr(err, "no broker answered") != NULL);
    CHECK(timefmt_mono_ms() - start < 10000);
    cfg_destroy(cfg);
}

/* Reads one message within timeout_ms, skipping events; NULL on timeout. */
static rd_kafka_message_t *poll_one(rd_kafka_t *consumer, int timeout_ms)
{
    int64_t deadline = timefmt_mono_ms() + timeout_ms;
    while (timefmt_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 200);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            continue;
        }
        return m;
    }
    return NULL;
}

static int subscribe(rd_kafka_t *consumer)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

static void test_produce_consume_commit(void)
{
    cfg_t *cfg = test_cfg();
    rd_kafka_t *producer = kafka_producer_new(cfg, err, sizeof(err));
    REQUIRE(producer != NULL);

    /* All three messages share a key, so one partition keeps their order. */
    for (int i = 0; i < 3; i++) {
        char value[64], attempt[8];
        snprintf(value, sizeof(value), "{\"n\":%d}", i);
        snprintf(attempt, sizeof(attempt), "%d", i + 1);
        kafka_header_t headers[] = {{"x-attempt", attempt}, {"x-last-error-code", "SMTP_421"}};
        CHECK(kafka_produce_sync(producer, topic, "k", 1, value, strlen(value), headers, 2, 20000,
                                 err, sizeof(err)) == 0);
    }

    rd_kafka_t *consumer = kafka_consumer_new(cfg, group, NULL, err, sizeof(err));
    REQUIRE(consumer != NULL);
    REQUIRE(subscribe(consumer) == 0);
    for (int i = 0; i < 2; i++) {
        rd_kafka_message_t *m = poll_one(consumer, 30000);
        REQUIRE(m != NULL);
        CHECK_INT(m->err, 0);
        char expected[64];
        snprintf(expected, sizeof(expected), "{\"n\":%d}", i);
        CHECK(m->len == strlen(expected) && memcmp(m->payload, expected, m->len) == 0);
        rd_kafka_headers_t *hdrs = NULL;
        const void *hv = NULL;
        size_t hlen = 0;
        CHECK(rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR);
        CHECK(hdrs && rd_kafka_header_get_last(hdrs, "x-attempt", &hv, &hlen) == 0);
        CHECK(hlen == 1 && ((const char *)hv)[0] == '1' + i);
        /* The pipeline stores an offset only once an outcome is acknowledged. */
        CHECK(rd_kafka_offset_store(m->rkt, m->partition, m->offset) == 0);
        rd_kafka_message_destroy(m);
    }
    CHECK(rd_kafka_commit(consumer, NULL, 0) == RD_KAFKA_RESP_ERR_NO_ERROR);
    /* kafka_consumer_destroy() leaves the group, so the next member is not held up until the
     * session times out. */
    int64_t start = timefmt_mono_ms();
    kafka_consumer_destroy(consumer, 10000);
    CHECK(timefmt_mono_ms() - start < 10000);

    /* A new member of the group starts after the stored offsets: at the third message. */
    consumer = kafka_consumer_new(cfg, group, NULL, err, sizeof(err));
    REQUIRE(consumer != NULL);
    REQUIRE(subscribe(consumer) == 0);
    rd_kafka_message_t *m = poll_one(consumer, 30000);
    REQUIRE(m != NULL);
    CHECK(m->len == 7 && memcmp(m->payload, "{\"n\":2}", 7) == 0);
    rd_kafka_message_destroy(m);
    kafka_consumer_destroy(consumer, 10000);

    rd_kafka_flush(producer, 5000);
    rd_kafka_destroy(producer);
    cfg_destroy(cfg);
}

static void nop_assign(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions,
                       void *opaque)
{
    (void)rk;
    (void)partitions;
    (void)opaque;
}

/*
 * Consumers stopped at every moment of their first group join (the JoinGroup request in
 * flight, its answer in, the SyncGroup pending) close and are destroyed without an abort:
 * librdkafka 2.0.2 asserts when a cooperative-sticky member is destroyed between the
 * answer that chose the protocol and its first assignment (see kafka_consumer_destroy()).
 * Each round uses a new group, so every join is a first one.
 */
static void test_stop_while_joining(void)
{
    static const int waits_ms[] = {0, 0, 1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200};
    cfg_t *cfg = test_cfg();
    kafka_rebalance_t hooks = {.on_assign = nop_assign};
    int64_t start = timefmt_mono_ms();
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(waits_ms) / sizeof(waits_ms[0]); i++) {
            char g[192];
            snprintf(g, sizeof(g), "%s-join-%d-%zu", group, round, i);
            rd_kafka_t *consumer =
                kafka_consumer_new(cfg, g, round == 1 ? NULL : &hooks, err, sizeof(err));
            REQUIRE(consumer != NULL);
            REQUIRE(subscribe(consumer) == 0);
            int64_t until = timefmt_mono_ms() + waits_ms[i];
            do {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 1);
                if (m)
                    rd_kafka_message_destroy(m);
            } while (timefmt_mono_ms() < until);
            kafka_consumer_destroy(consumer, 10000);
        }
    }
    fprintf(stderr, "stop while joining: %lld ms\n", (long long)(timefmt_mono_ms() - start));

    /* Without a broker the join never finishes: the consumer is closed within the
     * timeout and its handle kept (the sanitizers' leak check sees it as reachable). */
    REQUIRE(cfg_set(cfg, "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1", err, sizeof(err)) == 0);
    rd_kafka_t *consumer = kafka_consumer_new(cfg, group, &hooks, err, sizeof(err));
    REQUIRE(consumer != NULL);
    REQUIRE(subscribe(consumer) == 0);
    start = timefmt_mono_ms();
    kafka_consumer_destroy(consumer, 1000);
    CHECK(timefmt_mono_ms() - start < 5000);
    cfg_destroy(cfg);
}

static void test_bad_passthrough_property(void)
{
    cfg_t *cfg = test_cfg();
    /* Accepted by the table (it is a real librdkafka property) but a value librdkafka
     * refuses only at client creation would fail here; an unknown one fails at cfg_set. */
    CHECK(cfg_set(cfg, "KAFKA_SECURITY_PROTOCOL", "smoke-signals", err, sizeof(err)) == -1);
    CHECK(strstr(err, "KAFKA_SECURITY_PROTOCOL") != NULL);
    cfg_destroy(cfg);
}

int main(void)
{
    log_init("test_kafka", LOG_LEVEL_WARN);
    if (getenv("KAFKA_BOOTSTRAP_SERVERS") == NULL) {
        fprintf(stderr, "KAFKA_BOOTSTRAP_SERVERS is not set: run through scripts/test\n");
        return 1;
    }
    snprintf(topic, sizeof(topic), "test.kafka.%d.%lld", (int)getpid(),
             (long long)timefmt_now_ms());
    snprintf(group, sizeof(group), "test-kafka-%d", (int)getpid());
    TEST_RUN(test_check);
    TEST_RUN(test_produce_consume_commit);
    TEST_RUN(test_stop_while_joining);
    TEST_RUN(test_bad_passthrough_property);
    return TEST_EXIT();
}
