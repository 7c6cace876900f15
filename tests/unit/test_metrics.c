/*
 * metrics: the exact text of each kind of metric, label escaping, name validation, and
 * concurrent updates and label resolution from several threads.
 */
#include "metrics.h"
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void test_counter_without_labels(void)
{
    char errstr[128] = "";
    metrics_registry_t *reg = metrics_registry_new();
    metrics_counter_t *c = metrics_counter_new(reg, "notify_polls_total", "Consumer polls.", errstr,
                                               sizeof(errstr), NULL);
    REQUIRE(c != NULL);
    CHECK(metrics_counter_with(c) == c);
    metrics_counter_inc(c);
    metrics_counter_add(c, 41);
    CHECK_INT(metrics_counter_get(c), 42);

    char *text = metrics_render(reg);
    CHECK_STR(text, "# HELP notify_polls_total Consumer polls.\n"
                    "# TYPE notify_polls_total counter\n"
                    "notify_polls_total 42\n");
    free(text);
    metrics_registry_destroy(reg);
}

static void test_counter_with_labels(void)
{
    char errstr[128] = "";
    metrics_registry_t *reg = metrics_registry_new();
    metrics_counter_t *sent =
        metrics_counter_new(reg, "notify_messages_total", "Messages handled.", errstr,
                            sizeof(errstr), "channel", "status", NULL);
    REQUIRE(sent != NULL);

    /* Before any label set is used only the HELP and TYPE lines appear. */
    char *text = metrics_render(reg);
    CHECK_STR(text, "# HELP notify_messages_total Messages handled.\n"
                    "# TYPE notify_messages_total counter\n");
    free(text);

    metrics_counter_t *email_sent = metrics_counter_with(sent, "email", "SENT");
    metrics_counter_t *sms_failed = metrics_counter_with(sent, "sms", "FAILED");
    REQUIRE(email_sent != NULL && sms_failed != NULL);
    CHECK(email_sent != sms_failed);
    /* The same label set gives the same cached child. */
    CHECK(metrics_counter_with(sent, "email", "SENT") == email_sent);
    /* A child resolves label sets against its family too. */
    CHECK(metrics_counter_with(sms_failed, "email", "SENT") == email_sent);
    CHECK(metrics_counter_with(sent, "email", NULL) == NULL);

    metrics_counter_add(email_sent, 3);
    metrics_counter_inc(sms_failed);
    /* A label value that needs every escape. */
    metrics_counter_inc(metrics_counter_with(sent, "we\"ird\\ch\nan", "SENT"));

    text = metrics_render(reg);
    CHECK_STR(text, "# HELP notify_messages_total Messages handled.\n"
                    "# TYPE notify_messages_total counter\n"
                    "notify_messages_total{channel=\"email\",status=\"SENT\"} 3\n"
                    "notify_messages_total{channel=\"sms\",status=\"FAILED\"} 1\n"
                    "notify_messages_total{channel=\"we\\\"ird\\\\ch\\nan\",status=\"SENT\"} 1\n");
    free(text);
    metrics_registry_destroy(reg);
}

static void test_gauge(void)
{
    char errstr[128] = "";
    metrics_registry_t *reg = metrics_registry_new();
    metrics_gauge_t *inflight =
        metrics_gauge_new(reg, "notify_inflight", "In flight\\now.", errstr, sizeof(errstr), NULL);
    metrics_gauge_t *lag =
        metrics_gauge_new(reg, "notify_lag", NULL, errstr, sizeof(errstr), "partition", NULL);
    REQUIRE(inflight != NULL && lag != NULL);
    metrics_gauge_set(inflight, 10);
    metrics_gauge_add(inflight, -2.5);
    CHECK(metrics_gauge_get(inflight) == 7.5);
    metrics_gauge_set(metrics_gauge_with(lag, "0"), 0.1);
    metrics_gauge_set(metrics_gauge_with(lag, "1"), -INFINITY);
    metrics_gauge_set(metrics_gauge_with(lag, "2"), 1e21);

    char *text = metrics_render(reg);
    /* No HELP line without help; help text escapes '\' and newline (not quotes). */
    CHECK_STR(text, "# HELP notify_inflight In flight\\\\now.\n"
                    "# TYPE notify_inflight gauge\n"
                    "notify_inflight 7.5\n"
                    "# TYPE notify_lag gauge\n"
                    "notify_lag{partition=\"0\"} 0.1\n"
                    "notify_lag{partition=\"1\"} -Inf\n"
                    "notify_lag{partition=\"2\"} 1e+21\n");
    free(text);
    metrics_registry_destroy(reg);
}

