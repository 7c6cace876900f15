#include "secret.h"

#include "base64.h"
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The stored form, byte for byte:
 *
 *   value   = "v1:" key-id ":" base64( nonce || ciphertext || tag )
 *   key-id  = 1-32 characters of [A-Za-z0-9_-]
 *   nonce   = 12 random bytes (a fresh one for every value)
 *   tag     = the 16-byte GCM tag
 *   base64  = standard alphabet with padding (RFC 4648 section 4), canonical
 *
 * The associated data of AES-256-GCM (see secret_aad()) is
 *
 *   "notify-secret/v1" 0x00 key-id 0x00 org-id 0x00 column
 *
 * where column is "<table>.<column>", e.g. "sms_provider_config.twilio_auth_token_encrypted".
 * None of the parts can contain a NUL (they are C strings), so the encoding is unambiguous:
 * two different (key-id, org-id, column) triples never give the same bytes. Binding the key
 * id means a value cannot be re-labelled with another id of the ring; binding the org and
 * column means a value copied to another organisation's row or another column fails to
 * authenticate instead of handing out someone else's credential.
 */
#define SECRET_PREFIX      "v1:"
#define SECRET_AAD_LABEL   "notify-secret/v1"
#define SECRET_KEY_SIZE    32
#define SECRET_NONCE_SIZE  12
#define SECRET_TAG_SIZE    16
#define SECRET_ID_MAX      32
#define SECRET_RING_MAX    64          /* keys in one ring: rotation needs a handful */
#define SECRET_PLAIN_MAX   (1 << 20)   /* credentials are small; this bounds the work */
#define SECRET_FILE_MAX    (64 * 1024) /* SECRET_KEYS_FILE */
#define SECRET_ERRSTR_SIZE 256

typedef struct secret_key_s {
    char id[SECRET_ID_MAX + 1];
    unsigned char key[SECRET_KEY_SIZE];
} secret_key_t;

/* Read-only once built, so one ring serves every thread without locking. */
struct secret_ring_s {
    secret_key_t keys[SECRET_RING_MAX];
    size_t count;
    const secret_key_t *active; /* NULL: the ring can only decrypt */
};

static const char *const secret_err_names[] = {
    [SECRET_OK] = "SECRET_OK",
    [SECRET_ERR_FORMAT] = "SECRET_ERR_FORMAT",
    [SECRET_ERR_UNKNOWN_KEY] = "SECRET_ERR_UNKNOWN_KEY",
    [SECRET_ERR_AUTH] = "SECRET_ERR_AUTH",
    [SECRET_ERR_NO_ACTIVE] = "SECRET_ERR_NO_ACTIVE",
    [SECRET_ERR_INTERNAL] = "SECRET_ERR_INTERNAL",
};

const char *secret_err_name(secret_err_t err)
{
    if ((int)err < 0 || (size_t)err >= sizeof(secret_err_names) / sizeof(secret_err_names[0]))
        return "SECRET_ERR_UNKNOWN";
    return secret_err_names[err];
}

