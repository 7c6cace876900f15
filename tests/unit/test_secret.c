#include "testutil.h"

#include "base64.h"
#include "config.h"
#include "secret.h"

#include <stdlib.h>
#include <unistd.h>

/* bytes 0..31 and bytes 100..131 */
#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_B "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
/* bytes 0..30 and 0..32 */
#define KEY_31 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="
#define KEY_33 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"

#define ORG       "acme"
#define COLUMN    "sms_provider_config.twilio_auth_token_encrypted"
#define PLAINTEXT "hunter2-token"

/*
 * A value written by another implementation (Python's cryptography AESGCM) from the format
 * documented in secret.h alone: key KEY_A as "k1", nonce 00..0b, org ORG, column COLUMN,
 * plaintext PLAINTEXT. It pins the format: if the associated data or the layout changed,
 * values already stored in databases would stop decrypting, and this test would say so.
 */
#define KNOWN_VALUE "v1:k1:AAECAwQFBgcICQoLL3e4b6CX8Db5Lvzu39UK20qMohh9TBdXAweeydc="

static char errstr[512];

/* No message may carry key material, the plaintext or the ciphertext. */
static void check_clean(const char *msg, const char *value)
{
    static const char *const secrets[] = {KEY_A, KEY_B, KEY_31, KEY_33, PLAINTEXT};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        /* Any 12-character piece of a key would already be a leak. */
        size_t n = strlen(secrets[i]);
        for (size_t off = 0; off + 12 <= n; off += 4) {
            char piece[13];
            memcpy(piece, secrets[i] + off, 12);
            piece[12] = '\0';
            if (strstr(msg, piece) != NULL)
                fprintf(stderr, "  leaked '%s' in: %s\n", piece, msg);
            CHECK(strstr(msg, piece) == NULL);
        }
    }
    if (value != NULL && strlen(value) > 20) {
        /* The payload: anything after "v1:<id>:". */
        const char *payload = strrchr(value, ':');
        if (payload != NULL && strlen(payload + 1) >= 12) {
            char piece[13];
            memcpy(piece, payload + 1, 12);
            piece[12] = '\0';
            CHECK(strstr(msg, piece) == NULL);
        }
    }
}

static secret_ring_t *ring_or_die(const char *keys, const char *active)
{
    secret_ring_t *ring = secret_ring_new(keys, active, errstr, sizeof(errstr));
    if (ring == NULL)
        fprintf(stderr, "  ring '%s' rejected: %s\n", keys, errstr);
    return ring;
}

static char *encrypt_or_null(const secret_ring_t *ring, const char *org, const char *column,
                             const char *plain)
{
    char *value = NULL;
    secret_err_t err =
        secret_encrypt(ring, org, column, plain, strlen(plain), &value, errstr, sizeof(errstr));
    if (err != SECRET_OK)
        fprintf(stderr, "  encrypt failed: %s %s\n", secret_err_name(err), errstr);
    return value;
}

/* Decrypts and expects `want` as the error; on success also the plaintext. */
static void expect_decrypt(const secret_ring_t *ring, const char *org, const char *column,
                           const char *value, secret_err_t want, const char *plain)
{
    char *out = (char *)"untouched";
    size_t out_len = 99;

    errstr[0] = '\0';
    secret_err_t err =
        secret_decrypt(ring, org, column, value, &out, &out_len, errstr, sizeof(errstr));
    if (err != want)
        fprintf(stderr, "  decrypt gave %s (%s), expected %s\n", secret_err_name(err), errstr,
                secret_err_name(want));
    CHECK_INT(err, want);
    if (want == SECRET_OK && err == SECRET_OK) {
        CHECK_INT(out_len, strlen(plain));
        CHECK(memcmp(out, plain, out_len) == 0);
        CHECK(out[out_len] == '\0');
        secret_free(out, out_len);
    } else if (err != SECRET_OK) {
        CHECK(out == NULL);
        CHECK_INT(out_len, 0);
        CHECK(errstr[0] != '\0');
        check_clean(errstr, value);
    }
}

