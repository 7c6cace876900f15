/*
 * Error codes of the contract: the names that appear in status events (`error_code`) and
 * in the `x-last-error-code` header, each with the retry decision the pipeline takes.
 *
 * Two tables, each kept as data in one place:
 *   - ERRCODE_MAP: every fixed name (SMTP, connection, quota, AWS SNS and the pipeline's own
 *     codes for requests that never reach a provider). It generates the errcode_t enum, the
 *     names, the retryable flags and the descriptions, libuv-style.
 *   - ERRCODE_TWILIO_MAP: Twilio's numeric codes, named "TWILIO_<n>" on the wire. Twilio
 *     revises its dictionary and new numbers appear without notice, so these are looked up
 *     by number and an unknown number still gets a name and a documented default decision.
 *
 * Where the seed and Twilio's current documentation disagree about retrying a code, the
 * seed's flag is kept: the contract makes the seed's tables the floor, and producers may
 * already depend on those decisions. The comment of each such row says so.
 */
#ifndef NOTIFY_ERRCODE_H
#define NOTIFY_ERRCODE_H

#include <stdbool.h>
#include <stddef.h>

/* XX(name, retryable, description) */
#define ERRCODE_MAP(XX)                                                                         \
    /* SMTP replies (RFC 5321): 4xx transient, 5xx permanent. */                                \
    XX(SMTP_421, true, "Service not available")                                                 \
    XX(SMTP_450, true, "Mailbox unavailable (temporary)")                                       \
    XX(SMTP_451, true, "Local error in processing")                                             \
    XX(SMTP_452, true, "Insufficient system storage")                                           \
    XX(SMTP_500, false, "Syntax error, command unrecognised")                                   \
    XX(SMTP_501, false, "Syntax error in parameters or arguments")                              \
    XX(SMTP_502, false, "Command not implemented")                                              \
    XX(SMTP_503, false, "Bad sequence of commands")                                             \
    XX(SMTP_504, false, "Command parameter not implemented")                                    \
    XX(SMTP_550, false, "Mailbox unavailable (permanent)")                                      \
    XX(SMTP_551, false, "User not local")                                                       \
    XX(SMTP_552, false, "Exceeded storage allocation")                                          \
    XX(SMTP_553, false, "Mailbox name not allowed")                                             \
    XX(SMTP_554, false, "Transaction failed")                                                   \
    /* Transport and account conditions shared by every provider. */                            \
    XX(CONNECTION_FAILED, true, "Cannot connect to the provider")                               \
    XX(TLS_FAILED, true, "TLS negotiation failed")                                              \
    XX(TIMEOUT, true, "Timed out")                                                              \
    XX(RATE_LIMIT, true, "Rate limit exceeded or provider throttling")                          \
    XX(QUOTA_EXCEEDED, true, "Quota of the organisation exhausted")                             \
    XX(AUTH_FAILED, false, "Authentication failed")                                             \
    XX(INVALID_EMAIL, false, "Invalid email address")                                           \
    XX(MESSAGE_TOO_LARGE, false, "Message exceeds the size limit")                              \
    XX(RECIPIENT_REJECTED, false, "Recipient rejected")                                         \
    XX(SENDER_REJECTED, false, "Sender rejected")                                               \
    XX(RELAY_DENIED, false, "Relay access denied")                                              \
    XX(SPAM_DETECTED, false, "Flagged as spam")                                                 \
    XX(BLACKLISTED, false, "IP address or domain blacklisted")                                  \
    /* AWS SNS. */                                                                              \
    XX(AWS_THROTTLING, true, "AWS throttling")                                                  \
    XX(AWS_INTERNAL_ERROR, true, "AWS internal error")                                          \
    XX(AWS_INVALID_PARAMETER, false, "AWS rejected a parameter")                                \
    XX(AWS_INVALID_SMS, false, "AWS rejected the SMS")                                          \
    XX(AWS_OPTED_OUT, false, "Phone number opted out")                                          \
    /* The pipeline's own: the request never reached a provider. */                             \
    XX(INVALID_REQUEST, false, "Malformed request: bad JSON or a field breaks its rule")        \
    XX(UNKNOWN_ORG, false, "No provider configuration for the organisation")                    \
    XX(PROVIDER_DISABLED, false, "Provider disabled for the organisation")                      \
    XX(CONFIG_ERROR, false, "Provider configuration unusable (e.g. a secret does not decrypt)") \
    XX(INVALID_PHONE, false, "Phone number cannot be normalised to E.164")                      \
    XX(MESSAGE_TOO_LONG, false, "SMS body longer than 1600 characters")                         \
    XX(IDEMPOTENCY_CONFLICT, true,                                                              \
       "Another request with the same idempotency key is being sent; retried later")

/*
 * XX(code, retryable, description). Sources: the seed's list and Twilio's error pages
 * (reference/providers.md section 2). "S" = synchronous REST error, "A" = asynchronous
 * ErrorCode in a status callback.
 */
