/*
 * SMS length (smsseg.h). For valid UTF-8: chars are the code points, units at least the
 * chars, and the segment count is the one the contract's part sizes give (never fewer
 * than units / part size, never more than one part per unit).
 */
#include "fuzz.h"
#include "smsseg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smsseg_info_t info;
    if (smsseg_analyze((const char *)data, size, &info) != 0) {
        FUZZ_CHECK(info.chars == 0 && info.units == 0 && info.segments == 0);
        return 0;
    }
    size_t chars = 0;
    for (size_t i = 0; i < size; i++) {
        chars += (data[i] & 0xC0) != 0x80;
    }
    FUZZ_CHECK(info.chars == chars);
    FUZZ_CHECK(info.units >= info.chars && info.units <= 2 * info.chars);
    FUZZ_CHECK(info.segments >= 1);
    size_t single = info.encoding == SMSSEG_GSM7 ? SMSSEG_GSM7_SINGLE : SMSSEG_UCS2_SINGLE;
    size_t part = info.encoding == SMSSEG_GSM7 ? SMSSEG_GSM7_PART : SMSSEG_UCS2_PART;
    if (info.units <= single) {
        FUZZ_CHECK(info.segments == 1);
    } else {
        FUZZ_CHECK(info.segments >= (info.units + part - 1) / part);
        /* A part ends at most one unit early, so it holds at least part - 1 units. */
        FUZZ_CHECK(info.segments <= (info.units + part - 2) / (part - 1));
    }
    return 0;
}