/* Decodes a value's payload, lets `edit` change the bytes, and re-encodes it. */
static char *rewrite_payload(const char *value, size_t cut, size_t flip_at, int flip)
{
    const char *payload = strrchr(value, ':') + 1;
    size_t head = (size_t)(payload - value);
    unsigned char bin[512];
    size_t n = 0;
    if (base64_decode(payload, strlen(payload), bin, sizeof(bin), &n) != 0)
        return NULL;
    if (flip)
        bin[flip_at] ^= 0x01;
    n -= cut;
    size_t size = head + base64_encoded_size(n) + 1;
    char *out = malloc(size);
    memcpy(out, value, head);
    base64_encode(bin, n, out + head, size - head);
    return out;
}

static void test_round_trip(void)
{
    secret_ring_t *ring = ring_or_die("k1:" KEY_A, "k1");
    REQUIRE(ring != NULL);

    char *v1 = encrypt_or_null(ring, ORG, COLUMN, PLAINTEXT);
    char *v2 = encrypt_or_null(ring, ORG, COLUMN, PLAINTEXT);
    REQUIRE(v1 != NULL && v2 != NULL);
    CHECK(strncmp(v1, "v1:k1:", 6) == 0);
    /* 12-byte nonce + plaintext + 16-byte tag, in padded base64. */
    CHECK_INT(strlen(v1), 6 + base64_encoded_size(12 + strlen(PLAINTEXT) + 16));
    /* A fresh nonce each time: the same secret never gives the same value. */
    CHECK(strcmp(v1, v2) != 0);
    CHECK(strstr(v1, PLAINTEXT) == NULL);
    expect_decrypt(ring, ORG, COLUMN, v1, SECRET_OK, PLAINTEXT);
    expect_decrypt(ring, ORG, COLUMN, v2, SECRET_OK, PLAINTEXT);

    /* Binary content and an empty secret round-trip too. */
    const char bin[] = {'a', '\0', 'b', (char)0xff};
    char *vb = NULL, *out = NULL;
    size_t out_len = 0;
    CHECK_INT(secret_encrypt(ring, ORG, COLUMN, bin, sizeof(bin), &vb, errstr, sizeof(errstr)),
              SECRET_OK);
    CHECK_INT(secret_decrypt(ring, ORG, COLUMN, vb, &out, &out_len, errstr, sizeof(errstr)),
              SECRET_OK);
    CHECK_INT(out_len, sizeof(bin));
    CHECK(out != NULL && memcmp(out, bin, sizeof(bin)) == 0);
    secret_free(out, out_len);
    char *ve = encrypt_or_null(ring, ORG, COLUMN, "");
    REQUIRE(ve != NULL);
    expect_decrypt(ring, ORG, COLUMN, ve, SECRET_OK, "");

    free(v1);
    free(v2);
    free(vb);
    free(ve);
    secret_ring_destroy(ring);
}

static void test_known_value_from_another_implementation(void)
{
    secret_ring_t *ring = ring_or_die("k1:" KEY_A, NULL);
    REQUIRE(ring != NULL);
    expect_decrypt(ring, ORG, COLUMN, KNOWN_VALUE, SECRET_OK, PLAINTEXT);
    expect_decrypt(ring, "acme2", COLUMN, KNOWN_VALUE, SECRET_ERR_AUTH, NULL);
    secret_ring_destroy(ring);
}

static void test_wrong_key_same_id(void)
{
    secret_ring_t *a = ring_or_die("k1:" KEY_A, "k1");
    secret_ring_t *b = ring_or_die("k1:" KEY_B, "k1");
    REQUIRE(a != NULL && b != NULL);
    char *v = encrypt_or_null(a, ORG, COLUMN, PLAINTEXT);
    REQUIRE(v != NULL);
    expect_decrypt(b, ORG, COLUMN, v, SECRET_ERR_AUTH, NULL);
    CHECK(strstr(errstr, "'k1'") != NULL);
    free(v);
    secret_ring_destroy(a);
    secret_ring_destroy(b);
}

static void test_unknown_key_id(void)
{
    secret_ring_t *a = ring_or_die("k1:" KEY_A, "k1");
    secret_ring_t *b = ring_or_die("k2:" KEY_A, "k2");
    REQUIRE(a != NULL && b != NULL);
    char *v = encrypt_or_null(a, ORG, COLUMN, PLAINTEXT);
    REQUIRE(v != NULL);
    expect_decrypt(b, ORG, COLUMN, v, SECRET_ERR_UNKNOWN_KEY, NULL);
    CHECK(strstr(errstr, "'k1'") != NULL);
    free(v);
    secret_ring_destroy(a);
    secret_ring_destroy(b);
}

