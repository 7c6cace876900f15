#include "errcode.h"
#include "testutil.h"

#include <stdbool.h>

/* The contract's codes and flags, written out here independently of the table, so a row
 * dropped or flipped in errcode.h fails this test. */
static const struct {
    const char *name;
    bool retryable;
} expected[] = {
    {"SMTP_421", true},
    {"SMTP_450", true},
    {"SMTP_451", true},
    {"SMTP_452", true},
    {"SMTP_500", false},
    {"SMTP_501", false},
    {"SMTP_502", false},
    {"SMTP_503", false},
    {"SMTP_504", false},
    {"SMTP_550", false},
    {"SMTP_551", false},
    {"SMTP_552", false},
    {"SMTP_553", false},
    {"SMTP_554", false},
    {"CONNECTION_FAILED", true},
    {"TLS_FAILED", true},
    {"TIMEOUT", true},
    {"RATE_LIMIT", true},
    {"QUOTA_EXCEEDED", true},
    {"AUTH_FAILED", false},
    {"INVALID_EMAIL", false},
    {"MESSAGE_TOO_LARGE", false},
    {"RECIPIENT_REJECTED", false},
    {"SENDER_REJECTED", false},
    {"RELAY_DENIED", false},
    {"SPAM_DETECTED", false},
    {"BLACKLISTED", false},
    {"AWS_THROTTLING", true},
    {"AWS_INTERNAL_ERROR", true},
    {"AWS_INVALID_PARAMETER", false},
    {"AWS_INVALID_SMS", false},
    {"AWS_OPTED_OUT", false},
    {"INVALID_REQUEST", false},
    {"UNKNOWN_ORG", false},
    {"PROVIDER_DISABLED", false},
    {"CONFIG_ERROR", false},
    {"INVALID_PHONE", false},
    {"MESSAGE_TOO_LONG", false},
    /* Added by the pipeline: another request with the key is in flight; retried later. */
    {"IDEMPOTENCY_CONFLICT", true},
};

#define NEXPECTED (sizeof(expected) / sizeof(expected[0]))

static void test_every_contract_code(void)
{
    for (size_t i = 0; i < NEXPECTED; i++) {
        errcode_t code = ERRCODE_OK;
        if (errcode_from_name(expected[i].name, &code) != 0) {
            fprintf(stderr, "  missing %s\n", expected[i].name);
            testutil_case_failed = 1;
            continue;
        }
        CHECK_STR(errcode_name(code), expected[i].name);
        if (errcode_retryable(code) != expected[i].retryable) {
            fprintf(stderr, "  %s: retryable %d\n", expected[i].name, errcode_retryable(code));
            testutil_case_failed = 1;
        }
        CHECK(errcode_description(code)[0] != '\0');
    }
    /* Nothing in the table that the contract does not name. */
    CHECK_INT(ERRCODE__COUNT - 1, NEXPECTED);
}

static void test_names_are_unique(void)
{
    for (int i = 1; i < ERRCODE__COUNT; i++) {
        errcode_t back;
        REQUIRE(errcode_from_name(errcode_name((errcode_t)i), &back) == 0);
        CHECK_INT(back, i);
    }
}

static void test_edges(void)
{
    errcode_t code = ERRCODE_TIMEOUT;
    CHECK_STR(errcode_name(ERRCODE_OK), "OK");
    CHECK(!errcode_retryable(ERRCODE_OK));
    CHECK_STR(errcode_name((errcode_t)-1), "UNKNOWN");
    CHECK_STR(errcode_name(ERRCODE__COUNT), "UNKNOWN");
    CHECK(!errcode_retryable(ERRCODE__COUNT));
    CHECK_STR(errcode_description(ERRCODE__COUNT), "");
    CHECK(errcode_from_name("OK", &code) == -1);
    CHECK(errcode_from_name("smtp_421", &code) == -1);
    CHECK(errcode_from_name("SMTP_42", &code) == -1);
    CHECK(errcode_from_name(NULL, &code) == -1);
    CHECK(errcode_from_name("TWILIO_21211", &code) == -1);
    CHECK_INT(code, ERRCODE_TIMEOUT); /* untouched on failure */
}

