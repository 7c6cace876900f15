/*
 * SigV4 against AWS's published signing test suite (botocore
 * tests/unit/auth/aws4_testsuite, the same cases as aws-c-auth's
 * tests/aws-signing-test-suite/v4): AKIDEXAMPLE, us-east-1, service "service",
 * 20150830T123600Z. The canonical request, the string to sign and the Authorization header
 * must match byte for byte.
 */
#include "testutil.h"

#include "sigv4.h"

#include <stdlib.h>

#define AKID   "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DATE   "20150830T123600Z"
#define SCOPE  "20150830/us-east-1/service/aws4_request"
#define STS_TOKEN                                                                            \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRX" \
    "mxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsbur"  \
    "EDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPk"  \
    "UL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

static void vector_request(sigv4_request_t *r, const sigv4_header_t *h, size_t n, const char *body)
{
    memset(r, 0, sizeof(*r));
    r->method = "POST";
    r->path = "/";
    r->query = "";
    r->headers = h;
    r->header_count = n;
    r->body = body;
    r->body_len = strlen(body);
    r->amz_date = DATE;
    r->region = "us-east-1";
    r->service = "service";
    r->access_key = AKID;
}

/* Checks one case through every step, and the one-call path with a fresh key. */
static void check_vector(const sigv4_request_t *r, const char *want_creq, const char *want_sts,
                         const char *want_authz)
{
    char errstr[256] = "";
    char *creq = NULL, *sh = NULL, *sts = NULL;
    REQUIRE(sigv4_canonical_request(r, &creq, &sh, errstr, sizeof(errstr)) == 0);
    CHECK_STR(creq, want_creq);
    REQUIRE(sigv4_string_to_sign(r, creq, &sts, errstr, sizeof(errstr)) == 0);
    if (want_sts)
        CHECK_STR(sts, want_sts);
    unsigned char key[CRYPTO_SHA256_SIZE];
    REQUIRE(sigv4_signing_key(SECRET, "20150830", "us-east-1", "service", key) == 0);
    char authz[512];
    CHECK_INT(sigv4_authorization(r, key, authz, sizeof(authz), errstr, sizeof(errstr)), 0);
    CHECK_STR(authz, want_authz);
    free(creq);
    free(sh);
    free(sts);
}

