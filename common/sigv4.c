#include "sigv4.h"

#include "hex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

/* Header names are short; a longer one is refused rather than truncated, because a
 * truncated name would sign something other than what is sent. */
#define SIGV4_NAME_MAX 64

#define SIGV4_KEYCACHE_SIZE 64

typedef struct sigv4_canon_hdr_s {
    char name[SIGV4_NAME_MAX];
    const char *value;
} sigv4_canon_hdr_t;

void sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_SIZE])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(out, SIGV4_AMZ_DATE_SIZE, "%Y%m%dT%H%M%SZ", &tm) == 0)
        out[0] = '\0';
}

static int sigv4_date_ok(const char *amz_date)
{
    if (amz_date == NULL || strlen(amz_date) != SIGV4_AMZ_DATE_SIZE - 1)
        return 0;
    for (int i = 0; i < 16; i++) {
        char c = amz_date[i];
        if (i == 8 ? c != 'T' : i == 15 ? c != 'Z' : !isdigit((unsigned char)c))
            return 0;
    }
    return 1;
}

static int sigv4_canon_hdr_cmp(const void *a, const void *b)
{
    return strcmp(((const sigv4_canon_hdr_t *)a)->name, ((const sigv4_canon_hdr_t *)b)->name);
}

/* Writes a header value trimmed, with each run of spaces and tabs inside it collapsed to
 * one space, as the canonical form requires. */
static void sigv4_put_value(FILE *f, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    int pending_space = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            pending_space = 1;
            continue;
        }
        if (pending_space)
            fputc(' ', f);
        pending_space = 0;
        fputc(*v, f);
    }
}

static void sigv4_hex_sha256(const void *data, size_t len, char out[SIGV4_SIGNATURE_HEX])
{
    unsigned char digest[CRYPTO_SHA256_SIZE];
    if (crypto_sha256(data, len, digest) != 0)
        abort(); /* OpenSSL without SHA-256 cannot sign anything */
    hex_encode(digest, sizeof(digest), out, SIGV4_SIGNATURE_HEX);
}

int sigv4_canonical_request(const sigv4_request_t *r, char **creq, char **signed_headers,
                            char *errstr, size_t errstr_size)
{
    int result = -1;
    sigv4_canon_hdr_t hdrs[SIGV4_MAX_HEADERS];
    char *buf = NULL, *sh = NULL;
    size_t buf_len = 0, sh_len = 0;
    FILE *f = NULL, *g = NULL;

    *creq = NULL;
    if (signed_headers)
        *signed_headers = NULL;
    if (r->header_count > SIGV4_MAX_HEADERS) {
        snprintf(errstr, errstr_size, "sigv4: more than %d headers to sign", SIGV4_MAX_HEADERS);
        goto out;
    }
    for (size_t i = 0; i < r->header_count; i++) {
        const char *name = r->headers[i].name;
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n >= SIGV4_NAME_MAX || r->headers[i].value == NULL) {
            snprintf(errstr, errstr_size, "sigv4: header %zu has no name, a long name or no value",
                     i);
            goto out;
        }
        for (size_t j = 0; j <= n; j++)
            hdrs[i].name[j] = (char)tolower((unsigned char)name[j]);
        hdrs[i].value = r->headers[i].value;
    }
    qsort(hdrs, r->header_count, sizeof(hdrs[0]), sigv4_canon_hdr_cmp);
    for (size_t i = 1; i < r->header_count; i++) {
        if (strcmp(hdrs[i - 1].name, hdrs[i].name) == 0) {
            snprintf(errstr, errstr_size, "sigv4: header %s given twice", hdrs[i].name);
            goto out;
        }
    }

    f = open_memstream(&buf, &buf_len);
    g = open_memstream(&sh, &sh_len);
    if (f == NULL || g == NULL)
        abort();
    fprintf(f, "%s\n%s\n%s\n", r->method, r->path && *r->path ? r->path : "/",
            r->query ? r->query : "");
    for (size_t i = 0; i < r->header_count; i++) {
        fprintf(f, "%s:", hdrs[i].name);
        sigv4_put_value(f, hdrs[i].value);
        fputc('\n', f);
        fprintf(g, "%s%s", i ? ";" : "", hdrs[i].name);
    }
    if (fclose(g) != 0)
        abort();
    g = NULL;
    char body_hash[SIGV4_SIGNATURE_HEX];
    sigv4_hex_sha256(r->body, r->body_len, body_hash);
    /* The blank line: the header block ends with its own '\n', then the separator. */
    fprintf(f, "\n%s\n%s", sh, body_hash);
    if (fclose(f) != 0)
        abort();
    f = NULL;

    *creq = buf;
    buf = NULL;
    if (signed_headers) {
        *signed_headers = sh;
        sh = NULL;
    }
    result = 0;
out:
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    free(buf);
    free(sh);
    return result;
}

int sigv4_string_to_sign(const sigv4_request_t *r, const char *creq, char **sts, char *errstr,
                         size_t errstr_size)
{
    *sts = NULL;
    if (!sigv4_date_ok(r->amz_date)) {
        snprintf(errstr, errstr_size, "sigv4: x-amz-date must be YYYYMMDDTHHMMSSZ");
        return -1;
    }
    char creq_hash[SIGV4_SIGNATURE_HEX];
    sigv4_hex_sha256(creq, strlen(creq), creq_hash);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        abort();
    fprintf(f, "%s\n%s\n%.8s/%s/%s/aws4_request\n%s", SIGV4_ALGORITHM, r->amz_date, r->amz_date,
            r->region, r->service, creq_hash);
    if (fclose(f) != 0)
        abort();
    *sts = buf;
    return 0;
}

