/* The configuration table: defaults, each type's rule, unknown keys, pass-through. */
#include "config.h"
#include "testutil.h"

#include <stdlib.h>

static char err[512];

static void test_defaults(void)
{
    cfg_t *cfg = cfg_new(CFG_BIN_EMAIL);
    CHECK_STR(cfg_str(cfg, CFG_TOPIC_EMAIL), "outbound.email");
    CHECK_STR(cfg_str(cfg, CFG_TOPIC_STATUS), "delivery.status");
    CHECK_STR(cfg_str(cfg, CFG_LOG_LEVEL), "info");
    CHECK_INT(cfg_int(cfg, CFG_PROVIDER_CONFIG_TTL_MS), 30000);
    CHECK_INT(cfg_kafka_count(cfg), 0);
    cfg_destroy(cfg);
}

static void test_env_and_flags(void)
{
    cfg_t *cfg = cfg_new(CFG_BIN_TWILIO);
    char *env[] = {"PATH=/usr/bin",
                   "TOPIC_SMS_TWILIO=custom.twilio",
                   "KAFKA_BOOTSTRAP_SERVERS=10.0.0.1:9092",
                   "KAFKA_SECURITY_PROTOCOL=plaintext",
                   "KAFKA_SERVICE_HOST=10.1.1.1",
                   "KAFKA_PORT=tcp://10.1.1.1:9092",
                   "KAFKA_PORT_9092_TCP_ADDR=10.1.1.1",
                   "HOME=/nowhere",
                   NULL};
    REQUIRE(cfg_load_env(cfg, env, err, sizeof(err)) == 0);
    CHECK_STR(cfg_str(cfg, CFG_TOPIC_SMS_TWILIO), "custom.twilio");
    CHECK_STR(cfg_str(cfg, CFG_KAFKA_BOOTSTRAP_SERVERS), "10.0.0.1:9092");
    REQUIRE(cfg_kafka_count(cfg) == 1);
    CHECK_STR(cfg_kafka_name(cfg, 0), "security.protocol");
    CHECK_STR(cfg_kafka_value(cfg, 0), "plaintext");

    /* Flags come after the environment and win; both spellings are accepted. */
    char *argv[] = {
        "prog", "--topic-sms-twilio=flag.topic", "run", "--LOG_LEVEL=debug", "--check-config",
        NULL};
    int rest[8], nrest = 0;
    REQUIRE(cfg_load_args(cfg, 5, argv, rest, &nrest, err, sizeof(err)) == 0);
    CHECK_STR(cfg_str(cfg, CFG_TOPIC_SMS_TWILIO), "flag.topic");
    CHECK_STR(cfg_str(cfg, CFG_LOG_LEVEL), "debug");
    CHECK_INT(cfg_int(cfg, CFG_LOG_LEVEL), 0);
    CHECK_INT(nrest, 2);
    CHECK_INT(rest[0], 2);
    CHECK_INT(rest[1], 4);
    cfg_destroy(cfg);
}

/* Each rejection names the key and the rule. */
static void expect_rejected(const char *name, const char *value, const char *message)
{
    cfg_t *cfg = cfg_new(CFG_BIN_ALL);
    err[0] = '\0';
    CHECK(cfg_set(cfg, name, value, err, sizeof(err)) == -1);
    if (strcmp(err, message) != 0) {
        fprintf(stderr, "  %s=%s: got '%s', expected '%s'\n", name, value, err, message);
        testutil_case_failed = 1;
    }
    cfg_destroy(cfg);
}

static void test_rejects_bad_values(void)
{
    expect_rejected("PROVIDER_CONFIG_TTL_MS", "-1",
                    "PROVIDER_CONFIG_TTL_MS: -1 is out of range [0, 3600000]");
    expect_rejected("PROVIDER_CONFIG_TTL_MS", "3600001",
                    "PROVIDER_CONFIG_TTL_MS: 3600001 is out of range [0, 3600000]");
    expect_rejected("PROVIDER_CONFIG_TTL_MS", "12abc", "PROVIDER_CONFIG_TTL_MS: not an integer");
    expect_rejected("PROVIDER_CONFIG_TTL_MS", "", "PROVIDER_CONFIG_TTL_MS: not an integer");
    expect_rejected("PROVIDER_CONFIG_TTL_MS", " 5", "PROVIDER_CONFIG_TTL_MS: not an integer");
    expect_rejected("PROVIDER_CONFIG_TTL_MS", "99999999999999999999",
                    "PROVIDER_CONFIG_TTL_MS: not an integer");
    expect_rejected("LOG_LEVEL", "verbose", "LOG_LEVEL: must be one of debug|info|warn|error");
    expect_rejected("LOG_LEVEL", "inf", "LOG_LEVEL: must be one of debug|info|warn|error");
    expect_rejected("HTTP_ADDR", "8080", "HTTP_ADDR: not host:port (port 0-65535)");
    expect_rejected("HTTP_ADDR", "0.0.0.0:70000", "HTTP_ADDR: not host:port (port 0-65535)");
    expect_rejected("HTTP_ADDR", "::1:80", "HTTP_ADDR: not host:port (port 0-65535)");
    expect_rejected("PUBLIC_BASE_URL", "ftp://x",
                    "PUBLIC_BASE_URL: not an http:// or https:// URL");
    expect_rejected("PUBLIC_BASE_URL", "https://",
                    "PUBLIC_BASE_URL: not an http:// or https:// URL");
    expect_rejected("PUBLIC_BASE_URL", "https://a b",
                    "PUBLIC_BASE_URL: not an http:// or https:// URL");
    expect_rejected("TOPIC_NOPE", "x", "TOPIC_NOPE: unknown configuration key");
    expect_rejected("no such key", "x", "'no such key': not a configuration key name");
    expect_rejected("KAFKA_NOT_A_PROPERTY", "1",
                    "KAFKA_NOT_A_PROPERTY: unknown configuration key (librdkafka has no "
                    "'not.a.property')");
    expect_rejected("KAFKA_SOCKET_TIMEOUT_MS", "banana",
                    "KAFKA_SOCKET_TIMEOUT_MS: invalid value for librdkafka property "
                    "'socket.timeout.ms'");
}

