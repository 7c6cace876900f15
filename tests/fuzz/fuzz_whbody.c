/*
 * Generic webhook bodies (whbody.h): what a relay posts to the email routes and the generic
 * SMS route, after its signature verified. A body that parses must hold an id, and every
 * string it yields must be whole UTF-8 text without control bytes a raw one could carry
 * (strict JSON), with smtp_code three digits from 200 to 599.
 */
#include "fuzz.h"
#include "utf8.h"
#include "whbody.h"

static void check_text(const char *s)
{
    if (s == NULL) {
        return;
    }
    FUZZ_CHECK(utf8_valid(s, strlen(s)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    whbody_t b;
    if (whbody_parse((const char *)data, size, &b, err, sizeof err) != 0) {
        FUZZ_CHECK(b.root == NULL && err[0] != '\0');
        return 0;
    }
    FUZZ_CHECK((b.provider_message_id && b.provider_message_id[0]) ||
               (b.message_id && b.message_id[0]));
    check_text(b.provider_message_id);
    check_text(b.message_id);
    check_text(b.status);
    check_text(b.bounce_type);
    check_text(b.diagnostic);
    if (b.smtp_code) {
        const char *c = b.smtp_code;
        FUZZ_CHECK(strlen(c) == 3 && c[0] >= '2' && c[0] <= '5' && c[1] >= '0' && c[1] <= '9' &&
                   c[2] >= '0' && c[2] <= '9');
    }
    whbody_free(&b);
    return 0;
}