static void test_tampering(void)
{
    secret_ring_t *ring = ring_or_die("k1:" KEY_A, "k1");
    REQUIRE(ring != NULL);
    char *v = encrypt_or_null(ring, ORG, COLUMN, PLAINTEXT);
    REQUIRE(v != NULL);
    size_t blob_len = 12 + strlen(PLAINTEXT) + 16;

    /* A flipped bit in the nonce, the first and last ciphertext byte, and the tag. */
    const size_t flips[] = {0, 11, 12, 12 + strlen(PLAINTEXT) - 1, blob_len - 16, blob_len - 1};
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        char *t = rewrite_payload(v, 0, flips[i], 1);
        REQUIRE(t != NULL);
        CHECK(strcmp(t, v) != 0);
        expect_decrypt(ring, ORG, COLUMN, t, SECRET_ERR_AUTH, NULL);
        free(t);
    }
    /* Truncated by whole bytes: still long enough to parse, but no longer authentic. */
    char *t = rewrite_payload(v, 1, 0, 0);
    expect_decrypt(ring, ORG, COLUMN, t, SECRET_ERR_AUTH, NULL);
    free(t);
    /* Truncated below nonce + tag. */
    t = rewrite_payload(v, strlen(PLAINTEXT) + 1, 0, 0);
    expect_decrypt(ring, ORG, COLUMN, t, SECRET_ERR_FORMAT, NULL);
    free(t);
    /* Truncated text: no longer whole base64. */
    char *cut = strdup(v);
    cut[strlen(cut) - 1] = '\0';
    expect_decrypt(ring, ORG, COLUMN, cut, SECRET_ERR_FORMAT, NULL);
    free(cut);

    free(v);
    secret_ring_destroy(ring);
}

static void test_bad_format(void)
{
    secret_ring_t *ring = ring_or_die("k1:" KEY_A, "k1");
    REQUIRE(ring != NULL);
    char *v = encrypt_or_null(ring, ORG, COLUMN, PLAINTEXT);
    REQUIRE(v != NULL);

    char *bad = strdup(v);
    bad[10] = '*'; /* inside the payload */
    expect_decrypt(ring, ORG, COLUMN, bad, SECRET_ERR_FORMAT, NULL);
    free(bad);

    bad = strdup(v);
    bad[1] = '2'; /* v2: */
    expect_decrypt(ring, ORG, COLUMN, bad, SECRET_ERR_FORMAT, NULL);
    free(bad);

    expect_decrypt(ring, ORG, COLUMN, v + 3, SECRET_ERR_FORMAT, NULL); /* no prefix */
    expect_decrypt(ring, ORG, COLUMN, "", SECRET_ERR_FORMAT, NULL);
    expect_decrypt(ring, ORG, COLUMN, "v1:k1", SECRET_ERR_FORMAT, NULL);
    expect_decrypt(ring, ORG, COLUMN, "v1::AAAA", SECRET_ERR_FORMAT, NULL);
    expect_decrypt(ring, ORG, COLUMN, "v1:k 1:AAAA", SECRET_ERR_FORMAT, NULL);
    expect_decrypt(ring, ORG, COLUMN, "encrypted_auth_token", SECRET_ERR_FORMAT, NULL);
    /* Whitespace around the value is not trimmed: stored values are exact. */
    size_t n = strlen(v);
    char *nl = malloc(n + 2);
    memcpy(nl, v, n);
    nl[n] = '\n';
    nl[n + 1] = '\0';
    expect_decrypt(ring, ORG, COLUMN, nl, SECRET_ERR_FORMAT, NULL);
    free(nl);
    /* The place must be named. */
    expect_decrypt(ring, "", COLUMN, v, SECRET_ERR_FORMAT, NULL);
    expect_decrypt(ring, ORG, "", v, SECRET_ERR_FORMAT, NULL);

    free(v);
    secret_ring_destroy(ring);
}

