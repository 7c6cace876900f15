#include "testutil.h"
#include "utf8.h"

static size_t dec(const char *s, size_t len, uint32_t *cp)
{
    return utf8_decode((const unsigned char *)s, len, cp);
}

static void test_decode(void)
{
    uint32_t cp = 0;
    CHECK_INT(dec("A", 1, &cp), 1);
    CHECK_INT(cp, 'A');
    CHECK_INT(dec("\xC3\xA9", 2, &cp), 2); /* é */
    CHECK_INT(cp, 0xE9);
    CHECK_INT(dec("\xE2\x82\xAC", 3, &cp), 3); /* € */
    CHECK_INT(cp, 0x20AC);
    CHECK_INT(dec("\xF0\x9F\x98\x80", 4, &cp), 4); /* U+1F600 */
    CHECK_INT(cp, 0x1F600);
    CHECK_INT(dec("\xF4\x8F\xBF\xBF", 4, &cp), 4); /* U+10FFFF, the last */
    CHECK_INT(dec("\xC3\xA9", 2, NULL), 2);
}

static void test_malformed(void)
{
    uint32_t cp;
    CHECK_INT(dec("", 0, &cp), 0);
    CHECK_INT(dec("\x80", 1, &cp), 0);             /* a continuation byte alone */
    CHECK_INT(dec("\xC0\xAF", 2, &cp), 0);         /* overlong '/' */
    CHECK_INT(dec("\xE0\x80\xAF", 3, &cp), 0);     /* overlong, three bytes */
    CHECK_INT(dec("\xED\xA0\x80", 3, &cp), 0);     /* a surrogate */
    CHECK_INT(dec("\xF4\x90\x80\x80", 4, &cp), 0); /* beyond U+10FFFF */
    CHECK_INT(dec("\xE2\x82", 2, &cp), 0);         /* truncated */
    CHECK_INT(dec("\xE2\x28\xA1", 3, &cp), 0);     /* bad continuation */
    CHECK_INT(dec("\xFF", 1, &cp), 0);
}

static void test_cut(void)
{
    const char *s = "ab\xE2\x82\xAC"; /* "ab€": 5 bytes */
    CHECK_INT(utf8_cut(s, 5), 5);
    CHECK_INT(utf8_cut(s, 4), 2); /* inside € */
    CHECK_INT(utf8_cut(s, 3), 2);
    CHECK_INT(utf8_cut(s, 2), 2);
    CHECK_INT(utf8_cut("\xF0\x9F\x98\x80", 3), 0);
    CHECK_INT(utf8_cut("\xF0\x9F\x98\x80", 4), 4);
    CHECK_INT(utf8_cut("abc", 3), 3);
    CHECK_INT(utf8_cut("", 0), 0);
}

static void test_valid(void)
{
    CHECK(utf8_valid("", 0));
    CHECK(utf8_valid("plain", 5));
    CHECK(utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    CHECK(utf8_valid("a\0b", 3));
    CHECK(!utf8_valid("x\xff\xfe", 3));
    CHECK(!utf8_valid("x\xc0\xaf", 3));
    CHECK(!utf8_valid("\xed\xa0\x80", 3));
    CHECK(!utf8_valid("caf\xc3", 4));
    /* Only the given length counts: a sequence cut by it is malformed. */
    CHECK(!utf8_valid("\xc3\xa9", 1));
}

int main(void)
{
    TEST_RUN(test_decode);
    TEST_RUN(test_malformed);
    TEST_RUN(test_cut);
    TEST_RUN(test_valid);
    return TEST_EXIT();
}
