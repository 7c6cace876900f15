/*
 * What db_new() says when it cannot connect, without a server: the password of the
 * connection string must never reach the error text, however the string is broken.
 */
#include "testutil.h"

#include "db.h"
#include "redact.h"

#include <string.h>

#define PASSWORD "Sup3rSecretPw"

static void check_fails_without_password(const char *conninfo)
{
    char errstr[512] = "";
    db_t *db = db_new(conninfo, "test", 2000, 1000, errstr, sizeof(errstr));
    CHECK(db == NULL);
    db_destroy(db);
    CHECK(errstr[0] != '\0');
    if (strstr(errstr, PASSWORD) != NULL || strstr(errstr, "Sup3r") != NULL) {
        fprintf(stderr, "password leaked for %s: %s\n", conninfo, errstr);
        CHECK(0);
    }
    CHECK(strchr(errstr, '\n') == NULL);
}

/* libpq's own parse errors quote the URI; db_new must not pass them on. */
static void test_malformed_uri(void)
{
    check_fails_without_password("postgresql://user:" PASSWORD "@[::1/db");
    check_fails_without_password("postgresql://user:" PASSWORD "@host:port/db");
}

static void test_malformed_keywords(void)
{
    check_fails_without_password("host=127.0.0.1 password=" PASSWORD " Sup3rSecret");
    check_fails_without_password("password='" PASSWORD);
}

static void test_refused_connection(void)
{
    /* Port 1 on loopback: nothing listens there, so the connection is refused at once. */
    check_fails_without_password("postgresql://user:" PASSWORD "@127.0.0.1:1/db");
    check_fails_without_password("host=127.0.0.1 port=1 user=u password=" PASSWORD);
}

static void test_empty(void)
{
    char errstr[128] = "";
    CHECK(db_new("", "test", 1000, 1000, errstr, sizeof(errstr)) == NULL);
    CHECK(strstr(errstr, "DATABASE_URL") != NULL);
}

/* A parsed password is registered with redact, so a log line quoting it is scrubbed. */
static void test_password_registered_for_redaction(void)
{
    redact_clear();
    char errstr[512];
    db_t *db = db_new("host=127.0.0.1 port=1 user=u password=" PASSWORD, "test", 2000, 1000, errstr,
                      sizeof(errstr));
    CHECK(db == NULL);
    char out[256];
    redact_copy("connecting with " PASSWORD " now", out, sizeof(out));
    CHECK(strstr(out, PASSWORD) == NULL);
    redact_clear();
}

static void test_err_names(void)
{
    CHECK_STR(db_err_name(DB_OK), "DB_OK");
    CHECK_STR(db_err_name(DB_ERR_CONN), "DB_ERR_CONN");
    CHECK_STR(db_err_name(DB_ERR_SQL), "DB_ERR_SQL");
    CHECK_STR(db_err_name(DB_ERR_USAGE), "DB_ERR_USAGE");
    CHECK_STR(db_err_name((db_err_t)42), "DB_ERR_UNKNOWN");
}

int main(void)
{
    TEST_RUN(test_malformed_uri);
    TEST_RUN(test_malformed_keywords);
    TEST_RUN(test_refused_connection);
    TEST_RUN(test_empty);
    TEST_RUN(test_password_registered_for_redaction);
    TEST_RUN(test_err_names);
    return TEST_EXIT();
}
