/*
 * Amazon SNS HTTP(S) message signatures: the envelope of a Notification,
 * SubscriptionConfirmation or UnsubscribeConfirmation, its string to sign, and the
 * verification of its Signature with the signing certificate's public key.
 *
 * String to sign: "key\nvalue\n" for each key in a fixed, byte-sorted order, with the
 * JSON-decoded values (escapes become real characters), skipping absent keys:
 *   Notification:                       Message MessageId Subject(if present) Timestamp
 *                                       TopicArn Type
 *   SubscriptionConfirmation and
 *   UnsubscribeConfirmation:            Message MessageId SubscribeURL Timestamp Token
 *                                       TopicArn Type
 * UnsubscribeURL, SignatureVersion, SigningCertURL and MessageAttributes are never signed.
 * SignatureVersion "1" is SHA1withRSA, "2" SHA256withRSA.
 *
 * The certificate comes from SigningCertURL, which an attacker writes as easily as the
 * rest of the envelope, so the URL is checked before anything is fetched: https, a path
 * ending in ".pem", no user information, and a host matching a pattern (by default
 * SNSSIG_DEFAULT_HOST_PATTERN, which stops look-alikes hosted on S3 or elsewhere). The
 * pattern is matched against the host and, when the URL names one, ":port" after it, so
 * the default refuses any explicit port.
 */
#ifndef NOTIFY_SNSSIG_H
#define NOTIFY_SNSSIG_H

#include <stdbool.h>
#include <stddef.h>

#define SNSSIG_DEFAULT_HOST_PATTERN "^sns\\.[a-zA-Z0-9-]{3,}\\.amazonaws\\.com(\\.cn)?$"

typedef enum {
    SNSSIG_NOTIFICATION = 0,
    SNSSIG_SUBSCRIPTION_CONFIRMATION,
    SNSSIG_UNSUBSCRIBE_CONFIRMATION,
} snssig_type_t;

typedef struct snssig_msg_s snssig_msg_t;

/*
 * Reads an envelope: a JSON object whose Type is one of the three, with every field its
 * string to sign needs, a SignatureVersion of "1" or "2", a Signature and a SigningCertURL,
 * all strings. Lambda-style spellings (SigningCertUrl, SubscribeUrl, UnsubscribeUrl) are
 * accepted. Returns NULL with errstr otherwise.
 */
snssig_msg_t *snssig_parse(const char *json, size_t len, char *errstr, size_t errstr_size);
void snssig_msg_destroy(snssig_msg_t *msg);

snssig_type_t snssig_type(const snssig_msg_t *msg);
/* A field's decoded string value by its canonical name ("Message", "SubscribeURL",
 * "SigningCertURL", ...), or NULL when absent. Valid until snssig_msg_destroy(). */
const char *snssig_field(const snssig_msg_t *msg, const char *name);

/* The string to sign, malloc'd and NUL-terminated (*len without the NUL). */
char *snssig_string_to_sign(const snssig_msg_t *msg, size_t *len);

/*
 * Checks a certificate (or SubscribeURL) URL under the rules above with host_pattern, a
 * POSIX extended regular expression matched against the host, with ":port" when the URL
 * has a port (NULL means the default). require_pem is false for SubscribeURL. Returns 0, or -1 with
 * errstr.
 */
int snssig_check_url(const char *url, const char *host_pattern, bool require_pem, char *errstr,
                     size_t errstr_size);

/*
 * Verifies the message's signature with the certificate in cert_pem (PEM text, len bytes),
 * which must be within its validity period. Returns 0, or -1 with errstr.
 */
int snssig_verify(const snssig_msg_t *msg, const char *cert_pem, size_t len, char *errstr,
                  size_t errstr_size);

#endif
