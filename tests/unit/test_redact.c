/*
 * redact_copy(): every secret shape in a sentence it could appear in, the text that must
 * survive untouched, registered values, truncation at every output size, and concurrent
 * use with registration.
 */
#include "redact.h"
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A 40-character base64 body: the shortest our ciphertext form can have. */
#define CIPHERTEXT "v1:prod-key:q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="

/* Checks the expected output and that redacting the output again changes nothing. */
#define CHECK_REDACT(in, expected)                  \
    do {                                            \
        char once_[4096], twice_[4096];             \
        redact_copy((in), once_, sizeof(once_));    \
        CHECK_STR(once_, (expected));               \
        redact_copy(once_, twice_, sizeof(twice_)); \
        CHECK_STR(twice_, once_);                   \
    } while (0)

static void test_seed_rule(void)
{
    CHECK_REDACT("login failed: password=hunter2, user=bob",
                 "login failed: password=***, user=bob");
    CHECK_REDACT("Password: hunter2 was rejected", "Password=*** was rejected");
    CHECK_REDACT("SECRET = abc}", "SECRET=***}");
    CHECK_REDACT("token:\n  abc def", "token=*** def");
    CHECK_REDACT("auth=xyz", "auth=***");
    CHECK_REDACT("credential: c1, key: k1", "credential=***, key=***");
    /* The seed's regex has no word boundary in front: a longer word ending in a keyword. */
    CHECK_REDACT("monkey: kong", "monkey=***");
    /* Nothing after the separator: nothing to hide. */
    CHECK_REDACT("password: , retrying", "password: , retrying");
}

static void test_identifiers(void)
{
    CHECK_REDACT("sending with auth_token=ab12cd34 to +15551234567",
                 "sending with auth_token=*** to +15551234567");
    CHECK_REDACT("config api_key=k-123 region=us-east-1", "config api_key=*** region=us-east-1");
    CHECK_REDACT("smtp_password: s3cr3t! host=smtp.example.com",
                 "smtp_password=*** host=smtp.example.com");
    CHECK_REDACT("env AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY set",
                 "env AWS_SECRET_ACCESS_KEY=*** set");
    CHECK_REDACT("X-Api-Key: 9f8e7d6c status=403", "X-Api-Key=*** status=403");
    CHECK_REDACT("kafka sasl.password=pw1 sasl.username=u",
                 "kafka sasl.password=*** sasl.username=u");
    CHECK_REDACT("SECRET_KEYS=k1:AAAA,k2:BBBB", "SECRET_KEYS=***,k2:BBBB");
    CHECK_REDACT("--smtp-pass=p4ss --port=587", "--smtp-pass=*** --port=587");
    CHECK_REDACT("ruby {:password => \"x y\"}", "ruby {:password=***}");
}

static void test_json(void)
{
    CHECK_REDACT("provider said {\"user\":\"bob\",\"password\": \"x y z\",\"n\":1}",
                 "provider said {\"user\":\"bob\",\"password\": \"***\",\"n\":1}");
    CHECK_REDACT("{\"client_secret\":\"a\\\"b c\",\"id\":7}",
                 "{\"client_secret\":\"***\",\"id\":7}");
    CHECK_REDACT("{'auth_token': 'tok en'}", "{'auth_token': '***'}");
    CHECK_REDACT("{\"pin_code\":1234,\"api_key\":98765}", "{\"pin_code\":1234,\"api_key\":***}");
    /* JSON that was itself put in a JSON string: the quotes are escaped. */
    CHECK_REDACT("body=\"{\\\"auth_token\\\":\\\"t 1\\\",\\\"to\\\":\\\"+1555\\\"}\"",
                 "body=\"{\\\"auth_token\\\":\\\"***\\\",\\\"to\\\":\\\"+1555\\\"}\"");
    /* A nested object under a credential key goes whole. */
    CHECK_REDACT("{\"credentials\": {\"user\": \"a\", \"pass\": \"b\"}, \"region\": \"eu\"}",
                 "{\"credentials\": ***, \"region\": \"eu\"}");
    /* An unclosed quoted value runs to the end of the line. */
    CHECK_REDACT("{\"password\": \"abc def\nnext line", "{\"password\": \"***\nnext line");
}

static void test_query_string(void)
{
    CHECK_REDACT("POST /cb?token=abc123&x=1 HTTP/1.1", "POST /cb?token=***&x=1 HTTP/1.1");
    CHECK_REDACT(
        "GET /s3/obj?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101&X-Amz-Signature="
        "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024&X-Amz-Expires=60",
        "GET /s3/obj?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60");
    /* '&' that does not start another parameter belongs to the value. */
    CHECK_REDACT("password=a&b&c=1 done", "password=***&c=1 done");
    CHECK_REDACT("password=a&&b done", "password=*** done");
}

