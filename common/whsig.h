/*
 * The generic webhook signature of the email routes and the generic SMS route:
 * X-Webhook-Signature is the hex HMAC-SHA256 of the raw body under the organisation's
 * webhook secret, optionally written "sha256=<hex>" (the GitHub form most relays copy).
 * When the sender also gives X-Webhook-Timestamp (decimal Unix seconds), the signature
 * covers "<timestamp>.<body>" instead, and a timestamp further than the replay window from
 * now is refused: a captured callback cannot be replayed later, because changing the
 * timestamp breaks the signature.
 */
#ifndef NOTIFY_WHSIG_H
#define NOTIFY_WHSIG_H

#include <stddef.h>
#include <stdint.h>

/* 64 hex digits and the NUL. */
#define WHSIG_HEX_SIZE 65

typedef enum {
    WHSIG_OK = 0,
    WHSIG_ERR_MISSING,   /* no signature header */
    WHSIG_ERR_MALFORMED, /* not [sha256=]<64 hex digits>, or a timestamp that is not a number */
    WHSIG_ERR_MISMATCH,  /* the signature does not match */
    WHSIG_ERR_STALE,     /* the signature matches but the timestamp is outside the window */
} whsig_result_t;

/*
 * The lower-case hex signature of body (and timestamp, when not NULL: the header's text
 * exactly) under secret. Returns 0, or -1 if OpenSSL fails. For senders and tests.
 */
int whsig_sign(const void *secret, size_t secret_len, const char *timestamp, const void *body,
               size_t len, char out[WHSIG_HEX_SIZE]);

/*
 * Checks the header values (signature may be NULL: missing; timestamp NULL: the plain
 * form) against the body, at now_s with a window of window_s seconds either side. The
 * signature is compared in constant time, and before the timestamp's age, so the answer
 * to a forged request never depends on whether its timestamp was fresh.
 */
whsig_result_t whsig_verify(const void *secret, size_t secret_len, const void *body, size_t len,
                            const char *signature, const char *timestamp, int64_t now_s,
                            int64_t window_s);

const char *whsig_result_name(whsig_result_t r);

#endif
