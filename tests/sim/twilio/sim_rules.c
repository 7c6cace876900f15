#include "sim_rules.h"

#include "formenc.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sim_rule_s {
    struct sim_rule_s *next;
    char to[32];
    double share;
    long count; /* -1: unlimited */
    sim_verdict_t verdict;
} sim_rule_t;

struct sim_rules_s {
    pthread_mutex_t lock;
    sim_rule_t *head, *tail;
    uint64_t rng;
};

sim_rules_t *sim_rules_new(unsigned seed)
{
    sim_rules_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    pthread_mutex_init(&r->lock, NULL);
    r->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
    return r;
}

void sim_rules_clear(sim_rules_t *rules)
{
    pthread_mutex_lock(&rules->lock);
    sim_rule_t *r = rules->head;
    rules->head = rules->tail = NULL;
    pthread_mutex_unlock(&rules->lock);
    while (r) {
        sim_rule_t *next = r->next;
        free(r);
        r = next;
    }
}

void sim_rules_destroy(sim_rules_t *rules)
{
    if (rules == NULL)
        return;
    sim_rules_clear(rules);
    pthread_mutex_destroy(&rules->lock);
    free(rules);
}

static int sim_rules_int(const char *name, const char *v, long lo, long hi, long *out, char *errstr,
                         size_t errstr_size)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi) {
        snprintf(errstr, errstr_size, "%s: must be an integer from %ld to %ld", name, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

int sim_rules_add(sim_rules_t *rules, const char *spec, size_t len, char *errstr,
                  size_t errstr_size)
{
    int result = -1;
    formenc_t *p = formenc_parse(spec, len, errstr, errstr_size);
    sim_rule_t *rule = calloc(1, sizeof(*rule));
    long n;

    if (rule == NULL)
        abort();
    if (p == NULL)
        goto out;
    rule->share = 1.0;
    rule->count = -1;
    rule->verdict.retry_after_s = -1;
    for (size_t i = 0; i < formenc_count(p); i++) {
        const char *k = formenc_name(p, i), *v = formenc_value(p, i);
        if (strcmp(k, "to") == 0) {
            snprintf(rule->to, sizeof(rule->to), "%s", v);
        } else if (strcmp(k, "share") == 0) {
            char *end;
            rule->share = strtod(v, &end);
            if (end == v || *end != '\0' || rule->share < 0 || rule->share > 1) {
                snprintf(errstr, errstr_size, "share: must be a number from 0 to 1");
                goto out;
            }
        } else if (strcmp(k, "count") == 0) {
            if (sim_rules_int(k, v, 1, 1000000000L, &rule->count, errstr, errstr_size) != 0)
                goto out;
        } else if (strcmp(k, "status") == 0) {
            if (sim_rules_int(k, v, 200, 599, &n, errstr, errstr_size) != 0)
                goto out;
            rule->verdict.status = (int)n;
        } else if (strcmp(k, "code") == 0) {
            if (sim_rules_int(k, v, 1, 99999, &n, errstr, errstr_size) != 0)
                goto out;
            rule->verdict.code = (int)n;
        } else if (strcmp(k, "retry_after") == 0) {
            if (sim_rules_int(k, v, 0, 86400, &n, errstr, errstr_size) != 0)
                goto out;
            rule->verdict.retry_after_s = (int)n;
        } else if (strcmp(k, "delay_ms") == 0) {
            if (sim_rules_int(k, v, 0, 600000, &n, errstr, errstr_size) != 0)
                goto out;
            rule->verdict.delay_ms = (int)n;
        } else if (strcmp(k, "drop") == 0) {
            rule->verdict.drop = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
        } else if (strcmp(k, "final") == 0) {
            if (strcmp(v, "undelivered") != 0 && strcmp(v, "failed") != 0 &&
                strcmp(v, "delivered") != 0) {
                snprintf(errstr, errstr_size, "final: delivered, undelivered or failed");
                goto out;
            }
            snprintf(rule->verdict.final_status, sizeof(rule->verdict.final_status), "%s", v);
        } else if (strcmp(k, "error_code") == 0) {
            if (sim_rules_int(k, v, 1, 99999, &n, errstr, errstr_size) != 0)
                goto out;
            rule->verdict.final_error_code = (int)n;
        } else {
            snprintf(errstr, errstr_size, "%s: unknown rule field", k);
            goto out;
        }
    }
    pthread_mutex_lock(&rules->lock);
    if (rules->tail)
        rules->tail->next = rule;
    else
        rules->head = rule;
    rules->tail = rule;
    pthread_mutex_unlock(&rules->lock);
    rule = NULL;
    result = 0;

out:
    free(rule);
    formenc_destroy(p);
    return result;
}

/* xorshift64*: a share needs no better randomness, and a seed makes runs repeatable. */
static double sim_rules_random(sim_rules_t *rules)
{
    uint64_t x = rules->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rules->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

void sim_rules_match(sim_rules_t *rules, const char *to, sim_verdict_t *out)
{
    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    pthread_mutex_lock(&rules->lock);
    for (sim_rule_t *r = rules->head; r; r = r->next) {
        if (r->count == 0 || (r->to[0] && strcmp(r->to, to ? to : "") != 0))
            continue;
        if (r->share < 1.0 && sim_rules_random(rules) >= r->share)
            continue;
        if (r->count > 0)
            r->count--;
        *out = r->verdict;
        break;
    }
    pthread_mutex_unlock(&rules->lock);
}
