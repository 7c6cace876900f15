/*
 * Twilio answers (twilio_api.h): status from the first two bytes, then a Retry-After
 * header and the body, split at the first NUL. Every answer is either sent (no error code)
 * or a failure with a code the error table knows; Retry-After is never negative except -1.
 */
#include "fuzz.h"
#include "twilio_api.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    long status = 100 + (data[0] << 8 | data[1]) % 500;
    const char *rest = (const char *)data + 2;
    size_t len = size - 2;
    const char *nul = memchr(rest, '\0', len);
    char *retry_after = NULL;
    if (nul != NULL) {
        retry_after = fuzz_cstr((const uint8_t *)rest, (size_t)(nul - rest));
        len -= (size_t)(nul - rest) + 1;
        rest = nul + 1;
    }
    /* A fixed clock keeps runs reproducible. */
    const int64_t now_ms = 1795000000000;
    sender_result_t res;
    memset(&res, 0x5a, sizeof res);
    twilio_api_classify(status, rest, len, retry_after, now_ms, &res);
    FUZZ_CHECK(TERMINATED(res.provider_message_id) && TERMINATED(res.error_code));
    FUZZ_CHECK(TERMINATED(res.error_message));
    if (res.ok) {
        FUZZ_CHECK(status >= 200 && status < 300 && res.error_code[0] == '\0');
    } else {
        bool retryable;
        FUZZ_CHECK(errcode_classify(res.error_code, &retryable) == 0);
    }
    FUZZ_CHECK(res.retry_after_ms >= 0);
    if (retry_after != NULL) {
        FUZZ_CHECK(twilio_api_retry_after_ms(retry_after, now_ms) >= -1);
    }
    char hdr[1024];
    char *key = fuzz_cstr((const uint8_t *)rest, len);
    if (twilio_api_idempotency_header(key, hdr, sizeof hdr) == 0) {
        /* No byte of the key may break out of the header line. */
        for (const char *p = hdr; *p != '\0'; p++) {
            FUZZ_CHECK(*p > 0x20 && *p < 0x7f);
        }
    }
    free(key);
    free(retry_after);
    return 0;
}
