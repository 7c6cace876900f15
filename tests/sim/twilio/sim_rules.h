/*
 * The simulator's fault rules: what to do to a request instead of (or before) accepting
 * it. A rule is written as a form (the same text on the command line and in the body of
 * POST /sim/rules):
 *
 *   to=+15005550100   only requests to this number (default: any)
 *   share=0.25        the share of matching requests it applies to (default 1)
 *   count=3           how many times it applies, then it is spent (default: unlimited)
 *   status=429        answer with this HTTP status ...
 *   code=20429        ... and this Twilio error code (default: Twilio's for 401, 404,
 *                     429, 500 and 503; none for other statuses, as a proxy answers)
 *   retry_after=2     ... with a Retry-After header (seconds)
 *   delay_ms=3000     wait this long before answering (alone: a slow success)
 *   drop=1            close the connection without an answer
 *   final=undelivered the status callbacks end with this status (undelivered or failed)
 *   error_code=30003  ... and this ErrorCode
 *
 * Rules are tried in the order added; the first that matches decides.
 */
#ifndef SIM_RULES_H
#define SIM_RULES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sim_rules_s sim_rules_t;

typedef struct sim_verdict_s {
    int status; /* 0: accept (after delay_ms) */
    int code;
    int retry_after_s; /* -1: no header */
    int delay_ms;
    bool drop;
    char final_status[16]; /* "" : delivered */
    int final_error_code;
} sim_verdict_t;

sim_rules_t *sim_rules_new(unsigned seed);
void sim_rules_destroy(sim_rules_t *rules);

/* Adds a rule from its form text. Returns 0, or -1 with errstr. Thread-safe. */
int sim_rules_add(sim_rules_t *rules, const char *spec, size_t len, char *errstr,
                  size_t errstr_size);
void sim_rules_clear(sim_rules_t *rules);

/* The verdict for a request to `to` (zeroed, retry_after_s -1, when no rule matches). */
void sim_rules_match(sim_rules_t *rules, const char *to, sim_verdict_t *out);

#endif
