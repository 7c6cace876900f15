/* The migrations compiled into the binaries: complete, in order, and unaltered. */
#include "testutil.h"

#include "crypto.h"
#include "hex.h"
#include "migrate.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

static void test_numbered_from_one_without_gaps(void)
{
    size_t count = 0;
    const migrate_script_t *scripts = migrate_scripts(&count);
    REQUIRE(scripts != NULL);
    REQUIRE(count > 0);
    for (size_t i = 0; i < count; i++)
        CHECK_INT(scripts[i].version, (long long)i + 1);
}

static void test_names_are_words(void)
{
    size_t count = 0;
    const migrate_script_t *scripts = migrate_scripts(&count);
    for (size_t i = 0; i < count; i++) {
        REQUIRE(scripts[i].name != NULL);
        CHECK(scripts[i].name[0] != '\0');
        for (const char *p = scripts[i].name; *p; p++)
            CHECK(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_');
    }
}

/* The checksum recorded in schema_migrations must be the digest of the SQL applied. */
static void test_checksum_is_sha256_of_sql(void)
{
    size_t count = 0;
    const migrate_script_t *scripts = migrate_scripts(&count);
    for (size_t i = 0; i < count; i++) {
        unsigned char digest[CRYPTO_SHA256_SIZE];
        char hex[2 * CRYPTO_SHA256_SIZE + 1];
        REQUIRE(crypto_sha256(scripts[i].sql, strlen(scripts[i].sql), digest) == 0);
        REQUIRE(hex_encode(digest, sizeof(digest), hex, sizeof(hex)) == 0);
        CHECK_STR(scripts[i].checksum, hex);
        CHECK(strlen(scripts[i].sql) > 0);
    }
}

/* Each migration runs inside migrate's own transaction, so a file must not end it. */
static void test_no_transaction_control_in_files(void)
{
    static const char *const forbidden[] = {"\nBEGIN;", "\nCOMMIT;", "\nROLLBACK;", "CONCURRENTLY"};
    size_t count = 0;
    const migrate_script_t *scripts = migrate_scripts(&count);
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < sizeof(forbidden) / sizeof(forbidden[0]); j++) {
            if (strstr(scripts[i].sql, forbidden[j]) != NULL) {
                fprintf(stderr, "migration %d holds %s\n", scripts[i].version, forbidden[j]);
                CHECK(0);
            }
        }
    }
}

/* The tables the contract names, each created by some migration. */
static void test_contract_tables_are_created(void)
{
    static const char *const tables[] = {"email_provider_config", "sms_provider_config",
                                         "sms_rate_limit", "email_rate_limit", "delivery_ledger"};
    size_t count = 0;
    const migrate_script_t *scripts = migrate_scripts(&count);
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        char needle[128];
        snprintf(needle, sizeof(needle), "CREATE TABLE %s (", tables[t]);
        bool found = false;
        for (size_t i = 0; i < count; i++)
            found = found || strstr(scripts[i].sql, needle) != NULL;
        if (!found)
            fprintf(stderr, "no migration creates %s\n", tables[t]);
        CHECK(found);
    }
}

int main(void)
{
    TEST_RUN(test_numbered_from_one_without_gaps);
    TEST_RUN(test_names_are_words);
    TEST_RUN(test_checksum_is_sha256_of_sql);
    TEST_RUN(test_no_transaction_control_in_files);
    TEST_RUN(test_contract_tables_are_created);
    return TEST_EXIT();
}
