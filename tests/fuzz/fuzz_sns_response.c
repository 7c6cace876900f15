/*
 * SNS Query API answers (sns_response.h): the XML body read with expat, then classified
 * with an HTTP status taken from the first two bytes. Every field is a NUL-terminated
 * string inside its array, and the outcome's retry flag is the error table's.
 */
#include "fuzz.h"
#include "sns_response.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    int status = 100 + (data[0] << 8 | data[1]) % 500;
    sns_response_t resp;
    char err[256];
    int rc = sns_response_parse((const char *)data + 2, size - 2, &resp, err, sizeof err);
    if (rc == 0) {
        FUZZ_CHECK(resp.kind == SNS_RESPONSE_OTHER || resp.kind == SNS_RESPONSE_PUBLISH ||
                   resp.kind == SNS_RESPONSE_ERROR);
        FUZZ_CHECK(TERMINATED(resp.message_id) && TERMINATED(resp.request_id));
        FUZZ_CHECK(TERMINATED(resp.error_type) && TERMINATED(resp.error_code));
        FUZZ_CHECK(TERMINATED(resp.error_message));
    }
    sns_response_outcome_t out;
    sns_response_classify(status, rc == 0 ? &resp : NULL, &out);
    FUZZ_CHECK(errcode_name(out.code) != NULL);
    FUZZ_CHECK(out.retryable == errcode_retryable(out.code));
    return 0;
}
