/*
 * SNS envelopes (snssig.h) as webhook-ingest receives them, and the SigningCertURL check
 * applied to the same bytes as a URL. A parsed envelope has the fields its type signs and
 * a string to sign made of "key\nvalue\n" lines; a URL the check accepts is https and,
 * when a .pem is required, ends in ".pem".
 */
#include "fuzz.h"
#include "snssig.h"

static void check_url(const uint8_t *data, size_t size)
{
    char *url = fuzz_cstr(data, size);
    char err[256];
    if (snssig_check_url(url, NULL, true, err, sizeof err) == 0) {
        FUZZ_CHECK(strncmp(url, "https://", 8) == 0);
        char *q = strpbrk(url, "?#");
        size_t end = q ? (size_t)(q - url) : strlen(url);
        FUZZ_CHECK(end >= 4 && memcmp(url + end - 4, ".pem", 4) == 0);
    }
    (void)snssig_check_url(url, "^[a-z.]+$", false, err, sizeof err);
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_url(data, size);
    char err[256];
    snssig_msg_t *msg = snssig_parse((const char *)data, size, err, sizeof err);
    if (msg == NULL) {
        return 0;
    }
    snssig_type_t type = snssig_type(msg);
    FUZZ_CHECK(type == SNSSIG_NOTIFICATION || type == SNSSIG_SUBSCRIPTION_CONFIRMATION ||
               type == SNSSIG_UNSUBSCRIBE_CONFIRMATION);
    const char *required[] = {"Message",   "MessageId", "Timestamp",     "TopicArn",
                              "Signature", "Type",      "SigningCertURL"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        FUZZ_CHECK(snssig_field(msg, required[i]) != NULL);
    }
    if (type != SNSSIG_NOTIFICATION) {
        FUZZ_CHECK(snssig_field(msg, "SubscribeURL") != NULL);
        FUZZ_CHECK(snssig_field(msg, "Token") != NULL);
    }
    size_t len = 0;
    char *sts = snssig_string_to_sign(msg, &len);
    FUZZ_CHECK(sts != NULL && len >= 1 && sts[len - 1] == '\n');
    FUZZ_CHECK(strncmp(sts, "Message\n", 8) == 0);
    free(sts);
    snssig_msg_destroy(msg);
    return 0;
}
