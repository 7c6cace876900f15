#include "testutil.h"

#include "crypto.h"
#include "hex.h"
#include "uuid4.h"

#include <stdbool.h>

/* Bytes given either as literal text or as `count` copies of `fill`. */
typedef struct bytes_spec_s {
    const char *text;
    unsigned char fill;
    size_t count;
} bytes_spec_t;

typedef struct mac_vector_s {
    const char *name;
    bytes_spec_t key, data;
    const char *hex; /* expected digest; shorter than the digest means "truncated to" */
} mac_vector_t;

#define TXT(s)              \
    {                       \
        s, 0, sizeof(s) - 1 \
    }
#define FILL(b, n) \
    {              \
        NULL, b, n \
    }

static const char key_1_to_25[] = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d"
                                  "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19";

/* RFC 4231 section 4, test cases 1-7 (case 5 is the 128-bit truncation). */
static const mac_vector_t sha256_vectors[] = {
    {"4231-1", FILL(0x0b, 20), TXT("Hi There"),
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"4231-2", TXT("Jefe"), TXT("what do ya want for nothing?"),
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {"4231-3", FILL(0xaa, 20), FILL(0xdd, 50),
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {"4231-4",
     {key_1_to_25, 0, 25},
     FILL(0xcd, 50),
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {"4231-5", FILL(0x0c, 20), TXT("Test With Truncation"), "a3b6167473100ee06e0c796c2955552b"},
    {"4231-6", FILL(0xaa, 131), TXT("Test Using Larger Than Block-Size Key - Hash Key First"),
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {"4231-7", FILL(0xaa, 131),
     TXT("This is a test using a larger than block-size key and a larger than block-size "
         "data. The key needs to be hashed before being used by the HMAC algorithm."),
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    /* An empty key and empty data (checked against Python's hmac module). */
    {"empty", TXT(""), TXT(""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"},
};

/* RFC 2202 section 3, test cases 1-7. */
static const mac_vector_t sha1_vectors[] = {
    {"2202-1", FILL(0x0b, 20), TXT("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
    {"2202-2", TXT("Jefe"), TXT("what do ya want for nothing?"),
     "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
    {"2202-3", FILL(0xaa, 20), FILL(0xdd, 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
    {"2202-4", {key_1_to_25, 0, 25}, FILL(0xcd, 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
    {"2202-5", FILL(0x0c, 20), TXT("Test With Truncation"),
     "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
    {"2202-6", FILL(0xaa, 80), TXT("Test Using Larger Than Block-Size Key - Hash Key First"),
     "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
    {"2202-7", FILL(0xaa, 80),
     TXT("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
     "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
    {"empty", TXT(""), TXT(""), "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d"},
};

static void spec_bytes(const bytes_spec_t *s, unsigned char *out)
{
    if (s->text != NULL)
        memcpy(out, s->text, s->count);
    else
        memset(out, s->fill, s->count);
}

static void check_mac_vectors(const mac_vector_t *v, size_t count, bool sha256)
{
    for (size_t i = 0; i < count; i++) {
        unsigned char key[256], data[256], mac[CRYPTO_SHA256_SIZE];
        char hex[2 * CRYPTO_SHA256_SIZE + 1];
        size_t mac_size = sha256 ? CRYPTO_SHA256_SIZE : CRYPTO_SHA1_SIZE;

        spec_bytes(&v[i].key, key);
        spec_bytes(&v[i].data, data);
        int rc = sha256 ? crypto_hmac_sha256(key, v[i].key.count, data, v[i].data.count, mac)
                        : crypto_hmac_sha1(key, v[i].key.count, data, v[i].data.count, mac);
        CHECK_INT(rc, 0);
        CHECK_INT(hex_encode(mac, mac_size, hex, sizeof(hex)), 0);
        /* A shorter expected value is a truncated MAC: compare its prefix. */
        hex[strlen(v[i].hex)] = '\0';
        if (strcmp(hex, v[i].hex) != 0)
            fprintf(stderr, "  vector %s\n", v[i].name);
        CHECK_STR(hex, v[i].hex);
    }
}

static void test_hmac_sha256_rfc4231(void)
{
    check_mac_vectors(sha256_vectors, sizeof(sha256_vectors) / sizeof(sha256_vectors[0]), true);
}

static void test_hmac_sha1_rfc2202(void)
{
    check_mac_vectors(sha1_vectors, sizeof(sha1_vectors) / sizeof(sha1_vectors[0]), false);
}

static void test_hmac_null_pointers_when_empty(void)
{
    unsigned char a[CRYPTO_SHA256_SIZE], b[CRYPTO_SHA256_SIZE];
    CHECK_INT(crypto_hmac_sha256(NULL, 0, NULL, 0, a), 0);
    CHECK_INT(crypto_hmac_sha256("", 0, "", 0, b), 0);
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    /* The key matters: a one-byte change changes the MAC. */
    CHECK_INT(crypto_hmac_sha256("k", 1, "", 0, b), 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
}

static void test_sha256(void)
{
    static const struct {
        const char *data, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        /* The body hash of the Twilio bodySHA256 example in providers.md. */
        {"{\"property\": \"value\", \"boolean\": true}",
         "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char d[CRYPTO_SHA256_SIZE];
        char hex[2 * CRYPTO_SHA256_SIZE + 1];
        CHECK_INT(crypto_sha256(v[i].data, strlen(v[i].data), d), 0);
        CHECK_INT(hex_encode(d, sizeof(d), hex, sizeof(hex)), 0);
        CHECK_STR(hex, v[i].hex);
    }
    unsigned char d[CRYPTO_SHA256_SIZE];
    CHECK_INT(crypto_sha256(NULL, 0, d), 0);
    CHECK_INT(d[0], 0xe3);
}

static void test_ct_equal(void)
{
    const char *a = "0123456789abcdef";
    char b[17];
    memcpy(b, a, sizeof(b));

    CHECK(crypto_ct_equal(a, 16, b, 16));
    CHECK(crypto_ct_equal(a, 0, b, 0));
    CHECK(crypto_ct_equal(NULL, 0, NULL, 0));
    /* A difference in the first, a middle or the last byte. */
    for (size_t i = 0; i < 16; i += 5) {
        b[i] ^= 0x01;
        CHECK(!crypto_ct_equal(a, 16, b, 16));
        b[i] ^= 0x01;
    }
    b[15] ^= 0x80;
    CHECK(!crypto_ct_equal(a, 16, b, 16));
    b[15] ^= 0x80;
    /* Equal prefixes of different lengths are not equal, in either order. */
    CHECK(!crypto_ct_equal(a, 16, b, 15));
    CHECK(!crypto_ct_equal(a, 15, b, 16));
    CHECK(!crypto_ct_equal(a, 16, b, 0));
    CHECK(!crypto_ct_equal(a, 0, b, 16));
    CHECK(crypto_ct_equal(a, 16, b, 16));
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0)
            return false;
    }
    return true;
}

static void test_random_bytes(void)
{
    unsigned char a[32] = {0}, b[32] = {0};
    crypto_random_bytes(a, sizeof(a));
    crypto_random_bytes(b, sizeof(b));
    /* Each fails by chance with probability 2^-256. */
    CHECK(!all_zero(a, sizeof(a)));
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    crypto_random_bytes(NULL, 0);
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_uuid4_shape(void)
{
    char u[UUID4_TEXT_SIZE], v[UUID4_TEXT_SIZE];

    for (int round = 0; round < 64; round++) {
        memset(u, 'Z', sizeof(u));
        uuid4_generate(u);
        REQUIRE(u[36] == '\0');
        CHECK_INT(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                CHECK(u[i] == '-');
            else
                CHECK(is_lower_hex(u[i]));
        }
        CHECK(u[14] == '4');
        CHECK(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
    }
    uuid4_generate(v);
    CHECK(strcmp(u, v) != 0);
}

int main(void)
{
    TEST_RUN(test_hmac_sha256_rfc4231);
    TEST_RUN(test_hmac_sha1_rfc2202);
    TEST_RUN(test_hmac_null_pointers_when_empty);
    TEST_RUN(test_sha256);
    TEST_RUN(test_ct_equal);
    TEST_RUN(test_random_bytes);
    TEST_RUN(test_uuid4_shape);
    return TEST_EXIT();
}
