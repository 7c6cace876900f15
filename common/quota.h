/*
 * Quota: the seed's per-organisation message quota (sms_rate_limit, email_rate_limit),
 * taken from the database in leases of many tokens instead of one UPDATE per message.
 *
 * Semantics kept from the seed: a message needs a token, taken before it is sent; at most
 * quota_limit tokens are taken per window of rate_limit_window_seconds; once reset_at has
 * passed, the next lease starts a new window (messages_sent_count := 0, reset_at := now() +
 * window); a provider's rate-limit answer sets throttle_until (quota_throttle), and while
 * it lies ahead every request fails at once with RATE_LIMIT and consumes nothing. An org
 * without a row gets one with the defaults (1000 per 86400 s) on first use.
 *
 * Leases: one statement grants a whole lease and counts it in the row at once, so the row
 * is the truth and its CHECK (messages_sent_count <= quota_limit) holds: tokens handed out
 * locally never exceed what the row counts. Unused tokens go back to the row (count minus
 * unused) on quota_release_all(), on quota_release_idle() for leases unused for idle_ms,
 * and on quota_throttle(), but only while the row is still in the window the lease came
 * from: after a reset they belonged to a window that no longer exists and are dropped.
 * A lease also ends at its window's reset_at (converted to the local clock with the
 * offset measured at each answer): its tokens are void and the next take leases anew.
 *
 * Lease size: an org's first lease asks for lease_min tokens; a lease used up within
 * grow_ms doubles the next (up to lease_max); one that lasted more than 4 x grow_ms starts
 * over at lease_min. What the caller needs right now is always granted while the window
 * has room; beyond it a lease takes at most 1/remaining_divisor of what remains, so that
 * near the end of a window the last tokens are not stranded in one process's lease while
 * another process is refused.
 *
 * Clocks: window and throttle decisions are made in SQL with the database's now(), so
 * that every machine agrees; wait_until_ms values are the database's reset_at or
 * throttle_until in epoch milliseconds (rounded up). The now_ms passed in (epoch
 * milliseconds, timefmt_now_ms()) is used only for local decisions: lease expiry, idle
 * time, growth, and how long a refusal is reused (recheck_ms).
 *
 * Refusals: a THROTTLED or EXHAUSTED answer from the database is reused locally for up to
 * recheck_ms (never past its wait_until), so a flood of messages for a blocked org costs
 * one pair of queries per recheck_ms. A throttle set by another process is seen here at
 * the next lease, or when this process's own send is refused and it calls quota_throttle.
 * Near the end of a window, tokens leased by other processes are unavailable here until
 * they are used or handed back (idle_ms after their last take, by a process that calls
 * quota_release_idle() regularly): an EXHAUSTED may come that much early.
 *
 * Lost connections: the grant and the hand-back are not idempotent, so they are never
 * retried by db.h (DB_STMT_NO_RETRY). A grant whose answer was lost may have counted its
 * tokens in the row: they are lost for the window (fewer messages, never more). A
 * hand-back whose answer was lost is treated as done: if it did not run, its tokens are
 * lost the same way; running it twice could hand back more than was taken.
 *
 * Threads: a quota_t and its db_t are used by one thread (the pipeline's database stage);
 * nothing here locks. Several processes and several quota_t (each with its own db_t) may
 * share the rows: the database serialises the leases.
 */
#ifndef NOTIFY_QUOTA_H
#define NOTIFY_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "errcode.h"
#include "metrics.h"

typedef struct quota_s quota_t;

typedef enum {
    QUOTA_KIND_EMAIL,  /* email_rate_limit */
    QUOTA_KIND_TWILIO, /* sms_rate_limit, provider_type 'TWILIO' */
    QUOTA_KIND_SNS,    /* sms_rate_limit, provider_type 'AWS_SNS' */
} quota_kind_t;

typedef enum {
    QUOTA_OK = 0,
    QUOTA_EXHAUSTED, /* the window's quota is used up: QUOTA_EXCEEDED until reset_at */
    QUOTA_THROTTLED, /* throttle_until lies ahead: RATE_LIMIT */
    QUOTA_ERR_DB,    /* the database did not answer or refused: retry later */
    QUOTA_ERR_USAGE, /* a bug in the caller: no org_id, n out of range */
} quota_result_t;

/* Throttle used when the provider gave no Retry-After (the seed's 5 minutes). */
#define QUOTA_DEFAULT_THROTTLE_MS (5 * 60 * 1000)

typedef struct quota_options_s {
    int lease_min;         /* first lease of an org, tokens (default 8) */
    int lease_max;         /* largest lease (default 1024) */
    int remaining_divisor; /* beyond the need, at most remaining / this (default 4; 1 = all) */
    int64_t grow_ms;       /* a lease used up this fast doubles the next (default 1000) */
    int64_t idle_ms;       /* quota_release_idle() hands back leases unused this long (2000) */
    int64_t recheck_ms;    /* a refusal is reused locally this long (default 1000) */
} quota_options_t;

