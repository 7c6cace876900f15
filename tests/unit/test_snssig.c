/*
 * SNS signatures against a key pair and certificate made here, the way SNS signs: the
 * string to sign of providers.md section 6, SHA1withRSA (v1) or SHA256withRSA (v2).
 */
#include "testutil.h"

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base64.h"
#include "snssig.h"

static EVP_PKEY *key;
static char cert_pem[8192];
static size_t cert_len;
static char old_cert_pem[8192];
static size_t old_cert_len;

static size_t make_cert(long not_before_s, long not_after_s, char *out, size_t out_size)
{
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(x), not_after_s);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sns.test", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    size_t len = (size_t)n < out_size ? (size_t)n : 0;
    memcpy(out, data, len);
    BIO_free(bio);
    X509_free(x);
    return len;
}

static void setup(void)
{
    key = EVP_RSA_gen(2048);
    cert_len = make_cert(-3600, 86400, cert_pem, sizeof(cert_pem));
    old_cert_len = make_cert(-7200, -3600, old_cert_pem, sizeof(old_cert_pem));
}

/* Signs `text` as SNS would and returns the base64 signature (static buffer). */
static const char *sign(const char *text, int version)
{
    static char b64[1024];
    unsigned char sig[512];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, NULL, version == 2 ? EVP_sha256() : EVP_sha1(), NULL, key);
    EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)text, strlen(text));
    EVP_MD_CTX_free(md);
    base64_encode(sig, sig_len, b64, sizeof(b64));
    return b64;
}

static const char *notification_text =
    "Message\n{\"notification\":{\"messageId\":\"m-1\"},\"status\":\"SUCCESS\"}\n"
    "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
    "Subject\nMy \"first\" subject\n"
    "Timestamp\n2026-11-27T05:00:00.000Z\n"
    "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
    "Type\nNotification\n";

/* The JSON envelope of a Notification with the given signature and version. */
static char *notification_json(const char *message, const char *signature, const char *version)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "Type", json_object_new_string("Notification"));
    json_object_object_add(o, "MessageId",
                           json_object_new_string("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"));
    json_object_object_add(o, "TopicArn",
                           json_object_new_string("arn:aws:sns:us-west-2:123456789012:MyTopic"));
    json_object_object_add(o, "Subject", json_object_new_string("My \"first\" subject"));
    json_object_object_add(o, "Message", json_object_new_string(message));
    json_object_object_add(o, "Timestamp", json_object_new_string("2026-11-27T05:00:00.000Z"));
    json_object_object_add(o, "SignatureVersion", json_object_new_string(version));
    json_object_object_add(o, "Signature", json_object_new_string(signature));
    json_object_object_add(
        o, "SigningCertURL",
        json_object_new_string(
            "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-x.pem"));
    json_object_object_add(o, "UnsubscribeURL",
                           json_object_new_string("https://sns.us-west-2.amazonaws.com/?unsub"));
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

static const char *sms_message =
    "{\"notification\":{\"messageId\":\"m-1\"},\"status\":\"SUCCESS\"}";

static void test_notification_string_to_sign(void)
{
    char err[128];
    char *json = notification_json(sms_message, "AAAA", "1");
    snssig_msg_t *m = snssig_parse(json, strlen(json), err, sizeof(err));
    REQUIRE(m != NULL);
    CHECK_INT(snssig_type(m), SNSSIG_NOTIFICATION);
    size_t len;
    char *text = snssig_string_to_sign(m, &len);
    CHECK_STR(text, notification_text);
    CHECK_INT(len, strlen(notification_text));
    free(text);
    snssig_msg_destroy(m);
    free(json);
}

