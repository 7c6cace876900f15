#include "whbody.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

static int parse(const char *text, whbody_t *b)
{
    char err[256];
    return whbody_parse(text, strlen(text), b, err, sizeof(err));
}

static void test_fields(void)
{
    whbody_t b;
    CHECK_INT(
        parse("{\"provider_message_id\":\"<a@b>\",\"status\":\"bounced\","
              "\"bounce_type\":\"permanent\",\"smtp_code\":550,\"diagnostic\":\"no such user\","
              "\"timestamp\":\"2026-01-02T03:04:05Z\",\"recipient\":\"x@y\","
              "\"enhanced_code\":\"5.1.1\"}",
              &b),
        0);
    CHECK_STR(b.provider_message_id, "<a@b>");
    CHECK(b.message_id == NULL);
    CHECK_STR(b.status, "bounced");
    CHECK_STR(b.bounce_type, "permanent");
    CHECK_STR(b.smtp_code, "550");
    CHECK_STR(b.diagnostic, "no such user");
    CHECK(b.occurred_at == 1767323045000LL);
    whbody_free(&b);

    CHECK_INT(parse("{\"message_id\":\"m-1\",\"smtp_code\":\"421\",\"status\":null}", &b), 0);
    CHECK_STR(b.message_id, "m-1");
    CHECK_STR(b.smtp_code, "421");
    CHECK(b.status == NULL && b.occurred_at == 0);
    whbody_free(&b);
}

static void test_refused(void)
{
    static const char *bad[] = {
        "",
        "[]",
        "{\"message_id\":\"m\"",
        "{\"message_id\":\"m\"} x",
        "{}",
        "{\"message_id\":\"\"}",
        "{\"message_id\":5}",
        "{\"message_id\":\"m\",\"status\":[]}",
        "{\"message_id\":\"m\\u0000x\"}",
        /* What json-c alone would let through. */
        "{\"message_id\":\"x\xff\xfe\"}",
        "{\"message_id\":\"x\xc0\xaf\"}",
        "{\"message_id\":\"x\xed\xa0\x80\"}",
        "{\"message_id\":\"x\r\nX: y\"}",
        /* smtp_code in every wrong form. */
        "{\"message_id\":\"m\",\"smtp_code\":1e400}",
        "{\"message_id\":\"m\",\"smtp_code\":5.5e2}",
        "{\"message_id\":\"m\",\"smtp_code\":550.0}",
        "{\"message_id\":\"m\",\"smtp_code\":-550}",
        "{\"message_id\":\"m\",\"smtp_code\":99999999999999999999}",
        "{\"message_id\":\"m\",\"smtp_code\":\"55O\"}",
        "{\"message_id\":\"m\",\"smtp_code\":\"5500\"}",
        "{\"message_id\":\"m\",\"smtp_code\":\"650\"}",
        "{\"message_id\":\"m\",\"smtp_code\":true}",
        "{\"message_id\":\"m\",\"smtp_code\":150}",
        "{\"message_id\":\"m\",\"timestamp\":\"yesterday\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        whbody_t b;
        char err[256] = "";
        int rc = whbody_parse(bad[i], strlen(bad[i]), &b, err, sizeof(err));
        if (rc != -1 || b.root != NULL || err[0] == '\0')
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(rc == -1 && b.root == NULL && err[0] != '\0');
        whbody_free(&b);
    }
}

static void test_depth(void)
{
    char text[256];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"message_id\":\"m\",\"x\":");
    for (int i = 0; i < WHBODY_JSON_DEPTH; i++)
        text[n++] = '[';
    for (int i = 0; i < WHBODY_JSON_DEPTH; i++)
        text[n++] = ']';
    text[n++] = '}';
    text[n] = '\0';
    whbody_t b;
    CHECK_INT(parse(text, &b), -1);
    whbody_free(&b);
}

int main(void)
{
    TEST_RUN(test_fields);
    TEST_RUN(test_refused);
    TEST_RUN(test_depth);
    return TEST_EXIT();
}
