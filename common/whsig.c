#include "whsig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "hex.h"

/* Unix seconds as the header carries them: 1 to 12 digits, nothing else. */
static int whsig_parse_timestamp(const char *text, int64_t *out)
{
    size_t n = strlen(text);
    if (n == 0 || n > 12 || strspn(text, "0123456789") != n)
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int whsig_mac(const void *secret, size_t secret_len, const char *timestamp, const void *body,
                     size_t len, unsigned char mac[CRYPTO_SHA256_SIZE])
{
    int result = -1;
    char *text = NULL;
    if (timestamp == NULL)
        return crypto_hmac_sha256(secret, secret_len, body, len, mac);
    size_t tl = strlen(timestamp);
    text = malloc(tl + 1 + len + 1);
    if (text == NULL)
        abort();
    memcpy(text, timestamp, tl);
    text[tl] = '.';
    if (len > 0)
        memcpy(text + tl + 1, body, len);
    result = crypto_hmac_sha256(secret, secret_len, text, tl + 1 + len, mac);
    free(text);
    return result;
}

int whsig_sign(const void *secret, size_t secret_len, const char *timestamp, const void *body,
               size_t len, char out[WHSIG_HEX_SIZE])
{
    unsigned char mac[CRYPTO_SHA256_SIZE];
    if (whsig_mac(secret, secret_len, timestamp, body, len, mac) != 0)
        return -1;
    return hex_encode(mac, sizeof(mac), out, WHSIG_HEX_SIZE) == 0 ? 0 : -1;
}

whsig_result_t whsig_verify(const void *secret, size_t secret_len, const void *body, size_t len,
                            const char *signature, const char *timestamp, int64_t now_s,
                            int64_t window_s)
{
    whsig_result_t result = WHSIG_ERR_MALFORMED;
    unsigned char got[CRYPTO_SHA256_SIZE], want[CRYPTO_SHA256_SIZE];
    size_t got_len = 0;
    int64_t ts = 0;

    if (signature == NULL || signature[0] == '\0') {
        result = WHSIG_ERR_MISSING;
        goto out;
    }
    if (strncmp(signature, "sha256=", 7) == 0)
        signature += 7;
    if (strlen(signature) != 2 * CRYPTO_SHA256_SIZE ||
        hex_decode(signature, strlen(signature), got, sizeof(got), &got_len) != 0)
        goto out;
    if (timestamp != NULL && whsig_parse_timestamp(timestamp, &ts) != 0)
        goto out;
    if (whsig_mac(secret, secret_len, timestamp, body, len, want) != 0) {
        result = WHSIG_ERR_MISMATCH;
        goto out;
    }
    if (!crypto_ct_equal(want, sizeof(want), got, got_len)) {
        result = WHSIG_ERR_MISMATCH;
        goto out;
    }
    if (timestamp != NULL && (ts > now_s + window_s || ts < now_s - window_s)) {
        result = WHSIG_ERR_STALE;
        goto out;
    }
    result = WHSIG_OK;
out:
    return result;
}

const char *whsig_result_name(whsig_result_t r)
{
    switch (r) {
    case WHSIG_OK:
        return "ok";
    case WHSIG_ERR_MISSING:
        return "missing";
    case WHSIG_ERR_MALFORMED:
        return "malformed";
    case WHSIG_ERR_MISMATCH:
        return "mismatch";
    case WHSIG_ERR_STALE:
        return "stale";
    }
    return "unknown";
}
