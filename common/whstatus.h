/*
 * Provider statuses to the contract's webhook statuses for webhook-ingest: one table, as data
 * (whstatus.c).
 */
#ifndef NOTIFY_WHSTATUS_H
#define NOTIFY_WHSTATUS_H

#include <stdbool.h>

#include "event.h"

typedef enum {
    WHSTATUS_TWILIO = 0, /* MessageStatus of a Twilio status callback */
    WHSTATUS_SNS,        /* status of an SNS SMS delivery-status log record */
    WHSTATUS_GENERIC,    /* status of a generic (email or SMS relay) callback body */
} whstatus_source_t;

/*
 * The contract status of `name` from `source`, and whether the outcome is worth retrying
 * (a transient bounce is). Returns 0, or -1 for a name the table does not have.
 */
int whstatus_map(whstatus_source_t source, const char *name, event_status_t *status,
                 bool *retryable);

#endif
