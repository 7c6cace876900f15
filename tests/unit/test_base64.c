#include "testutil.h"

#include "base64.h"

#include <stdint.h>

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *data;
    const char *standard;
    const char *url;
} vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const char *d = vectors[i].data;
        size_t n = strlen(d);
        char text[32];
        unsigned char bin[32];
        size_t bin_len = 99;

        CHECK_INT(base64_encoded_size(n), strlen(vectors[i].standard));
        CHECK_INT(base64_url_encoded_size(n), strlen(vectors[i].url));
        CHECK_INT(base64_encode(d, n, text, sizeof(text)), 0);
        CHECK_STR(text, vectors[i].standard);
        CHECK_INT(base64_url_encode(d, n, text, sizeof(text)), 0);
        CHECK_STR(text, vectors[i].url);

        CHECK_INT(base64_decode(vectors[i].standard, strlen(vectors[i].standard), bin, sizeof(bin),
                                &bin_len),
                  0);
        CHECK_INT(bin_len, n);
        CHECK(memcmp(bin, d, n) == 0);
        bin_len = 99;
        CHECK_INT(
            base64_url_decode(vectors[i].url, strlen(vectors[i].url), bin, sizeof(bin), &bin_len),
            0);
        CHECK_INT(bin_len, n);
        CHECK(memcmp(bin, d, n) == 0);
    }
}

/* Every byte value through both alphabets, and the two characters where they differ. */
static void test_all_bytes_round_trip(void)
{
    unsigned char data[256], back[256];
    char text[400];
    size_t back_len = 0;

    for (int i = 0; i < 256; i++)
        data[i] = (unsigned char)i;
    for (size_t n = 0; n <= sizeof(data); n += 37) {
        CHECK_INT(base64_encode(data, n, text, sizeof(text)), 0);
        CHECK_INT(strlen(text), base64_encoded_size(n));
        CHECK(base64_decoded_max(strlen(text)) >= n);
        CHECK_INT(base64_decode(text, strlen(text), back, sizeof(back), &back_len), 0);
        CHECK_INT(back_len, n);
        CHECK(memcmp(back, data, n) == 0);

        CHECK_INT(base64_url_encode(data, n, text, sizeof(text)), 0);
        CHECK(strchr(text, '+') == NULL && strchr(text, '/') == NULL);
        CHECK(strchr(text, '=') == NULL);
        CHECK_INT(base64_decoded_max(strlen(text)), n);
        CHECK_INT(base64_url_decode(text, strlen(text), back, sizeof(back), &back_len), 0);
        CHECK_INT(back_len, n);
        CHECK(memcmp(back, data, n) == 0);
    }

    const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    CHECK_INT(base64_encode(hi, sizeof(hi), text, sizeof(text)), 0);
    CHECK_STR(text, "+/+/");
    CHECK_INT(base64_url_encode(hi, sizeof(hi), text, sizeof(text)), 0);
    CHECK_STR(text, "-_-_");
}

static void check_rejected(const char *text, int url)
{
    unsigned char out[64];
    size_t out_len = 99;
    int rc = url ? base64_url_decode(text, strlen(text), out, sizeof(out), &out_len)
                 : base64_decode(text, strlen(text), out, sizeof(out), &out_len);
    if (rc != BASE64_ERR_INVALID)
        fprintf(stderr, "  accepted '%s' (url=%d), rc=%d\n", text, url, rc);
    CHECK_INT(rc, BASE64_ERR_INVALID);
    CHECK_INT(out_len, 0);
}

static void test_strict_decoding(void)
{
    /* Bad characters, including whitespace and the other alphabet's characters. */
    check_rejected("Zm9v Yg==", 0);
    check_rejected("Zm9vYg==\n", 0);
    check_rejected("Zm9*", 0);
    check_rejected("-_-_", 0);
    check_rejected("+/+/", 1);
    /* Lengths and padding. */
    check_rejected("Zm9", 0);
    check_rejected("Zg=", 0);
    check_rejected("Zg", 0);
    check_rejected("Z===", 0);
    check_rejected("====", 0);
    check_rejected("Zg==Zg==", 0);
    check_rejected("Z=9v", 0);
    check_rejected("Zm=v", 0);
    check_rejected("Zg==", 1);
    check_rejected("Z", 1);
    check_rejected("Zm9vY", 1);
    /* Non-canonical trailing bits: "QR==" and "QUF=" carry bits beyond the data. */
    check_rejected("QR==", 0);
    check_rejected("QUF=", 0);
    check_rejected("QR", 1);
    check_rejected("QUF", 1);

    /* Their canonical forms are fine. */
    unsigned char out[4];
    size_t n = 0;
    CHECK_INT(base64_decode("QQ==", 4, out, sizeof(out), &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(out[0], 'A');
    CHECK_INT(base64_decode("QUE=", 4, out, sizeof(out), &n), 0);
    CHECK_INT(n, 2);
}

static void test_decode_stops_at_length(void)
{
    /* Only text_len characters are read: the rest of the string is not looked at. */
    unsigned char out[8];
    size_t n = 0;
    CHECK_INT(base64_decode("Zm9v!!!!", 4, out, sizeof(out), &n), 0);
    CHECK_INT(n, 3);
    CHECK(memcmp(out, "foo", 3) == 0);
}

static void test_buffer_sizes(void)
{
    char text[16];
    unsigned char bin[8];
    size_t n = 99;

    /* "foo" needs 4 characters plus the NUL. */
    CHECK_INT(base64_encode("foo", 3, text, 4), BASE64_ERR_SPACE);
    CHECK_STR(text, "");
    CHECK_INT(base64_encode("foo", 3, text, 5), 0);
    CHECK_STR(text, "Zm9v");
    CHECK_INT(base64_url_encode("f", 1, text, 2), BASE64_ERR_SPACE);
    CHECK_INT(base64_url_encode("f", 1, text, 3), 0);
    CHECK_INT(base64_encode("", 0, text, 0), BASE64_ERR_SPACE);

    CHECK_INT(base64_decode("Zm9vYg==", 8, bin, 3, &n), BASE64_ERR_SPACE);
    CHECK_INT(n, 0);
    CHECK_INT(base64_decode("Zm9vYg==", 8, bin, 4, &n), 0);
    CHECK_INT(n, 4);
    CHECK_INT(base64_url_decode("Zm9vYmE", 7, bin, 4, &n), BASE64_ERR_SPACE);
    CHECK_INT(base64_url_decode("Zm9vYmE", 7, bin, 5, &n), 0);
    CHECK_INT(n, 5);

    /* Sizes saturate rather than wrap. */
    CHECK(base64_encoded_size(SIZE_MAX) == SIZE_MAX);
    CHECK_INT(base64_encoded_size(32), 44);
    CHECK_INT(base64_decoded_max(44), 33);
    CHECK_INT(base64_decoded_max(3), 2);
    CHECK_INT(base64_decoded_max(2), 1);
    CHECK(base64_decoded_max(SIZE_MAX) <= SIZE_MAX / 4 * 3 + 2);
}

int main(void)
{
    TEST_RUN(test_rfc4648_vectors);
    TEST_RUN(test_all_bytes_round_trip);
    TEST_RUN(test_strict_decoding);
    TEST_RUN(test_decode_stops_at_length);
    TEST_RUN(test_buffer_sizes);
    return TEST_EXIT();
}
