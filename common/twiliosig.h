/*
 * Twilio's request signature (X-Twilio-Signature), as its RequestValidator computes it:
 * base64(HMAC-SHA1(auth token, URL + for each parameter name in sorted order, for each of
 * its distinct values in sorted order, name + value)). Sorting is by bytes, which for
 * UTF-8 is Twilio's code-point order (case-sensitive, upper case first); identical pairs
 * count once. Values are the decoded ones (formenc.h), never re-encoded.
 *
 * The URL is the one Twilio called, scheme, host, port, path and raw query exactly; a
 * proxy in front of us changes several of those, so callers build it from the public base
 * URL and the raw request target. Twilio sometimes signs with and sometimes without the
 * scheme's default port, so twiliosig_validate() accepts either variant.
 *
 * JSON bodies are not signed as parameters: Twilio adds bodySHA256=<hex SHA-256 of the
 * body> to the URL's query and signs the URL alone; twiliosig_body_hash_ok() then ties
 * the body to that signed hash.
 */
#ifndef NOTIFY_TWILIOSIG_H
#define NOTIFY_TWILIOSIG_H

#include <stdbool.h>
#include <stddef.h>

/* 28 base64 characters of a SHA-1 digest and the NUL. */
#define TWILIOSIG_SIZE 29
/* Longest URL accepted (port variants included). */
#define TWILIOSIG_URL_MAX 8192

typedef struct twiliosig_param_s {
    const char *name;
    const char *value;
} twiliosig_param_t;

/*
 * Computes the signature of `url` and the n params (any order; not modified) under `key`.
 * Returns 0, or -1 when the input is too large or OpenSSL fails.
 */
int twiliosig_compute(const char *key, size_t key_len, const char *url,
                      const twiliosig_param_t *params, size_t n, char out[TWILIOSIG_SIZE]);

/*
 * The URL with any explicit port removed, and with the scheme's default port (:443 for
 * https, :80 for http) added when none was given; written into `out`. Returns 0, or -1
 * when the URL has no scheme://host or does not fit.
 */
int twiliosig_url_without_port(const char *url, char *out, size_t out_size);
int twiliosig_url_with_port(const char *url, char *out, size_t out_size);

/*
 * True when `signature` matches the computed one for the URL as given, without its port
 * or with the default port added. Compared in constant time.
 */
bool twiliosig_validate(const char *key, size_t key_len, const char *url,
                        const twiliosig_param_t *params, size_t n, const char *signature);

/*
 * For JSON bodies: true when the URL's query has a bodySHA256 parameter equal (either
 * case, constant time) to the SHA-256 of the len bytes of body.
 */
bool twiliosig_body_hash_ok(const char *url, const void *body, size_t len);

#endif
