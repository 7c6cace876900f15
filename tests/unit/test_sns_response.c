/*
 * SNS answers read with the XML parser, and each error code of the table mapped to the
 * contract's code from a body shaped as SNS writes it (ErrorResponse / Error / Type, Code,
 * Message, then RequestId).
 */
#include "testutil.h"

#include "sns_response.h"

#include <stdio.h>

#define NS "xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\""

static void test_publish_success(void)
{
    const char *body = "<PublishResponse " NS ">\n"
                       "  <PublishResult>\n"
                       "    <MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId>\n"
                       "  </PublishResult>\n"
                       "  <ResponseMetadata>\n"
                       "    <RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId>\n"
                       "  </ResponseMetadata>\n"
                       "</PublishResponse>\n";
    sns_response_t r;
    char errstr[256];
    REQUIRE(sns_response_parse(body, strlen(body), &r, errstr, sizeof(errstr)) == 0);
    CHECK_INT(r.kind, SNS_RESPONSE_PUBLISH);
    CHECK_STR(r.message_id, "567910cd-659e-55d4-8ccb-5aaf14679dc0");
    CHECK_STR(r.request_id, "d74b8436-ae13-5ab4-a9ff-ce54dfea72a0");
    CHECK_STR(r.error_code, "");
    sns_response_outcome_t o;
    sns_response_classify(200, &r, &o);
    CHECK_INT(o.code, ERRCODE_OK);
    /* A prefix on the names changes nothing; a MessageId outside PublishResult is not it. */
    const char *prefixed = "<sns:PublishResponse xmlns:sns=\"http://sns.amazonaws.com/doc/"
                           "2010-03-31/\"><sns:PublishResult><sns:MessageId>m-1</sns:MessageId>"
                           "</sns:PublishResult></sns:PublishResponse>";
    REQUIRE(sns_response_parse(prefixed, strlen(prefixed), &r, errstr, sizeof(errstr)) == 0);
    CHECK_STR(r.message_id, "m-1");
    const char *stray = "<PublishResponse><MessageId>x</MessageId></PublishResponse>";
    REQUIRE(sns_response_parse(stray, strlen(stray), &r, errstr, sizeof(errstr)) == 0);
    CHECK_STR(r.message_id, "");
    sns_response_classify(200, &r, &o);
    CHECK_INT(o.code, ERRCODE_AWS_INTERNAL_ERROR);
    CHECK(o.retryable);
}

/* Entities and CDATA are text like any other: the parser, not a string search, reads them. */
static void test_error_text_decoded(void)
{
    const char *body = "<ErrorResponse " NS "><Error><Type>Sender</Type>"
                       "<Code>InvalidParameter</Code>"
                       "<Message>Invalid parameter: PhoneNumber &lt;+1&gt; &amp; "
                       "<![CDATA[more]]></Message></Error>"
                       "<RequestId>r-9</RequestId></ErrorResponse>";
    sns_response_t r;
    char errstr[256];
    REQUIRE(sns_response_parse(body, strlen(body), &r, errstr, sizeof(errstr)) == 0);
    CHECK_INT(r.kind, SNS_RESPONSE_ERROR);
    CHECK_STR(r.error_type, "Sender");
    CHECK_STR(r.error_code, "InvalidParameter");
    CHECK_STR(r.error_message, "Invalid parameter: PhoneNumber <+1> & more");
    CHECK_STR(r.request_id, "r-9");
}

static void test_not_xml(void)
{
    sns_response_t r;
    char errstr[256] = "";
    const char *html = "<html><body>502 Bad Gateway</body>";
    CHECK_INT(sns_response_parse(html, strlen(html), &r, errstr, sizeof(errstr)), -1);
    CHECK(strstr(errstr, "not XML") != NULL);
    const char *dtd = "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><ErrorResponse><Error><Code>&a;</Code>"
                      "</Error></ErrorResponse>";
    CHECK_INT(sns_response_parse(dtd, strlen(dtd), &r, errstr, sizeof(errstr)), -1);
    CHECK(strstr(errstr, "DOCTYPE") != NULL);
    sns_response_outcome_t o;
    sns_response_classify(502, NULL, &o);
    CHECK_INT(o.code, ERRCODE_AWS_INTERNAL_ERROR);
    CHECK(o.retryable);
    sns_response_classify(429, NULL, &o);
    CHECK_INT(o.code, ERRCODE_AWS_THROTTLING);
    CHECK(o.throttled);
    sns_response_classify(403, NULL, &o);
    CHECK_INT(o.code, ERRCODE_AUTH_FAILED);
    CHECK(!o.retryable);
    CHECK(o.hint != NULL);
}

typedef struct error_case_s {
    int http;
    const char *type;
    const char *code;
    const char *message;
    errcode_t want;
    int retryable;
    int throttled;
    int hint;
} error_case_t;

