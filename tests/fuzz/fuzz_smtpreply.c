/*
 * SMTP reply mapping (smtpreply.h): stage, reply code and the ENHANCEDSTATUSCODES flag
 * from the first bytes, the server's text after them. A verdict's code is a known one;
 * an enhanced code read from the text is "class.subject.detail" with class 2, 4 or 5.
 */
#include "fuzz.h"
#include "smtpreply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) {
        return 0;
    }
    smtpreply_stage_t stage = (smtpreply_stage_t)(data[0] % SMTPREPLY__COUNT);
    int code = (data[1] << 8 | data[2]) % 700;
    bool enhanced = data[0] & 0x80;
    char *text = fuzz_cstr(data + 3, size - 3);
    smtpreply_verdict_t v = smtpreply_classify(stage, code, text, enhanced);
    FUZZ_CHECK(errcode_name(v.code) != NULL);
    FUZZ_CHECK(v.code != ERRCODE_OK);
    (void)smtpreply_classify(stage, code, NULL, enhanced);
    char out[64];
    if (smtpreply_enhanced(text, out, sizeof out) == 0) {
        FUZZ_CHECK(out[0] == '2' || out[0] == '4' || out[0] == '5');
        FUZZ_CHECK(out[1] == '.' && strlen(out) >= 5);
        FUZZ_CHECK(strspn(out, "0123456789.") == strlen(out));
    }
    char tiny[4];
    (void)smtpreply_enhanced(text, tiny, sizeof tiny);
    free(text);
    return 0;
}