static void test_notification_v1_and_v2(void)
{
    char err[128];
    for (int version = 1; version <= 2; version++) {
        char *json = notification_json(sms_message, sign(notification_text, version),
                                       version == 1 ? "1" : "2");
        snssig_msg_t *m = snssig_parse(json, strlen(json), err, sizeof(err));
        REQUIRE(m != NULL);
        CHECK_INT(snssig_verify(m, cert_pem, cert_len, err, sizeof(err)), 0);
        /* An expired certificate is refused even with a good signature. */
        CHECK_INT(snssig_verify(m, old_cert_pem, old_cert_len, err, sizeof(err)), -1);
        snssig_msg_destroy(m);
        free(json);

        /* The signature of one version presented as the other fails. */
        json = notification_json(sms_message, sign(notification_text, version),
                                 version == 1 ? "2" : "1");
        m = snssig_parse(json, strlen(json), err, sizeof(err));
        REQUIRE(m != NULL);
        CHECK_INT(snssig_verify(m, cert_pem, cert_len, err, sizeof(err)), -1);
        snssig_msg_destroy(m);
        free(json);

        /* A tampered Message fails. */
        json = notification_json("{\"status\":\"FAILURE\"}", sign(notification_text, version),
                                 version == 1 ? "1" : "2");
        m = snssig_parse(json, strlen(json), err, sizeof(err));
        REQUIRE(m != NULL);
        CHECK_INT(snssig_verify(m, cert_pem, cert_len, err, sizeof(err)), -1);
        snssig_msg_destroy(m);
        free(json);
    }
}

static void test_subscription_confirmation(void)
{
    const char *text = "Message\nYou have chosen to subscribe.\n"
                       "MessageId\n165545c9\n"
                       "SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=Confirm&T=1\n"
                       "Timestamp\n2026-11-27T05:00:00.000Z\n"
                       "Token\n2336412f37\n"
                       "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
                       "Type\nSubscriptionConfirmation\n";
    char json[4096], err[128];
    snprintf(
        json, sizeof(json),
        "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"165545c9\","
        "\"Token\":\"2336412f37\",\"TopicArn\":\"arn:aws:sns:us-west-2:123456789012:MyTopic\","
        "\"Message\":\"You have chosen to subscribe.\","
        "\"SubscribeUrl\":\"https://sns.us-west-2.amazonaws.com/?Action=Confirm&T=1\","
        "\"Timestamp\":\"2026-11-27T05:00:00.000Z\",\"SignatureVersion\":\"2\","
        "\"Signature\":\"%s\",\"SigningCertURL\":\"https://sns.us-west-2.amazonaws.com/a.pem\"}",
        sign(text, 2));
    snssig_msg_t *m = snssig_parse(json, strlen(json), err, sizeof(err));
    REQUIRE(m != NULL);
    CHECK_INT(snssig_type(m), SNSSIG_SUBSCRIPTION_CONFIRMATION);
    CHECK_STR(snssig_field(m, "SubscribeURL"),
              "https://sns.us-west-2.amazonaws.com/?Action=Confirm&T=1");
    size_t len;
    char *got = snssig_string_to_sign(m, &len);
    CHECK_STR(got, text);
    free(got);
    CHECK_INT(snssig_verify(m, cert_pem, cert_len, err, sizeof(err)), 0);
    snssig_msg_destroy(m);
}

