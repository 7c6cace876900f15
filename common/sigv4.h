/*
 * AWS Signature Version 4 for one HTTP request, header form (reference/providers.md
 * section 5), over OpenSSL's HMAC-SHA256 and SHA-256 (crypto.h).
 *
 *   canonical request = METHOD \n path \n query \n canonical headers \n
 *                       signed headers \n hex(sha256(body))
 *   string to sign    = "AWS4-HMAC-SHA256" \n x-amz-date \n scope \n hex(sha256(creq))
 *   signing key       = HMAC chain "AWS4"+secret -> yyyymmdd -> region -> service ->
 *                       "aws4_request"
 *
 * The caller lists every header it wants signed, Host and X-Amz-Date included, and must
 * send exactly those values and exactly the body that was hashed: the signer does not
 * add headers behind the caller's back, so what is signed is what is on the wire.
 *
 * Secrets: the secret key and the signature are never logged or put in errstr.
 */
#ifndef NOTIFY_SIGV4_H
#define NOTIFY_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "crypto.h"

#define SIGV4_AMZ_DATE_SIZE 17 /* "20150830T123600Z" and its NUL */
#define SIGV4_SIGNATURE_HEX (2 * CRYPTO_SHA256_SIZE + 1)
#define SIGV4_MAX_HEADERS   16

typedef struct sigv4_header_s {
    const char *name; /* any case: signed in lower case */
    const char *value;
} sigv4_header_t;

typedef struct sigv4_request_s {
    const char *method; /* "POST" */
    const char *path;   /* the URI path as sent, already encoded; NULL or "" means "/" */
    const char *query;  /* the canonical query string (sorted, encoded); NULL means "" */
    const sigv4_header_t *headers;
    size_t header_count; /* at most SIGV4_MAX_HEADERS */
    const void *body;
    size_t body_len;
    const char *amz_date; /* the X-Amz-Date value; its first 8 characters are the scope date */
    const char *region;
    const char *service;
    const char *access_key;
} sigv4_request_t;

/* The X-Amz-Date text ("YYYYMMDDTHHMMSSZ", UTC) of time `t`. */
void sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_SIZE]);

/*
 * The canonical request and the "a;b;c" signed-header list, both malloc'd and owned by the
 * caller (signed_headers may be NULL when not wanted). Returns 0, or -1 with errstr for a
 * request that cannot be signed (too many headers, a header without a value, a bad date).
 */
int sigv4_canonical_request(const sigv4_request_t *r, char **creq, char **signed_headers,
                            char *errstr, size_t errstr_size);

/* The string to sign for a canonical request (malloc'd). Returns 0 or -1 with errstr. */
int sigv4_string_to_sign(const sigv4_request_t *r, const char *creq, char **sts, char *errstr,
                         size_t errstr_size);

/* The signing key of (secret, yyyymmdd, region, service). Returns 0 or -1. */
int sigv4_signing_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char key[CRYPTO_SHA256_SIZE]);

/*
 * The Authorization header value ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...") of `r` under a signing key from sigv4_signing_key() or the cache below,
 * written into `out`. Returns 0, or -1 with errstr (which never holds the signature).
 */
int sigv4_authorization(const sigv4_request_t *r, const unsigned char key[CRYPTO_SHA256_SIZE],
                        char *out, size_t out_size, char *errstr, size_t errstr_size);

/*
 * Signing keys cached per (access key, day, region, service), so that one HMAC chain is
 * computed per organisation and day instead of four HMACs per request. An entry also
 * holds the SHA-256 of the secret it was derived from (never the secret), so a rotated
 * secret under the same access key is not answered with a stale key. A small fixed table,
 * replaced round-robin when full. Not thread-safe: one cache per signing thread.
 */
typedef struct sigv4_keycache_s sigv4_keycache_t;

sigv4_keycache_t *sigv4_keycache_new(void);
/* Wipes the keys and frees the cache. NULL is allowed. */
void sigv4_keycache_destroy(sigv4_keycache_t *kc);

/* The signing key, from the cache or derived and cached. Returns 0 or -1. */
int sigv4_keycache_get(sigv4_keycache_t *kc, const char *access_key, const char *secret,
                       const char *date8, const char *region, const char *service,
                       unsigned char key[CRYPTO_SHA256_SIZE]);

/* How many keys the cache has derived (tests: a hit derives nothing). */
unsigned long sigv4_keycache_derivations(const sigv4_keycache_t *kc);

#endif
