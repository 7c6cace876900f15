/*
 * Twilio signatures (twiliosig.h): the URL Twilio called (first line of the input) and a
 * form body (the rest). The port variants of a URL are URLs again, and a signature we
 * compute for the URL and the decoded parameters validates.
 */
#include "formenc.h"
#include "fuzz.h"
#include "twiliosig.h"

static const char KEY[] = "twilio-auth-token-fuzz";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t url_len = nl ? (size_t)(nl - data) : size;
    char *url = fuzz_cstr(data, url_len);
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t body_len = nl ? size - url_len - 1 : 0;

    char a[TWILIOSIG_URL_MAX], b[TWILIOSIG_URL_MAX];
    if (twiliosig_url_without_port(url, a, sizeof a) == 0) {
        FUZZ_CHECK(strstr(a, "://") != NULL);
        /* Taking the port off twice changes nothing more. */
        FUZZ_CHECK(twiliosig_url_without_port(a, b, sizeof b) == 0 && strcmp(a, b) == 0);
    }
    if (twiliosig_url_with_port(url, a, sizeof a) == 0) {
        FUZZ_CHECK(twiliosig_url_with_port(a, b, sizeof b) == 0 && strcmp(a, b) == 0);
    }
    (void)twiliosig_body_hash_ok(url, body, body_len);

    char err[128];
    formenc_t *form = formenc_parse(body, body_len, err, sizeof err);
    if (form != NULL) {
        size_t n = formenc_count(form);
        twiliosig_param_t params[FORMENC_MAX_PAIRS];
        for (size_t i = 0; i < n; i++) {
            params[i].name = formenc_name(form, i);
            params[i].value = formenc_value(form, i);
        }
        char sig[TWILIOSIG_SIZE];
        /* Only a URL with scheme://host has port variants, and only those validate. */
        bool has_host = twiliosig_url_without_port(url, a, sizeof a) == 0;
        if (has_host && twiliosig_compute(KEY, sizeof KEY - 1, url, params, n, sig) == 0) {
            FUZZ_CHECK(strlen(sig) == TWILIOSIG_SIZE - 1);
            FUZZ_CHECK(twiliosig_validate(KEY, sizeof KEY - 1, url, params, n, sig));
            sig[0] = sig[0] == 'A' ? 'B' : 'A';
            FUZZ_CHECK(!twiliosig_validate(KEY, sizeof KEY - 1, url, params, n, sig));
        }
        formenc_destroy(form);
    }
    free(url);
    return 0;
}
