/*
 * A small test harness: each test file is one process with a main() that calls
 * TEST_RUN(fn) for each case. A failed CHECK prints the file, line and expression and
 * marks the case failed; the process exits non-zero when any case failed, and prints
 * "N passed, N failed" so a reader of the log sees what ran.
 */
#ifndef NOTIFY_TESTUTIL_H
#define NOTIFY_TESTUTIL_H

#include <stdio.h>
#include <string.h>

static int testutil_case_failed;
static int testutil_passed;
static int testutil_failed;

#define CHECK(expr)                                                                  \
    do {                                                                             \
        if (!(expr)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
            testutil_case_failed = 1;                                                \
        }                                                                            \
    } while (0)

#define CHECK_STR(actual, expected)                                                          \
    do {                                                                                     \
        const char *a_ = (actual), *e_ = (expected);                                         \
        if (a_ == NULL || e_ == NULL || strcmp(a_, e_) != 0) {                               \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s\n  actual:   %s\n  expected: %s\n", \
                    __FILE__, __LINE__, #actual, a_ ? a_ : "(null)", e_ ? e_ : "(null)");    \
            testutil_case_failed = 1;                                                        \
        }                                                                                    \
    } while (0)

#define CHECK_INT(actual, expected)                                                           \
    do {                                                                                      \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                       \
        if (a_ != e_) {                                                                       \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %lld, expected %lld\n", __FILE__, \
                    __LINE__, #actual, a_, e_);                                               \
            testutil_case_failed = 1;                                                         \
        }                                                                                     \
    } while (0)

/* Stops the current case: for preconditions without which the rest would crash. */
#define REQUIRE(expr)                                                                  \
    do {                                                                               \
        if (!(expr)) {                                                                 \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #expr); \
            testutil_case_failed = 1;                                                  \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define TEST_RUN(fn)                           \
    do {                                       \
        testutil_case_failed = 0;              \
        fn();                                  \
        if (testutil_case_failed) {            \
            testutil_failed++;                 \
            fprintf(stderr, "FAIL %s\n", #fn); \
        } else {                               \
            testutil_passed++;                 \
            fprintf(stderr, "ok   %s\n", #fn); \
        }                                      \
    } while (0)

#define TEST_EXIT()                                                               \
    (fprintf(stderr, "%d passed, %d failed\n", testutil_passed, testutil_failed), \
     (testutil_failed || testutil_passed == 0) ? 1 : 0)

#endif