static void test_accepts_good_values(void)
{
    cfg_t *cfg = cfg_new(CFG_BIN_ALL);
    CHECK(cfg_set(cfg, "HTTP_ADDR", "[::1]:9000", err, sizeof(err)) == 0);
    CHECK(cfg_set(cfg, "HTTP_ADDR", "127.0.0.1:0", err, sizeof(err)) == 0);
    CHECK(cfg_set(cfg, "HTTP_ADDR", "localhost:65535", err, sizeof(err)) == 0);
    CHECK(cfg_set(cfg, "PUBLIC_BASE_URL", "https://hooks.example.com:8443/base", err,
                  sizeof(err)) == 0);
    CHECK(cfg_set(cfg, "PUBLIC_BASE_URL", "", err, sizeof(err)) == 0);
    CHECK(cfg_set(cfg, "PROVIDER_CONFIG_TTL_MS", "0", err, sizeof(err)) == 0);
    CHECK_INT(cfg_int(cfg, CFG_PROVIDER_CONFIG_TTL_MS), 0);
    CHECK(cfg_set(cfg, "kafka-linger-ms", "5", err, sizeof(err)) == 0);
    CHECK(cfg_set(cfg, "KAFKA_LINGER_MS", "7", err, sizeof(err)) == 0);
    REQUIRE(cfg_kafka_count(cfg) == 1);
    CHECK_STR(cfg_kafka_name(cfg, 0), "linger.ms");
    CHECK_STR(cfg_kafka_value(cfg, 0), "7");
    cfg_destroy(cfg);
}

static void test_unknown_env_under_our_prefix(void)
{
    cfg_t *cfg = cfg_new(CFG_BIN_EMAIL);
    char *env[] = {"TOPIC_EMAILS=x", NULL};
    CHECK(cfg_load_env(cfg, env, err, sizeof(err)) == -1);
    CHECK_STR(err, "TOPIC_EMAILS: unknown configuration key");
    cfg_destroy(cfg);
}

static void test_required(void)
{
    cfg_t *cfg = cfg_new(CFG_BIN_EMAIL);
    CHECK(cfg_validate(cfg, err, sizeof(err)) == 0);
    CHECK(cfg_set(cfg, "KAFKA_BOOTSTRAP_SERVERS", "", err, sizeof(err)) == 0);
    CHECK(cfg_validate(cfg, err, sizeof(err)) == -1);
    CHECK_STR(err, "KAFKA_BOOTSTRAP_SERVERS: required");
    cfg_destroy(cfg);
}

static void test_help_and_values_hide_secrets(void)
{
    cfg_t *cfg = cfg_new(CFG_BIN_EMAIL);
    CHECK(cfg_set(cfg, "DATABASE_URL", "postgresql://u:hunter2@db/x", err, sizeof(err)) == 0);
    CHECK(cfg_set(cfg, "KAFKA_SASL_PASSWORD", "s3cr3t-pw", err, sizeof(err)) == 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cfg_print_values(cfg, f);
    cfg_print_help(f, CFG_BIN_EMAIL);
    fclose(f);
    CHECK(strstr(buf, "hunter2") == NULL);
    CHECK(strstr(buf, "s3cr3t-pw") == NULL);
    CHECK(strstr(buf, "DATABASE_URL=(set)") != NULL);
    CHECK(strstr(buf, "kafka sasl.password=(set)") != NULL);
    CHECK(strstr(buf, "TOPIC_EMAIL (string, default outbound.email)") != NULL);
    /* Another binary's key is not in this binary's help. */
    CHECK(strstr(buf, "TWILIO_API_BASE_URL") == NULL);
    free(buf);
    cfg_destroy(cfg);
}

int main(void)
{
    TEST_RUN(test_defaults);
    TEST_RUN(test_env_and_flags);
    TEST_RUN(test_rejects_bad_values);
    TEST_RUN(test_accepts_good_values);
    TEST_RUN(test_unknown_env_under_our_prefix);
    TEST_RUN(test_required);
    TEST_RUN(test_help_and_values_hide_secrets);
    return TEST_EXIT();
}
