/*
 * Generic webhook signatures (whsig.h): the X-Webhook-Signature and X-Webhook-Timestamp
 * headers come from the input (split at NULs), the body is the rest. A fuzzed signature
 * never matches by chance; the signature we compute for the same body always does.
 */
#include "fuzz.h"
#include "whsig.h"

static const char SECRET[] = "whsec-fuzz";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nul1 = memchr(p, '\0', size);
    if (nul1 == NULL) {
        return 0;
    }
    size_t rest = size - (size_t)(nul1 + 1 - p);
    const char *nul2 = memchr(nul1 + 1, '\0', rest);
    if (nul2 == NULL) {
        return 0;
    }
    const char *sig = p;
    const char *ts = nul1 + 1;
    const char *body = nul2 + 1;
    size_t len = size - (size_t)(body - p);
    const int64_t now = 1795000000;

    whsig_result_t r = whsig_verify(SECRET, sizeof SECRET - 1, body, len, sig, ts, now, 300);
    FUZZ_CHECK(r != WHSIG_OK && r != WHSIG_ERR_STALE);
    r = whsig_verify(SECRET, sizeof SECRET - 1, body, len, sig, NULL, now, 300);
    FUZZ_CHECK(r != WHSIG_OK);
    FUZZ_CHECK(whsig_result_name(r) != NULL);

    char good[WHSIG_HEX_SIZE];
    FUZZ_CHECK(whsig_sign(SECRET, sizeof SECRET - 1, NULL, body, len, good) == 0);
    FUZZ_CHECK(whsig_verify(SECRET, sizeof SECRET - 1, body, len, good, NULL, now, 300) ==
               WHSIG_OK);
    FUZZ_CHECK(whsig_sign(SECRET, sizeof SECRET - 1, ts, body, len, good) == 0);
    r = whsig_verify(SECRET, sizeof SECRET - 1, body, len, good, ts, now, 300);
    FUZZ_CHECK(r == WHSIG_OK || r == WHSIG_ERR_STALE || r == WHSIG_ERR_MALFORMED);
    return 0;
}
