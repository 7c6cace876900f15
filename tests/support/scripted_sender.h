/*
 * A provider for the pipeline's tests and benchmark that sends nothing: each request's
 * metadata may script what happens to it, attempt by attempt, so a test can drive every
 * outcome path through the real pipeline, broker and database.
 *
 *   "metadata": {"test_script": ["RETRY:SMTP_421", "OK"], "test_delay_ms": 50}
 *
 * Step n of test_script applies to attempt n (the last step repeats):
 *   OK                 accepted; provider_message_id "scripted-<message_id>-<attempt>"
 *   FAIL:<code>        a final failure with that error code
 *   RETRY:<code>       a retryable failure with that error code
 *   THROTTLE:<ms>      RATE_LIMIT, retryable, the provider asking to wait <ms>
 * test_delay_ms delays the report (a slow provider). Without a script every request is
 * accepted at once: the instant provider of the benchmark.
 *
 * Every report is also appended, one line per send, to the file named by the environment
 * variable NOTIFY_TEST_SEND_LOG when it is set ("<message_id> <attempt> <outcome>"), so a
 * test can count how often a request actually reached the provider.
 */
#ifndef NOTIFY_SCRIPTED_SENDER_H
#define NOTIFY_SCRIPTED_SENDER_H

#include "sender.h"

/* The email flavour (channel email, provider SMTP) and the Twilio flavour (channel sms,
 * provider TWILIO); both read the same scripts. */
extern const sender_ops_t scripted_sender_email;
extern const sender_ops_t scripted_sender_twilio;

#endif
