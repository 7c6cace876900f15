#include "testutil.h"

#include "hex.h"

static void test_encode_lower_case(void)
{
    const unsigned char data[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
    char text[2 * sizeof(data) + 1];

    CHECK_INT(hex_encode(data, sizeof(data), text, sizeof(text)), 0);
    CHECK_STR(text, "00017f80abcdefff");
    CHECK_INT(hex_encode(NULL, 0, text, 1), 0);
    CHECK_STR(text, "");
}

static void test_encode_buffer_too_small(void)
{
    char text[8] = "xxxxxxx";

    /* 3 bytes need 6 digits and the NUL. */
    CHECK_INT(hex_encode("abc", 3, text, 6), HEX_ERR_SPACE);
    CHECK_STR(text, "");
    CHECK_INT(hex_encode("abc", 3, text, 7), 0);
    CHECK_STR(text, "616263");
    CHECK_INT(hex_encode("", 0, text, 0), HEX_ERR_SPACE);
}

static void test_decode_either_case(void)
{
    unsigned char out[8];
    size_t n = 0;

    CHECK_INT(hex_decode("00ABcdEf7F", 10, out, sizeof(out), &n), 0);
    CHECK_INT(n, 5);
    const unsigned char want[] = {0x00, 0xab, 0xcd, 0xef, 0x7f};
    CHECK(memcmp(out, want, sizeof(want)) == 0);
    CHECK_INT(hex_decode("", 0, out, sizeof(out), &n), 0);
    CHECK_INT(n, 0);
}

static void test_decode_rejects(void)
{
    unsigned char out[8];
    size_t n = 99;

    CHECK_INT(hex_decode("abc", 3, out, sizeof(out), &n), HEX_ERR_INVALID);
    CHECK_INT(n, 0);
    CHECK_INT(hex_decode("0g", 2, out, sizeof(out), &n), HEX_ERR_INVALID);
    CHECK_INT(hex_decode("g0", 2, out, sizeof(out), &n), HEX_ERR_INVALID);
    CHECK_INT(hex_decode("0x12", 4, out, sizeof(out), &n), HEX_ERR_INVALID);
    CHECK_INT(hex_decode("12 34", 5, out, sizeof(out), &n), HEX_ERR_INVALID);
    CHECK_INT(hex_decode("1234", 4, out, 1, &n), HEX_ERR_SPACE);
    CHECK_INT(hex_decode("1234", 4, out, 2, &n), 0);
    CHECK_INT(n, 2);
}

static void test_round_trip(void)
{
    unsigned char data[256], back[256];
    char text[513];
    size_t n = 0;

    for (int i = 0; i < 256; i++)
        data[i] = (unsigned char)(255 - i);
    CHECK_INT(hex_encode(data, sizeof(data), text, sizeof(text)), 0);
    CHECK_INT(strlen(text), 512);
    CHECK_INT(hex_decode(text, strlen(text), back, sizeof(back), &n), 0);
    CHECK_INT(n, 256);
    CHECK(memcmp(back, data, sizeof(data)) == 0);
}

int main(void)
{
    TEST_RUN(test_encode_lower_case);
    TEST_RUN(test_encode_buffer_too_small);
    TEST_RUN(test_decode_either_case);
    TEST_RUN(test_decode_rejects);
    TEST_RUN(test_round_trip);
    return TEST_EXIT();
}
