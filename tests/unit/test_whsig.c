#include "testutil.h"

#include "whsig.h"

#define SECRET "whsec_test"
#define BODY   "{\"provider_message_id\":\"<a@b>\",\"status\":\"delivered\"}"

static void test_known_value(void)
{
    /* RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?"). */
    char hex[WHSIG_HEX_SIZE];
    const char *data = "what do ya want for nothing?";
    CHECK_INT(whsig_sign("Jefe", 4, NULL, data, strlen(data), hex), 0);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK_INT(
        whsig_verify("Jefe", 4, data, strlen(data),
                     "sha256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843",
                     NULL, 0, 300),
        WHSIG_OK);
}

static void test_plain_form(void)
{
    char hex[WHSIG_HEX_SIZE], prefixed[80];
    CHECK_INT(whsig_sign(SECRET, strlen(SECRET), NULL, BODY, strlen(BODY), hex), 0);
    snprintf(prefixed, sizeof(prefixed), "sha256=%s", hex);
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), hex, NULL, 0, 300),
              WHSIG_OK);
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), prefixed, NULL, 0, 300),
              WHSIG_OK);
    /* Tampered body, other secret, missing, truncated, non-hex, other prefix. */
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY) - 1, hex, NULL, 0, 300),
              WHSIG_ERR_MISMATCH);
    CHECK_INT(whsig_verify("other", 5, BODY, strlen(BODY), hex, NULL, 0, 300), WHSIG_ERR_MISMATCH);
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), NULL, NULL, 0, 300),
              WHSIG_ERR_MISSING);
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), "", NULL, 0, 300),
              WHSIG_ERR_MISSING);
    hex[63] = '\0';
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), hex, NULL, 0, 300),
              WHSIG_ERR_MALFORMED);
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY),
                           "zz00000000000000000000000000000000000000000000000000000000000000", NULL,
                           0, 300),
              WHSIG_ERR_MALFORMED);
    snprintf(prefixed, sizeof(prefixed), "sha1=%s", hex);
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), prefixed, NULL, 0, 300),
              WHSIG_ERR_MALFORMED);
}

static void test_timestamp_form_and_replay_window(void)
{
    char hex[WHSIG_HEX_SIZE], plain[WHSIG_HEX_SIZE];
    const int64_t now = 1795000000;
    CHECK_INT(whsig_sign(SECRET, strlen(SECRET), "1795000000", BODY, strlen(BODY), hex), 0);
    CHECK_INT(whsig_sign(SECRET, strlen(SECRET), NULL, BODY, strlen(BODY), plain), 0);
    CHECK(strcmp(hex, plain) != 0);
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), hex, "1795000000", now, 300),
              WHSIG_OK);
    /* The edge of the window is inside; one second beyond is a replay. */
    CHECK_INT(
        whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), hex, "1795000000", now + 300, 300),
        WHSIG_OK);
    CHECK_INT(
        whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), hex, "1795000000", now + 301, 300),
        WHSIG_ERR_STALE);
    CHECK_INT(
        whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), hex, "1795000000", now - 301, 300),
        WHSIG_ERR_STALE);
    /* Moving the timestamp breaks the signature; a plain signature with a timestamp too. */
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), hex, "1795000001", now, 300),
              WHSIG_ERR_MISMATCH);
    CHECK_INT(
        whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), plain, "1795000000", now, 300),
        WHSIG_ERR_MISMATCH);
    /* A stale timestamp with a forged signature is a mismatch, not a replay. */
    CHECK_INT(whsig_verify("other", 5, BODY, strlen(BODY), hex, "1795000000", now + 1000, 300),
              WHSIG_ERR_MISMATCH);
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), hex, "-5", now, 300),
              WHSIG_ERR_MALFORMED);
    CHECK_INT(whsig_verify(SECRET, strlen(SECRET), BODY, strlen(BODY), hex, "17950000.5", now, 300),
              WHSIG_ERR_MALFORMED);
}

int main(void)
{
    TEST_RUN(test_known_value);
    TEST_RUN(test_plain_form);
    TEST_RUN(test_timestamp_form_and_replay_window);
    return TEST_EXIT();
}
