/*
 * Form bodies (formenc.h): Twilio's status callbacks. A body that decodes is re-encoded
 * with every byte outside [A-Za-z0-9] as %XX and decoded again: the pairs must come back
 * identical, in the same order.
 */
#include "formenc.h"
#include "fuzz.h"

static void encode(char *out, size_t *pos, const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            out[(*pos)++] = (char)c;
        } else {
            out[(*pos)++] = '%';
            out[(*pos)++] = hexd[c >> 4];
            out[(*pos)++] = hexd[c & 15];
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    formenc_t *form = formenc_parse((const char *)data, size, err, sizeof err);
    if (form == NULL) {
        return 0;
    }
    size_t n = formenc_count(form);
    FUZZ_CHECK(n <= FORMENC_MAX_PAIRS);
    /* Each decoded byte is at most three encoded ones, plus '=' and '&' per pair. */
    char *again = malloc(3 * size + 2 * n + 1);
    FUZZ_CHECK(again != NULL);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(formenc_name(form, i) != NULL && formenc_value(form, i) != NULL);
        FUZZ_CHECK(formenc_get(form, formenc_name(form, i)) != NULL);
        if (i > 0) {
            again[pos++] = '&';
        }
        encode(again, &pos, formenc_name(form, i));
        again[pos++] = '=';
        encode(again, &pos, formenc_value(form, i));
    }
    formenc_t *back = formenc_parse(again, pos, err, sizeof err);
    FUZZ_CHECK(back != NULL && formenc_count(back) == n);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(strcmp(formenc_name(form, i), formenc_name(back, i)) == 0);
        FUZZ_CHECK(strcmp(formenc_value(form, i), formenc_value(back, i)) == 0);
    }
    formenc_destroy(back);
    free(again);
    formenc_destroy(form);
    return 0;
}
