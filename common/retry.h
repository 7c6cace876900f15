/*
 * The retry schedule (contract "Retry schedule"): attempt 1 at once, then one retry tier
 * per further attempt, delays 60 s, 300 s, 900 s, 3600 s, so five attempts in all. A tier
 * is a topic <base>.retry.<n>s whose copies all wait the same delay, which is why due
 * times never decrease along one of its partitions. The delays can be shortened by
 * configuration (tests); the topic names keep the nominal delays.
 */
#ifndef NOTIFY_RETRY_H
#define NOTIFY_RETRY_H

#include <stddef.h>
#include <stdint.h>

#define RETRY_TIERS        4
#define RETRY_MAX_ATTEMPTS (RETRY_TIERS + 1)

/* The pipeline headers of retry-tier and DLQ copies. */
#define RETRY_H_ATTEMPT         "x-attempt"
#define RETRY_H_NOT_BEFORE      "x-not-before"
#define RETRY_H_ORIGINAL_TOPIC  "x-original-topic"
#define RETRY_H_ORIGINAL_PART   "x-original-partition"
#define RETRY_H_ORIGINAL_OFFSET "x-original-offset"
#define RETRY_H_LAST_ERROR      "x-last-error-code"

typedef struct retry_policy_s {
    int64_t delays_ms[RETRY_TIERS];
} retry_policy_t;

/* Parses "60000,300000,900000,3600000": four strictly increasing positive delays in ms.
 * Returns 0, or -1 with errstr. */
int retry_policy_parse(const char *text, retry_policy_t *policy, char *errstr, size_t errstr_size);

/* The suffix of tier i's topic, ".retry.60s" ... ".retry.3600s". */
const char *retry_tier_suffix(int tier);

/*
 * Where the copy for the attempt after `attempt` (which failed retryably) goes: a tier
 * index, or -1 when `attempt` was the last one and the failure is final. With a wait
 * (`wait_until_ms` > now_ms: provider throttling or an exhausted quota) the copy goes to the
 * smallest tier whose delay reaches the wait's end, or the largest when none does;
 * otherwise to the tier of the next attempt.
 */
int retry_choose_tier(const retry_policy_t *policy, int attempt, int64_t now_ms,
                      int64_t wait_until_ms);

/*
 * Reads an attempt number or a millisecond time from a header value (decimal digits only,
 * no sign, at most 18 digits). Returns 0, or -1 when the value is not of that form.
 */
int retry_parse_number(const void *value, size_t len, int64_t *out);

#endif
