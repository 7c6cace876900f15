/*
 * The PostgreSQL array literals the ledger passes its batches in (ledger_array_*): exact
 * text for the characters array_in treats specially, NULL against the word "NULL", the
 * size bound, and a round trip of random strings through a decoder written from the
 * array_in rules. The integration test sends the same kinds of values through a real
 * server.
 */
#include "testutil.h"

#include "ledger.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The literal of `n` values in a fresh array. */
static char *encode(const char *const *values, size_t n)
{
    ledger_array_t *a = ledger_array_new(1 << 20);
    for (size_t i = 0; i < n; i++) {
        if (ledger_array_add(a, values[i]) != 0) {
            ledger_array_destroy(a);
            return NULL;
        }
    }
    char *out = strdup(ledger_array_text(a));
    ledger_array_destroy(a);
    return out;
}

static void check_encoding(const char *const *values, size_t n, const char *expected)
{
    char *text = encode(values, n);
    CHECK_STR(text, expected);
    free(text);
}

static void test_empty_array(void)
{
    check_encoding(NULL, 0, "{}");
}

static void test_plain_values(void)
{
    const char *values[] = {"acme", "email", "k-1"};
    check_encoding(values, 3, "{\"acme\",\"email\",\"k-1\"}");
}

static void test_quotes_and_backslashes(void)
{
    const char *values[] = {"say \"hi\"", "C:\\dir\\", "\\\"", "\""};
    check_encoding(values, 4, "{\"say \\\"hi\\\"\",\"C:\\\\dir\\\\\",\"\\\\\\\"\",\"\\\"\"}");
}

static void test_commas_braces_spaces(void)
{
    /* Unquoted, each of these would split, nest or be trimmed; quoted, they are text. */
    const char *values[] = {"a,b", "{x}", "}", "{", " lead", "trail ", "\t", "a\nb"};
    check_encoding(values, 8, "{\"a,b\",\"{x}\",\"}\",\"{\",\" lead\",\"trail \",\"\t\",\"a\nb\"}");
}

static void test_null_and_empty(void)
{
    const char *values[] = {NULL, "NULL", "", "null", NULL};
    check_encoding(values, 5, "{NULL,\"NULL\",\"\",\"null\",NULL}");
}

static void test_unicode_passes_unchanged(void)
{
    const char *values[] = {"Gr\xc3\xbc\xc3\x9f"
                            "e",
                            "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80",
                            "\xe2\x80\x9cq\xe2\x80\x9d"};
    check_encoding(values, 4,
                   "{\"Gr\xc3\xbc\xc3\x9f"
                   "e\",\"\xe6\x97\xa5\xe6\x9c\xac\",\"\xf0\x9f\x98\x80\","
                   "\"\xe2\x80\x9cq\xe2\x80\x9d\"}");
}

static void test_count_reset_and_text_midway(void)
{
    ledger_array_t *a = ledger_array_new(1024);
    REQUIRE(a != NULL);
    CHECK_INT(ledger_array_count(a), 0);
    CHECK_INT(ledger_array_add(a, "x"), 0);
    CHECK_STR(ledger_array_text(a), "{\"x\"}");
    /* Taking the text does not close the array: more elements follow. */
    CHECK_INT(ledger_array_add(a, NULL), 0);
    CHECK_INT(ledger_array_add(a, "y"), 0);
    CHECK_INT(ledger_array_count(a), 3);
    CHECK_STR(ledger_array_text(a), "{\"x\",NULL,\"y\"}");
    ledger_array_reset(a);
    CHECK_INT(ledger_array_count(a), 0);
    CHECK_STR(ledger_array_text(a), "{}");
    CHECK_INT(ledger_array_add(a, "z"), 0);
    CHECK_STR(ledger_array_text(a), "{\"z\"}");
    ledger_array_destroy(a);
}

static void test_size_bound(void)
{
    /* {"ab"} and its NUL are exactly 7 bytes. */
    ledger_array_t *a = ledger_array_new(7);
    CHECK_INT(ledger_array_add(a, "ab"), 0);
    CHECK_STR(ledger_array_text(a), "{\"ab\"}");
    CHECK_INT(ledger_array_add(a, ""), -1);
    CHECK_INT(ledger_array_add(a, NULL), -1);
    CHECK_INT(ledger_array_count(a), 1);
    CHECK_STR(ledger_array_text(a), "{\"ab\"}");
    ledger_array_destroy(a);

    /* Escapes count: "a\"" needs 5 bytes inside the braces, not 4. */
    a = ledger_array_new(7);
    CHECK_INT(ledger_array_add(a, "a\""), -1);
    CHECK_INT(ledger_array_add(a, "a"), 0);
    CHECK_STR(ledger_array_text(a), "{\"a\"}");
    ledger_array_destroy(a);
}

