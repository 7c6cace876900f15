/*
 * Each metric is a family: its name, help, label names and (histograms) bucket bounds,
 * and a list of series, one per label set. The list only grows until the registry is
 * destroyed, which is what lets metrics_*_with() and metrics_render() walk it without a
 * lock: a series is fully built before it is published with a release store at the tail,
 * and readers follow the links with acquire loads. Creating a series takes the family's
 * mutex; creating a family and rendering take the registry's. Values are relaxed atomics
 * on the series itself; doubles are kept as their bit patterns in 64-bit atomics.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX_BUCKETS 64

typedef enum {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
} metrics_kind_t;

static const char *const metrics_kind_names[] = {"counter", "gauge", "histogram"};

static const double metrics_default_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

typedef struct metrics_family_s metrics_family_t;

/*
 * One series. The public handle types are never defined: a metrics_counter_t * (and the
 * others) is a metrics_series_t * under another name, so the compiler keeps the kinds apart
 * for callers while the code here is written once.
 */
typedef struct metrics_series_s {
    metrics_family_t *family;
    char **values;             /* family->nlabels label values; NULL for the family's own series */
    uint64_t hash;             /* of the values, to skip most string compares */
    _Atomic uint64_t value;    /* counter: the count; gauge: the bits of a double */
    _Atomic uint64_t sum;      /* histogram: the bits of the double sum */
    _Atomic uint64_t *buckets; /* histogram: per-bucket counts (not cumulative), +Inf last */
    _Atomic(struct metrics_series_s *) next;
} metrics_series_t;

struct metrics_family_s {
    metrics_kind_t kind;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS];
    size_t nbounds;
    double bounds[METRICS_MAX_BUCKETS]; /* finite upper bounds; +Inf is implied */
    pthread_mutex_t lock;               /* serialises the creation of series */
    metrics_series_t root;              /* what metrics_*_new() returns */
    _Atomic(metrics_series_t *) head;   /* the rendered series, oldest first */
    metrics_series_t *tail;             /* under lock */
    size_t nseries;                     /* under lock */
    metrics_family_t *next;             /* under the registry's lock */
};

struct metrics_registry_s {
    pthread_mutex_t lock;
    metrics_family_t *head;
    metrics_family_t *tail;
};

/* Allocation failure aborts: a supervised daemon is restarted (see architecture.md). */
static void *metrics_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        abort();
    return p;
}

static char *metrics_strdup(const char *s)
{
    size_t len = strlen(s);
    char *copy = metrics_calloc(len + 1, 1);
    memcpy(copy, s, len);
    return copy;
}

static uint64_t metrics_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits;
}