static void secret_errf(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void secret_errf(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr == NULL || errstr_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

/* Allocation failure aborts (see the architecture notes): a supervised process restarts. */
static void *secret_xmalloc(size_t size)
{
    void *p = malloc(size == 0 ? 1 : size);
    if (p == NULL) {
        fputs("secret: out of memory, aborting\n", stderr);
        abort();
    }
    return p;
}

static bool secret_id_valid(const char *id, size_t len)
{
    if (len == 0 || len > SECRET_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static const secret_key_t *secret_ring_find(const secret_ring_t *ring, const char *id, size_t len)
{
    for (size_t i = 0; i < ring->count; i++) {
        if (strlen(ring->keys[i].id) == len && memcmp(ring->keys[i].id, id, len) == 0)
            return &ring->keys[i];
    }
    return NULL;
}

/*
 * Names the active key. Only ids that pass the id rule are echoed in messages: an operator
 * who pastes a key where an id belongs must not find it in a log.
 */
static int secret_ring_set_active(secret_ring_t *ring, const char *active_id, char *errstr,
                                  size_t errstr_size)
{
    ring->active = NULL;
    if (active_id == NULL || active_id[0] == '\0')
        return 0;
    size_t len = strlen(active_id);
    if (!secret_id_valid(active_id, len)) {
        secret_errf(errstr, errstr_size,
                    "active key id is not a valid id (1-%d characters of A-Z a-z 0-9 _ -)",
                    SECRET_ID_MAX);
        return -1;
    }
    ring->active = secret_ring_find(ring, active_id, len);
    if (ring->active == NULL) {
        secret_errf(errstr, errstr_size, "active key id '%s' is not in the key ring", active_id);
        return -1;
    }
    return 0;
}

static bool secret_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Adds one "id:base64key" entry (already trimmed) to the ring. */
static int secret_ring_add(secret_ring_t *ring, const char *entry, size_t len, size_t number,
                           char *errstr, size_t errstr_size)
{
    int result = -1;
    unsigned char key[SECRET_KEY_SIZE + 16];
    size_t key_len = 0;

    const char *colon = memchr(entry, ':', len);
    if (colon == NULL) {
        secret_errf(errstr, errstr_size, "entry %zu of the key ring is not id:base64key", number);
        goto done;
    }
    size_t id_len = (size_t)(colon - entry);
    if (!secret_id_valid(entry, id_len)) {
        secret_errf(errstr, errstr_size,
                    "entry %zu of the key ring: the id must be 1-%d characters of "
                    "A-Z a-z 0-9 _ -",
                    number, SECRET_ID_MAX);
        goto done;
    }
    if (secret_ring_find(ring, entry, id_len) != NULL) {
        secret_errf(errstr, errstr_size, "key id '%.*s' appears twice in the key ring", (int)id_len,
                    entry);
        goto done;
    }
    if (ring->count == SECRET_RING_MAX) {
        secret_errf(errstr, errstr_size, "the key ring has more than %d keys", SECRET_RING_MAX);
        goto done;
    }

    const char *text = colon + 1;
    size_t text_len = len - id_len - 1;
    int rc = base64_decode(text, text_len, key, sizeof(key), &key_len);
    if (rc == BASE64_ERR_SPACE || (rc == 0 && key_len != SECRET_KEY_SIZE)) {
        secret_errf(errstr, errstr_size,
                    "key '%.*s' does not decode to %d bytes (AES-256 needs exactly %d)",
                    (int)id_len, entry, SECRET_KEY_SIZE, SECRET_KEY_SIZE);
        goto done;
    }
    if (rc != 0) {
        secret_errf(errstr, errstr_size,
                    "key '%.*s' is not valid base64 (standard alphabet, with padding)", (int)id_len,
                    entry);
        goto done;
    }

    secret_key_t *k = &ring->keys[ring->count++];
    memcpy(k->id, entry, id_len);
    k->id[id_len] = '\0';
    memcpy(k->key, key, SECRET_KEY_SIZE);
    result = 0;

done:
    OPENSSL_cleanse(key, sizeof(key));
    return result;
}

/*
 * Entries are separated by commas; spaces, tabs and line breaks around an entry are
 * ignored, so a file may hold the ring over several lines and end with a newline.
 */
static secret_ring_t *secret_ring_parse(const char *keys, char *errstr, size_t errstr_size)
{
    secret_ring_t *ring = secret_xmalloc(sizeof(*ring));
    memset(ring, 0, sizeof(*ring));

    const char *p = keys == NULL ? "" : keys;
    for (size_t number = 1;; number++) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && secret_is_space(*s))
            s++;
        while (e > s && secret_is_space(e[-1]))
            e--;
        if (s == e) {
            if (number == 1 && *end == '\0')
                secret_errf(errstr, errstr_size, "the key ring is empty");
            else
                secret_errf(errstr, errstr_size, "entry %zu of the key ring is empty", number);
            goto fail;
        }
        if (secret_ring_add(ring, s, (size_t)(e - s), number, errstr, errstr_size) != 0)
            goto fail;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    return ring;

fail:
    secret_ring_destroy(ring);
    return NULL;
}

secret_ring_t *secret_ring_new(const char *keys, const char *active_id, char *errstr,
                               size_t errstr_size)
{
    secret_ring_t *ring = secret_ring_parse(keys, errstr, errstr_size);
    if (ring != NULL && secret_ring_set_active(ring, active_id, errstr, errstr_size) != 0) {
        secret_ring_destroy(ring);
        ring = NULL;
    }
    return ring;
}

/*
 * Reads the whole key file into a NUL-terminated buffer (read(2) rather than stdio, so no
 * copy of the keys stays behind in a FILE buffer). The caller wipes and frees it.
 */
static char *secret_read_file(const char *path, char *errstr, size_t errstr_size)
{
    char *buf = secret_xmalloc(SECRET_FILE_MAX + 2);
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        secret_errf(errstr, errstr_size, "cannot open: %s", strerror(errno));
        goto fail;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            secret_errf(errstr, errstr_size, "cannot read: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SECRET_FILE_MAX) {
            secret_errf(errstr, errstr_size, "larger than %d bytes", SECRET_FILE_MAX);
            goto fail;
        }
    }
    close(fd);
    buf[len] = '\0';
    if (memchr(buf, '\0', len) != NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
        secret_errf(errstr, errstr_size, "contains a NUL byte");
        return NULL;
    }
    return buf;

fail:
    if (fd >= 0)
        close(fd);
    OPENSSL_cleanse(buf, SECRET_FILE_MAX + 2);
    free(buf);
    return NULL;
}

secret_ring_t *secret_ring_from_cfg(const cfg_t *cfg, char *errstr, size_t errstr_size)
{
    secret_ring_t *ring = NULL;
    char *file_text = NULL;
    char inner[SECRET_ERRSTR_SIZE] = "";
    const char *keys = cfg_str(cfg, CFG_SECRET_KEYS);
    const char *file = cfg_str(cfg, CFG_SECRET_KEYS_FILE);
    const char *active = cfg_str(cfg, CFG_SECRET_ACTIVE_KEY);

    if (keys != NULL && keys[0] != '\0') {
        ring = secret_ring_parse(keys, inner, sizeof(inner));
        if (ring == NULL) {
            secret_errf(errstr, errstr_size, "SECRET_KEYS: %s", inner);
            goto done;
        }
    } else if (file != NULL && file[0] != '\0') {
        file_text = secret_read_file(file, inner, sizeof(inner));
        if (file_text != NULL)
            ring = secret_ring_parse(file_text, inner, sizeof(inner));
        if (ring == NULL) {
            secret_errf(errstr, errstr_size, "SECRET_KEYS_FILE %s: %s", file, inner);
            goto done;
        }
    } else {
        secret_errf(errstr, errstr_size, "no key ring: set SECRET_KEYS or SECRET_KEYS_FILE");
        goto done;
    }

    if (secret_ring_set_active(ring, active, inner, sizeof(inner)) != 0) {
        secret_errf(errstr, errstr_size, "SECRET_ACTIVE_KEY: %s", inner);
        secret_ring_destroy(ring);
        ring = NULL;
    }

done:
    if (file_text != NULL) {
        OPENSSL_cleanse(file_text, strlen(file_text));
        free(file_text);
    }
    return ring;
}

void secret_ring_destroy(secret_ring_t *ring)
{
    if (ring == NULL)
        return;
    OPENSSL_cleanse(ring, sizeof(*ring));
    free(ring);
}

/*
 * The associated data: "notify-secret/v1" 0x00 key-id 0x00 org-id 0x00 column (the
 * separators are the strings' own terminators; the column's is not included). Malloc'd,
 * length in *len.
 */
static unsigned char *secret_aad(const char *key_id, const char *org_id, const char *column,
                                 size_t *len)
{
    const char *parts[] = {SECRET_AAD_LABEL, key_id, org_id, column};
    size_t sizes[4], total = 0;
    for (size_t i = 0; i < 4; i++) {
        sizes[i] = strlen(parts[i]) + (i < 3 ? 1 : 0);
        total += sizes[i];
    }
    unsigned char *aad = secret_xmalloc(total);
    size_t off = 0;
    for (size_t i = 0; i < 4; i++) {
        memcpy(aad + off, parts[i], sizes[i]);
        off += sizes[i];
    }
    *len = total;
    return aad;
}

/* Where a value is stored must be named: an empty org or column binds to nothing useful. */
static secret_err_t secret_check_place(const char *org_id, const char *column, char *errstr,
                                       size_t errstr_size)
{
    if (org_id == NULL || org_id[0] == '\0') {
        secret_errf(errstr, errstr_size, "org_id is empty");
        return SECRET_ERR_FORMAT;
    }
    if (column == NULL || column[0] == '\0') {
        secret_errf(errstr, errstr_size, "column is empty");
        return SECRET_ERR_FORMAT;
    }
    /* The AAD length goes to OpenSSL as an int. */
    if (strlen(org_id) > 4096 || strlen(column) > 4096) {
        secret_errf(errstr, errstr_size, "org_id or column is longer than 4096 bytes");
        return SECRET_ERR_FORMAT;
    }
    return SECRET_OK;
}

secret_err_t secret_encrypt(const secret_ring_t *ring, const char *org_id, const char *column,
                            const void *plaintext, size_t len, char **out, char *errstr,
                            size_t errstr_size)
{
    secret_err_t result = SECRET_ERR_INTERNAL;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *aad = NULL, *blob = NULL;
    char *text = NULL;
    size_t aad_len = 0;
    int n = 0;

    *out = NULL;
    if (ring == NULL || ring->active == NULL) {
        secret_errf(errstr, errstr_size, "the key ring has no active key: cannot encrypt");
        result = SECRET_ERR_NO_ACTIVE;
        goto done;
    }
    result = secret_check_place(org_id, column, errstr, errstr_size);
    if (result != SECRET_OK)
        goto done;
    result = SECRET_ERR_INTERNAL;
    if (len > SECRET_PLAIN_MAX) {
        secret_errf(errstr, errstr_size, "secret is longer than %d bytes", SECRET_PLAIN_MAX);
        result = SECRET_ERR_FORMAT;
        goto done;
    }

    const secret_key_t *key = ring->active;
    size_t blob_len = SECRET_NONCE_SIZE + len + SECRET_TAG_SIZE;
    blob = secret_xmalloc(blob_len);
    unsigned char *nonce = blob, *ct = blob + SECRET_NONCE_SIZE, *tag = ct + len;
    crypto_random_bytes(nonce, SECRET_NONCE_SIZE);
    aad = secret_aad(key->id, org_id, column, &aad_len);

    /* GCM's default IV length is the 12 bytes used here. */
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->key, nonce) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
        goto openssl_failed;
    if (len > 0 && (EVP_EncryptUpdate(ctx, ct, &n, plaintext, (int)len) != 1 || (size_t)n != len))
        goto openssl_failed;
    if (EVP_EncryptFinal_ex(ctx, ct + len, &n) != 1 || n != 0 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SECRET_TAG_SIZE, tag) != 1)
        goto openssl_failed;

    size_t head_len = strlen(SECRET_PREFIX) + strlen(key->id) + 1;
    size_t text_size = head_len + base64_encoded_size(blob_len) + 1;
    text = secret_xmalloc(text_size);
    snprintf(text, text_size, "%s%s:", SECRET_PREFIX, key->id);
    if (base64_encode(blob, blob_len, text + head_len, text_size - head_len) != 0) {
        secret_errf(errstr, errstr_size, "internal error: encoded value does not fit");
        goto done;
    }
    *out = text;
    text = NULL;
    result = SECRET_OK;
    goto done;

openssl_failed:
    ERR_clear_error();
    secret_errf(errstr, errstr_size, "OpenSSL failed to encrypt with AES-256-GCM");
    result = SECRET_ERR_INTERNAL;

done:
    EVP_CIPHER_CTX_free(ctx);
    free(aad);
    free(blob);
    free(text);
    return result;
}

