#include "offtrack.h"
#include "testutil.h"

#include <stdlib.h>

static void test_in_order(void)
{
    offtrack_t *t = offtrack_new();
    uint64_t a = offtrack_accept(t, 10), b = offtrack_accept(t, 11), c = offtrack_accept(t, 15);
    CHECK_INT(offtrack_pending(t), 3);
    CHECK_INT(offtrack_done(t, a), 11);
    CHECK_INT(offtrack_done(t, b), 12);
    /* Gaps in offsets (compaction, transaction markers) are fine: store after the last. */
    CHECK_INT(offtrack_done(t, c), 16);
    CHECK_INT(offtrack_pending(t), 0);
    offtrack_destroy(t);
}

static void test_out_of_order(void)
{
    offtrack_t *t = offtrack_new();
    uint64_t a = offtrack_accept(t, 0), b = offtrack_accept(t, 1), c = offtrack_accept(t, 2);
    CHECK_INT(offtrack_done(t, c), -1); /* 0 and 1 are not finished: nothing to store */
    CHECK_INT(offtrack_done(t, b), -1);
    CHECK_INT(offtrack_done(t, a), 3);  /* the whole prefix at once */
    CHECK_INT(offtrack_done(t, a), -1); /* twice, or after it left the ring: ignored */
    offtrack_destroy(t);
}

/* Many more in flight than the initial ring holds, finished in a shuffled order: the stored
 * offset only ever grows and ends after the last one. */
static void test_growth_and_shuffle(void)
{
    enum { N = 5000 };
    offtrack_t *t = offtrack_new();
    static uint64_t seqs[N];
    for (int i = 0; i < N; i++)
        seqs[i] = offtrack_accept(t, 1000 + 2 * i);
    srand(7);
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1);
        uint64_t tmp = seqs[i];
        seqs[i] = seqs[j];
        seqs[j] = tmp;
    }
    int64_t last = -1;
    int monotonic = 1;
    for (int i = 0; i < N; i++) {
        int64_t s = offtrack_done(t, seqs[i]);
        if (s != -1) {
            if (s <= last)
                monotonic = 0;
            last = s;
        }
    }
    CHECK(monotonic);
    CHECK_INT(last, 1000 + 2 * (N - 1) + 1);
    CHECK_INT(offtrack_pending(t), 0);
    offtrack_destroy(t);
}

int main(void)
{
    TEST_RUN(test_in_order);
    TEST_RUN(test_out_of_order);
    TEST_RUN(test_growth_and_shuffle);
    return TEST_EXIT();
}