static const error_case_t error_cases[] = {
    {400, "Sender", "Throttling", "Rate exceeded", ERRCODE_AWS_THROTTLING, 1, 1, 0},
    {400, "Sender", "ThrottlingException", "Rate exceeded", ERRCODE_AWS_THROTTLING, 1, 1, 0},
    {429, "Sender", "Throttled", "You exceeded your rate", ERRCODE_AWS_THROTTLING, 1, 1, 0},
    {400, "Sender", "KMSThrottling", "KMS is busy", ERRCODE_AWS_THROTTLING, 1, 0, 0},
    {500, "Receiver", "InternalError", "Internal Error", ERRCODE_AWS_INTERNAL_ERROR, 1, 0, 0},
    {500, "Receiver", "InternalFailure", "Unknown", ERRCODE_AWS_INTERNAL_ERROR, 1, 0, 0},
    {503, "Receiver", "ServiceUnavailable", "Unavailable", ERRCODE_AWS_INTERNAL_ERROR, 1, 0, 0},
    /* An unknown code on a 5xx is AWS's side. */
    {502, "Receiver", "SomethingNew", "?", ERRCODE_AWS_INTERNAL_ERROR, 1, 0, 0},
    {400, "Sender", "InvalidParameter", "Invalid parameter: PhoneNumber Reason: +1 is not valid",
     ERRCODE_AWS_INVALID_PARAMETER, 0, 0, 0},
    {400, "Sender", "ParameterValueInvalid",
     "Could not cast message attribute 'AWS.SNS.SMS.MaxPrice' value to number.",
     ERRCODE_AWS_INVALID_PARAMETER, 0, 0, 0},
    {400, "Sender", "ValidationException", "1 validation error detected",
     ERRCODE_AWS_INVALID_PARAMETER, 0, 0, 0},
    {400, "Sender", "InvalidParameterValue", "bad", ERRCODE_AWS_INVALID_PARAMETER, 0, 0, 0},
    {400, "Sender", "InvalidParameter", "Invalid parameter: Message too long",
     ERRCODE_AWS_INVALID_SMS, 0, 0, 0},
    {400, "Sender", "InvalidParameter", "Invalid parameter: Empty message", ERRCODE_AWS_INVALID_SMS,
     0, 0, 0},
    {400, "Sender", "InvalidParameter", "SMS message must be less than 1600 bytes",
     ERRCODE_AWS_INVALID_SMS, 0, 0, 0},
    {400, "Sender", "OptedOut", "Phone number is opted out", ERRCODE_AWS_OPTED_OUT, 0, 0, 0},
    {400, "Sender", "InvalidParameter",
     "Invalid parameter: PhoneNumber Reason: the number has opted out", ERRCODE_AWS_OPTED_OUT, 0, 0,
     0},
    {403, "Sender", "InvalidClientTokenId",
     "The security token included in the request is "
     "invalid.",
     ERRCODE_AUTH_FAILED, 0, 0, 1},
    {403, "Sender", "SignatureDoesNotMatch",
     "The request signature we calculated does not "
     "match the signature you provided.",
     ERRCODE_AUTH_FAILED, 0, 0, 1},
    {400, "Sender", "IncompleteSignature", "Authorization header requires 'Credential'",
     ERRCODE_AUTH_FAILED, 0, 0, 1},
    {403, "Sender", "ExpiredToken", "The security token included in the request is expired",
     ERRCODE_AUTH_FAILED, 0, 0, 1},
    {403, "Sender", "AuthorizationError", "User is not authorized to perform: SNS:Publish",
     ERRCODE_AUTH_FAILED, 0, 0, 1},
    {403, "Sender", "MissingAuthenticationToken", "Request is missing Authentication Token",
     ERRCODE_AUTH_FAILED, 0, 0, 1},
    {403, "Sender", "InvalidSecurity", "The request has failed due to insecure transport",
     ERRCODE_AUTH_FAILED, 0, 0, 1},
    {400, "Sender", "RequestExpired", "Request has expired.", ERRCODE_AUTH_FAILED, 0, 0, 1},
    {404, "Sender", "NotFound", "Endpoint does not exist", ERRCODE_AWS_INVALID_PARAMETER, 0, 0, 0},
    {400, "Sender", "KMSDisabled", "key disabled", ERRCODE_AWS_INVALID_PARAMETER, 0, 0, 1},
    {400, "Sender", "RequestTimeout", "timed out", ERRCODE_TIMEOUT, 1, 0, 0},
    /* An unknown code on a 4xx is a parameter, not retried. */
    {400, "Sender", "BrandNewCode", "?", ERRCODE_AWS_INVALID_PARAMETER, 0, 0, 0},
};

static void test_error_table(void)
{
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const error_case_t *c = &error_cases[i];
        char body[1024];
        snprintf(body, sizeof(body),
                 "<ErrorResponse " NS ">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n"
                 "    <Message>%s</Message>\n  </Error>\n"
                 "  <RequestId>9a8b7c6d-0000-1111-2222-333344445555</RequestId>\n"
                 "</ErrorResponse>\n",
                 c->type, c->code, c->message);
        sns_response_t r;
        char errstr[256];
        if (sns_response_parse(body, strlen(body), &r, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "case %s: %s\n", c->code, errstr);
            CHECK(0);
            continue;
        }
        CHECK_STR(r.error_code, c->code);
        CHECK_STR(r.error_message, c->message);
        sns_response_outcome_t o;
        sns_response_classify(c->http, &r, &o);
        if (o.code != c->want || o.retryable != (c->retryable != 0) ||
            o.throttled != (c->throttled != 0) || (o.hint != NULL) != (c->hint != 0)) {
            fprintf(stderr, "case %s (%s): got %s retryable=%d throttled=%d hint=%d\n", c->code,
                    c->message, errcode_name(o.code), o.retryable, o.throttled, o.hint != NULL);
            CHECK(0);
        }
    }
}

int main(void)
{
    TEST_RUN(test_publish_success);
    TEST_RUN(test_error_text_decoded);
    TEST_RUN(test_not_xml);
    TEST_RUN(test_error_table);
    return TEST_EXIT();
}
