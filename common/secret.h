/*
 * Secrets at rest: AES-256-GCM in the text form v1:<key-id>:<base64(nonce||ciphertext||tag)>
 * with a 12-byte random nonce and a 16-byte tag. A key ring holds several keys (rotation)
 * and names one active key for encryption; decryption picks the key by its id.
 *
 * Each ciphertext is bound to where it is stored through GCM's associated data, built from
 * the organisation id and the "<table>.<column>" name (see secret_aad() in secret.c for
 * the exact bytes), so a value copied to another organisation's row or another column
 * does not decrypt.
 *
 * The stored form, exactly (another implementation can read and write it from this alone):
 *
 *   value   = "v1:" key-id ":" base64( nonce || ciphertext || tag )
 *   key-id  = 1-32 characters of [A-Za-z0-9_-], the id of the key in the ring
 *   nonce   = 12 random bytes, new for every value
 *   tag     = the 16-byte GCM authentication tag
 *   base64  = RFC 4648 standard alphabet with '=' padding, canonical (decoding is strict)
 *   AAD     = "notify-secret/v1" 0x00 key-id 0x00 org-id 0x00 column
 *
 * where org-id is the org_id of the row as UTF-8 bytes and column is "<table>.<column>",
 * e.g. "sms_provider_config.twilio_auth_token_encrypted". No part contains a NUL, so the
 * AAD is unambiguous; binding the key id keeps a value from being re-labelled with another
 * id of the ring. Keys are 32 bytes, written in a ring as standard padded base64.
 *
 * A ring is read-only once built: one ring may serve every thread. Keys are wiped when
 * the ring is destroyed. Callers that keep decrypted secrets should register them with
 * redact_register() so that they never reach a log.
 */
#ifndef NOTIFY_SECRET_H
#define NOTIFY_SECRET_H

#include <stddef.h>

#include "config.h"

typedef struct secret_ring_s secret_ring_t;

typedef enum {
    SECRET_OK = 0,
    SECRET_ERR_FORMAT,      /* not v1:<id>:<base64>, or bad base64, or too short */
    SECRET_ERR_UNKNOWN_KEY, /* the key id is not in the ring */
    SECRET_ERR_AUTH,        /* wrong key, tampered value, or moved to another row/column */
    SECRET_ERR_NO_ACTIVE,   /* encryption without an active key */
    SECRET_ERR_INTERNAL,    /* OpenSSL failure */
} secret_err_t;

/*
 * Parses a ring from its text form "id:base64key,id:base64key" (ids are 1-32 characters
 * of [A-Za-z0-9_-] and unique; keys decode to exactly 32 bytes; spaces, tabs and line
 * breaks around an entry are ignored; at most 64 keys) and the active id (may be NULL or
 * empty: then the ring can only decrypt; otherwise it must be in the ring). Returns NULL
 * with errstr on a malformed or empty ring; errstr never contains key material.
 */
secret_ring_t *secret_ring_new(const char *keys, const char *active_id, char *errstr,
                               size_t errstr_size);

/*
 * The ring from SECRET_KEYS, or when that is empty from the file named by SECRET_KEYS_FILE
 * (same form, at most 64 KiB, surrounding whitespace and newlines ignored), and
 * SECRET_ACTIVE_KEY. Neither set is an error. errstr names the key that is wrong.
 */
secret_ring_t *secret_ring_from_cfg(const cfg_t *cfg, char *errstr, size_t errstr_size);

void secret_ring_destroy(secret_ring_t *ring);

/*
 * Encrypts `plaintext` (length `len`) for org `org_id` and column `column` (e.g.
 * "sms_provider_config.twilio_auth_token_encrypted") with the active key. The result is
 * a malloc'd NUL-terminated string in *out. Returns SECRET_OK or an error with errstr.
 */
secret_err_t secret_encrypt(const secret_ring_t *ring, const char *org_id, const char *column,
                            const void *plaintext, size_t len, char **out, char *errstr,
                            size_t errstr_size);

/*
 * Decrypts a value written by secret_encrypt() for the same org and column. On success
 * *out is a malloc'd buffer of *out_len bytes plus a terminating NUL (so text secrets can
 * be used as strings); the caller frees it (secret_free() wipes it first). errstr never
 * holds the ciphertext or the plaintext.
 */
secret_err_t secret_decrypt(const secret_ring_t *ring, const char *org_id, const char *column,
                            const char *value, char **out, size_t *out_len, char *errstr,
                            size_t errstr_size);

/* Wipes and frees a buffer returned by secret_decrypt(). NULL is allowed. */
void secret_free(char *plaintext, size_t len);

const char *secret_err_name(secret_err_t err);

#endif