static void test_authorization(void)
{
    CHECK_REDACT("> Authorization: Basic QUMxMjM0OnNlY3JldA==\r\n> Host: api.twilio.com",
                 "> Authorization: ***\r\n> Host: api.twilio.com");
    CHECK_REDACT("401 for authorization: Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0 status=401",
                 "401 for authorization: *** status=401");
    CHECK_REDACT("Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/"
                 "us-east-1/sns/aws4_request, SignedHeaders=host;x-amz-date, "
                 "Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024 sent",
                 "Authorization: *** sent");
    CHECK_REDACT("Proxy-Authorization: Basic dXNlcjpwYXNz\nnext", "Proxy-Authorization: ***\nnext");
    CHECK_REDACT("Authorization: Digest username=\"a b\", response=\"6629fae4\", realm=\"x\"",
                 "Authorization: ***");
    CHECK_REDACT("{\"Authorization\": \"Bearer abc def\", \"Accept\": \"*/*\"}",
                 "{\"Authorization\": \"***\", \"Accept\": \"*/*\"}");
    /* Other parameters after a comma that are not name=value end the header value. */
    CHECK_REDACT("Authorization: Bearer abc, then retry", "Authorization: ***, then retry");
    CHECK_REDACT("Cookie: sid=abc; theme=dark\r\nAccept: */*", "Cookie: ***\r\nAccept: */*");
}

static void test_url_userinfo(void)
{
    CHECK_REDACT("connect smtps://mailer:p%40ss@smtp.example.com:465 failed",
                 "connect smtps://mailer:***@smtp.example.com:465 failed");
    CHECK_REDACT("DATABASE_URL=postgres://app:pw@db:5432/notify?sslmode=require",
                 "DATABASE_URL=postgres://app:***@db:5432/notify?sslmode=require");
    CHECK_REDACT("redis://:onlypass@cache:6379", "redis://:***@cache:6379");
    CHECK_REDACT("https://AC123:tok@api.twilio.com/2010-04-01 and http://u:p@x",
                 "https://AC123:***@api.twilio.com/2010-04-01 and http://u:***@x");
    /* No password: a user name alone, an '@' after the path, an IPv6 host. */
    CHECK_REDACT("git clone ssh://git@github.com/org/repo",
                 "git clone ssh://git@github.com/org/repo");
    CHECK_REDACT("see https://example.com/users/a@b.com", "see https://example.com/users/a@b.com");
    CHECK_REDACT("listening on http://[::1]:8080/metrics",
                 "listening on http://[::1]:8080/metrics");
}

static void test_smtp_auth(void)
{
    CHECK_REDACT("C: AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=", "C: AUTH PLAIN ***");
    CHECK_REDACT("C: AUTH LOGIN dXNlckBleGFtcGxlLmNvbQ==\r\nS: 334 UGFzc3dvcmQ6",
                 "C: AUTH LOGIN ***\r\nS: 334 UGFzc3dvcmQ6");
    CHECK_REDACT("auth cram-md5 dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
                 "auth cram-md5 ***");
    CHECK_REDACT("AUTH XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRo (535)",
                 "AUTH XOAUTH2 *** (535)");
    /* The capability line and a command without an argument carry no credential. */
    CHECK_REDACT("S: 250-AUTH PLAIN LOGIN CRAM-MD5", "S: 250-AUTH PLAIN LOGIN CRAM-MD5");
    CHECK_REDACT("C: AUTH LOGIN\r\nS: 334 VXNlcm5hbWU6", "C: AUTH LOGIN\r\nS: 334 VXNlcm5hbWU6");
    CHECK_REDACT("AUTH failed for PLAIN mechanism", "AUTH failed for PLAIN mechanism");
}

static void test_aws_access_key_id(void)
{
    CHECK_REDACT("signing as AKIAIOSFODNN7EXAMPLE failed", "signing as *** failed");
    CHECK_REDACT("temporary ASIAJEXAMPLEXEG2JICE/20240101", "temporary ***/20240101");
    CHECK_REDACT("id=AKIAIOSFODNN7EXAMPLE", "id=***");
    /* One character short, one too many, or glued to a word: not a key id. */
    CHECK_REDACT("AKIAIOSFODNN7EXAMPL", "AKIAIOSFODNN7EXAMPL");
    CHECK_REDACT("AKIAIOSFODNN7EXAMPLEX", "AKIAIOSFODNN7EXAMPLEX");
    CHECK_REDACT("XAKIAIOSFODNN7EXAMPLE", "XAKIAIOSFODNN7EXAMPLE");
    CHECK_REDACT("AKIAiosfodnn7example", "AKIAiosfodnn7example");
}

