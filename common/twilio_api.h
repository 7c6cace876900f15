/*
 * The Twilio Messages API as the worker speaks it, without any I/O: the URL and form of
 * one create-message request, and the classification of its answer into the contract's
 * error codes (errcode.h's Twilio table) and the pipeline's retry decision.
 *
 * Request: POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json, Basic auth
 * (AccountSid, AuthToken), form fields To, From, Body, StatusCallback, ValidityPeriod.
 *
 * Answer:
 *   2xx with a "sid"            sent; provider_message_id = sid (a 2xx without one is
 *                               still sent: Twilio took it, and sending again would
 *                               duplicate it; provider_message_id is then empty)
 *   JSON {"code": n, ...}       TWILIO_<n> with the table's (or Twilio's default) decision
 *   no code in the body         the code Twilio documents for the status: 401 TWILIO_20003,
 *                               403 TWILIO_20403, 404 TWILIO_20404, 429 TWILIO_20429,
 *                               503 TWILIO_20503, other 5xx TWILIO_20500; any other status
 *                               TWILIO_<status>, not retryable (Twilio's rule for 4xx)
 * Transport failures: CONNECTION_FAILED, TLS_FAILED, TIMEOUT, all retryable.
 *
 * Retrying after a 5xx or a timeout is what the contract asks, but Twilio's create is not
 * idempotent (it documents no idempotency key; X-Idempotency-Key is sent because the seed
 * did, but Twilio documents no use of it): a request that timed out, or whose connection
 * broke after it was written, may still have been accepted, and its retry then sends the
 * message a second time. 429/20429 and a failure to connect are safe: the request was not
 * processed.
 *
 * HTTP 429 and code 20429 ask the organisation to slow down: `throttled` is set, with
 * Retry-After (delta-seconds or an HTTP date) as retry_after_ms when present.
 */
#ifndef NOTIFY_TWILIO_API_H
#define NOTIFY_TWILIO_API_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"
#include "sender.h"
#include "twilio_form.h"

/* A URL (base + path) never needs more; a longer configured base is refused. */
#define TWILIO_API_URL_MAX 2300

/*
 * The create-message URL for `account_sid` under `base` (a trailing '/' of the base is
 * ignored). Returns 0, or -1 when it does not fit or the SID is empty.
 */
int twilio_api_messages_url(const char *base, const char *account_sid, char *out, size_t out_size);

/*
 * webhook-ingest's Twilio status route for `org_id` under `public_base` (PUBLIC_BASE_URL):
 * {public_base}/api/webhooks/sms/{org_id}/twilio/status, the org id percent-encoded as a
 * path segment. Returns 0, or -1 when it does not fit or public_base is empty.
 */
int twilio_api_status_callback_url(const char *public_base, const char *org_id, char *out,
                                   size_t out_size);

/*
 * The form of one message: To (E.164 from the request), From, Body, then StatusCallback
 * (the request's, else `default_callback` when not NULL) and ValidityPeriod when set.
 * NULL when the form would pass TWILIO_FORM_MAX (cannot happen for a parsed request).
 */
twilio_form_t *twilio_api_message_form(const request_t *req, const char *from,
                                       const char *default_callback);

/*
 * The same form written into `form`, which is emptied first and kept (a worker reuses one
 * form per transfer rather than allocating one per message). Returns 0, or -1 (the form
 * is then empty) when it would pass TWILIO_FORM_MAX.
 */
int twilio_api_message_form_fill(twilio_form_t *form, const request_t *req, const char *from,
                                 const char *default_callback);

/*
 * The X-Idempotency-Key header value for an idempotency key: the key with every byte
 * outside printable ASCII, and '%', percent-encoded, so that no key can inject a header.
 * Returns 0, or -1 when it does not fit.
 */
int twilio_api_idempotency_header(const char *key, char *out, size_t out_size);

/*
 * Classifies an HTTP answer: `status` and `len` bytes of `body`, `retry_after` the value of
 * the Retry-After header or NULL, `now_ms` the wall clock (for an HTTP-date Retry-After).
 * Fills every field of *result.
 */
void twilio_api_classify(long status, const char *body, size_t len, const char *retry_after,
                         int64_t now_ms, sender_result_t *result);

/* What kind of transport failure ended a transfer without an answer. */
typedef enum {
    TWILIO_API_FAIL_CONNECT = 0, /* could not connect or resolve: nothing was sent */
    TWILIO_API_FAIL_TLS,         /* TLS handshake or certificate */
    TWILIO_API_FAIL_TIMEOUT,     /* no (complete) answer in time: Twilio may have it */
    TWILIO_API_FAIL_OTHER,       /* the connection broke mid-way, or anything else */
} twilio_api_fail_t;

/* CONNECTION_FAILED, TLS_FAILED, TIMEOUT (all retryable), with `detail` as the message. */
void twilio_api_classify_failure(twilio_api_fail_t kind, const char *detail,
                                 sender_result_t *result);

/*
 * Retry-After as milliseconds from now: delta-seconds ("120") or an IMF-fixdate
 * ("Wed, 21 Oct 2026 07:28:00 GMT"). Returns -1 when absent or unreadable, 0 for a date
 * in the past.
 */
int64_t twilio_api_retry_after_ms(const char *value, int64_t now_ms);

#endif
