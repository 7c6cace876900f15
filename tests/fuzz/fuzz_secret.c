/*
 * The secret format (secret.h): v1:<id>:<base64> values read from the database, and key
 * rings read from configuration. A fuzzed value cannot forge a GCM tag, so decryption
 * must never succeed; the input as plaintext must encrypt and decrypt back to itself.
 */
#include "fuzz.h"
#include "secret.h"

/* Two fixed test keys (32 bytes each, base64): not secrets, only for this target. */
static const char *const RING = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,"
                                "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
static const char *const COLUMN = "sms_provider_config.twilio_auth_token_encrypted";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static secret_ring_t *ring;
    char err[256];
    if (ring == NULL) {
        ring = secret_ring_new(RING, "k1", err, sizeof err);
        FUZZ_CHECK(ring != NULL);
    }
    char *value = fuzz_cstr(data, size);
    char *plain = NULL;
    size_t plain_len = 0;
    secret_err_t rc =
        secret_decrypt(ring, "org-1", COLUMN, value, &plain, &plain_len, err, sizeof err);
    FUZZ_CHECK(rc != SECRET_OK);
    FUZZ_CHECK(plain == NULL);

    /* The same bytes as a ring's text form must parse or fail cleanly. */
    secret_ring_t *other = secret_ring_new(value, NULL, err, sizeof err);
    secret_ring_destroy(other);

    char *enc = NULL;
    FUZZ_CHECK(secret_encrypt(ring, "org-1", COLUMN, data, size, &enc, err, sizeof err) ==
               SECRET_OK);
    FUZZ_CHECK(strncmp(enc, "v1:k1:", 6) == 0);
    FUZZ_CHECK(secret_decrypt(ring, "org-1", COLUMN, enc, &plain, &plain_len, err, sizeof err) ==
               SECRET_OK);
    FUZZ_CHECK(plain_len == size && memcmp(plain, data, size) == 0 && plain[size] == '\0');
    secret_free(plain, plain_len);
    /* Bound to its row: another organisation's row does not decrypt it. */
    FUZZ_CHECK(secret_decrypt(ring, "org-2", COLUMN, enc, &plain, &plain_len, err, sizeof err) ==
               SECRET_ERR_AUTH);
    free(enc);
    free(value);
    return 0;
}
