#include "timefmt.h"
#include "testutil.h"

static void test_format(void)
{
    char buf[TIMEFMT_RFC3339_SIZE];
    CHECK(timefmt_format_rfc3339(0, buf, sizeof(buf)) == 0);
    CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
    CHECK(timefmt_format_rfc3339(1795753319123LL, buf, sizeof(buf)) == 0);
    CHECK_STR(buf, "2026-11-27T04:21:59.123Z");
    CHECK(timefmt_format_rfc3339(-1, buf, sizeof(buf)) == 0);
    CHECK_STR(buf, "1969-12-31T23:59:59.999Z");
    CHECK(timefmt_format_rfc3339(0, buf, 10) == -1);
}

static void expect_parse(const char *text, int64_t ms)
{
    int64_t got = -12345;
    int rc = timefmt_parse_rfc3339(text, &got);
    if (rc != 0 || got != ms) {
        fprintf(stderr, "  parse %s: rc %d, %lld, expected %lld\n", text, rc, (long long)got,
                (long long)ms);
        testutil_case_failed = 1;
    }
}

static void test_parse(void)
{
    expect_parse("2026-11-27T04:21:59.123Z", 1795753319123LL);
    expect_parse("2026-11-27t04:21:59.123z", 1795753319123LL);
    expect_parse("2026-11-27T04:21:59Z", 1795753319000LL);
    expect_parse("2026-11-27T04:21:59.1234567Z", 1795753319123LL);
    expect_parse("2026-11-27T05:21:59.123+01:00", 1795753319123LL);
    expect_parse("2026-11-26T23:21:59.123-05:00", 1795753319123LL);
    expect_parse("2024-02-29T00:00:00Z", 1709164800000LL);
    expect_parse("1970-01-01T00:00:00Z", 0);
}

static void test_parse_rejects(void)
{
    const char *bad[] = {"",
                         "2026-11-27",
                         "2026-11-27 04:21:59Z",
                         "2026-11-27T04:21:59",
                         "2026-13-01T00:00:00Z",
                         "2025-02-29T00:00:00Z",
                         "2026-11-31T00:00:00Z",
                         "2026-11-27T24:00:00Z",
                         "2026-11-27T04:21:59.Z",
                         "2026-11-27T04:21:59Zjunk",
                         "2026-11-27T04:21:59+0100",
                         "20261127T042159Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms;
        if (timefmt_parse_rfc3339(bad[i], &ms) != -1) {
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
            testutil_case_failed = 1;
        }
    }
    int64_t ms;
    CHECK(timefmt_parse_rfc3339(NULL, &ms) == -1);
}

static void test_round_trip_now(void)
{
    char buf[TIMEFMT_RFC3339_SIZE];
    int64_t now = timefmt_now_ms(), back = 0;
    REQUIRE(timefmt_format_rfc3339(now, buf, sizeof(buf)) == 0);
    CHECK(timefmt_parse_rfc3339(buf, &back) == 0);
    CHECK_INT(back, now);
}

int main(void)
{
    TEST_RUN(test_format);
    TEST_RUN(test_parse);
    TEST_RUN(test_parse_rejects);
    TEST_RUN(test_round_trip_now);
    return TEST_EXIT();
}
