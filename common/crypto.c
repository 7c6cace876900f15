#include "crypto.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * EVP_Q_mac is OpenSSL 3's one-shot MAC (HMAC() is deprecated there). A NULL key would
 * leave the MAC unkeyed and make it fail, so an empty key is passed as a valid pointer
 * with length 0, which HMAC defines as the all-zero block.
 */
static int crypto_hmac(const char *digest, const void *key, size_t key_len, const void *data,
                       size_t len, unsigned char *out, size_t out_size)
{
    static const unsigned char empty[1] = {0};
    size_t out_len = 0;

    if (key == NULL || key_len == 0)
        key = empty;
    if (data == NULL || len == 0)
        data = empty;
    if (EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, key, key_len, data, len, out, out_size,
                  &out_len) == NULL ||
        out_len != out_size) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[CRYPTO_SHA256_SIZE])
{
    return crypto_hmac("SHA256", key, key_len, data, len, out, CRYPTO_SHA256_SIZE);
}

int crypto_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
                     unsigned char out[CRYPTO_SHA1_SIZE])
{
    return crypto_hmac("SHA1", key, key_len, data, len, out, CRYPTO_SHA1_SIZE);
}

int crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_SIZE])
{
    static const unsigned char empty[1] = {0};
    unsigned int out_len = 0;

    if (data == NULL || len == 0)
        data = empty;
    if (EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) != 1 ||
        out_len != CRYPTO_SHA256_SIZE) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

bool crypto_ct_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    /*
     * CRYPTO_memcmp reads every byte whatever it finds. When the lengths differ the answer
     * is already known, but `a` is still compared with itself so that the time is the same
     * as for a real comparison of a_len bytes.
     */
    if (a_len == 0)
        return b_len == 0;
    if (a_len != b_len) {
        (void)CRYPTO_memcmp(a, a, a_len);
        return false;
    }
    return CRYPTO_memcmp(a, b, a_len) == 0;
}

void crypto_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;

    /* RAND_bytes takes an int: large requests go in chunks. */
    while (len > 0) {
        int chunk = len > (size_t)INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(p, chunk) != 1) {
            fputs("crypto_random_bytes: RAND_bytes failed, aborting\n", stderr);
            abort();
        }
        p += chunk;
        len -= (size_t)chunk;
    }
}
