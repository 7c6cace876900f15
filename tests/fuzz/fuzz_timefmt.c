/*
 * RFC 3339 times (timefmt.h), as webhook bodies and Retry-After-like fields carry them. A
 * time that parses formats (when within years 0000-9999) to text that parses to the same
 * millisecond.
 */
#include "fuzz.h"
#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    int64_t ms = 0;
    if (timefmt_parse_rfc3339(text, &ms) == 0) {
        char out[TIMEFMT_RFC3339_SIZE];
        if (timefmt_format_rfc3339(ms, out, sizeof out) == 0) {
            int64_t back = 0;
            FUZZ_CHECK(timefmt_parse_rfc3339(out, &back) == 0);
            FUZZ_CHECK(back == ms);
        }
    }
    free(text);
    return 0;
}
