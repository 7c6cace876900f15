/*
 * One consumed message on its way through the pipeline: the loop accepts it, the database
 * stage reserves and counts it, the provider sends it, the database stage records the
 * result, and the loop publishes the outcome and stores the offset once Kafka has
 * acknowledged it. Private to pipeline.c and dbstage.c.
 */
#ifndef NOTIFY_JOB_H
#define NOTIFY_JOB_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "jobq.h"
#include "kafka.h"
#include "request.h"
#include "sender.h"

typedef enum {
    JOB_OUTCOME_NONE = 0,
    JOB_OUTCOME_SENT,
    JOB_OUTCOME_RETRY,     /* a copy goes to retry tier `tier` */
    JOB_OUTCOME_FAILED,    /* final: status FAILED and a DLQ copy */
    JOB_OUTCOME_DUPLICATE, /* the key was sent already; nothing was sent */
} job_outcome_t;

typedef struct pipeline_part_s pipeline_part_t;

/* Room for "<topic>/<partition>/<offset>" with a topic of up to 249 characters. */
#define JOB_ORIGIN_SIZE 300

typedef struct job_s {
    jobq_node_t node; /* first: queued through jobq */

    /* Set by the loop when it accepts the message. */
    void *owner; /* the pipeline */
    rd_kafka_message_t *msg;
    pipeline_part_t *part;
    uint64_t seq;
    int attempt;
    char origin[JOB_ORIGIN_SIZE]; /* where the request first arrived */
    char original_topic[256];
    int32_t original_partition;
    int64_t original_offset;
    request_t *req; /* NULL when the value could not be read at all */
    int64_t accepted_ms;

    /* The database stage. */
    sender_job_t sj;
    const void *config; /* provcfg_email_t or provcfg_sms_t, released with the job */
    void (*config_release)(const void *config);
    int phase;              /* the database stage's: fresh, or back from the engine */
    bool reserved;          /* holds the ledger reservation (SENDING) */
    bool resend;            /* a reservation found SENDING from a crash: a possible duplicate */
    int ledger_attempts;    /* the reservation's number, fencing ledger_finish() */
    bool throttle_recorded; /* the provider's throttling is in the quota row */
    int64_t send_started_ms;
    int64_t wait_until_ms; /* throttle or quota wait for the retry tier */

    /* The outcome: decided by the database stage (or by the loop for unreadable input). */
    job_outcome_t outcome;
    sender_result_t result;
    int tier;
    int64_t decided_ms;

    /* The loop's produce of the status event and the copy. */
    kafka_dr_t dr_status;
    kafka_dr_t dr_copy;
    int acks_pending;
    bool produce_failed;
} job_t;

#define JOB_FROM_NODE(n) ((job_t *)(void *)(n))

#endif