static void test_moved_value(void)
{
    secret_ring_t *ring = ring_or_die("k1:" KEY_A, "k1");
    REQUIRE(ring != NULL);
    char *v = encrypt_or_null(ring, ORG, COLUMN, PLAINTEXT);
    REQUIRE(v != NULL);
    expect_decrypt(ring, "acme2", COLUMN, v, SECRET_ERR_AUTH, NULL);
    expect_decrypt(ring, "acm", COLUMN, v, SECRET_ERR_AUTH, NULL);
    expect_decrypt(ring, ORG, "sms_provider_config.webhook_secret_encrypted", v, SECRET_ERR_AUTH,
                   NULL);
    expect_decrypt(ring, ORG, "email_provider_config.twilio_auth_token_encrypted", v,
                   SECRET_ERR_AUTH, NULL);
    /* Shifting bytes between org and column must not give the same associated data. */
    char *w = encrypt_or_null(ring, "a", "b.c", PLAINTEXT);
    REQUIRE(w != NULL);
    expect_decrypt(ring, "a", "b.c", w, SECRET_OK, PLAINTEXT);
    expect_decrypt(ring, "ab", ".c", w, SECRET_ERR_AUTH, NULL);
    expect_decrypt(ring, "a\nb", "c", w, SECRET_ERR_AUTH, NULL);
    free(w);
    free(v);
    secret_ring_destroy(ring);
}

static void test_relabelled_key_id(void)
{
    /* Same key material under two ids: only the binding of the id can tell them apart. */
    secret_ring_t *ring = ring_or_die("k1:" KEY_A ",k2:" KEY_A, "k1");
    REQUIRE(ring != NULL);
    char *v = encrypt_or_null(ring, ORG, COLUMN, PLAINTEXT);
    REQUIRE(v != NULL);
    REQUIRE(strncmp(v, "v1:k1:", 6) == 0);
    char *relabelled = strdup(v);
    relabelled[4] = '2';
    expect_decrypt(ring, ORG, COLUMN, relabelled, SECRET_ERR_AUTH, NULL);
    expect_decrypt(ring, ORG, COLUMN, v, SECRET_OK, PLAINTEXT);
    free(relabelled);
    free(v);
    secret_ring_destroy(ring);
}

static void expect_ring_error(const char *keys, const char *active, const char *needle)
{
    errstr[0] = '\0';
    secret_ring_t *ring = secret_ring_new(keys, active, errstr, sizeof(errstr));
    CHECK(ring == NULL);
    secret_ring_destroy(ring);
    CHECK(errstr[0] != '\0');
    if (strstr(errstr, needle) == NULL)
        fprintf(stderr, "  ring '%s': '%s' lacks '%s'\n", keys ? keys : "(null)", errstr, needle);
    CHECK(strstr(errstr, needle) != NULL);
    check_clean(errstr, NULL);
}

static void test_ring_parsing_errors(void)
{
    expect_ring_error("k1:" KEY_A "!", NULL, "base64");
    expect_ring_error("k1:" KEY_A " x", NULL, "base64");
    expect_ring_error("k1:" KEY_31, NULL, "32");
    expect_ring_error("k1:" KEY_33, NULL, "32");
    expect_ring_error("k1:" KEY_A KEY_A, NULL, "32");
    expect_ring_error("k1:", NULL, "32");
    expect_ring_error("k1:" KEY_A ",k1:" KEY_B, NULL, "twice");
    expect_ring_error("k1:" KEY_A, "k2", "not in the key ring");
    expect_ring_error("k1:" KEY_A, KEY_A, "not a valid id");
    expect_ring_error("", NULL, "empty");
    expect_ring_error(" \n\t", NULL, "empty");
    expect_ring_error(NULL, NULL, "empty");
    expect_ring_error("k1:" KEY_A ",", NULL, "entry 2");
    expect_ring_error("k1:" KEY_A ",,k2:" KEY_B, NULL, "entry 2");
    expect_ring_error(KEY_A, NULL, "id:base64key");
    expect_ring_error(":" KEY_A, NULL, "id must be");
    expect_ring_error("k.1:" KEY_A, NULL, "id must be");
    expect_ring_error("k1:" KEY_A ",k/2:" KEY_B, NULL, "entry 2");
    expect_ring_error("a23456789012345678901234567890123:" KEY_A, NULL, "id must be");
}