static void test_histogram(void)
{
    char errstr[128] = "";
    metrics_registry_t *reg = metrics_registry_new();
    const double bounds[] = {0.1, 0.5, 1, INFINITY};
    metrics_histogram_t *latency =
        metrics_histogram_new(reg, "notify_send_seconds", "Provider call latency.", bounds, 4,
                              errstr, sizeof(errstr), "provider", NULL);
    REQUIRE(latency != NULL);
    metrics_histogram_t *smtp = metrics_histogram_with(latency, "SMTP");
    metrics_histogram_observe(smtp, 0.05);
    metrics_histogram_observe(smtp, 0.1); /* on the bound: counts in le="0.1" */
    metrics_histogram_observe(smtp, 0.75);
    metrics_histogram_observe(smtp, 3);
    metrics_histogram_observe(smtp, NAN); /* ignored */
    metrics_histogram_observe(metrics_histogram_with(latency, "TWILIO"), 0.25);

    char *text = metrics_render(reg);
    CHECK_STR(text, "# HELP notify_send_seconds Provider call latency.\n"
                    "# TYPE notify_send_seconds histogram\n"
                    "notify_send_seconds_bucket{provider=\"SMTP\",le=\"0.1\"} 2\n"
                    "notify_send_seconds_bucket{provider=\"SMTP\",le=\"0.5\"} 2\n"
                    "notify_send_seconds_bucket{provider=\"SMTP\",le=\"1\"} 3\n"
                    "notify_send_seconds_bucket{provider=\"SMTP\",le=\"+Inf\"} 4\n"
                    "notify_send_seconds_sum{provider=\"SMTP\"} 3.9\n"
                    "notify_send_seconds_count{provider=\"SMTP\"} 4\n"
                    "notify_send_seconds_bucket{provider=\"TWILIO\",le=\"0.1\"} 0\n"
                    "notify_send_seconds_bucket{provider=\"TWILIO\",le=\"0.5\"} 1\n"
                    "notify_send_seconds_bucket{provider=\"TWILIO\",le=\"1\"} 1\n"
                    "notify_send_seconds_bucket{provider=\"TWILIO\",le=\"+Inf\"} 1\n"
                    "notify_send_seconds_sum{provider=\"TWILIO\"} 0.25\n"
                    "notify_send_seconds_count{provider=\"TWILIO\"} 1\n");
    free(text);
    metrics_registry_destroy(reg);
}

static void test_histogram_default_buckets(void)
{
    char errstr[128] = "";
    metrics_registry_t *reg = metrics_registry_new();
    metrics_histogram_t *h =
        metrics_histogram_new(reg, "poll_seconds", "", NULL, 0, errstr, sizeof(errstr), NULL);
    REQUIRE(h != NULL);
    metrics_histogram_observe(h, 0.003);
    metrics_histogram_observe(h, 20);
    char *text = metrics_render(reg);
    CHECK_STR(text, "# TYPE poll_seconds histogram\n"
                    "poll_seconds_bucket{le=\"0.005\"} 1\n"
                    "poll_seconds_bucket{le=\"0.01\"} 1\n"
                    "poll_seconds_bucket{le=\"0.025\"} 1\n"
                    "poll_seconds_bucket{le=\"0.05\"} 1\n"
                    "poll_seconds_bucket{le=\"0.1\"} 1\n"
                    "poll_seconds_bucket{le=\"0.25\"} 1\n"
                    "poll_seconds_bucket{le=\"0.5\"} 1\n"
                    "poll_seconds_bucket{le=\"1\"} 1\n"
                    "poll_seconds_bucket{le=\"2.5\"} 1\n"
                    "poll_seconds_bucket{le=\"5\"} 1\n"
                    "poll_seconds_bucket{le=\"10\"} 1\n"
                    "poll_seconds_bucket{le=\"+Inf\"} 2\n"
                    "poll_seconds_sum 20.003\n"
                    "poll_seconds_count 2\n");
    free(text);
    metrics_registry_destroy(reg);
}

