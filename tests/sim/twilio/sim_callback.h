/*
 * The simulator's status callbacks: after a message is accepted, POSTs to its
 * StatusCallback the statuses queued, sent, then delivered (or undelivered/failed with an
 * ErrorCode), each delay_ms after the previous one was answered, form-encoded and signed
 * with X-Twilio-Signature under the account's auth token exactly as Twilio signs them
 * (twilio_sig.h), with an I-Twilio-Idempotency-Token header. One curl multi handle on its
 * own thread sends them all.
 */
#ifndef SIM_CALLBACK_H
#define SIM_CALLBACK_H

#include <stdint.h>

typedef struct sim_callback_s sim_callback_t;

sim_callback_t *sim_callback_new(int delay_ms);
/* Stops at once; callbacks not yet sent are dropped. */
void sim_callback_destroy(sim_callback_t *cb);

/* Schedules the sequence for one message. `final_status` NULL or "" means delivered. */
void sim_callback_schedule(sim_callback_t *cb, const char *url, const char *auth_token,
                           const char *account_sid, const char *message_sid, const char *from,
                           const char *to, const char *final_status, int error_code);

/* Callbacks answered 2xx, and those that failed or were answered otherwise. */
void sim_callback_stats(sim_callback_t *cb, uint64_t *sent, uint64_t *failed);

#endif