static void test_ring_accepts_whitespace_and_long_ids(void)
{
    secret_ring_t *ring = ring_or_die(" k1:" KEY_A " ,\n  k-2_B:" KEY_B "\n", "k-2_B");
    REQUIRE(ring != NULL);
    char *v = encrypt_or_null(ring, ORG, COLUMN, PLAINTEXT);
    REQUIRE(v != NULL);
    CHECK(strncmp(v, "v1:k-2_B:", 9) == 0);
    free(v);
    secret_ring_destroy(ring);

    ring = ring_or_die("a2345678901234567890123456789012:" KEY_A, "");
    CHECK(ring != NULL);
    secret_ring_destroy(ring);
}

static void test_no_active_key(void)
{
    secret_ring_t *enc = ring_or_die("k1:" KEY_A, "k1");
    secret_ring_t *dec = ring_or_die("k1:" KEY_A, NULL);
    REQUIRE(enc != NULL && dec != NULL);
    char *v = NULL;
    CHECK_INT(
        secret_encrypt(dec, ORG, COLUMN, PLAINTEXT, strlen(PLAINTEXT), &v, errstr, sizeof(errstr)),
        SECRET_ERR_NO_ACTIVE);
    CHECK(v == NULL);
    check_clean(errstr, NULL);
    v = encrypt_or_null(enc, ORG, COLUMN, PLAINTEXT);
    REQUIRE(v != NULL);
    expect_decrypt(dec, ORG, COLUMN, v, SECRET_OK, PLAINTEXT);
    free(v);
    secret_ring_destroy(enc);
    secret_ring_destroy(dec);
}

static void test_rotation(void)
{
    secret_ring_t *before = ring_or_die("k1:" KEY_A, "k1");
    secret_ring_t *during = ring_or_die("k1:" KEY_A ",k2:" KEY_B, "k2");
    secret_ring_t *after = ring_or_die("k2:" KEY_B, "k2");
    REQUIRE(before != NULL && during != NULL && after != NULL);

    char *old_value = encrypt_or_null(before, ORG, COLUMN, "old-secret");
    char *new_value = encrypt_or_null(during, ORG, COLUMN, "new-secret");
    REQUIRE(old_value != NULL && new_value != NULL);
    CHECK(strncmp(old_value, "v1:k1:", 6) == 0);
    CHECK(strncmp(new_value, "v1:k2:", 6) == 0);
    /* While both keys are in the ring, both generations decrypt. */
    expect_decrypt(during, ORG, COLUMN, old_value, SECRET_OK, "old-secret");
    expect_decrypt(during, ORG, COLUMN, new_value, SECRET_OK, "new-secret");
    /* Once the old key is gone, its values are reported, not garbled. */
    expect_decrypt(after, ORG, COLUMN, old_value, SECRET_ERR_UNKNOWN_KEY, NULL);
    expect_decrypt(after, ORG, COLUMN, new_value, SECRET_OK, "new-secret");
    expect_decrypt(before, ORG, COLUMN, new_value, SECRET_ERR_UNKNOWN_KEY, NULL);

    free(old_value);
    free(new_value);
    secret_ring_destroy(before);
    secret_ring_destroy(during);
    secret_ring_destroy(after);
}

static void test_err_names(void)
{
    CHECK_STR(secret_err_name(SECRET_OK), "SECRET_OK");
    CHECK_STR(secret_err_name(SECRET_ERR_FORMAT), "SECRET_ERR_FORMAT");
    CHECK_STR(secret_err_name(SECRET_ERR_UNKNOWN_KEY), "SECRET_ERR_UNKNOWN_KEY");
    CHECK_STR(secret_err_name(SECRET_ERR_AUTH), "SECRET_ERR_AUTH");
    CHECK_STR(secret_err_name(SECRET_ERR_NO_ACTIVE), "SECRET_ERR_NO_ACTIVE");
    CHECK_STR(secret_err_name(SECRET_ERR_INTERNAL), "SECRET_ERR_INTERNAL");
    CHECK_STR(secret_err_name((secret_err_t)99), "SECRET_ERR_UNKNOWN");
}

/* A configuration for notifyctl with the given SECRET_* values (NULL: left unset). */
static cfg_t *cfg_with(const char *keys, const char *file, const char *active)
{
    cfg_t *cfg = cfg_new(CFG_BIN_CTL);
    char e[256];
    if ((keys && cfg_set(cfg, "SECRET_KEYS", keys, e, sizeof(e)) != 0) ||
        (file && cfg_set(cfg, "SECRET_KEYS_FILE", file, e, sizeof(e)) != 0) ||
        (active && cfg_set(cfg, "SECRET_ACTIVE_KEY", active, e, sizeof(e)) != 0)) {
        fprintf(stderr, "  cfg_set: %s\n", e);
        cfg_destroy(cfg);
        return NULL;
    }
    return cfg;
}

