#include "retry.h"
#include "testutil.h"

static char err[256];

static retry_policy_t standard(void)
{
    retry_policy_t p;
    if (retry_policy_parse("60000,300000,900000,3600000", &p, err, sizeof(err)) != 0)
        fprintf(stderr, "standard policy: %s\n", err);
    return p;
}

static void test_parse(void)
{
    retry_policy_t p = standard();
    CHECK_INT(p.delays_ms[0], 60000);
    CHECK_INT(p.delays_ms[3], 3600000);
    CHECK(retry_policy_parse("1,2,3", &p, err, sizeof(err)) == -1);
    CHECK_STR(err, "exactly 4 comma-separated delays are needed");
    CHECK(retry_policy_parse("1,2,3,4,5", &p, err, sizeof(err)) == -1);
    CHECK_STR(err, "exactly 4 comma-separated delays are needed");
    CHECK(retry_policy_parse("1,2,2,4", &p, err, sizeof(err)) == -1);
    CHECK_STR(err, "delays must increase (delay 3)");
    CHECK(retry_policy_parse("0,2,3,4", &p, err, sizeof(err)) == -1);
    CHECK_STR(err, "delay 1 is not a positive number of milliseconds");
    CHECK(retry_policy_parse("1,x,3,4", &p, err, sizeof(err)) == -1);
    CHECK(retry_policy_parse("1,-2,3,4", &p, err, sizeof(err)) == -1);
    CHECK(retry_policy_parse("1,,3,4", &p, err, sizeof(err)) == -1);
    CHECK(retry_policy_parse("100,200,300,400", &p, err, sizeof(err)) == 0);
}

static void test_schedule(void)
{
    retry_policy_t p = standard();
    /* Attempt n failed: the copy for attempt n+1 waits tier n-1's delay. */
    CHECK_INT(retry_choose_tier(&p, 1, 1000, 0), 0);
    CHECK_INT(retry_choose_tier(&p, 2, 1000, 0), 1);
    CHECK_INT(retry_choose_tier(&p, 3, 1000, 0), 2);
    CHECK_INT(retry_choose_tier(&p, 4, 1000, 0), 3);
    /* The fifth attempt was the last. */
    CHECK_INT(retry_choose_tier(&p, 5, 1000, 0), -1);
    CHECK_INT(retry_choose_tier(&p, 0, 1000, 0), -1);
    CHECK_STR(retry_tier_suffix(0), ".retry.60s");
    CHECK_STR(retry_tier_suffix(3), ".retry.3600s");
    CHECK(retry_tier_suffix(4) == NULL);
}

static void test_waits(void)
{
    retry_policy_t p = standard();
    int64_t now = 1000000;
    /* A throttle of 5 minutes: the 300 s tier is the smallest that reaches its end. */
    CHECK_INT(retry_choose_tier(&p, 1, now, now + 300000), 1);
    CHECK_INT(retry_choose_tier(&p, 1, now, now + 300001), 2);
    CHECK_INT(retry_choose_tier(&p, 3, now, now + 1000), 0);
    /* A quota window ending in a day: the largest tier. */
    CHECK_INT(retry_choose_tier(&p, 2, now, now + 86400000), 3);
    /* A wait already over counts as none. */
    CHECK_INT(retry_choose_tier(&p, 2, now, now - 5), 1);
    /* The last attempt stays final even when waiting. */
    CHECK_INT(retry_choose_tier(&p, 5, now, now + 1000), -1);
}

static void test_numbers(void)
{
    int64_t v = -1;
    CHECK(retry_parse_number("42", 2, &v) == 0 && v == 42);
    CHECK(retry_parse_number("1795753319123", 13, &v) == 0 && v == 1795753319123LL);
    CHECK(retry_parse_number("", 0, &v) == -1);
    CHECK(retry_parse_number("-1", 2, &v) == -1);
    CHECK(retry_parse_number("1 ", 2, &v) == -1);
    CHECK(retry_parse_number("1234567890123456789", 19, &v) == -1);
    CHECK(retry_parse_number(NULL, 3, &v) == -1);
}

int main(void)
{
    TEST_RUN(test_parse);
    TEST_RUN(test_schedule);
    TEST_RUN(test_waits);
    TEST_RUN(test_numbers);
    return TEST_EXIT();
}