static void test_parse_rejects(void)
{
    char err[128];
    const char *bad[] = {
        "[]",
        "{\"Type\":\"Other\"}",
        "{\"Type\":\"Notification\",\"MessageId\":\"1\",\"TopicArn\":\"t\",\"Timestamp\":\"x\","
        "\"SignatureVersion\":\"1\",\"Signature\":\"AA==\",\"SigningCertURL\":\"u\"}",
        "{\"Type\":\"Notification\",\"Message\":\"m\",\"MessageId\":\"1\",\"TopicArn\":\"t\","
        "\"Timestamp\":\"x\",\"SignatureVersion\":\"3\",\"Signature\":\"AA==\","
        "\"SigningCertURL\":\"u\"}",
        "{\"Type\":\"Notification\",\"Message\":5,\"MessageId\":\"1\",\"TopicArn\":\"t\","
        "\"Timestamp\":\"x\",\"SignatureVersion\":\"1\",\"Signature\":\"AA==\","
        "\"SigningCertURL\":\"u\"}",
        "{\"Type\":\"Notification\"} trailing",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(snssig_parse(bad[i], strlen(bad[i]), err, sizeof(err)) == NULL);
}

static void test_cert_url_rules(void)
{
    char err[128];
    CHECK_INT(
        snssig_check_url("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
                         NULL, true, err, sizeof(err)),
        0);
    CHECK_INT(snssig_check_url("https://sns.cn-north-1.amazonaws.com.cn/x.pem", NULL, true, err,
                               sizeof(err)),
              0);
    /* Plain http, a non-.pem path, look-alike hosts, user information. */
    CHECK_INT(
        snssig_check_url("http://sns.us-east-1.amazonaws.com/x.pem", NULL, true, err, sizeof(err)),
        -1);
    CHECK_INT(snssig_check_url("https://sns.us-east-1.amazonaws.com/x.pem.txt", NULL, true, err,
                               sizeof(err)),
              -1);
    CHECK_INT(snssig_check_url("https://sns.us-east-1.amazonaws.com/x.pem?.pem", NULL, true, err,
                               sizeof(err)),
              0);
    CHECK_INT(snssig_check_url("https://sns.us-east-1.amazonaws.com.evil.example/x.pem", NULL, true,
                               err, sizeof(err)),
              -1);
    CHECK_INT(snssig_check_url("https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/x.pem", NULL,
                               true, err, sizeof(err)),
              -1);
    CHECK_INT(snssig_check_url("https://evil@sns.us-east-1.amazonaws.com/x.pem", NULL, true, err,
                               sizeof(err)),
              -1);
    CHECK_INT(snssig_check_url("https://sns.us.amazonaws.com/x.pem", NULL, true, err, sizeof(err)),
              -1);
    /* An explicit port, even 443, is refused by the default pattern: AWS writes none. */
    CHECK_INT(snssig_check_url("https://sns.us-east-1.amazonaws.com:8443/x.pem", NULL, true, err,
                               sizeof(err)),
              -1);
    CHECK_INT(snssig_check_url("https://sns.us-east-1.amazonaws.com:443/x.pem", NULL, true, err,
                               sizeof(err)),
              -1);
    CHECK_INT(snssig_check_url("https://sns.us-east-1.amazonaws.com:/x.pem", NULL, true, err,
                               sizeof(err)),
              -1);
    CHECK_INT(snssig_check_url("https://:443/x.pem", "^.*$", true, err, sizeof(err)), -1);
    /* A configured pattern for a local certificate server names its port; without the port
     * in the pattern the same URL is refused. */
    CHECK_INT(snssig_check_url("https://127.0.0.1:8443/cert.pem", "^127\\.0\\.0\\.1$", true, err,
                               sizeof(err)),
              -1);
    CHECK_INT(snssig_check_url("https://127.0.0.1:8443/cert.pem", "^127\\.0\\.0\\.1:[0-9]+$", true,
                               err, sizeof(err)),
              0);
    CHECK_INT(snssig_check_url("https://127.0.0.1:8443/?Action=Confirm", "^127\\.0\\.0\\.1:[0-9]+$",
                               false, err, sizeof(err)),
              0);
    CHECK_INT(snssig_check_url("https://127.0.0.1:8443/cert.pem", "(", true, err, sizeof(err)), -1);
}

int main(void)
{
    setup();
    TEST_RUN(test_notification_string_to_sign);
    TEST_RUN(test_notification_v1_and_v2);
    TEST_RUN(test_subscription_confirmation);
    TEST_RUN(test_parse_rejects);
    TEST_RUN(test_cert_url_rules);
    EVP_PKEY_free(key);
    return TEST_EXIT();
}
