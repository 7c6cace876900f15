/* The parts of provcfg that need no database: outcome codes and provider type names. */
#include "testutil.h"

#include "provcfg.h"

static void test_outcomes_map_to_contract_codes(void)
{
    CHECK_STR(errcode_name(provcfg_errcode(PROVCFG_ERR_UNKNOWN_ORG)), "UNKNOWN_ORG");
    CHECK_STR(errcode_name(provcfg_errcode(PROVCFG_ERR_DISABLED)), "PROVIDER_DISABLED");
    CHECK_STR(errcode_name(provcfg_errcode(PROVCFG_ERR_CONFIG)), "CONFIG_ERROR");
    CHECK_INT(provcfg_errcode(PROVCFG_OK), ERRCODE_OK);
    CHECK_INT(provcfg_errcode(PROVCFG_ERR_DB), ERRCODE_OK);
    CHECK_INT(provcfg_errcode((provcfg_err_t)99), ERRCODE_OK);
}

static void test_sms_type_names(void)
{
    provcfg_sms_type_t type = PROVCFG_SMS_TWILIO;
    CHECK_INT(provcfg_sms_type_parse("AWS_SNS", &type), 0);
    CHECK_INT(type, PROVCFG_SMS_AWS_SNS);
    CHECK_INT(provcfg_sms_type_parse("TWILIO", &type), 0);
    CHECK_INT(type, PROVCFG_SMS_TWILIO);
    CHECK_INT(provcfg_sms_type_parse("twilio", &type), -1);
    CHECK_INT(provcfg_sms_type_parse("SMTP", &type), -1);
    CHECK_STR(provcfg_sms_type_name(PROVCFG_SMS_AWS_SNS), "AWS_SNS");
    CHECK_STR(provcfg_sms_type_name(PROVCFG_SMS_TWILIO), "TWILIO");
}

int main(void)
{
    TEST_RUN(test_outcomes_map_to_contract_codes);
    TEST_RUN(test_sms_type_names);
    return TEST_EXIT();
}
