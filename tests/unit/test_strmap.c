#include "strmap.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

static void test_basic(void)
{
    strmap_t *m = strmap_new();
    int a = 1, b = 2;
    CHECK(strmap_get(m, "k", 1) == NULL);
    CHECK(strmap_put(m, "k", 1, &a) == NULL);
    CHECK(strmap_get(m, "k", 1) == &a);
    /* Keys are bytes with a length: an embedded NUL separates, a prefix differs. */
    CHECK(strmap_put(m, "org\0key", 7, &b) == NULL);
    CHECK(strmap_get(m, "org\0key", 7) == &b);
    CHECK(strmap_get(m, "org", 3) == NULL);
    CHECK(strmap_get(m, "org\0ke", 6) == NULL);
    CHECK(strmap_get(m, "orgk\0ey", 7) == NULL);
    CHECK_INT(strmap_count(m), 2);
    CHECK(strmap_put(m, "k", 1, &b) == &a); /* replaced, still one entry */
    CHECK_INT(strmap_count(m), 2);
    CHECK(strmap_remove(m, "k", 1) == &b);
    CHECK(strmap_remove(m, "k", 1) == NULL);
    CHECK(strmap_get(m, "k", 1) == NULL);
    CHECK(strmap_get(m, "org\0key", 7) == &b);
    CHECK_INT(strmap_count(m), 1);
    /* The empty key is a key like any other. */
    CHECK(strmap_put(m, "", 0, &a) == NULL);
    CHECK(strmap_get(m, "", 0) == &a);
    strmap_destroy(m);
    strmap_destroy(NULL);
}

/* Far more entries than the initial buckets: every one is found through the growth, and
 * removing half leaves exactly the other half. */
static void test_growth(void)
{
    enum { N = 20000 };
    static int values[N];
    strmap_t *m = strmap_new();
    char key[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof(key), "key-%d", i);
        CHECK(strmap_put(m, key, (size_t)len, &values[i]) == NULL);
    }
    CHECK_INT(strmap_count(m), N);
    int found = 0;
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof(key), "key-%d", i);
        found += strmap_get(m, key, (size_t)len) == &values[i];
    }
    CHECK_INT(found, N);
    for (int i = 0; i < N; i += 2) {
        int len = snprintf(key, sizeof(key), "key-%d", i);
        CHECK(strmap_remove(m, key, (size_t)len) == &values[i]);
    }
    CHECK_INT(strmap_count(m), N / 2);
    int odd = 0, even = 0;
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof(key), "key-%d", i);
        void *v = strmap_get(m, key, (size_t)len);
        if (i % 2)
            odd += v == &values[i];
        else
            even += v != NULL;
    }
    CHECK_INT(odd, N / 2);
    CHECK_INT(even, 0);
    strmap_destroy(m);
}

/* A strmap_sweep() callback: keeps the values that are even. */
static bool keep_even(void *value, void *opaque)
{
    int *calls = opaque;
    (*calls)++;
    return *(int *)value % 2 == 0;
}

static void test_sweep(void)
{
    enum { N = 1000 };
    static int values[N];
    strmap_t *m = strmap_new();
    char key[32];
    for (int i = 0; i < N; i++) {
        values[i] = i;
        int len = snprintf(key, sizeof(key), "k%d", i);
        strmap_put(m, key, (size_t)len, &values[i]);
    }
    int calls = 0;
    strmap_sweep(m, keep_even, &calls);
    CHECK_INT(calls, N);
    CHECK_INT(strmap_count(m), N / 2);
    int right = 0;
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof(key), "k%d", i);
        void *v = strmap_get(m, key, (size_t)len);
        right += i % 2 == 0 ? v == &values[i] : v == NULL;
    }
    CHECK_INT(right, N);
    strmap_destroy(m);
}

int main(void)
{
    TEST_RUN(test_basic);
    TEST_RUN(test_growth);
    TEST_RUN(test_sweep);
    return TEST_EXIT();
}