static void test_twilio_table(void)
{
    static const struct {
        int code;
        bool retryable;
    } twilio[] = {
        /* the seed's list */
        {21612, true},
        {30001, true},
        {30003, true},
        {30008, true},
        {30026, true},
        {20003, false},
        {21211, false},
        {21408, false},
        {21601, false},
        {21610, false},
        {21614, false},
        {30002, false},
        {30004, false},
        {30005, false},
        {30006, false},
        {30007, false},
        {30022, false},
        /* added from Twilio's pages */
        {20429, true},
        {20404, false},
        {21606, false},
        {21608, false},
        {21611, true},
        {21617, false},
        {21635, false},
        {21624, false},
        {90007, false},
        {30024, false},
        {30034, false},
        {63017, true},
        {14107, true},
    };
    for (size_t i = 0; i < sizeof(twilio) / sizeof(twilio[0]); i++) {
        char name[ERRCODE_NAME_SIZE], want[ERRCODE_NAME_SIZE];
        bool retry = !twilio[i].retryable;
        /* The HTTP status must not override a known code's row. */
        int rc = errcode_twilio_lookup(twilio[i].code, 503, name, sizeof(name), &retry);
        snprintf(want, sizeof(want), "TWILIO_%d", twilio[i].code);
        if (rc != 1 || retry != twilio[i].retryable || strcmp(name, want) != 0) {
            fprintf(stderr, "  %d: rc %d retry %d name %s\n", twilio[i].code, rc, retry, name);
            testutil_case_failed = 1;
        }
        CHECK(errcode_twilio_description(twilio[i].code) != NULL);
    }
}

static void test_twilio_unknown(void)
{
    char name[ERRCODE_NAME_SIZE];
    bool retry = true;

    CHECK_INT(errcode_twilio_lookup(12345, 400, name, sizeof(name), &retry), 0);
    CHECK_STR(name, "TWILIO_12345");
    CHECK(!retry);
    CHECK_INT(errcode_twilio_lookup(12345, 429, name, sizeof(name), &retry), 0);
    CHECK(retry);
    CHECK_INT(errcode_twilio_lookup(12345, 500, name, sizeof(name), &retry), 0);
    CHECK(retry);
    CHECK_INT(errcode_twilio_lookup(12345, 599, name, sizeof(name), &retry), 0);
    CHECK(retry);
    /* An asynchronous failure with an unknown code is permanent. */
    CHECK_INT(errcode_twilio_lookup(12345, 0, name, sizeof(name), &retry), 0);
    CHECK(!retry);
    CHECK(errcode_twilio_description(12345) == NULL);

    retry = true;
    CHECK_INT(errcode_twilio_lookup(0, 500, name, sizeof(name), &retry), -1);
    CHECK_STR(name, "");
    CHECK(!retry);
    CHECK_INT(errcode_twilio_lookup(-5, 500, name, sizeof(name), &retry), -1);
    /* "TWILIO_21211" needs 13 bytes. */
    CHECK_INT(errcode_twilio_lookup(21211, 400, name, 12, &retry), -1);
    CHECK_STR(name, "");
    CHECK_INT(errcode_twilio_lookup(21211, 400, name, 13, &retry), 1);
    CHECK_STR(name, "TWILIO_21211");
    CHECK_INT(errcode_twilio_lookup(2147483647, 400, name, sizeof(name), NULL), 0);
    CHECK_STR(name, "TWILIO_2147483647");
}

static void test_classify(void)
{
    bool retry = false;
    CHECK_INT(errcode_classify("SMTP_451", &retry), 0);
    CHECK(retry);
    CHECK_INT(errcode_classify("SMTP_550", &retry), 0);
    CHECK(!retry);
    CHECK_INT(errcode_classify("TWILIO_30003", &retry), 0);
    CHECK(retry);
    CHECK_INT(errcode_classify("TWILIO_21211", &retry), 0);
    CHECK(!retry);
    CHECK_INT(errcode_classify("TWILIO_99999", &retry), 0);
    CHECK(!retry);
    retry = true;
    CHECK_INT(errcode_classify("TWILIO_", &retry), -1);
    CHECK(!retry);
    CHECK_INT(errcode_classify("TWILIO_021211", &retry), -1);
    CHECK_INT(errcode_classify("TWILIO_+1", &retry), -1);
    CHECK_INT(errcode_classify("TWILIO_12x", &retry), -1);
    CHECK_INT(errcode_classify("TWILIO_99999999999", &retry), -1);
    CHECK_INT(errcode_classify("OK", &retry), -1);
    CHECK_INT(errcode_classify("NOPE", &retry), -1);
    CHECK_INT(errcode_classify(NULL, &retry), -1);
}

static void test_credentials_refused(void)
{
    CHECK(errcode_credentials_refused("AUTH_FAILED"));
    CHECK(errcode_credentials_refused("TWILIO_20003"));
    CHECK(!errcode_credentials_refused("TWILIO_20429"));
    CHECK(!errcode_credentials_refused("TWILIO_200031"));
    CHECK(!errcode_credentials_refused("SMTP_550"));
    CHECK(!errcode_credentials_refused("CONFIG_ERROR"));
    CHECK(!errcode_credentials_refused(""));
    CHECK(!errcode_credentials_refused(NULL));
}

int main(void)
{
    TEST_RUN(test_every_contract_code);
    TEST_RUN(test_names_are_unique);
    TEST_RUN(test_edges);
    TEST_RUN(test_twilio_table);
    TEST_RUN(test_twilio_unknown);
    TEST_RUN(test_classify);
    TEST_RUN(test_credentials_refused);
    return TEST_EXIT();
}
