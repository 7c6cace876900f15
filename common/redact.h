/*
 * Redaction of secrets in text that leaves the process (logs, error messages, status
 * events). Two layers: the shapes secrets take in text (the seed's key=value rule and
 * more), and the exact values of secrets this process has decrypted, registered as they
 * are loaded, so a secret is removed even where it appears without a telling key.
 *
 * The shapes, each replaced by "***":
 *   - a key whose name ends in password, passwd, passphrase, pass, pwd, secret(s), token,
 *     key(s), credential(s), signature or auth (any case: api_key, AWS_SECRET_ACCESS_KEY,
 *     X-Api-Key, X-Twilio-Signature, X-Amz-Security-Token), then ':' or '=' and a value.
 *     Unquoted, the value runs to whitespace, ',' or '}' (the seed's rule; '&' ends it too
 *     when a query parameter follows) and the result is the seed's "<key>=***". A quoted
 *     value ("x y") goes whole, and so does a JSON object or array. A quoted key, as in
 *     JSON ("password": "x y"), keeps its punctuation: "password": "***".
 *   - Authorization and Proxy-Authorization (scheme, credentials and ", name=value"
 *     parameters, as in SigV4), Cookie and Set-Cookie (the rest of the line):
 *     "Authorization: ***".
 *   - the password of a URL: scheme://user:***@host.
 *   - the argument of SMTP "AUTH PLAIN|LOGIN|CRAM-MD5|DIGEST-MD5|XOAUTH2|OAUTHBEARER <arg>".
 *     The base64 lines a client sends after a bare "AUTH LOGIN" are not recognised: they
 *     look like any other base64; register the password to catch them.
 *   - AWS access key ids (AKIA or ASIA and 16 of [A-Z0-9]) and the body of a PEM private
 *     key block (its BEGIN and END lines stay).
 * Our ciphertext form v1:<key-id>:<base64> is not a secret and is always left as it is.
 */
#ifndef NOTIFY_REDACT_H
#define NOTIFY_REDACT_H

#include <stddef.h>

/*
 * Writes a redacted copy of `in` into `out` (always NUL-terminated when out_size > 0,
 * truncated to fit, never cutting a UTF-8 character in two). Returns the length written.
 * Thread-safe. Expected time is linear in the length of `in` and does not grow with the
 * number of registered values (see redact.c).
 */
size_t redact_copy(const char *in, char *out, size_t out_size);

/*
 * Registers a secret value (at least 4 bytes; shorter values are ignored because they
 * would match ordinary text) so that every later redact_copy() replaces it with "***".
 * The registry keeps its own copy (wiped when dropped) and has a fixed capacity of 1024
 * values; when it is full the oldest entry is dropped. Thread-safe.
 */
void redact_register(const char *secret);

/* Forgets every registered value (tests). */
void redact_clear(void);

#endif