secret_err_t secret_decrypt(const secret_ring_t *ring, const char *org_id, const char *column,
                            const char *value, char **out, size_t *out_len, char *errstr,
                            size_t errstr_size)
{
    secret_err_t result = SECRET_ERR_FORMAT;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *aad = NULL, *blob = NULL;
    char *plain = NULL;
    size_t aad_len = 0, blob_len = 0, ct_len = 0;
    unsigned char tag[SECRET_TAG_SIZE];
    int n = 0;

    *out = NULL;
    *out_len = 0;
    result = secret_check_place(org_id, column, errstr, errstr_size);
    if (result != SECRET_OK)
        goto done;
    result = SECRET_ERR_FORMAT;

    /* Messages below describe the value's shape only: never its text, which is ciphertext. */
    if (value == NULL || value[0] == '\0') {
        secret_errf(errstr, errstr_size, "encrypted value is empty");
        goto done;
    }
    if (strncmp(value, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0) {
        secret_errf(errstr, errstr_size,
                    "encrypted value does not start with \"" SECRET_PREFIX "\" (not a value "
                    "written by secret_encrypt, or a newer format)");
        goto done;
    }
    const char *id = value + strlen(SECRET_PREFIX);
    const char *colon = strchr(id, ':');
    if (colon == NULL) {
        secret_errf(errstr, errstr_size, "encrypted value is not v1:<key-id>:<base64>");
        goto done;
    }
    size_t id_len = (size_t)(colon - id);
    if (!secret_id_valid(id, id_len)) {
        secret_errf(errstr, errstr_size, "encrypted value has a malformed key id");
        goto done;
    }

    const char *payload = colon + 1;
    size_t payload_len = strlen(payload);
    if (payload_len > base64_encoded_size(SECRET_NONCE_SIZE + SECRET_PLAIN_MAX + SECRET_TAG_SIZE)) {
        secret_errf(errstr, errstr_size, "encrypted value is too long");
        goto done;
    }
    size_t blob_size = base64_decoded_max(payload_len);
    blob = secret_xmalloc(blob_size);
    if (base64_decode(payload, payload_len, blob, blob_size, &blob_len) != 0) {
        secret_errf(errstr, errstr_size, "encrypted value's payload is not valid base64");
        goto done;
    }
    if (blob_len < SECRET_NONCE_SIZE + SECRET_TAG_SIZE) {
        secret_errf(errstr, errstr_size,
                    "encrypted value is too short (%zu bytes; nonce and tag alone take %d)",
                    blob_len, SECRET_NONCE_SIZE + SECRET_TAG_SIZE);
        goto done;
    }

    const secret_key_t *key = ring == NULL ? NULL : secret_ring_find(ring, id, id_len);
    if (key == NULL) {
        secret_errf(errstr, errstr_size, "key id '%.*s' is not in the key ring", (int)id_len, id);
        result = SECRET_ERR_UNKNOWN_KEY;
        goto done;
    }

    const unsigned char *nonce = blob, *ct = blob + SECRET_NONCE_SIZE;
    ct_len = blob_len - SECRET_NONCE_SIZE - SECRET_TAG_SIZE;
    memcpy(tag, ct + ct_len, SECRET_TAG_SIZE);
    plain = secret_xmalloc(ct_len + 1);
    aad = secret_aad(key->id, org_id, column, &aad_len);

    result = SECRET_ERR_INTERNAL;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key->key, nonce) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
        goto openssl_failed;
    if (ct_len > 0 && (EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n, ct, (int)ct_len) != 1 ||
                       (size_t)n != ct_len))
        goto openssl_failed;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SECRET_TAG_SIZE, tag) != 1)
        goto openssl_failed;
    if (EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + ct_len, &n) != 1) {
        ERR_clear_error();
        secret_errf(errstr, errstr_size,
                    "encrypted value does not authenticate under key '%s': wrong key for that "
                    "id, altered value, or a value stored for another organisation or column",
                    key->id);
        result = SECRET_ERR_AUTH;
        goto done;
    }

    plain[ct_len] = '\0';
    *out = plain;
    *out_len = ct_len;
    plain = NULL;
    result = SECRET_OK;
    goto done;

openssl_failed:
    ERR_clear_error();
    secret_errf(errstr, errstr_size, "OpenSSL failed to decrypt with AES-256-GCM");
    result = SECRET_ERR_INTERNAL;

done:
    EVP_CIPHER_CTX_free(ctx);
    /* A failed decryption may leave unauthenticated plaintext behind: wipe it too. */
    if (plain != NULL) {
        OPENSSL_cleanse(plain, ct_len + 1);
        free(plain);
    }
    free(aad);
    free(blob);
    return result;
}

void secret_free(char *plaintext, size_t len)
{
    if (plaintext == NULL)
        return;
    OPENSSL_cleanse(plaintext, len);
    free(plaintext);
}
