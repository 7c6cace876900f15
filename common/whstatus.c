#include "whstatus.h"

#include <string.h>

/*
 * Twilio's "sent" means the carrier took the message, not that it arrived: it is reported
 * as SENDING, because SENT is the worker's own status (the provider accepted the request)
 * and DELIVERED needs the handset's receipt. "accepted" and "scheduled" come from
 * Messaging Services before the message is queued; "canceled" is a scheduled message that
 * will never be sent. SNS's FAILURE covers opted-out and unreachable numbers alike; the
 * record's providerResponse travels as the error message. A generic "bounced" is final
 * unless bounce_type says transient, which wh_generic handles with the row marked
 * retryable below (it keys "bounced/transient").
 */
static const struct {
    whstatus_source_t source;
    const char *name;
    event_status_t status;
    bool retryable;
} whstatus_table[] = {
    {WHSTATUS_TWILIO, "accepted", EVENT_STATUS_QUEUED, false},
    {WHSTATUS_TWILIO, "scheduled", EVENT_STATUS_QUEUED, false},
    {WHSTATUS_TWILIO, "queued", EVENT_STATUS_QUEUED, false},
    {WHSTATUS_TWILIO, "sending", EVENT_STATUS_SENDING, false},
    {WHSTATUS_TWILIO, "sent", EVENT_STATUS_SENDING, false},
    {WHSTATUS_TWILIO, "delivered", EVENT_STATUS_DELIVERED, false},
    {WHSTATUS_TWILIO, "undelivered", EVENT_STATUS_UNDELIVERED, false},
    {WHSTATUS_TWILIO, "failed", EVENT_STATUS_FAILED, false},
    {WHSTATUS_TWILIO, "canceled", EVENT_STATUS_FAILED, false},
    {WHSTATUS_TWILIO, "read", EVENT_STATUS_READ, false},
    {WHSTATUS_SNS, "SUCCESS", EVENT_STATUS_DELIVERED, false},
    {WHSTATUS_SNS, "FAILURE", EVENT_STATUS_FAILED, false},
    {WHSTATUS_GENERIC, "delivered", EVENT_STATUS_DELIVERED, false},
    {WHSTATUS_GENERIC, "bounced", EVENT_STATUS_BOUNCED, false},
    {WHSTATUS_GENERIC, "bounced/permanent", EVENT_STATUS_BOUNCED, false},
    {WHSTATUS_GENERIC, "bounced/transient", EVENT_STATUS_BOUNCED, true},
    {WHSTATUS_GENERIC, "complained", EVENT_STATUS_COMPLAINED, false},
    {WHSTATUS_GENERIC, "undelivered", EVENT_STATUS_UNDELIVERED, false},
    {WHSTATUS_GENERIC, "failed", EVENT_STATUS_FAILED, false},
};

int whstatus_map(whstatus_source_t source, const char *name, event_status_t *status,
                 bool *retryable)
{
    for (size_t i = 0; i < sizeof(whstatus_table) / sizeof(whstatus_table[0]); i++) {
        if (whstatus_table[i].source == source && strcmp(whstatus_table[i].name, name) == 0) {
            *status = whstatus_table[i].status;
            *retryable = whstatus_table[i].retryable;
            return 0;
        }
    }
    return -1;
}