static void test_validation(void)
{
    char errstr[128];
    metrics_registry_t *reg = metrics_registry_new();
    const double bad_order[] = {1, 0.5};
    const double bad_nan[] = {NAN};

    CHECK(metrics_counter_new(reg, "ok_total", "", errstr, sizeof(errstr), NULL) != NULL);
    errstr[0] = '\0';
    CHECK(metrics_counter_new(reg, "ok_total", "", errstr, sizeof(errstr), NULL) == NULL);
    CHECK(strstr(errstr, "already exists") != NULL);
    CHECK(metrics_gauge_new(reg, "1bad", "", errstr, sizeof(errstr), NULL) == NULL);
    CHECK(strstr(errstr, "invalid metric name") != NULL);
    CHECK(metrics_gauge_new(reg, "bad-name", "", errstr, sizeof(errstr), NULL) == NULL);
    CHECK(metrics_gauge_new(reg, "", "", errstr, sizeof(errstr), NULL) == NULL);
    CHECK(metrics_gauge_new(reg, "job:rate5m", "", errstr, sizeof(errstr), NULL) != NULL);
    CHECK(metrics_gauge_new(reg, "g1", "", errstr, sizeof(errstr), "a:b", NULL) == NULL);
    CHECK(strstr(errstr, "invalid label name") != NULL);
    CHECK(metrics_gauge_new(reg, "g2", "", errstr, sizeof(errstr), "__reserved", NULL) == NULL);
    CHECK(metrics_gauge_new(reg, "g3", "", errstr, sizeof(errstr), "a", "a", NULL) == NULL);
    CHECK(strstr(errstr, "twice") != NULL);
    CHECK(metrics_histogram_new(reg, "h1", "", NULL, 0, errstr, sizeof(errstr), "le", NULL) ==
          NULL);
    CHECK(strstr(errstr, "reserved") != NULL);
    CHECK(metrics_histogram_new(reg, "h2", "", bad_order, 2, errstr, sizeof(errstr), NULL) == NULL);
    CHECK(strstr(errstr, "increasing") != NULL);
    CHECK(metrics_histogram_new(reg, "h3", "", bad_nan, 1, errstr, sizeof(errstr), NULL) == NULL);
    CHECK(metrics_counter_new(reg, "c9", "", errstr, sizeof(errstr), "a", "b", "c", "d", "e", "f",
                              "g", "h", "i", NULL) == NULL);

    /* Failed metrics are NULL handles, and NULL handles are ignored. */
    metrics_counter_inc(NULL);
    metrics_gauge_set(NULL, 1);
    metrics_histogram_observe(NULL, 1);
    CHECK(metrics_counter_with(NULL, "x") == NULL);
    CHECK_INT(metrics_counter_get(NULL), 0);

    char *text = metrics_render(reg);
    CHECK_STR(text, "# TYPE ok_total counter\nok_total 0\n"
                    "# TYPE job:rate5m gauge\njob:rate5m 0\n");
    free(text);
    metrics_registry_destroy(reg);
}

#define THREADS    8
#define INCREMENTS 20000

typedef struct worker_s {
    metrics_counter_t *family;
    metrics_histogram_t *histogram;
    metrics_gauge_t *gauge;
} worker_t;

static void *metrics_worker(void *arg)
{
    worker_t *w = arg;
    /* Every thread resolves the same label sets at the same time, then counts. */
    metrics_counter_t *sent = metrics_counter_with(w->family, "email", "SENT");
    metrics_counter_t *failed = metrics_counter_with(w->family, "email", "FAILED");
    for (int k = 0; k < INCREMENTS; k++) {
        metrics_counter_inc(sent);
        if (k % 4 == 0)
            metrics_counter_add(failed, 2);
        metrics_histogram_observe(w->histogram, (k % 2) ? 0.5 : 2);
        metrics_gauge_add(w->gauge, 1);
    }
    return NULL;
}

