#include "retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const retry_suffixes[RETRY_TIERS] = {".retry.60s", ".retry.300s", ".retry.900s",
                                                        ".retry.3600s"};

int retry_policy_parse(const char *text, retry_policy_t *policy, char *errstr, size_t errstr_size)
{
    const char *p = text;
    for (int i = 0; i < RETRY_TIERS; i++) {
        int64_t v;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (retry_parse_number(p, len, &v) != 0 || v <= 0) {
            snprintf(errstr, errstr_size, "delay %d is not a positive number of milliseconds",
                     i + 1);
            return -1;
        }
        if (i > 0 && v <= policy->delays_ms[i - 1]) {
            snprintf(errstr, errstr_size, "delays must increase (delay %d)", i + 1);
            return -1;
        }
        policy->delays_ms[i] = v;
        if ((end == NULL) != (i == RETRY_TIERS - 1)) {
            snprintf(errstr, errstr_size, "exactly %d comma-separated delays are needed",
                     RETRY_TIERS);
            return -1;
        }
        p = end ? end + 1 : p + len;
    }
    return 0;
}

const char *retry_tier_suffix(int tier)
{
    return (tier >= 0 && tier < RETRY_TIERS) ? retry_suffixes[tier] : NULL;
}

int retry_choose_tier(const retry_policy_t *policy, int attempt, int64_t now_ms,
                      int64_t wait_until_ms)
{
    if (attempt < 1 || attempt >= RETRY_MAX_ATTEMPTS)
        return -1;
    if (wait_until_ms > now_ms) {
        int64_t wait = wait_until_ms - now_ms;
        for (int i = 0; i < RETRY_TIERS; i++)
            if (policy->delays_ms[i] >= wait)
                return i;
        return RETRY_TIERS - 1;
    }
    return attempt - 1;
}

int retry_parse_number(const void *value, size_t len, int64_t *out)
{
    const char *s = value;
    int64_t v = 0;
    if (s == NULL || len == 0 || len > 18)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}
