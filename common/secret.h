/*
 * Secrets at rest: AES-256-GCM in the text form v1:<key-id>:<base64(nonce||ciphertext||tag)>
 * with a 12-byte random nonce and a 16-byte tag. A key ring holds several keys (rotation)
 * and names one active key for encryption; decryption picks the key by its id.
 *
 * Each ciphertext is bound to where it is stored through GCM's associated data, built from
 * the organisation id and the "<table>.<column>" name (see secret_aad() in secret.c for
 * the exact bytes), so a value copied to another organisation's row or another column
 * does not decrypt.
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
 * of [A-Za-z0-9_-]; keys decode to exactly 32 bytes) and the active id (may be NULL or
 * empty: then the ring can only decrypt). Returns NULL with errstr on a malformed ring;
 * errstr never contains key material.
 */
secret_ring_t *secret_ring_new(const char *keys, const char *active_id, char *errstr,
                               size_t errstr_size);

/* The ring from SECRET_KEYS (or the file named by SECRET_KEYS_FILE) and SECRET_ACTIVE_KEY. */
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