static void test_post_x_www_form_urlencoded(void)
{
    const sigv4_header_t h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", DATE},
    };
    sigv4_request_t r;
    vector_request(&r, h, 3, "Param1=value1");
    check_vector(&r,
                 "POST\n/\n\n"
                 "content-type:application/x-www-form-urlencoded\n"
                 "host:example.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n\n"
                 "content-type;host;x-amz-date\n"
                 "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                 "AWS4-HMAC-SHA256\n" DATE "\n" SCOPE
                 "\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
                 "AWS4-HMAC-SHA256 Credential=" AKID "/" SCOPE
                 ", SignedHeaders=content-type;host;x-amz-date, "
                 "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

static void test_post_x_www_form_urlencoded_parameters(void)
{
    const sigv4_header_t h[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf8"},
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", DATE},
    };
    sigv4_request_t r;
    vector_request(&r, h, 3, "Param1=value1");
    check_vector(&r,
                 "POST\n/\n\n"
                 "content-type:application/x-www-form-urlencoded; charset=utf8\n"
                 "host:example.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n\n"
                 "content-type;host;x-amz-date\n"
                 "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                 NULL,
                 "AWS4-HMAC-SHA256 Credential=" AKID "/" SCOPE
                 ", SignedHeaders=content-type;host;x-amz-date, "
                 "Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe");
}

/* post-sts-token/post-sts-header-before: the session token is a signed header. */
static void test_post_sts_header_before(void)
{
    const sigv4_header_t h[] = {
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", DATE},
        {"X-Amz-Security-Token", STS_TOKEN},
    };
    sigv4_request_t r;
    vector_request(&r, h, 3, "");
    check_vector(&r,
                 "POST\n/\n\n"
                 "host:example.amazonaws.com\n"
                 "x-amz-date:20150830T123600Z\n"
                 "x-amz-security-token:" STS_TOKEN "\n\n"
                 "host;x-amz-date;x-amz-security-token\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                 "AWS4-HMAC-SHA256\n" DATE "\n" SCOPE
                 "\nc237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
                 "AWS4-HMAC-SHA256 Credential=" AKID "/" SCOPE
                 ", SignedHeaders=host;x-amz-date;x-amz-security-token, "
                 "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
}

/* post-vanilla, which is also post-sts-header-after (the token appended unsigned). */
static void test_post_vanilla(void)
{
    const sigv4_header_t h[] = {
        {"X-Amz-Date", DATE},
        {"Host", "example.amazonaws.com"},
    };
    sigv4_request_t r;
    vector_request(&r, h, 2, "");
    check_vector(&r,
                 "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                 "host;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                 "AWS4-HMAC-SHA256\n" DATE "\n" SCOPE
                 "\n553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
                 "AWS4-HMAC-SHA256 Credential=" AKID "/" SCOPE ", SignedHeaders=host;x-amz-date, "
                 "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

/* get-header-value-trim: leading/trailing blanks trimmed, inner runs collapsed. */
static void test_header_value_trim(void)
{
    const sigv4_header_t h[] = {
        {"Host", "example.amazonaws.com"},
        {"My-Header1", " value1"},
        {"My-Header2", " \"a   b   c\""},
        {"X-Amz-Date", DATE},
    };
    sigv4_request_t r;
    vector_request(&r, h, 4, "");
    r.method = "GET";
    check_vector(&r,
                 "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
                 "my-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
                 "host;my-header1;my-header2;x-amz-date\n"
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                 NULL,
                 "AWS4-HMAC-SHA256 Credential=" AKID "/" SCOPE
                 ", SignedHeaders=host;my-header1;my-header2;x-amz-date, "
                 "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

static void test_amz_date(void)
{
    char d[SIGV4_AMZ_DATE_SIZE];
    sigv4_amz_date(1440938160, d); /* 2015-08-30T12:36:00Z */
    CHECK_STR(d, DATE);
}

static void test_rejects_bad_input(void)
{
    const sigv4_header_t dup[] = {{"Host", "a"}, {"host", "b"}};
    sigv4_request_t r;
    char errstr[256], *creq = NULL, *sts = NULL;
    vector_request(&r, dup, 2, "");
    CHECK_INT(sigv4_canonical_request(&r, &creq, NULL, errstr, sizeof(errstr)), -1);
    CHECK(creq == NULL);
    const sigv4_header_t one[] = {{"Host", "a"}};
    vector_request(&r, one, 1, "");
    r.amz_date = "2015-08-30";
    REQUIRE(sigv4_canonical_request(&r, &creq, NULL, errstr, sizeof(errstr)) == 0);
    CHECK_INT(sigv4_string_to_sign(&r, creq, &sts, errstr, sizeof(errstr)), -1);
    free(creq);
    free(sts);
}

static void test_keycache(void)
{
    sigv4_keycache_t *kc = sigv4_keycache_new();
    unsigned char a[CRYPTO_SHA256_SIZE], b[CRYPTO_SHA256_SIZE], want[CRYPTO_SHA256_SIZE];
    REQUIRE(sigv4_signing_key(SECRET, "20150830", "us-east-1", "sns", want) == 0);
    CHECK_INT(sigv4_keycache_get(kc, AKID, SECRET, "20150830", "us-east-1", "sns", a), 0);
    CHECK(memcmp(a, want, sizeof(a)) == 0);
    CHECK_INT(sigv4_keycache_derivations(kc), 1);
    /* Same day and region: no new derivation. */
    CHECK_INT(sigv4_keycache_get(kc, AKID, SECRET, "20150830", "us-east-1", "sns", b), 0);
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    CHECK_INT(sigv4_keycache_derivations(kc), 1);
    /* Another day, another region, a rotated secret: each derives its own key. */
    CHECK_INT(sigv4_keycache_get(kc, AKID, SECRET, "20150831", "us-east-1", "sns", b), 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    CHECK_INT(sigv4_keycache_get(kc, AKID, SECRET, "20150830", "eu-west-1", "sns", b), 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    CHECK_INT(sigv4_keycache_get(kc, AKID, "other-secret", "20150830", "us-east-1", "sns", b), 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    CHECK_INT(sigv4_keycache_derivations(kc), 4);
    /* Many identities: the table recycles entries and still answers correctly. */
    for (int i = 0; i < 200; i++) {
        char ak[32];
        snprintf(ak, sizeof(ak), "AKID%d", i);
        CHECK_INT(sigv4_keycache_get(kc, ak, SECRET, "20150830", "us-east-1", "sns", b), 0);
    }
    CHECK_INT(sigv4_keycache_get(kc, AKID, SECRET, "20150830", "us-east-1", "sns", b), 0);
    CHECK(memcmp(want, b, sizeof(b)) == 0);
    sigv4_keycache_destroy(kc);
}

int main(void)
{
    TEST_RUN(test_post_x_www_form_urlencoded);
    TEST_RUN(test_post_x_www_form_urlencoded_parameters);
    TEST_RUN(test_post_sts_header_before);
    TEST_RUN(test_post_vanilla);
    TEST_RUN(test_header_value_trim);
    TEST_RUN(test_amz_date);
    TEST_RUN(test_rejects_bad_input);
    TEST_RUN(test_keycache);
    return TEST_EXIT();
}
