/*
 * Phone normalisation (phone.h). A number that normalises is '+' and 8-15 digits, the
 * first not 0, and normalising it again gives itself. A failure leaves `out` empty.
 */
#include "fuzz.h"
#include "phone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_cstr(data, size);
    char out[PHONE_E164_SIZE];
    char err[256];
    if (phone_normalize_e164(in, out, sizeof out, err, sizeof err) == 0) {
        size_t digits = strlen(out + 1);
        FUZZ_CHECK(out[0] == '+' && out[1] != '0');
        FUZZ_CHECK(digits >= PHONE_MIN_DIGITS && digits <= PHONE_MAX_DIGITS);
        FUZZ_CHECK(strspn(out + 1, "0123456789") == digits);
        char again[PHONE_E164_SIZE];
        FUZZ_CHECK(phone_normalize_e164(out, again, sizeof again, err, sizeof err) == 0);
        FUZZ_CHECK(strcmp(out, again) == 0);
    } else {
        FUZZ_CHECK(out[0] == '\0' && err[0] != '\0');
    }
    /* Too small an output buffer must fail cleanly, never overflow. */
    char small[6];
    (void)phone_normalize_e164(in, small, sizeof small, err, sizeof err);
    free(in);
    return 0;
}
