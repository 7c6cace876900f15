/*
 * Provider configuration: an organisation's row of email_provider_config or
 * sms_provider_config, with its *_encrypted columns decrypted (secret.h, bound to the org
 * and "<table>.<column>"), cached for a short time.
 *
 * Outcomes, and the contract's error code for each:
 *   PROVCFG_OK               the config, to be released by the caller
 *   PROVCFG_ERR_UNKNOWN_ORG  no row for the org (and provider type)        UNKNOWN_ORG
 *   PROVCFG_ERR_DISABLED     the row has enabled = false                   PROVIDER_DISABLED
 *   PROVCFG_ERR_CONFIG       a secret does not decrypt; errstr names the   CONFIG_ERROR
 *                            column, never a value
 *   PROVCFG_ERR_DB           the database did not answer: retry later      (retryable)
 *
 * Cache: results are kept for ttl_ms per (org, kind), so a change to a row is seen within
 * that time; UNKNOWN_ORG is kept for at most PROVCFG_NEGATIVE_TTL_MS, so a flood of
 * requests for an org that does not exist costs one query every few seconds while a newly
 * added org is still picked up quickly. DB errors are never cached. The cache holds at most
 * PROVCFG_CACHE_MAX entries; beyond that, results are returned without being kept.
 *
 * Threads: every function may be called from any thread. The loader serialises its use of
 * the db handle, which must not be used by anyone else meanwhile (give it its own).
 * Lookups that hit the cache never wait for a query in progress.
 *
 * Ownership: a returned config is reference-counted: it stays valid and unchanged until
 * the caller releases it, even if the cache refreshes or drops the row, or the loader is
 * destroyed. Releasing the last reference wipes the decrypted secrets before freeing.
 * Every decrypted secret is registered with redact_register(), so it is scrubbed from
 * any log line that might quote it.
 */
#ifndef NOTIFY_PROVCFG_H
#define NOTIFY_PROVCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "errcode.h"
#include "secret.h"

#define PROVCFG_NEGATIVE_TTL_MS 5000
#define PROVCFG_CACHE_MAX       4096

typedef struct provcfg_s provcfg_t;

typedef enum {
    PROVCFG_OK = 0,
    PROVCFG_ERR_UNKNOWN_ORG,
    PROVCFG_ERR_DISABLED,
    PROVCFG_ERR_CONFIG,
    PROVCFG_ERR_DB,
} provcfg_err_t;

typedef enum {
    PROVCFG_SMS_TWILIO,  /* provider_type 'TWILIO' */
    PROVCFG_SMS_AWS_SNS, /* provider_type 'AWS_SNS' */
} provcfg_sms_type_t;

/* A list of strings from a text[] column. */
typedef struct provcfg_strlist_s {
    char **items;
    size_t count;
} provcfg_strlist_t;

/* email_provider_config. Text fields are NULL where the column is NULL. */
typedef struct provcfg_email_s {
    const char *org_id;
    char *smtp_host;
    int smtp_port;
    char *smtp_username;
    char *smtp_password; /* decrypted smtp_password_encrypted */
    char *from_email;
    char *from_name;
    char *reply_to_email;
    bool use_tls;         /* STARTTLS */
    bool use_ssl;         /* TLS from the first byte */
    char *webhook_secret; /* decrypted webhook_secret_encrypted */
    int pool_size;
    char *ca_file;
} provcfg_email_t;

/* sms_provider_config; the columns of the other provider type are NULL as a rule. */
typedef struct provcfg_sms_s {
    const char *org_id;
    provcfg_sms_type_t provider_type;
    char *twilio_account_sid;
    char *twilio_auth_token; /* decrypted twilio_auth_token_encrypted */
    char *twilio_from_number;
    char *aws_access_key;    /* decrypted aws_access_key_encrypted */
    char *aws_secret_key;    /* decrypted aws_secret_key_encrypted */
    char *aws_session_token; /* decrypted aws_session_token_encrypted, usually NULL */
    char *aws_region;
    char *aws_sender_id;
    char *webhook_secret; /* decrypted webhook_secret_encrypted */
    provcfg_strlist_t sns_topic_arn_allowlist;
} provcfg_sms_t;

/*
 * A loader reading through `db` and decrypting with `ring`, both borrowed: they must
 * outlive the loader. Prepares its statements on `db`, so a schema without the tables is
 * reported here (NULL with errstr); a database that is merely down is not an error yet.
 */
provcfg_t *provcfg_new(db_t *db, const secret_ring_t *ring, int64_t ttl_ms, char *errstr,
                       size_t errstr_size);
/* Frees the loader and drops the cache's references; configs still held stay valid. */
void provcfg_destroy(provcfg_t *pc);

/*
 * The email config of `org_id`. On PROVCFG_OK *out is set and must be released with
 * provcfg_email_release(); otherwise *out is NULL and errstr says why.
 */
provcfg_err_t provcfg_get_email(provcfg_t *pc, const char *org_id, const provcfg_email_t **out,
                                char *errstr, size_t errstr_size);
void provcfg_email_release(const provcfg_email_t *cfg);

/* The SMS config of `org_id` for one provider type; as provcfg_get_email(). */
provcfg_err_t provcfg_get_sms(provcfg_t *pc, const char *org_id, provcfg_sms_type_t type,
                              const provcfg_sms_t **out, char *errstr, size_t errstr_size);
void provcfg_sms_release(const provcfg_sms_t *cfg);

/* Drops every cached result for `org_id`, e.g. after a provider refused its credentials,
 * so the next lookup reads the row again. */
void provcfg_invalidate(provcfg_t *pc, const char *org_id);

/* The contract's error code of an outcome (ERRCODE_UNKNOWN_ORG, ERRCODE_PROVIDER_DISABLED,
 * ERRCODE_CONFIG_ERROR); ERRCODE_OK for PROVCFG_OK and PROVCFG_ERR_DB, which have none
 * (a database error is retried, not reported as a code of its own). */
errcode_t provcfg_errcode(provcfg_err_t err);

/* The provider_type text of a type ("TWILIO", "AWS_SNS"), and the reverse (0 or -1). */
const char *provcfg_sms_type_name(provcfg_sms_type_t type);
int provcfg_sms_type_parse(const char *name, provcfg_sms_type_t *type);

#endif