#define ERRCODE_TWILIO_MAP(XX)                                                           \
    XX(14107, true, "Too many replies between two numbers in 30 s (A)")                  \
    XX(20003, false, "Authentication or permission denied (S 401)")                      \
    XX(20404, false, "Resource not found (S 404)")                                       \
    XX(20429, true, "Too many concurrent requests; not processed (S 429)")               \
    XX(21211, false, "Invalid 'To' phone number (S)")                                    \
    XX(21408, false, "Sending to that region not enabled (S)")                           \
    XX(21601, false, "'From' is not an SMS-capable number of the account (S)")           \
    XX(21606, false, "'From' is not a valid sender for this destination (S)")            \
    XX(21608, false, "'To' is unverified (trial account) (S)")                           \
    XX(21610, false, "Recipient opted out (STOP) (S)")                                   \
    XX(21611, true, "Sender queue backlog over 10 hours; retry later (S)")               \
    /* Seed: retryable ("unable to reach destination"); Twilio now says the pair is not  \
     * routable. The seed's flag is kept. */                                             \
    XX(21612, true, "'To'/'From' pair not routable (S)")                                 \
    XX(21614, false, "'To' is not a valid mobile number (S)")                            \
    XX(21617, false, "Body longer than 1600 characters (S)")                             \
    XX(21624, false, "ValidityPeriod out of range (S)")                                  \
    XX(21635, false, "'To' is a landline (S)")                                           \
    XX(30001, true, "Queue overflow or validity period expired (A)")                     \
    XX(30002, false, "Account suspended (A)")                                            \
    XX(30003, true, "Handset unreachable (A)")                                           \
    XX(30004, false, "Message blocked (A)")                                              \
    XX(30005, false, "Unknown or inactive handset (A)")                                  \
    XX(30006, false, "Landline or unreachable carrier (A)")                              \
    XX(30007, false, "Filtered as spam or by policy (A)")                                \
    XX(30008, true, "Unknown carrier error (A)")                                         \
    /* Seed: "exceeded max price", not retryable; Twilio now uses 30022 for the US A2P   \
     * 10DLC rate limit and calls it retryable. The seed's flag is kept. */              \
    XX(30022, false, "Exceeded max price / A2P 10DLC rate limit (A)")                    \
    XX(30024, false, "Numeric sender ID not provisioned (A)")                            \
    /* Seed: retryable ("message undeliverable"); not in Twilio's current dictionary. */ \
    XX(30026, true, "Message undeliverable (A)")                                         \
    XX(30034, false, "US A2P 10DLC unregistered sender (A)")                             \
    XX(63017, true, "Account over its messages-per-second limit (A)")                    \
    XX(90007, false, "ValidityPeriod out of range (S)")

typedef enum {
    /* Not an error and not a contract name: "no error code" (status event field null). */
    ERRCODE_OK = 0,
#define ERRCODE_X_ENUM(name, retryable, description) ERRCODE_##name,
    ERRCODE_MAP(ERRCODE_X_ENUM)
#undef ERRCODE_X_ENUM
        ERRCODE__COUNT
} errcode_t;

/* Room for any name of either table, "TWILIO_2147483647" included, and its NUL. */
#define ERRCODE_NAME_SIZE 32

/* The wire name ("SMTP_421"). "OK" for ERRCODE_OK, "UNKNOWN" for a value outside the enum;
 * neither is a contract name. The string is static. */
const char *errcode_name(errcode_t code);

/* The retry decision of the table; false for ERRCODE_OK and out-of-range values. */
bool errcode_retryable(errcode_t code);

/* A short English description (static), "" for ERRCODE_OK and out-of-range values. */
const char *errcode_description(errcode_t code);

/* The enum value of a name of ERRCODE_MAP (exact, case-sensitive). Returns 0, or -1 when
 * `name` is NULL or not in that table ("TWILIO_<n>" names are not: see below). */
int errcode_from_name(const char *name, errcode_t *out);

/*
 * Twilio's numeric codes. Writes "TWILIO_<code>" into `name` and the retry decision into
 * *retryable (either output may be NULL).
 *
 * For a code that is not in ERRCODE_TWILIO_MAP the decision follows Twilio's guidance for
 * unknown codes: retryable when the HTTP status of the REST answer was 429 or 5xx, and not
 * retryable otherwise, which includes an unknown code in an asynchronous status callback
 * (pass http_status 0 there). The name is still "TWILIO_<code>", so new codes reach the
 * status event unchanged.
 *
 * Returns 1 when the code is in the table, 0 when the default decided, and -1 when the
 * code is not positive or the name does not fit in name_size (then `name` is "" when
 * name_size > 0 and *retryable is false).
 */
int errcode_twilio_lookup(int code, int http_status, char *name, size_t name_size, bool *retryable);

/* The description of a Twilio code of the table, or NULL when it is not in the table. */
const char *errcode_twilio_description(int code);

/*
 * The retry decision for any wire name: a name of ERRCODE_MAP, or "TWILIO_<n>" (decimal,
 * no sign, no leading zero) decided as errcode_twilio_lookup() with http_status 0.
 * Returns 0, or -1 for a name of neither form (then *retryable is false).
 */
int errcode_classify(const char *name, bool *retryable);

/*
 * True for the wire names that mean the provider refused the organisation's credentials:
 * AUTH_FAILED (SMTP, AWS) and TWILIO_20003. A worker then drops its cached provider
 * configuration of the organisation, so that a rotated secret is read at the next request
 * instead of failing every request until the cache expires.
 */
bool errcode_credentials_refused(const char *name);

#endif
