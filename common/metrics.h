/*
 * Metrics: counters, gauges and histograms with labels, kept in a registry and rendered in
 * the Prometheus text exposition format 0.0.4 for GET /metrics.
 *
 * A metric is created once at start-up with its label names; a label set is resolved to a
 * child handle with metrics_*_with(), once per set (the handle is cached by the family,
 * and the caller should keep it). Updating a handle is a relaxed atomic operation on that
 * handle only: no lock, no lookup, so many threads can count on the hot path.
 *
 *   metrics_counter_t *sent = metrics_counter_new(reg, "notify_messages_total",
 *       "Messages handled, by channel and status.", errstr, sizeof(errstr),
 *       "channel", "status", NULL);
 *   metrics_counter_t *email_sent = metrics_counter_with(sent, "email", "SENT");
 *   metrics_counter_inc(email_sent);
 *
 * Handles live as long as the registry. Every update and metrics_*_with() accepts NULL and
 * then does nothing, so a metric that failed to be created does not need a check at every
 * use. A label value is any UTF-8 text; it is escaped when rendered.
 */
#ifndef NOTIFY_METRICS_H
#define NOTIFY_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct metrics_registry_s metrics_registry_t;
typedef struct metrics_counter_s metrics_counter_t;
typedef struct metrics_gauge_s metrics_gauge_t;
typedef struct metrics_histogram_s metrics_histogram_t;

/* Label names per metric; label sets per metric (beyond it metrics_*_with() gives NULL). */
#define METRICS_MAX_LABELS 8
#define METRICS_MAX_SERIES 10000

metrics_registry_t *metrics_registry_new(void);
/* Frees the registry and every metric and handle obtained from it. */
void metrics_registry_destroy(metrics_registry_t *reg);

/*
 * Creates a metric. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new in the registry;
 * `help` is one line of text (may be NULL). After errstr come the label names, each
 * matching [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__", ended by NULL. Returns the
 * metric, or NULL with errstr when a name is invalid or taken.
 *
 * For a metric without labels the returned handle is the one series and is updated
 * directly. For a metric with labels it is the family: pass it to metrics_*_with(); its
 * own value is never rendered.
 */
metrics_counter_t *metrics_counter_new(metrics_registry_t *reg, const char *name, const char *help,
                                       char *errstr, size_t errstr_size, ...)
    __attribute__((sentinel));
metrics_gauge_t *metrics_gauge_new(metrics_registry_t *reg, const char *name, const char *help,
                                   char *errstr, size_t errstr_size, ...) __attribute__((sentinel));

/*
 * A histogram with the given upper bounds (strictly increasing, finite; +Inf is always
 * added). buckets == NULL selects the default .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10
 * (seconds). "le" is not allowed as a label name.
 */
metrics_histogram_t *metrics_histogram_new(metrics_registry_t *reg, const char *name,
                                           const char *help, const double *buckets, size_t nbuckets,
                                           char *errstr, size_t errstr_size, ...)
    __attribute__((sentinel));

/*
 * The child for one label set: exactly as many values as the metric has label names, in
 * the same order (no NULL at the end). The first call for a set creates the child (under
 * the family's mutex); later calls find it without a lock. Returns NULL when a value is
 * NULL or the metric already has METRICS_MAX_SERIES children. A metric without labels
 * returns itself.
 */
metrics_counter_t *metrics_counter_with(metrics_counter_t *counter, ...);
metrics_gauge_t *metrics_gauge_with(metrics_gauge_t *gauge, ...);
metrics_histogram_t *metrics_histogram_with(metrics_histogram_t *histogram, ...);

void metrics_counter_inc(metrics_counter_t *counter);
void metrics_counter_add(metrics_counter_t *counter, uint64_t n);
uint64_t metrics_counter_get(const metrics_counter_t *counter);

void metrics_gauge_set(metrics_gauge_t *gauge, double value);
/* Adds `delta` (negative to decrease). */
void metrics_gauge_add(metrics_gauge_t *gauge, double delta);
double metrics_gauge_get(const metrics_gauge_t *gauge);

/* Records one observation; NaN is ignored (it would poison the sum forever). */
void metrics_histogram_observe(metrics_histogram_t *histogram, double value);

/*
 * The whole registry in the text format 0.0.4 (HELP and TYPE lines for every metric, in
 * the order they were created; series in the order their label sets first appeared).
 * Returns a malloc'd string the caller frees, or NULL if memory runs out. Safe to call
 * while other threads update and create metrics: each value is read atomically, so a
 * histogram's _sum may lag its buckets by an observation in flight, and its _count is
 * always the +Inf bucket.
 */
char *metrics_render(metrics_registry_t *reg);

#endif
