#include "testutil.h"

#include "formenc.h"

static formenc_t *parse(const char *body)
{
    char err[128];
    return formenc_parse(body, strlen(body), err, sizeof(err));
}

static void test_decodes_plus_and_percent(void)
{
    formenc_t *f = parse("To=%2B14158675309&Body=Hello+world%21&Empty=&Flag");
    REQUIRE(f != NULL);
    CHECK_INT(formenc_count(f), 4);
    CHECK_STR(formenc_get(f, "To"), "+14158675309");
    CHECK_STR(formenc_get(f, "Body"), "Hello world!");
    CHECK_STR(formenc_get(f, "Empty"), "");
    CHECK_STR(formenc_get(f, "Flag"), "");
    CHECK(formenc_get(f, "to") == NULL);
    formenc_destroy(f);
}

static void test_keeps_repeated_names_in_order(void)
{
    formenc_t *f = parse("Digits=5678&&Digits=1234&Digits=1234");
    REQUIRE(f != NULL);
    CHECK_INT(formenc_count(f), 3);
    CHECK_STR(formenc_name(f, 1), "Digits");
    CHECK_STR(formenc_value(f, 0), "5678");
    CHECK_STR(formenc_value(f, 2), "1234");
    CHECK(formenc_name(f, 3) == NULL);
    formenc_destroy(f);
}

static void test_decodes_utf8_and_equals_in_value(void)
{
    formenc_t *f = parse("B%C3%B6dy=a%3Db=c");
    REQUIRE(f != NULL);
    CHECK_STR(formenc_name(f, 0), "B\xc3\xb6"
                                  "dy");
    CHECK_STR(formenc_value(f, 0), "a=b=c");
    formenc_destroy(f);
}

static void test_rejects_malformed(void)
{
    CHECK(parse("a=%2") == NULL);
    CHECK(parse("a=%zz") == NULL);
    CHECK(parse("a%=1") == NULL);
    CHECK(parse("a=%00") == NULL);
    /* Bytes that are not UTF-8: a stray continuation, an overlong '/', a surrogate, in a
     * value or a name; a raw byte above 0x7F counts as much as an escaped one. */
    CHECK(parse("MessageSid=SM%ff%fe") == NULL);
    CHECK(parse("a=x%c0%af") == NULL);
    CHECK(parse("a=%ed%a0%80") == NULL);
    CHECK(parse("%80=1") == NULL);
    CHECK(parse("a=\xc3") == NULL);
    formenc_t *ok = parse("a=%c3%a9&b=\xc3\xa9");
    CHECK(ok != NULL && strcmp(formenc_get(ok, "a"), formenc_get(ok, "b")) == 0);
    formenc_destroy(ok);
    char body[] = {'a', '=', 'x', '\0', 'y'};
    char err[64];
    CHECK(formenc_parse(body, sizeof(body), err, sizeof(err)) == NULL);
}

static void test_empty_body_and_bound(void)
{
    formenc_t *f = parse("");
    REQUIRE(f != NULL);
    CHECK_INT(formenc_count(f), 0);
    formenc_destroy(f);

    char big[FORMENC_MAX_PAIRS * 4 + 8];
    size_t w = 0;
    for (int i = 0; i <= FORMENC_MAX_PAIRS; i++) {
        memcpy(big + w, "a=1&", 4);
        w += 4;
    }
    char err[64];
    CHECK(formenc_parse(big, w, err, sizeof(err)) == NULL);
    f = formenc_parse(big, w - 4, err, sizeof(err));
    CHECK(f != NULL);
    CHECK_INT(f ? formenc_count(f) : 0, FORMENC_MAX_PAIRS);
    formenc_destroy(f);
}

int main(void)
{
    TEST_RUN(test_decodes_plus_and_percent);
    TEST_RUN(test_keeps_repeated_names_in_order);
    TEST_RUN(test_decodes_utf8_and_equals_in_value);
    TEST_RUN(test_rejects_malformed);
    TEST_RUN(test_empty_body_and_bound);
    return TEST_EXIT();
}
