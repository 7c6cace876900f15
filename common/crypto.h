/*
 * Small cryptographic primitives over OpenSSL 3's EVP interfaces: HMAC-SHA256 (webhook
 * signatures, SigV4), HMAC-SHA1 (Twilio signatures), SHA-256, a constant-time comparison
 * for checking signatures, and random bytes. Authenticated encryption of stored secrets is
 * in secret.h.
 */
#ifndef NOTIFY_CRYPTO_H
#define NOTIFY_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#define CRYPTO_SHA256_SIZE 32
#define CRYPTO_SHA1_SIZE   20

/*
 * HMAC of `len` bytes of `data` under `key` (any length, empty included; either pointer
 * may be NULL when its length is 0), written as the raw digest to `out`. Returns 0, or -1
 * if OpenSSL fails (out of memory, or the digest is unavailable in this OpenSSL).
 */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[CRYPTO_SHA256_SIZE]);
int crypto_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char out[CRYPTO_SHA1_SIZE]);

/* SHA-256 of `len` bytes of `data` (NULL allowed when len is 0). Returns 0 or -1. */
int crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_SIZE]);

/*
 * True when the two buffers have the same length and the same bytes. The time taken
 * depends only on a_len, never on the contents nor on where they differ, so pass the
 * value you computed as `a` and the one you received as `b`: a mismatch of lengths then
 * tells the sender nothing it did not know (the length of a digest is public anyway).
 */
bool crypto_ct_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/*
 * Fills `buf` with `len` bytes from OpenSSL's CSPRNG. A failure aborts the process: there
 * is no safe way to go on without randomness (nonces would repeat), and the supervisor
 * restarts the worker.
 */
void crypto_random_bytes(void *buf, size_t len);

#endif