int sigv4_signing_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char key[CRYPTO_SHA256_SIZE])
{
    int result = -1;
    size_t secret_len = strlen(secret);
    size_t seed_len = 4 + secret_len;
    char *seed = malloc(seed_len);
    if (seed == NULL)
        abort();
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret, secret_len);

    /* Two buffers: each step's key is read while the next is written. */
    unsigned char k[CRYPTO_SHA256_SIZE], k2[CRYPTO_SHA256_SIZE];
    if (crypto_hmac_sha256(seed, seed_len, date8, 8, k) != 0 ||
        crypto_hmac_sha256(k, sizeof(k), region, strlen(region), k2) != 0 ||
        crypto_hmac_sha256(k2, sizeof(k2), service, strlen(service), k) != 0 ||
        crypto_hmac_sha256(k, sizeof(k), "aws4_request", 12, key) != 0)
        goto out;
    result = 0;
out:
    explicit_bzero(seed, seed_len);
    explicit_bzero(k, sizeof(k));
    explicit_bzero(k2, sizeof(k2));
    free(seed);
    return result;
}

int sigv4_authorization(const sigv4_request_t *r, const unsigned char key[CRYPTO_SHA256_SIZE],
                        char *out, size_t out_size, char *errstr, size_t errstr_size)
{
    int result = -1;
    char *creq = NULL, *sh = NULL, *sts = NULL;
    unsigned char mac[CRYPTO_SHA256_SIZE];
    char sig[SIGV4_SIGNATURE_HEX];

    if (out_size > 0)
        out[0] = '\0';
    if (sigv4_canonical_request(r, &creq, &sh, errstr, errstr_size) != 0 ||
        sigv4_string_to_sign(r, creq, &sts, errstr, errstr_size) != 0)
        goto out;
    if (crypto_hmac_sha256(key, CRYPTO_SHA256_SIZE, sts, strlen(sts), mac) != 0) {
        snprintf(errstr, errstr_size, "sigv4: HMAC-SHA256 failed");
        goto out;
    }
    hex_encode(mac, sizeof(mac), sig, sizeof(sig));
    int n = snprintf(out, out_size,
                     SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
                                     "Signature=%s",
                     r->access_key, r->amz_date, r->region, r->service, sh, sig);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size > 0)
            out[0] = '\0';
        snprintf(errstr, errstr_size, "sigv4: Authorization header longer than %zu", out_size);
        goto out;
    }
    result = 0;
out:
    explicit_bzero(sig, sizeof(sig));
    explicit_bzero(mac, sizeof(mac));
    free(creq);
    free(sh);
    free(sts);
    return result;
}

/* One cached key. The identity fields are compared in full, so no two identities share
 * an entry. */
typedef struct sigv4_keyent_s {
    int used;
    char access_key[128];
    unsigned char secret_hash[CRYPTO_SHA256_SIZE];
    char date8[9];
    char region[32];
    char service[32];
    unsigned char key[CRYPTO_SHA256_SIZE];
} sigv4_keyent_t;

struct sigv4_keycache_s {
    sigv4_keyent_t ent[SIGV4_KEYCACHE_SIZE];
    size_t next; /* round-robin victim */
    unsigned long derivations;
};

sigv4_keycache_t *sigv4_keycache_new(void)
{
    sigv4_keycache_t *kc = calloc(1, sizeof(*kc));
    if (kc == NULL)
        abort();
    return kc;
}

void sigv4_keycache_destroy(sigv4_keycache_t *kc)
{
    if (kc == NULL)
        return;
    explicit_bzero(kc, sizeof(*kc));
    free(kc);
}

unsigned long sigv4_keycache_derivations(const sigv4_keycache_t *kc)
{
    return kc->derivations;
}

int sigv4_keycache_get(sigv4_keycache_t *kc, const char *access_key, const char *secret,
                       const char *date8, const char *region, const char *service,
                       unsigned char key[CRYPTO_SHA256_SIZE])
{
    unsigned char sh[CRYPTO_SHA256_SIZE];
    if (crypto_sha256(secret, strlen(secret), sh) != 0)
        return -1;
    int cacheable = strlen(access_key) < sizeof(kc->ent[0].access_key) &&
                    strlen(region) < sizeof(kc->ent[0].region) &&
                    strlen(service) < sizeof(kc->ent[0].service);
    if (cacheable) {
        for (size_t i = 0; i < SIGV4_KEYCACHE_SIZE; i++) {
            sigv4_keyent_t *e = &kc->ent[i];
            if (e->used && strncmp(e->date8, date8, 8) == 0 && strcmp(e->region, region) == 0 &&
                strcmp(e->service, service) == 0 && strcmp(e->access_key, access_key) == 0 &&
                crypto_ct_equal(sh, sizeof(sh), e->secret_hash, sizeof(e->secret_hash))) {
                memcpy(key, e->key, CRYPTO_SHA256_SIZE);
                return 0;
            }
        }
    }
    if (sigv4_signing_key(secret, date8, region, service, key) != 0)
        return -1;
    kc->derivations++;
    if (!cacheable)
        return 0;
    sigv4_keyent_t *e = &kc->ent[kc->next];
    kc->next = (kc->next + 1) % SIGV4_KEYCACHE_SIZE;
    e->used = 1;
    snprintf(e->access_key, sizeof(e->access_key), "%s", access_key);
    memcpy(e->secret_hash, sh, sizeof(sh));
    snprintf(e->date8, sizeof(e->date8), "%.8s", date8);
    snprintf(e->region, sizeof(e->region), "%s", region);
    snprintf(e->service, sizeof(e->service), "%s", service);
    memcpy(e->key, key, CRYPTO_SHA256_SIZE);
    return 0;
}
