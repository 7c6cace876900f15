#include "smsseg.h"
#include "testutil.h"

#include <stdlib.h>

/* `count` copies of the UTF-8 `unit`, then `tail`; malloc'd. */
static char *repeat(const char *unit, size_t count, const char *tail)
{
    size_t ulen = strlen(unit), tlen = strlen(tail);
    char *s = malloc(ulen * count + tlen + 1);
    if (s == NULL)
        abort();
    for (size_t i = 0; i < count; i++)
        memcpy(s + i * ulen, unit, ulen);
    memcpy(s + ulen * count, tail, tlen + 1);
    return s;
}

static void expect(const char *text, smsseg_encoding_t enc, size_t chars, size_t units,
                   size_t segments)
{
    smsseg_info_t info;
    int rc = smsseg_analyze(text, strlen(text), &info);
    if (rc != 0 || info.encoding != enc || info.chars != chars || info.units != units ||
        info.segments != segments) {
        fprintf(stderr,
                "  '%.40s': rc %d enc %s chars %zu units %zu segs %zu, expected %s %zu %zu %zu\n",
                text, rc, smsseg_encoding_name(info.encoding), info.chars, info.units,
                info.segments, smsseg_encoding_name(enc), chars, units, segments);
        testutil_case_failed = 1;
    }
}

static void expect_repeat(const char *unit, size_t count, const char *tail, smsseg_encoding_t enc,
                          size_t chars, size_t units, size_t segments)
{
    char *s = repeat(unit, count, tail);
    expect(s, enc, chars, units, segments);
    free(s);
}

/* `na` copies of a, then mid, then `nc` copies of c. */
static void expect_sandwich(const char *a, size_t na, const char *mid, const char *c, size_t nc,
                            smsseg_encoding_t enc, size_t chars, size_t units, size_t segments)
{
    char *head = repeat(a, na, mid);
    char *tail = repeat(c, nc, "");
    char *s = malloc(strlen(head) + strlen(tail) + 1);
    if (s == NULL)
        abort();
    memcpy(s, head, strlen(head));
    memcpy(s + strlen(head), tail, strlen(tail) + 1);
    expect(s, enc, chars, units, segments);
    free(s);
    free(head);
    free(tail);
}

static void test_gsm7_basic(void)
{
    expect("", SMSSEG_GSM7, 0, 0, 1);
    expect("Hello", SMSSEG_GSM7, 5, 5, 1);
    /* Every non-ASCII character of the basic table stays GSM-7 at one septet. */
    expect("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", SMSSEG_GSM7, 44, 44, 1);
    expect_repeat("a", 160, "", SMSSEG_GSM7, 160, 160, 1);
    expect_repeat("a", 161, "", SMSSEG_GSM7, 161, 161, 2);
    expect_repeat("a", 306, "", SMSSEG_GSM7, 306, 306, 2);
    expect_repeat("a", 307, "", SMSSEG_GSM7, 307, 307, 3);
    expect_repeat("a", 1600, "", SMSSEG_GSM7, 1600, 1600, 11);
}

static void test_gsm7_extension(void)
{
    /* Each extension character costs two septets. */
    expect("^{}\\[~]|€", SMSSEG_GSM7, 9, 18, 1);
    expect("\f", SMSSEG_GSM7, 1, 2, 1);
    expect_repeat("€", 80, "", SMSSEG_GSM7, 80, 160, 1);
    expect_repeat("€", 80, "a", SMSSEG_GSM7, 81, 161, 2);
    /* 152 septets then an escape pair: the pair does not fit the first part's last
     * septet and moves to the second part, so 152 more septets need a third part where
     * a plain 306 / 153 would say two. */
    expect_sandwich("a", 152, "€", "a", 152, SMSSEG_GSM7, 305, 306, 3);
    /* The same length with the pair inside a part: two. */
    expect_sandwich("a", 10, "€", "a", 294, SMSSEG_GSM7, 305, 306, 2);
}

static void test_ucs2(void)
{
    /* The backtick is not in GSM-7, nor is a typographic apostrophe: one of them makes the
     * whole text UCS-2. */
    expect("Hello `", SMSSEG_UCS2, 7, 7, 1);
    expect("It\xe2\x80\x99s", SMSSEG_UCS2, 4, 4, 1);
    expect("Привет", SMSSEG_UCS2, 6, 6, 1);
    /* In UCS-2 an extension character is one unit like any other. */
    expect("€ ж", SMSSEG_UCS2, 3, 3, 1);
    expect_repeat("ж", 70, "", SMSSEG_UCS2, 70, 70, 1);
    expect_repeat("ж", 71, "", SMSSEG_UCS2, 71, 71, 2);
    expect_repeat("ж", 134, "", SMSSEG_UCS2, 134, 134, 2);
    expect_repeat("ж", 135, "", SMSSEG_UCS2, 135, 135, 3);
    /* Outside the BMP: one character, two UTF-16 units. */
    expect("\xf0\x9f\x98\x80", SMSSEG_UCS2, 1, 2, 1);
    expect_repeat("\xf0\x9f\x98\x80", 35, "", SMSSEG_UCS2, 35, 70, 1);
    expect_repeat("\xf0\x9f\x98\x80", 35, "a", SMSSEG_UCS2, 36, 71, 2);
    /* 66 units then a surrogate pair, which cannot straddle the part boundary: 134 units
     * take three parts, where 134 / 67 would say two. */
    expect_sandwich("ж", 66, "\xf0\x9f\x98\x80", "ж", 66, SMSSEG_UCS2, 133, 134, 3);
    expect_sandwich("ж", 10, "\xf0\x9f\x98\x80", "ж", 122, SMSSEG_UCS2, 133, 134, 2);
}

static void test_invalid_utf8(void)
{
    static const char *const bad[] = {
        "\x80",             /* continuation without lead */
        "\xc3",             /* truncated */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "ok\xff",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        smsseg_info_t info = {SMSSEG_UCS2, 9, 9, 9};
        CHECK_INT(smsseg_analyze(bad[i], strlen(bad[i]), &info), -1);
        CHECK_INT(info.chars, 0);
        CHECK_INT(info.segments, 0);
    }
}

int main(void)
{
    TEST_RUN(test_gsm7_basic);
    TEST_RUN(test_gsm7_extension);
    TEST_RUN(test_ucs2);
    TEST_RUN(test_invalid_utf8);
    return TEST_EXIT();
}