/* Counters of one quota_t, for tests and benchmarks. */
typedef struct quota_stats_s {
    uint64_t round_trips;     /* statements sent to the database */
    uint64_t leases;          /* grants that returned tokens */
    uint64_t tokens_leased;   /* tokens counted in the rows by those grants */
    uint64_t tokens_returned; /* unused tokens subtracted from the rows again */
    uint64_t tokens_dropped;  /* unused tokens void: their window ended, or a hand-back failed */
    int64_t tokens_held;      /* unused tokens held here now */
} quota_stats_t;

void quota_options_default(quota_options_t *opts);

/*
 * Creates a quota for one kind. `db` is borrowed and must outlive the quota; it is used
 * only from the thread that calls quota_*(). `opts` may be NULL (defaults); it is copied.
 * `metrics` may be NULL; otherwise the quota registers, labelled channel="email",
 * "twilio" or "sns":
 *   notify_quota_tokens_leased_total{channel}          tokens granted by the database
 *   notify_quota_tokens_returned_total{channel}        unused tokens handed back
 *   notify_quota_rate_limit_hits_total{channel,reason} refused takes, reason "throttled"
 *                                                      or "exhausted"
 *   notify_quota_tokens_held{channel}                  unused tokens held locally
 * Metric names are unique in a registry, so one registry serves one quota_t.
 * The statements are prepared now; a database that is down is retried at first use.
 * Returns NULL with errstr when an option is out of range or a statement or metric
 * cannot be created.
 */
quota_t *quota_new(db_t *db, quota_kind_t kind, const quota_options_t *opts,
                   metrics_registry_t *metrics, char *errstr, size_t errstr_size);

/* Hands back what is unused (as quota_release_all(), errors logged) and frees the quota. */
void quota_destroy(quota_t *q);

/*
 * Takes one token for a message of `org_id` about to be sent. QUOTA_OK: send it.
 * QUOTA_EXHAUSTED / QUOTA_THROTTLED: do not send; *wait_until_ms (may be NULL) is the
 * database's reset_at or throttle_until in epoch ms, when asking again may succeed.
 * QUOTA_ERR_DB: errstr says why; nothing was taken.
 */
quota_result_t quota_take(quota_t *q, const char *org_id, int64_t now_ms, int64_t *wait_until_ms,
                          char *errstr, size_t errstr_size);

/*
 * Takes up to `n` tokens (1 <= n <= 1000000) at once, for a batch of one org. *granted is
 * always set, whatever the result: those tokens are the caller's to use or give back.
 * QUOTA_OK means *granted == n; otherwise the result says why there are fewer (the window
 * ran out, a throttle, a database error) and *wait_until_ms is set as for quota_take().
 */
quota_result_t quota_take_n(quota_t *q, const char *org_id, int n, int64_t now_ms, int *granted,
                            int64_t *wait_until_ms, char *errstr, size_t errstr_size);

/*
 * Returns `n` tokens that were taken but not used (the ledger said DUPLICATE, the send was
 * never attempted) to the org's local lease, to be used by the next take or handed back.
 * Tokens are accepted only up to the number taken in the lease's current window by this
 * quota, so tokens of a window that has ended are not credited to the next one; and only
 * while the org is remembered (quota_release_idle() forgets orgs unseen for a while), so
 * give back right after the take. Tokens not accepted stay counted: fewer sends, never more.
 */
void quota_give_back(quota_t *q, const char *org_id, int n);

/*
 * The provider said slow down: sets the row's throttle_until to the later of its value
 * and the database's now() + retry_after_ms (QUOTA_DEFAULT_THROTTLE_MS when <= 0), and
 * hands back the unused tokens of the org's lease. *until_ms (may be NULL) is the
 * resulting throttle_until in epoch ms. Returns 0, or -1 with errstr (the local lease is
 * dropped either way).
 */
int quota_throttle(quota_t *q, const char *org_id, int64_t retry_after_ms, int64_t now_ms,
                   int64_t *until_ms, char *errstr, size_t errstr_size);

/*
 * Hands back the unused tokens of every lease not taken from for idle_ms before now_ms,
 * and forgets orgs not seen for a while. Call it about once a second from the thread
 * that takes. Returns 0, or -1 with errstr when a hand-back failed (its tokens are
 * dropped; the other leases are still handed back). quota_stats() counts the tokens.
 */
int quota_release_idle(quota_t *q, int64_t now_ms, char *errstr, size_t errstr_size);

/* Hands back the unused tokens of every lease (shutdown). Returns as quota_release_idle(). */
int quota_release_all(quota_t *q, char *errstr, size_t errstr_size);

void quota_stats(const quota_t *q, quota_stats_t *out);

/* RATE_LIMIT for QUOTA_THROTTLED, QUOTA_EXCEEDED for QUOTA_EXHAUSTED, else ERRCODE_OK. */
errcode_t quota_errcode(quota_result_t result);
const char *quota_result_name(quota_result_t result);
/* "email", "twilio", "sns": the channel label of the metrics. */
const char *quota_kind_name(quota_kind_t kind);

#endif
