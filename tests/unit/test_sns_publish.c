/*
 * The bytes of an SNS Publish body: the parameter order, the exact
 * MessageAttributes.entry.N.* form, and botocore's percent-encoding ('+' as %2B, a space
 * as %20, UTF-8 bytes encoded one by one).
 */
#include "testutil.h"

#include "sns_publish.h"

#include <stdlib.h>

static void test_every_attribute(void)
{
    const sns_publish_t p = {
        .phone_number = "+15555550100",
        .message = "Your code is 123456 & valid 5 min = ok? caf\xc3\xa9 ~_.-",
        .sender_id = "MyBrand",
        .sms_type = "Transactional",
        .max_price = "0.50",
        .idempotency_key = "order-42/confirm+1",
    };
    size_t len = 0;
    char *body = sns_publish_body(&p, &len);
    REQUIRE(body != NULL);
    const char *want = "Action=Publish&Version=2010-03-31&PhoneNumber=%2B15555550100"
                       "&Message=Your%20code%20is%20123456%20%26%20valid%205%20min%20%3D%20ok%3F%"
                       "20caf%C3%A9%20~_.-"
                       "&MessageAttributes.entry.1.Name=AWS.SNS.SMS.SenderID"
                       "&MessageAttributes.entry.1.Value.DataType=String"
                       "&MessageAttributes.entry.1.Value.StringValue=MyBrand"
                       "&MessageAttributes.entry.2.Name=AWS.SNS.SMS.SMSType"
                       "&MessageAttributes.entry.2.Value.DataType=String"
                       "&MessageAttributes.entry.2.Value.StringValue=Transactional"
                       "&MessageAttributes.entry.3.Name=AWS.SNS.SMS.MaxPrice"
                       "&MessageAttributes.entry.3.Value.DataType=Number"
                       "&MessageAttributes.entry.3.Value.StringValue=0.50"
                       "&MessageAttributes.entry.4.Name=IdempotencyKey"
                       "&MessageAttributes.entry.4.Value.DataType=String"
                       "&MessageAttributes.entry.4.Value.StringValue=order-42%2Fconfirm%2B1";
    CHECK_STR(body, want);
    CHECK_INT(len, strlen(want));
    free(body);
}

/* Absent attributes leave no gap in the numbering. */
static void test_numbering_without_gaps(void)
{
    const sns_publish_t p = {
        .phone_number = "+447700900123",
        .message = "Hi",
        .sms_type = "Promotional",
        .idempotency_key = "k1",
    };
    char *body = sns_publish_body(&p, NULL);
    CHECK_STR(body, "Action=Publish&Version=2010-03-31&PhoneNumber=%2B447700900123&Message=Hi"
                    "&MessageAttributes.entry.1.Name=AWS.SNS.SMS.SMSType"
                    "&MessageAttributes.entry.1.Value.DataType=String"
                    "&MessageAttributes.entry.1.Value.StringValue=Promotional"
                    "&MessageAttributes.entry.2.Name=IdempotencyKey"
                    "&MessageAttributes.entry.2.Value.DataType=String"
                    "&MessageAttributes.entry.2.Value.StringValue=k1");
    free(body);
}

static void test_required_fields(void)
{
    const sns_publish_t no_phone = {.message = "x"};
    const sns_publish_t no_message = {.phone_number = "+15555550100"};
    CHECK(sns_publish_body(&no_phone, NULL) == NULL);
    CHECK(sns_publish_body(&no_message, NULL) == NULL);
    const sns_publish_t bare = {.phone_number = "+15555550100", .message = "line1\nline2"};
    char *body = sns_publish_body(&bare, NULL);
    CHECK_STR(body, "Action=Publish&Version=2010-03-31&PhoneNumber=%2B15555550100"
                    "&Message=line1%0Aline2");
    free(body);
}

int main(void)
{
    TEST_RUN(test_every_attribute);
    TEST_RUN(test_numbering_without_gaps);
    TEST_RUN(test_required_fields);
    return TEST_EXIT();
}