static void test_growth(void)
{
    ledger_array_t *a = ledger_array_new(1 << 24);
    char value[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(value, sizeof(value), "key-%d\"", i);
        REQUIRE(ledger_array_add(a, value) == 0);
    }
    const char *text = ledger_array_text(a);
    CHECK_INT(ledger_array_count(a), 20000);
    CHECK(strncmp(text, "{\"key-0\\\"\",\"key-1\\\"\",", 21) == 0);
    size_t len = strlen(text);
    CHECK(len > 20 && strcmp(text + len - 14, "\"key-19999\\\"\"}") == 0);
    ledger_array_destroy(a);
}

/*
 * A decoder for what the encoder writes, following array_in: elements separated by
 * commas, each either the unquoted word NULL or a double-quoted string in which a
 * backslash takes the next character literally. Returns the number of elements, or -1.
 */
static int decode(const char *text, char **out, bool *is_null, int max)
{
    const char *p = text;
    if (*p++ != '{')
        return -1;
    int n = 0;
    if (*p == '}')
        return p[1] == '\0' ? 0 : -1;
    for (;;) {
        if (n == max)
            return -1;
        if (strncmp(p, "NULL", 4) == 0) {
            is_null[n] = true;
            out[n] = NULL;
            p += 4;
        } else if (*p == '"') {
            p++;
            size_t cap = strlen(p) + 1, len = 0;
            char *buf = malloc(cap);
            while (*p != '"') {
                if (*p == '\0') {
                    free(buf);
                    return -1;
                }
                if (*p == '\\')
                    p++;
                buf[len++] = *p++;
            }
            buf[len] = '\0';
            p++;
            is_null[n] = false;
            out[n] = buf;
        } else {
            return -1;
        }
        n++;
        if (*p == '}')
            return p[1] == '\0' ? n : -1;
        if (*p++ != ',')
            return -1;
    }
}

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void test_random_round_trip(void)
{
    /* Bytes weighted towards the ones with a meaning in array literals. */
    static const char special[] = "\"\\,{} NULL\t\n";
    enum { ROUNDS = 300, MAX = 40 };
    for (int round = 0; round < ROUNDS; round++) {
        int n = (int)(rng() % MAX);
        char *values[MAX];
        for (int i = 0; i < n; i++) {
            if (rng() % 8 == 0) {
                values[i] = NULL;
                continue;
            }
            size_t len = rng() % 12;
            values[i] = malloc(len + 1);
            for (size_t k = 0; k < len; k++) {
                values[i][k] =
                    (rng() % 2) ? special[rng() % (sizeof(special) - 1)] : (char)(1 + rng() % 255);
            }
            values[i][len] = '\0';
        }
        char *text = encode((const char *const *)values, (size_t)n);
        REQUIRE(text != NULL);
        char *decoded[MAX];
        bool is_null[MAX];
        int got = decode(text, decoded, is_null, MAX);
        CHECK_INT(got, n);
        for (int i = 0; i < n && i < got; i++) {
            if (values[i] == NULL) {
                CHECK(is_null[i]);
            } else {
                CHECK(!is_null[i]);
                CHECK_STR(decoded[i], values[i]);
            }
            free(decoded[i]);
        }
        for (int i = 0; i < n; i++)
            free(values[i]);
        free(text);
    }
}

static void test_names(void)
{
    CHECK_STR(ledger_state_name(LEDGER_STATE_SENDING), "SENDING");
    ledger_state_t state = LEDGER_STATE_RESERVED;
    CHECK_INT(ledger_state_parse("FAILED", &state), 0);
    CHECK_INT(state, LEDGER_STATE_FAILED);
    CHECK_INT(ledger_state_parse("sent", &state), -1);
    CHECK_STR(ledger_verdict_name(LEDGER_RESEND), "RESEND");
    CHECK_STR(ledger_finish_result_name(LEDGER_FINISH_TAKEN_OVER), "TAKEN_OVER");
    CHECK_STR(ledger_err_name(LEDGER_ERR_UNAVAILABLE), "LEDGER_ERR_UNAVAILABLE");
    CHECK_STR(ledger_err_name((ledger_err_t)99), "LEDGER_ERR_UNKNOWN");
}

int main(void)
{
    TEST_RUN(test_empty_array);
    TEST_RUN(test_plain_values);
    TEST_RUN(test_quotes_and_backslashes);
    TEST_RUN(test_commas_braces_spaces);
    TEST_RUN(test_null_and_empty);
    TEST_RUN(test_unicode_passes_unchanged);
    TEST_RUN(test_count_reset_and_text_midway);
    TEST_RUN(test_size_bound);
    TEST_RUN(test_growth);
    TEST_RUN(test_random_round_trip);
    TEST_RUN(test_names);
    return TEST_EXIT();
}