static void *render_worker(void *arg)
{
    metrics_registry_t *reg = arg;
    for (int k = 0; k < 50; k++)
        free(metrics_render(reg));
    return NULL;
}

static void test_concurrent(void)
{
    char errstr[128] = "";
    metrics_registry_t *reg = metrics_registry_new();
    worker_t w;
    w.family = metrics_counter_new(reg, "sent_total", "", errstr, sizeof(errstr), "channel",
                                   "status", NULL);
    const double bounds[] = {1};
    w.histogram =
        metrics_histogram_new(reg, "h_seconds", "", bounds, 1, errstr, sizeof(errstr), NULL);
    w.gauge = metrics_gauge_new(reg, "g", "", errstr, sizeof(errstr), NULL);
    REQUIRE(w.family != NULL && w.histogram != NULL && w.gauge != NULL);

    pthread_t threads[THREADS], renderer;
    for (int t = 0; t < THREADS; t++)
        REQUIRE(pthread_create(&threads[t], NULL, metrics_worker, &w) == 0);
    REQUIRE(pthread_create(&renderer, NULL, render_worker, reg) == 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    pthread_join(renderer, NULL);

    CHECK_INT(metrics_counter_get(metrics_counter_with(w.family, "email", "SENT")),
              (long long)THREADS * INCREMENTS);
    CHECK_INT(metrics_counter_get(metrics_counter_with(w.family, "email", "FAILED")),
              (long long)THREADS * INCREMENTS / 2);
    CHECK(metrics_gauge_get(w.gauge) == (double)THREADS * INCREMENTS);

    char *text = metrics_render(reg);
    REQUIRE(text != NULL);
    /* Exactly one child per label set despite the race to create them. */
    CHECK(strstr(text, "sent_total{channel=\"email\",status=\"SENT\"} 160000\n") != NULL);
    CHECK(strstr(text, "sent_total{channel=\"email\",status=\"FAILED\"} 80000\n") != NULL);
    const char *first = strstr(text, "status=\"SENT\"");
    CHECK(first != NULL && strstr(first + 1, "status=\"SENT\"") == NULL);
    CHECK(strstr(text, "h_seconds_bucket{le=\"1\"} 80000\n") != NULL);
    CHECK(strstr(text, "h_seconds_bucket{le=\"+Inf\"} 160000\n") != NULL);
    CHECK(strstr(text, "h_seconds_sum 200000\n") != NULL);
    CHECK(strstr(text, "h_seconds_count 160000\n") != NULL);
    free(text);
    metrics_registry_destroy(reg);
}

static void test_series_cap(void)
{
    char errstr[128] = "", value[16];
    metrics_registry_t *reg = metrics_registry_new();
    metrics_counter_t *c =
        metrics_counter_new(reg, "per_org_total", "", errstr, sizeof(errstr), "org", NULL);
    REQUIRE(c != NULL);
    int created = 0;
    for (int k = 0; k < METRICS_MAX_SERIES + 5; k++) {
        snprintf(value, sizeof(value), "org-%d", k);
        created += metrics_counter_with(c, value) != NULL;
    }
    CHECK_INT(created, METRICS_MAX_SERIES);
    /* Existing children are still found once the cap is reached. */
    CHECK(metrics_counter_with(c, "org-0") != NULL);
    metrics_registry_destroy(reg);
}

int main(void)
{
    TEST_RUN(test_counter_without_labels);
    TEST_RUN(test_counter_with_labels);
    TEST_RUN(test_gauge);
    TEST_RUN(test_histogram);
    TEST_RUN(test_histogram_default_buckets);
    TEST_RUN(test_validation);
    TEST_RUN(test_concurrent);
    TEST_RUN(test_series_cap);
    return TEST_EXIT();
}