static double metrics_double(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

static void metrics_atomic_add_double(_Atomic uint64_t *target, double delta)
{
    uint64_t old = atomic_load_explicit(target, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(target, &old,
                                                  metrics_bits(metrics_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- names ---- */

static int metrics_name_char(char c, int first, int colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return 1;
    if (colon && c == ':')
        return 1;
    return !first && c >= '0' && c <= '9';
}

/* Metric names allow ':' (recording rules); label names do not. */
static int metrics_valid_name(const char *name, int colon)
{
    if (name == NULL || name[0] == '\0')
        return 0;
    for (size_t k = 0; name[k] != '\0'; k++) {
        if (!metrics_name_char(name[k], k == 0, colon))
            return 0;
    }
    return 1;
}

/* ---- families ---- */

static void metrics_series_init(metrics_series_t *s, metrics_family_t *f)
{
    s->family = f;
    atomic_init(&s->value, f->kind == METRICS_GAUGE ? metrics_bits(0.0) : 0);
    atomic_init(&s->sum, metrics_bits(0.0));
    atomic_init(&s->next, NULL);
    if (f->kind == METRICS_HISTOGRAM) {
        s->buckets = metrics_calloc(f->nbounds + 1, sizeof(*s->buckets));
        for (size_t b = 0; b <= f->nbounds; b++)
            atomic_init(&s->buckets[b], 0);
    }
}

static void metrics_series_free(metrics_series_t *s, size_t nlabels)
{
    if (s->values != NULL) {
        for (size_t k = 0; k < nlabels; k++)
            free(s->values[k]);
        free(s->values);
    }
    free(s->buckets);
}

static void metrics_family_free(metrics_family_t *f)
{
    metrics_series_t *s = atomic_load_explicit(&f->head, memory_order_relaxed);
    while (s != NULL) {
        metrics_series_t *next = atomic_load_explicit(&s->next, memory_order_relaxed);
        if (s != &f->root) {
            metrics_series_free(s, f->nlabels);
            free(s);
        }
        s = next;
    }
    metrics_series_free(&f->root, f->nlabels);
    for (size_t k = 0; k < f->nlabels; k++)
        free(f->labels[k]);
    pthread_mutex_destroy(&f->lock);
    free(f->name);
    free(f->help);
    free(f);
}

static int metrics_check_labels(metrics_kind_t kind, const char **labels, size_t nlabels,
                                char *errstr, size_t errstr_size)
{
    for (size_t k = 0; k < nlabels; k++) {
        if (!metrics_valid_name(labels[k], 0) || strncmp(labels[k], "__", 2) == 0) {
            snprintf(errstr, errstr_size, "invalid label name \"%s\"", labels[k]);
            return -1;
        }
        if (kind == METRICS_HISTOGRAM && strcmp(labels[k], "le") == 0) {
            snprintf(errstr, errstr_size, "label name \"le\" is reserved for histogram buckets");
            return -1;
        }
        for (size_t p = 0; p < k; p++) {
            if (strcmp(labels[p], labels[k]) == 0) {
                snprintf(errstr, errstr_size, "label name \"%s\" given twice", labels[k]);
                return -1;
            }
        }
    }
    return 0;
}

/* Copies the bounds, dropping a final +Inf (it is always there). */
static int metrics_check_buckets(metrics_family_t *f, const double *buckets, size_t nbuckets,
                                 char *errstr, size_t errstr_size)
{
    if (buckets == NULL) {
        buckets = metrics_default_buckets;
        nbuckets = sizeof(metrics_default_buckets) / sizeof(metrics_default_buckets[0]);
    }
    if (nbuckets > 0 && isinf(buckets[nbuckets - 1]) && buckets[nbuckets - 1] > 0)
        nbuckets--;
    if (nbuckets > METRICS_MAX_BUCKETS) {
        snprintf(errstr, errstr_size, "more than %d buckets", METRICS_MAX_BUCKETS);
        return -1;
    }
    for (size_t b = 0; b < nbuckets; b++) {
        if (!isfinite(buckets[b]) || (b > 0 && !(buckets[b] > buckets[b - 1]))) {
            snprintf(errstr, errstr_size, "bucket bounds must be finite and strictly increasing");
            return -1;
        }
        f->bounds[b] = buckets[b];
    }
    f->nbounds = nbuckets;
    return 0;
}

static metrics_series_t *metrics_family_new(metrics_registry_t *reg, metrics_kind_t kind,
                                            const char *name, const char *help,
                                            const double *buckets, size_t nbuckets, char *errstr,
                                            size_t errstr_size, va_list ap)
{
    metrics_family_t *f = NULL;
    const char *labels[METRICS_MAX_LABELS];
    size_t nlabels = 0;
    const char *label;
    while ((label = va_arg(ap, const char *)) != NULL) {
        if (nlabels == METRICS_MAX_LABELS) {
            snprintf(errstr, errstr_size, "%s: more than %d labels", name ? name : "(null)",
                     METRICS_MAX_LABELS);
            return NULL;
        }
        labels[nlabels++] = label;
    }
    if (reg == NULL || !metrics_valid_name(name, 1)) {
        snprintf(errstr, errstr_size, "invalid metric name \"%s\"", name ? name : "(null)");
        return NULL;
    }
    char why[128];
    if (metrics_check_labels(kind, labels, nlabels, why, sizeof(why)) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", name, why);
        return NULL;
    }

    f = metrics_calloc(1, sizeof(*f));
    f->kind = kind;
    if (kind == METRICS_HISTOGRAM &&
        metrics_check_buckets(f, buckets, nbuckets, why, sizeof(why)) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", name, why);
        free(f);
        return NULL;
    }
    f->name = metrics_strdup(name);
    f->help = metrics_strdup(help ? help : "");
    f->nlabels = nlabels;
    for (size_t k = 0; k < nlabels; k++)
        f->labels[k] = metrics_strdup(labels[k]);
    pthread_mutex_init(&f->lock, NULL);
    metrics_series_init(&f->root, f);
    /* Without labels the family's own series is the one rendered. */
    atomic_init(&f->head, nlabels == 0 ? &f->root : NULL);
    f->tail = nlabels == 0 ? &f->root : NULL;

    pthread_mutex_lock(&reg->lock);
    for (metrics_family_t *g = reg->head; g != NULL; g = g->next) {
        if (strcmp(g->name, name) == 0) {
            pthread_mutex_unlock(&reg->lock);
            snprintf(errstr, errstr_size, "metric \"%s\" already exists", name);
            metrics_family_free(f);
            return NULL;
        }
    }
    if (reg->tail != NULL)
        reg->tail->next = f;
    else
        reg->head = f;
    reg->tail = f;
    pthread_mutex_unlock(&reg->lock);
    return &f->root;
}

/* ---- series ---- */

static uint64_t metrics_hash(const char **values, size_t n)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (size_t k = 0; k < n; k++) {
        for (const unsigned char *p = (const unsigned char *)values[k]; *p != '\0'; p++)
            h = (h ^ *p) * 1099511628211u;
        h = (h ^ 0xff) * 1099511628211u; /* 0xff never occurs in UTF-8: a safe separator */
    }
    return h;
}

static metrics_series_t *metrics_find(metrics_family_t *f, const char **values, uint64_t hash)
{
    for (metrics_series_t *s = atomic_load_explicit(&f->head, memory_order_acquire); s != NULL;
         s = atomic_load_explicit(&s->next, memory_order_acquire)) {
        if (s->hash != hash)
            continue;
        size_t k = 0;
        while (k < f->nlabels && strcmp(s->values[k], values[k]) == 0)
            k++;
        if (k == f->nlabels)
            return s;
    }
    return NULL;
}

static metrics_series_t *metrics_with(metrics_series_t *s, va_list ap)
{
    if (s == NULL)
        return NULL;
    metrics_family_t *f = s->family;
    if (f->nlabels == 0)
        return s;
    const char *values[METRICS_MAX_LABELS];
    for (size_t k = 0; k < f->nlabels; k++) {
        values[k] = va_arg(ap, const char *);
        if (values[k] == NULL)
            return NULL;
    }
    uint64_t hash = metrics_hash(values, f->nlabels);
    metrics_series_t *found = metrics_find(f, values, hash);
    if (found != NULL)
        return found;

    pthread_mutex_lock(&f->lock);
    /* Another thread may have created it since the lock-free look. */
    found = metrics_find(f, values, hash);
    if (found == NULL && f->nseries < METRICS_MAX_SERIES) {
        found = metrics_calloc(1, sizeof(*found));
        metrics_series_init(found, f);
        found->hash = hash;
        found->values = metrics_calloc(f->nlabels, sizeof(char *));
        for (size_t k = 0; k < f->nlabels; k++)
            found->values[k] = metrics_strdup(values[k]);
        if (f->tail != NULL)
            atomic_store_explicit(&f->tail->next, found, memory_order_release);
        else
            atomic_store_explicit(&f->head, found, memory_order_release);
        f->tail = found;
        f->nseries++;
    }
    pthread_mutex_unlock(&f->lock);
    return found;
}

/* ---- public API ---- */

metrics_registry_t *metrics_registry_new(void)
{
    metrics_registry_t *reg = metrics_calloc(1, sizeof(*reg));
    pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

void metrics_registry_destroy(metrics_registry_t *reg)
{
    if (reg == NULL)
        return;
    metrics_family_t *f = reg->head;
    while (f != NULL) {
        metrics_family_t *next = f->next;
        metrics_family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

metrics_counter_t *metrics_counter_new(metrics_registry_t *reg, const char *name, const char *help,
                                       char *errstr, size_t errstr_size, ...)
{
    va_list ap;
    va_start(ap, errstr_size);
    metrics_series_t *s =
        metrics_family_new(reg, METRICS_COUNTER, name, help, NULL, 0, errstr, errstr_size, ap);
    va_end(ap);
    return (metrics_counter_t *)s;
}

metrics_gauge_t *metrics_gauge_new(metrics_registry_t *reg, const char *name, const char *help,
                                   char *errstr, size_t errstr_size, ...)
{
    va_list ap;
    va_start(ap, errstr_size);
    metrics_series_t *s =
        metrics_family_new(reg, METRICS_GAUGE, name, help, NULL, 0, errstr, errstr_size, ap);
    va_end(ap);
    return (metrics_gauge_t *)s;
}

metrics_histogram_t *metrics_histogram_new(metrics_registry_t *reg, const char *name,
                                           const char *help, const double *buckets, size_t nbuckets,
                                           char *errstr, size_t errstr_size, ...)
{
    va_list ap;
    va_start(ap, errstr_size);
    metrics_series_t *s = metrics_family_new(reg, METRICS_HISTOGRAM, name, help, buckets, nbuckets,
                                             errstr, errstr_size, ap);
    va_end(ap);
    return (metrics_histogram_t *)s;
}

metrics_counter_t *metrics_counter_with(metrics_counter_t *counter, ...)
{
    va_list ap;
    va_start(ap, counter);
    metrics_series_t *s = metrics_with((metrics_series_t *)counter, ap);
    va_end(ap);
    return (metrics_counter_t *)s;
}

metrics_gauge_t *metrics_gauge_with(metrics_gauge_t *gauge, ...)
{
    va_list ap;
    va_start(ap, gauge);
    metrics_series_t *s = metrics_with((metrics_series_t *)gauge, ap);
    va_end(ap);
    return (metrics_gauge_t *)s;
}

metrics_histogram_t *metrics_histogram_with(metrics_histogram_t *histogram, ...)
{
    va_list ap;
    va_start(ap, histogram);
    metrics_series_t *s = metrics_with((metrics_series_t *)histogram, ap);
    va_end(ap);
    return (metrics_histogram_t *)s;
}

void metrics_counter_inc(metrics_counter_t *counter)
{
    metrics_counter_add(counter, 1);
}

void metrics_counter_add(metrics_counter_t *counter, uint64_t n)
{
    if (counter != NULL)
        atomic_fetch_add_explicit(&((metrics_series_t *)counter)->value, n, memory_order_relaxed);
}

uint64_t metrics_counter_get(const metrics_counter_t *counter)
{
    if (counter == NULL)
        return 0;
    return atomic_load_explicit(&((const metrics_series_t *)counter)->value, memory_order_relaxed);
}

void metrics_gauge_set(metrics_gauge_t *gauge, double value)
{
    if (gauge != NULL)
        atomic_store_explicit(&((metrics_series_t *)gauge)->value, metrics_bits(value),
                              memory_order_relaxed);
}

void metrics_gauge_add(metrics_gauge_t *gauge, double delta)
{
    if (gauge != NULL)
        metrics_atomic_add_double(&((metrics_series_t *)gauge)->value, delta);
}

double metrics_gauge_get(const metrics_gauge_t *gauge)
{
    if (gauge == NULL)
        return 0;
    return metrics_double(
        atomic_load_explicit(&((const metrics_series_t *)gauge)->value, memory_order_relaxed));
}

void metrics_histogram_observe(metrics_histogram_t *histogram, double value)
{
    if (histogram == NULL || isnan(value))
        return;
    metrics_series_t *s = (metrics_series_t *)histogram;
    const metrics_family_t *f = s->family;
    /* The first bucket whose bound is >= value ("le"), by binary search; +Inf past the end. */
    size_t lo = 0, hi = f->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (value <= f->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&s->buckets[lo], 1, memory_order_relaxed);
    metrics_atomic_add_double(&s->sum, value);
}

/* ---- rendering ---- */

/* The shortest of %.15g and %.17g that reads back as the same double; Go's spellings of
 * the infinities and NaN, which Prometheus expects. */
static void metrics_write_double(FILE *out, double v)
{
    if (isnan(v)) {
        fputs("NaN", out);
        return;
    }
    if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", out);
        return;
    }
    char buf[40];
    snprintf(buf, sizeof(buf), "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof(buf), "%.17g", v);
    fputs(buf, out);
}

/* HELP text escapes '\' and newline; label values also escape '"'. */
static void metrics_write_escaped(FILE *out, const char *s, int quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* {a="x",b="y"} with an optional trailing le="..." (the bound, or +Inf when le is NULL). */
static void metrics_write_labels(FILE *out, const metrics_series_t *s, int with_le,
                                 const double *le)
{
    const metrics_family_t *f = s->family;
    if (f->nlabels == 0 && !with_le)
        return;
    fputc('{', out);
    for (size_t k = 0; k < f->nlabels; k++) {
        fprintf(out, "%s%s=\"", k > 0 ? "," : "", f->labels[k]);
        metrics_write_escaped(out, s->values[k], 1);
        fputc('"', out);
    }
    if (with_le) {
        fprintf(out, "%sle=\"", f->nlabels > 0 ? "," : "");
        if (le != NULL)
            metrics_write_double(out, *le);
        else
            fputs("+Inf", out);
        fputc('"', out);
    }
    fputc('}', out);
}

static void metrics_write_series(FILE *out, const metrics_series_t *s)
{
    const metrics_family_t *f = s->family;
    switch (f->kind) {
    case METRICS_COUNTER:
        fputs(f->name, out);
        metrics_write_labels(out, s, 0, NULL);
        fprintf(out, " %" PRIu64 "\n", atomic_load_explicit(&s->value, memory_order_relaxed));
        break;
    case METRICS_GAUGE:
        fputs(f->name, out);
        metrics_write_labels(out, s, 0, NULL);
        fputc(' ', out);
        metrics_write_double(out,
                             metrics_double(atomic_load_explicit(&s->value, memory_order_relaxed)));
        fputc('\n', out);
        break;
    case METRICS_HISTOGRAM: {
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= f->nbounds; b++) {
            cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            fprintf(out, "%s_bucket", f->name);
            metrics_write_labels(out, s, 1, b < f->nbounds ? &f->bounds[b] : NULL);
            fprintf(out, " %" PRIu64 "\n", cumulative);
        }
        fprintf(out, "%s_sum", f->name);
        metrics_write_labels(out, s, 0, NULL);
        fputc(' ', out);
        metrics_write_double(out,
                             metrics_double(atomic_load_explicit(&s->sum, memory_order_relaxed)));
        fprintf(out, "\n%s_count", f->name);
        metrics_write_labels(out, s, 0, NULL);
        fprintf(out, " %" PRIu64 "\n", cumulative);
        break;
    }
    }
}

char *metrics_render(metrics_registry_t *reg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL)
        return NULL;
    if (reg != NULL) {
        pthread_mutex_lock(&reg->lock);
        for (const metrics_family_t *f = reg->head; f != NULL; f = f->next) {
            if (f->help[0] != '\0') {
                fprintf(out, "# HELP %s ", f->name);
                metrics_write_escaped(out, f->help, 0);
                fputc('\n', out);
            }
            fprintf(out, "# TYPE %s %s\n", f->name, metrics_kind_names[f->kind]);
            for (const metrics_series_t *s = atomic_load_explicit(&f->head, memory_order_acquire);
                 s != NULL; s = atomic_load_explicit(&s->next, memory_order_acquire))
                metrics_write_series(out, s);
        }
        pthread_mutex_unlock(&reg->lock);
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
