#include "phone.h"
#include "testutil.h"

static void expect_ok(const char *in, const char *want)
{
    char out[PHONE_E164_SIZE], err[128] = "";
    int rc = phone_normalize_e164(in, out, sizeof(out), err, sizeof(err));
    if (rc != 0 || strcmp(out, want) != 0) {
        fprintf(stderr, "  '%s': rc %d out '%s' err '%s', expected '%s'\n", in, rc, out, err, want);
        testutil_case_failed = 1;
    }
}

static void expect_bad(const char *in, const char *rule)
{
    char out[PHONE_E164_SIZE] = "x", err[128] = "";
    int rc = phone_normalize_e164(in, out, sizeof(out), err, sizeof(err));
    if (rc != -1 || strcmp(err, rule) != 0 || out[0] != '\0') {
        fprintf(stderr, "  '%s': rc %d out '%s' err '%s', expected '%s'\n", in ? in : "(null)", rc,
                out, err, rule);
        testutil_case_failed = 1;
    }
}

static void test_accepts(void)
{
    expect_ok("+14155550100", "+14155550100");
    expect_ok("+1 415 555 0100", "+14155550100");
    expect_ok("+1 (415) 555-0100", "+14155550100");
    expect_ok("+44.20.7946.0958", "+442079460958");
    expect_ok("(+44) 20 7946 0958", "+442079460958");
    expect_ok("0044 20 7946 0958", "+442079460958");
    expect_ok("00 33-6-12-34-56-78", "+33612345678");
    expect_ok("0 0 49 30 1234567", "+49301234567");
    expect_ok("+12345678", "+12345678");               /* 8 digits: the shortest */
    expect_ok("+123456789012345", "+123456789012345"); /* 15 digits: the longest */
}

static void test_rejects(void)
{
    static const char *const no_prefix =
        "must start with '+' or 00 (national numbers are not accepted)";
    expect_bad("", "must not be empty");
    expect_bad(NULL, "must not be empty");
    expect_bad("  - ", "must not be empty");
    expect_bad("4155550100", no_prefix);
    expect_bad("06 12 34 56 78", no_prefix); /* national, not guessed */
    expect_bad("0", no_prefix);
    expect_bad("+1234567", "fewer than 8 digits");
    expect_bad("+", "fewer than 8 digits");
    expect_bad("0012", "fewer than 8 digits");
    expect_bad("+1234567890123456", "more than 15 digits");
    expect_bad("+0441234567", "country code must not start with 0");
    expect_bad("000441234567", "country code must not start with 0");
    expect_bad("+1 800 FLOWERS", "must not contain letters");
    expect_bad("+1415555O100", "must not contain letters");
    expect_bad("++14155550100", "'+' is allowed only once, at the start");
    expect_bad("+1415+5550100", "'+' is allowed only once, at the start");
    expect_bad("00+4412345678", "'+' is allowed only once, at the start");
    expect_bad("+1\t4155550100", "may contain only digits, a leading '+', spaces, '-', '.', "
                                 "'(' and ')'");
    expect_bad("+1/415/5550100", "may contain only digits, a leading '+', spaces, '-', '.', "
                                 "'(' and ')'");
    expect_bad("+14155550100\n", "may contain only digits, a leading '+', spaces, '-', '.', "
                                 "'(' and ')'");
}

static void test_small_buffer(void)
{
    char out[8] = "x", err[64] = "";
    CHECK_INT(phone_normalize_e164("+14155550100", out, sizeof(out), err, sizeof(err)), -1);
    CHECK_STR(out, "");
    CHECK_STR(err, "output buffer too small");
    /* No errstr buffer: still a clean failure. */
    CHECK_INT(phone_normalize_e164("abc", out, sizeof(out), NULL, 0), -1);
}

int main(void)
{
    TEST_RUN(test_accepts);
    TEST_RUN(test_rejects);
    TEST_RUN(test_small_buffer);
    return TEST_EXIT();
}
