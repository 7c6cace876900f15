/*
 * Kafka clients built from the configuration: bootstrap.servers plus every KAFKA_*
 * pass-through property, librdkafka's own log lines routed into our JSON log (redacted),
 * an idempotent producer, and a consumer that stores offsets only when told to.
 * The consumer loop and offset bookkeeping of the pipeline build on these.
 */
#ifndef NOTIFY_KAFKA_H
#define NOTIFY_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* A configuration holding bootstrap.servers, the pass-through properties and the log
 * callback. NULL with errstr when librdkafka refuses a property. The caller owns it. */
rd_kafka_conf_t *kafka_conf_new(const cfg_t *cfg, char *errstr, size_t errstr_size);

/*
 * Delivery reports. Every message produced through a kafka_producer_new() or
 * kafka_stream_producer_new() producer carries as its opaque a pointer to a kafka_dr_t
 * (usually the first member of the caller's own record); when the broker acknowledges or
 * refuses the message, rd_kafka_poll() calls its `cb`. A NULL opaque means nobody waits
 * for that report.
 */
typedef struct kafka_dr_s kafka_dr_t;
struct kafka_dr_s {
    void (*cb)(kafka_dr_t *dr, const rd_kafka_message_t *msg);
};

/*
 * An idempotent producer (enable.idempotence=true, acks=all): a retried produce never
 * writes a message twice and order per partition is kept. NULL with errstr on failure.
 */
rd_kafka_t *kafka_producer_new(const cfg_t *cfg, char *errstr, size_t errstr_size);

/*
 * The same producer for a steady stream of asynchronous messages (the pipeline's outcomes),
 * with linger.ms 20 by default (an operator's KAFKA_LINGER_MS wins). librdkafka sends one
 * request per partition, and with acks=all at most five are in flight: at its default of
 * 5 ms the requests queue up behind that limit and the broker thread polls without
 * waiting until an answer frees a slot, costing more CPU than the messages themselves.
 * Not for kafka_produce_sync(), which would wait out the linger on every message.
 */
rd_kafka_t *kafka_stream_producer_new(const cfg_t *cfg, char *errstr, size_t errstr_size);

/*
 * What the owner of a consumer does around a rebalance, called from inside
 * rd_kafka_consumer_poll(): on_assign after new partitions are assigned, on_revoke before
 * partitions are given up (the place to finish their work and commit their offsets);
 * `lost` is true when they were taken away (session lost) rather than handed over, so
 * their offsets must not be committed. Either may be NULL.
 */
typedef struct kafka_rebalance_s {
    void (*on_assign)(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions,
                      void *opaque);
    void (*on_revoke)(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions, int lost,
                      void *opaque);
    void *opaque;
} kafka_rebalance_t;

/*
 * A consumer of group `group_id` with enable.auto.offset.store=false (offsets are stored
 * by the pipeline once an outcome is acknowledged), auto commit of stored offsets, and
 * cooperative-sticky assignment. The main queue is redirected to the consumer queue so
 * one rd_kafka_consumer_poll() loop serves everything, and a rebalance callback applies
 * assignments and revocations (incrementally for a cooperative group) when that loop
 * polls, calling `hooks` around them (may be NULL; borrowed: it must outlive the
 * consumer). NULL with errstr on failure.
 */
rd_kafka_t *kafka_consumer_new(const cfg_t *cfg, const char *group_id, kafka_rebalance_t *hooks,
                               char *errstr, size_t errstr_size);

/*
 * Leaves the group, closes the consumer and destroys it (NULL is ignored). Waits at most
 * timeout_ms for the join and the release below, then closes.
 *
 * A subscribed consumer first finishes its first join if it has not: librdkafka 2.0.2
 * (Debian 12) aborts in rd_kafka_destroy() when a cooperative-sticky member is destroyed
 * after a JoinGroup answer chose the protocol and before a SyncGroup answer gave it its
 * first assignment (librdkafka issue 4312, fixed in 2.3.0), and a JoinGroup still in
 * flight when the consumer closes is answered during the close. A worker stopped with
 * SIGTERM in its first moments would otherwise die of SIGABRT. A member whose join does not
 * finish within timeout_ms (no broker) is closed but not destroyed: its handle stays
 * allocated until the process exits, with a warning in the log.
 *
 * librdkafka 2.0.2 with cooperative-sticky assignment does not send LeaveGroup from
 * rd_kafka_consumer_close() alone, so the group's next member would wait up to
 * session.timeout.ms; unsubscribing first and polling until the rebalance callback has
 * released the assignment does send it. Messages polled meanwhile are dropped unprocessed:
 * their offsets were never stored, so the partition's next owner receives them again.
 */
void kafka_consumer_destroy(rd_kafka_t *consumer, int timeout_ms);

/*
 * Creates those of the `count` topics that do not exist yet, with the broker's default
 * partition count and replication factor, through the Admin API of `rk` (any client).
 * Topics that exist already are fine. Returns 0, or -1 with errstr naming the first topic
 * that could not be created (no permission, a broker that refuses).
 */
int kafka_ensure_topics(rd_kafka_t *rk, const char *const *topics, size_t count, int timeout_ms,
                        char *errstr, size_t errstr_size);

/* Asks the cluster for its metadata within timeout_ms: 0 when a broker answers. */
int kafka_check(const cfg_t *cfg, int timeout_ms, char *errstr, size_t errstr_size);

/* A header for kafka_produce_sync(). */
typedef struct kafka_header_s {
    const char *name;
    const char *value;
} kafka_header_t;

/*
 * Produces one message through a kafka_producer_new() producer and waits until the broker
 * acknowledges it or timeout_ms passes (polling the producer meanwhile).
 * For tools and tests (notifyctl, the integration tests), not for the per-message path,
 * which keeps many produces in flight. Returns 0 or -1 with errstr.
 */
int kafka_produce_sync(rd_kafka_t *producer, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, const kafka_header_t *headers,
                       size_t header_count, int timeout_ms, char *errstr, size_t errstr_size);

#endif
