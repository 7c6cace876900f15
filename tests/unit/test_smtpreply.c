/* The SMTP reply table: reply code, enhanced code, text and stage to contract codes. */
#include "smtpreply.h"
#include "testutil.h"

static void expect(smtpreply_stage_t stage, int code, const char *text, bool enhanced,
                   errcode_t want, bool retry, int line)
{
    smtpreply_verdict_t v = smtpreply_classify(stage, code, text, enhanced);
    if (v.code != want || v.retryable != retry) {
        fprintf(stderr, "line %d: %s %d \"%s\": got %s/%d, want %s/%d\n", line,
                smtpreply_stage_name(stage), code, text ? text : "", errcode_name(v.code),
                v.retryable, errcode_name(want), retry);
        testutil_case_failed = 1;
    }
}
#define EXPECT(stage, code, text, enh, want, retry) \
    expect(SMTPREPLY_##stage, code, text, enh, ERRCODE_##want, retry, __LINE__)

static void test_seed_codes(void)
{
    EXPECT(DATA, 421, "4.3.2 Service shutting down", true, SMTP_421, true);
    EXPECT(CONNECT, 421, "Too many connections", false, SMTP_421, true);
    EXPECT(RCPT, 450, "4.2.0 Mailbox busy", true, SMTP_450, true);
    EXPECT(RCPT, 451, "4.7.1 Greylisted, try again", true, SMTP_451, true);
    EXPECT(DATA, 451, "4.3.0 Local error", true, SMTP_451, true);
    EXPECT(MAIL, 452, "4.3.1 Insufficient system storage", true, SMTP_452, true);
    EXPECT(MAIL, 500, "5.5.2 Syntax error", true, SMTP_500, false);
    EXPECT(MAIL, 501, "5.5.4 Bad arguments", true, SMTP_501, false);
    EXPECT(EHLO, 502, "5.5.1 Not implemented", true, SMTP_502, false);
    EXPECT(DATA, 503, "5.5.1 Bad sequence", true, SMTP_503, false);
    EXPECT(MAIL, 504, "5.5.4 Parameter not implemented", true, SMTP_504, false);
    EXPECT(DATA, 550, "5.6.0 Content rejected", true, SMTP_550, false);
    EXPECT(DATA, 552, "5.2.2 Mailbox full", true, SMTP_552, false);
    EXPECT(DATA, 554, "5.0.0 Transaction failed", true, SMTP_554, false);
    EXPECT(CONNECT, 554, "No SMTP service here", false, SMTP_554, false);
}

static void test_connection_and_tls(void)
{
    EXPECT(CONNECT, 0, NULL, false, CONNECTION_FAILED, true);
    EXPECT(DATA, 0, "", true, CONNECTION_FAILED, true);
    EXPECT(STARTTLS, 454, "4.7.0 TLS not available due to temporary reason", true, TLS_FAILED,
           true);
    EXPECT(STARTTLS, 502, "5.5.1 Not implemented", true, TLS_FAILED, true);
    EXPECT(MAIL, 538, "5.7.11 Encryption required", true, TLS_FAILED, false);
}

static void test_auth(void)
{
    EXPECT(AUTH, 535, "5.7.8 Authentication credentials invalid", true, AUTH_FAILED, false);
    EXPECT(AUTH, 535, "Authentication failed", false, AUTH_FAILED, false);
    EXPECT(AUTH, 534, "5.7.9 Mechanism too weak", true, AUTH_FAILED, false);
    EXPECT(AUTH, 454, "4.7.0 Temporary authentication failure", true, AUTH_FAILED, true);
    EXPECT(MAIL, 530, "5.7.0 Authentication required", true, AUTH_FAILED, false);
}

static void test_recipients_and_senders(void)
{
    EXPECT(RCPT, 550,
           "5.1.1 <x@y>: Recipient address rejected: User unknown in relay "
           "recipient table",
           true, RECIPIENT_REJECTED, false);
    EXPECT(RCPT, 550, "No such user", false, RECIPIENT_REJECTED, false);
    EXPECT(RCPT, 551, "5.1.6 User not local", true, RECIPIENT_REJECTED, false);
    EXPECT(RCPT, 553, "5.1.3 Mailbox name not allowed", true, RECIPIENT_REJECTED, false);
    EXPECT(RCPT, 556, "5.1.10 Domain does not accept mail", true, RECIPIENT_REJECTED, false);
    EXPECT(RCPT, 554, "5.1.2 Bad destination system", true, RECIPIENT_REJECTED, false);
    EXPECT(MAIL, 550, "5.1.8 Sender domain does not exist", true, SENDER_REJECTED, false);
    EXPECT(MAIL, 553, "Sender address rejected", false, SENDER_REJECTED, false);
    EXPECT(MAIL, 501, "5.1.7 Bad sender address syntax", true, SENDER_REJECTED, false);
}

static void test_policy_text(void)
{
    EXPECT(RCPT, 554, "5.7.1 <x@y>: Relay access denied", true, RELAY_DENIED, false);
    EXPECT(RCPT, 550, "Unable to relay for x@y", false, RELAY_DENIED, false);
    EXPECT(RCPT, 571, "Delivery not authorized, message refused", false, RELAY_DENIED, false);
    EXPECT(RCPT, 554,
           "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
           "zen.spamhaus.org",
           true, BLACKLISTED, false);
    EXPECT(CONNECT, 554, "Your IP is listed in a DNSBL", false, BLACKLISTED, false);
    EXPECT(DATA, 550, "5.7.1 Message rejected as spam", true, SPAM_DETECTED, false);
    EXPECT(DATA, 554, "5.7.1 Message refused by policy", true, SPAM_DETECTED, false);
    EXPECT(RCPT, 550, "5.7.1 Recipient refused by policy", true, RECIPIENT_REJECTED, false);
    /* A temporary policy deferral is not a final verdict. */
    EXPECT(RCPT, 451, "4.7.1 Client host blocked using zen.spamhaus.org; try later", true, SMTP_451,
           true);
}

static void test_enhanced_only_when_advertised(void)
{
    /* Without ENHANCEDSTATUSCODES, a "5.3.4" prefix is only text. */
    EXPECT(DATA, 552, "5.3.4 Message too big for system", true, MESSAGE_TOO_LARGE, false);
    EXPECT(DATA, 552, "5.3.4 Message too big for system", false, MESSAGE_TOO_LARGE, false);
    EXPECT(DATA, 552, "5.3.4 Storage exceeded allocation", false, SMTP_552, false);
    EXPECT(MAIL, 552, "5.2.3 Message exceeds administrative limit", true, MESSAGE_TOO_LARGE, false);
    EXPECT(RCPT, 550, "5.1.1 something", false, RECIPIENT_REJECTED, false);
    EXPECT(DATA, 550, "5.7.1 refused", false, SMTP_550, false);
}

static void test_too_many_recipients_is_temporary(void)
{
    EXPECT(RCPT, 552, "5.5.3 Too many recipients", true, SMTP_552, true);
    EXPECT(RCPT, 552, "Too many recipients", false, SMTP_552, true);
    EXPECT(RCPT, 452, "4.5.3 Too many recipients", true, SMTP_452, true);
    EXPECT(RCPT, 452, "4.2.2 Mailbox full", true, SMTP_452, true);
}

static void test_unlisted_codes_keep_their_class(void)
{
    EXPECT(MAIL, 455, "4.5.0 Server unable to accommodate parameters", true, SMTP_451, true);
    EXPECT(DATA, 557, "odd", false, SMTP_554, false);
    EXPECT(DATA, 250, "2.0.0 Ok", true, SMTP_503, false);
}

static void test_enhanced_parse(void)
{
    char e[16];
    CHECK(smtpreply_enhanced("5.1.1 User unknown", e, sizeof(e)) == 0);
    CHECK_STR(e, "5.1.1");
    CHECK(smtpreply_enhanced("4.7.11 x", e, sizeof(e)) == 0);
    CHECK_STR(e, "4.7.11");
    CHECK(smtpreply_enhanced("5.1.1\n", e, sizeof(e)) == 0);
    CHECK(smtpreply_enhanced("3.1.1 x", e, sizeof(e)) == -1);
    CHECK(smtpreply_enhanced("5.1 x", e, sizeof(e)) == -1);
    CHECK(smtpreply_enhanced("5.1.1234 x", e, sizeof(e)) == -1);
    CHECK(smtpreply_enhanced("User unknown", e, sizeof(e)) == -1);
    CHECK(smtpreply_enhanced(NULL, e, sizeof(e)) == -1);
}

int main(void)
{
    TEST_RUN(test_seed_codes);
    TEST_RUN(test_connection_and_tls);
    TEST_RUN(test_auth);
    TEST_RUN(test_recipients_and_senders);
    TEST_RUN(test_policy_text);
    TEST_RUN(test_enhanced_only_when_advertised);
    TEST_RUN(test_too_many_recipients_is_temporary);
    TEST_RUN(test_unlisted_codes_keep_their_class);
    TEST_RUN(test_enhanced_parse);
    return TEST_EXIT();
}