static void test_pem(void)
{
    CHECK_REDACT("loaded -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                 "-----END PRIVATE KEY----- ok",
                 "loaded -----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY----- ok");
    CHECK_REDACT("-----BEGIN RSA PRIVATE KEY-----\\nMIIBOgIBAAJBAK\\n-----END RSA PRIVATE KEY-----",
                 "-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----");
    /* Cut off before its END line: everything after BEGIN goes. */
    CHECK_REDACT("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBk",
                 "-----BEGIN EC PRIVATE KEY-----***");
    /* After a key: the block goes whole, not just its first word. */
    CHECK_REDACT("key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE "
                 "KEY-----\ndone",
                 "key=***\ndone");
    /* Certificates are public. */
    CHECK_REDACT("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                 "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
}

static void test_provider_headers(void)
{
    CHECK_REDACT("X-Twilio-Signature: 0/KCTR6DLpKmkAf8muzZqo1nDgQ= rejected",
                 "X-Twilio-Signature=*** rejected");
    CHECK_REDACT("X-Amz-Security-Token: FwoGZXIvYXdzEBYaDHx+/Ez8b2m4k7VhxiLCAR== expired",
                 "X-Amz-Security-Token=*** expired");
    CHECK_REDACT("X-Webhook-Signature: sha256=5d41402abc4b2a76b9719d911017c592",
                 "X-Webhook-Signature=***");
}

static void test_not_secrets(void)
{
    const char *keep[] = {
        "the keyboard layout is en-US",
        "monkey business",
        "author: Jane Doe",
        "authored by Jane, authority: none",
        "the token expired at 12:30",
        "leased tokens=100 for org acme",
        "DETAIL: Key (org_id, channel)=(acme, sms) already exists.",
        "primary key (id) violated",
        ("stored " CIPHERTEXT " for acme"),
        ("smtp_password_encrypted=" CIPHERTEXT),
        "{\"message_id\":\"m-1\",\"status\":\"SENT\",\"to\":\"+15551234567\"}",
        "time 2024-01-01T00:00:00Z host=db:5432",
        "ünïcødé tëxt ✓ stays",
        "",
    };
    for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
        CHECK_REDACT(keep[k], keep[k]);
    /* Our ciphertext form stays even as the value of a key, quoted or not. */
    CHECK_REDACT("token=" CIPHERTEXT " did not decrypt", "token=" CIPHERTEXT " did not decrypt");
    CHECK_REDACT("{\"password\":\"" CIPHERTEXT "\"}", "{\"password\":\"" CIPHERTEXT "\"}");
    /* Too short to be ours (or with a bad key id): an ordinary value. */
    CHECK_REDACT("password=v1:k:abc", "password=***");
}

static void test_registered(void)
{
    redact_clear();
    redact_register("Sup3r-S3cret!");
    redact_register("abc"); /* too short: ignored */
    redact_register(NULL);
    redact_register("correct horse battery");
    CHECK_REDACT("535 auth rejected for Sup3r-S3cret!Sup3r-S3cret! (user bob)",
                 "535 auth rejected for ****** (user bob)");
    CHECK_REDACT("abc is fine", "abc is fine");
    /* A registered value longer than what the key rule would take goes whole. */
    CHECK_REDACT("password: correct horse battery staple", "password=*** staple");
    CHECK_REDACT("phrase 'correct horse battery' in text", "phrase '***' in text");
    CHECK_REDACT("Sup3r-S3cre", "Sup3r-S3cre");

    redact_clear();
    CHECK_REDACT("535 for Sup3r-S3cret!", "535 for Sup3r-S3cret!");
}

static void test_registry_capacity(void)
{
    char value[32], text[64], out[64];
    redact_clear();
    for (int k = 0; k <= 1024; k++) {
        snprintf(value, sizeof(value), "secret-value-%04d", k);
        redact_register(value);
    }
    redact_register("secret-value-0005"); /* already there: does not evict anything */
    /* The first one was dropped to make room for the 1025th; the rest are all there. */
    redact_copy("x secret-value-0000 y", out, sizeof(out));
    CHECK_STR(out, "x secret-value-0000 y");
    int missing = 0;
    for (int k = 1; k <= 1024; k++) {
        snprintf(text, sizeof(text), "x secret-value-%04d y", k);
        redact_copy(text, out, sizeof(out));
        missing += strcmp(out, "x *** y") != 0;
    }
    CHECK_INT(missing, 0);
    redact_clear();
}

/* Whether s[0, len) is whole UTF-8 (no sequence cut short). */
static int utf8_complete(const char *s, size_t len)
{
    size_t k = 0;
    while (k < len) {
        unsigned char c = (unsigned char)s[k];
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (k + need > len)
            return 0;
        k += need;
    }
    return 1;
}

static void test_truncation(void)
{
    const char *in = "héllo wörld ✓ password=hunter2 😀 AKIAIOSFODNN7EXAMPLE ünd https://u:pw@h ✓";
    char full[256];
    size_t full_len = redact_copy(in, full, sizeof(full));
    CHECK_INT(full_len, strlen(full));
    CHECK(strstr(full, "hunter2") == NULL);

    for (size_t size = 1; size <= full_len + 1; size++) {
        char out[260];
        memset(out, 'Z', sizeof(out));
        size_t len = redact_copy(in, out, size);
        CHECK(len < size);
        CHECK_INT(strlen(out), len);
        CHECK(out[size] == 'Z'); /* nothing written past out_size */
        CHECK(strncmp(out, full, len) == 0);
        CHECK(utf8_complete(out, len));
        CHECK(strstr(out, "hunt") == NULL && strstr(out, "AKIAIOS") == NULL &&
              strstr(out, ":pw") == NULL);
        /* At most one partial character (up to 3 bytes) and the mask are dropped. */
        CHECK(len + 3 >= size - 1);
    }
    char out[4] = {'Z', 'Z', 'Z', 'Z'};
    CHECK_INT(redact_copy(in, out, 0), 0);
    CHECK(out[0] == 'Z');
    CHECK_INT(redact_copy(NULL, out, sizeof(out)), 0);
    CHECK_STR(out, "");
}

static void test_long_input(void)
{
    size_t n = 100000;
    char *in = malloc(n + 1);
    REQUIRE(in != NULL);
    memset(in, 'a', n);
    memcpy(in + 50000, " token=zzz ", 11);
    in[n] = '\0';
    char *out = malloc(n + 1);
    REQUIRE(out != NULL);
    size_t len = redact_copy(in, out, n + 1);
    CHECK_INT(len, n); /* " token=zzz " -> " token=*** " is the same length */
    CHECK(strstr(out, "zzz") == NULL);
    CHECK(strstr(out, " token=*** ") != NULL);
    /* A small output keeps only the start and never sees the token. */
    char small[16];
    CHECK_INT(redact_copy(in, small, sizeof(small)), 15);
    free(in);
    free(out);
}

#define THREADS    4
#define ITERATIONS 2000

static void *redact_worker(void *arg)
{
    long id = (long)arg;
    char value[32], text[96], out[96];
    int wrong = 0;
    for (int k = 0; k < ITERATIONS; k++) {
        if (k % 100 == 0) {
            snprintf(value, sizeof(value), "thread-%ld-secret-%d", id, k);
            redact_register(value);
        }
        snprintf(text, sizeof(text), "sent %s with password=pw%d", value, k);
        redact_copy(text, out, sizeof(out));
        wrong += strcmp(out, "sent *** with password=***") != 0;
    }
    return (void *)(long)wrong;
}

static void test_concurrent(void)
{
    pthread_t threads[THREADS];
    redact_clear();
    for (long t = 0; t < THREADS; t++)
        REQUIRE(pthread_create(&threads[t], NULL, redact_worker, (void *)t) == 0);
    long wrong = 0;
    for (int t = 0; t < THREADS; t++) {
        void *result;
        pthread_join(threads[t], &result);
        wrong += (long)result;
    }
    CHECK_INT(wrong, 0);
    redact_clear();
}

int main(void)
{
    TEST_RUN(test_seed_rule);
    TEST_RUN(test_identifiers);
    TEST_RUN(test_json);
    TEST_RUN(test_query_string);
    TEST_RUN(test_authorization);
    TEST_RUN(test_url_userinfo);
    TEST_RUN(test_smtp_auth);
    TEST_RUN(test_aws_access_key_id);
    TEST_RUN(test_pem);
    TEST_RUN(test_provider_headers);
    TEST_RUN(test_not_secrets);
    TEST_RUN(test_registered);
    TEST_RUN(test_registry_capacity);
    TEST_RUN(test_truncation);
    TEST_RUN(test_long_input);
    TEST_RUN(test_concurrent);
    return TEST_EXIT();
}