static void test_ring_from_cfg(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/test_secret_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const char file_text[] = "\n  k1:" KEY_A ",\n  k2:" KEY_B "\n\n";
    REQUIRE(write(fd, file_text, sizeof(file_text) - 1) == (ssize_t)(sizeof(file_text) - 1));
    close(fd);

    /* From SECRET_KEYS. */
    cfg_t *cfg = cfg_with("k1:" KEY_A, NULL, "k1");
    REQUIRE(cfg != NULL);
    secret_ring_t *ring = secret_ring_from_cfg(cfg, errstr, sizeof(errstr));
    CHECK(ring != NULL);
    char *v = ring ? encrypt_or_null(ring, ORG, COLUMN, PLAINTEXT) : NULL;
    CHECK(v != NULL && strncmp(v, "v1:k1:", 6) == 0);
    free(v);
    secret_ring_destroy(ring);
    cfg_destroy(cfg);

    /* From the file, with its whitespace and newlines. */
    cfg = cfg_with(NULL, path, "k2");
    REQUIRE(cfg != NULL);
    ring = secret_ring_from_cfg(cfg, errstr, sizeof(errstr));
    if (ring == NULL)
        fprintf(stderr, "  %s\n", errstr);
    CHECK(ring != NULL);
    v = ring ? encrypt_or_null(ring, ORG, COLUMN, PLAINTEXT) : NULL;
    CHECK(v != NULL && strncmp(v, "v1:k2:", 6) == 0);
    free(v);
    secret_ring_destroy(ring);
    cfg_destroy(cfg);

    /* SECRET_KEYS wins over the file: k2 is then not in the ring. */
    cfg = cfg_with("k1:" KEY_A, path, "k2");
    REQUIRE(cfg != NULL);
    ring = secret_ring_from_cfg(cfg, errstr, sizeof(errstr));
    CHECK(ring == NULL);
    CHECK(strstr(errstr, "SECRET_ACTIVE_KEY") != NULL);
    check_clean(errstr, NULL);
    secret_ring_destroy(ring);
    cfg_destroy(cfg);

    /* Nothing configured. */
    cfg = cfg_with(NULL, NULL, NULL);
    REQUIRE(cfg != NULL);
    ring = secret_ring_from_cfg(cfg, errstr, sizeof(errstr));
    CHECK(ring == NULL);
    CHECK(strstr(errstr, "SECRET_KEYS") != NULL);
    cfg_destroy(cfg);

    /* A bad ring names its source and not its keys. */
    cfg = cfg_with("k1:" KEY_31, NULL, NULL);
    REQUIRE(cfg != NULL);
    ring = secret_ring_from_cfg(cfg, errstr, sizeof(errstr));
    CHECK(ring == NULL);
    CHECK(strncmp(errstr, "SECRET_KEYS:", 12) == 0);
    check_clean(errstr, NULL);
    cfg_destroy(cfg);

    /* A missing file. */
    unlink(path);
    cfg = cfg_with(NULL, path, NULL);
    REQUIRE(cfg != NULL);
    ring = secret_ring_from_cfg(cfg, errstr, sizeof(errstr));
    CHECK(ring == NULL);
    CHECK(strstr(errstr, "SECRET_KEYS_FILE") != NULL);
    cfg_destroy(cfg);
}

int main(void)
{
    TEST_RUN(test_round_trip);
    TEST_RUN(test_known_value_from_another_implementation);
    TEST_RUN(test_wrong_key_same_id);
    TEST_RUN(test_unknown_key_id);
    TEST_RUN(test_tampering);
    TEST_RUN(test_bad_format);
    TEST_RUN(test_moved_value);
    TEST_RUN(test_relabelled_key_id);
    TEST_RUN(test_ring_parsing_errors);
    TEST_RUN(test_ring_accepts_whitespace_and_long_ids);
    TEST_RUN(test_no_active_key);
    TEST_RUN(test_rotation);
    TEST_RUN(test_err_names);
    TEST_RUN(test_ring_from_cfg);
    return TEST_EXIT();
}
