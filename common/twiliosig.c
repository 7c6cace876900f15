#include "twiliosig.h"

#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "crypto.h"
#include "hex.h"

/* The signed text is bounded so a hostile body cannot make us build a huge string: the
 * body limit bounds it already, this is the cap of the buffer itself. */
#define TWILIOSIG_TEXT_MAX (4 * 1024 * 1024)

static int twiliosig_cmp(const void *a, const void *b)
{
    const twiliosig_param_t *pa = a, *pb = b;
    int c = strcmp(pa->name, pb->name);
    return c != 0 ? c : strcmp(pa->value, pb->value);
}

int twiliosig_compute(const char *key, size_t key_len, const char *url,
                      const twiliosig_param_t *params, size_t n, char out[TWILIOSIG_SIZE])
{
    int result = -1;
    twiliosig_param_t *sorted = NULL;
    char *text = NULL;
    size_t total = strlen(url);

    for (size_t i = 0; i < n; i++) {
        total += strlen(params[i].name) + strlen(params[i].value);
        if (total > TWILIOSIG_TEXT_MAX)
            goto out;
    }
    if (total > TWILIOSIG_TEXT_MAX)
        goto out;
    sorted = malloc((n ? n : 1) * sizeof(*sorted));
    text = malloc(total + 1);
    if (sorted == NULL || text == NULL)
        abort();
    if (n > 0)
        memcpy(sorted, params, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), twiliosig_cmp);

    size_t len = strlen(url);
    memcpy(text, url, len);
    for (size_t i = 0; i < n; i++) {
        /* Identical pairs are adjacent once sorted; the validator counts them once. */
        if (i > 0 && twiliosig_cmp(&sorted[i - 1], &sorted[i]) == 0)
            continue;
        size_t nl = strlen(sorted[i].name), vl = strlen(sorted[i].value);
        memcpy(text + len, sorted[i].name, nl);
        len += nl;
        memcpy(text + len, sorted[i].value, vl);
        len += vl;
    }
    unsigned char mac[CRYPTO_SHA1_SIZE];
    if (crypto_hmac_sha1(key, key_len, text, len, mac) != 0)
        goto out;
    if (base64_encode(mac, sizeof(mac), out, TWILIOSIG_SIZE) != 0)
        goto out;
    result = 0;
out:
    free(sorted);
    free(text);
    return result;
}

/*
 * Splits url into the part up to the end of the host (scheme://[userinfo@]host), the port
 * text (without ':', maybe empty) and the rest (path, query). Returns 0 or -1.
 */
static int twiliosig_split(const char *url, size_t *host_end, size_t *port_start,
                           size_t *rest_start)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL || sep == url)
        return -1;
    const char *auth = sep + 3;
    size_t auth_len = strcspn(auth, "/?#");
    if (auth_len == 0)
        return -1;
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++)
        if (auth[i] == '@')
            at = auth + i;
    const char *host = at ? at + 1 : auth;
    const char *end = auth + auth_len;
    const char *colon = NULL;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (close == NULL)
            return -1;
        if (close + 1 < end && close[1] == ':')
            colon = close + 1;
        else if (close + 1 != end)
            return -1;
    } else {
        colon = memchr(host, ':', (size_t)(end - host));
    }
    if ((colon ? colon : end) == host) /* "http://:80/x" or "http://u@/x": no host */
        return -1;
    *host_end = (size_t)((colon ? colon : end) - url);
    *port_start = colon ? (size_t)(colon + 1 - url) : (size_t)(end - url);
    *rest_start = (size_t)(end - url);
    return 0;
}

static int twiliosig_join(char *out, size_t out_size, const char *a, size_t al, const char *b,
                          size_t bl, const char *c)
{
    size_t cl = strlen(c);
    if (al + bl + cl + 1 > out_size)
        return -1;
    memcpy(out, a, al);
    memcpy(out + al, b, bl);
    memcpy(out + al + bl, c, cl + 1);
    return 0;
}

int twiliosig_url_without_port(const char *url, char *out, size_t out_size)
{
    size_t host_end, port_start, rest;
    if (twiliosig_split(url, &host_end, &port_start, &rest) != 0)
        return -1;
    return twiliosig_join(out, out_size, url, host_end, "", 0, url + rest);
}

int twiliosig_url_with_port(const char *url, char *out, size_t out_size)
{
    size_t host_end, port_start, rest;
    if (twiliosig_split(url, &host_end, &port_start, &rest) != 0)
        return -1;
    /* A port was given, even an empty one ("host:/path"): keep it, so that one variant is
     * always the URL as given. */
    if (port_start != host_end)
        return twiliosig_join(out, out_size, url, rest, "", 0, url + rest);
    const char *port = NULL;
    if (strncmp(url, "https://", 8) == 0)
        port = ":443";
    else if (strncmp(url, "http://", 7) == 0)
        port = ":80";
    else
        return twiliosig_join(out, out_size, url, rest, "", 0, url + rest);
    return twiliosig_join(out, out_size, url, host_end, port, strlen(port), url + rest);
}

static bool twiliosig_matches(const char *key, size_t key_len, const char *url,
                              const twiliosig_param_t *params, size_t n, const char *signature)
{
    char computed[TWILIOSIG_SIZE];
    if (twiliosig_compute(key, key_len, url, params, n, computed) != 0)
        return false;
    return crypto_ct_equal(computed, strlen(computed), signature, strlen(signature));
}

bool twiliosig_validate(const char *key, size_t key_len, const char *url,
                        const twiliosig_param_t *params, size_t n, const char *signature)
{
    bool ok = false;
    char *variant = NULL;
    size_t url_len = strlen(url);

    if (signature == NULL || url_len > TWILIOSIG_URL_MAX)
        goto out;
    variant = malloc(url_len + 16);
    if (variant == NULL)
        abort();
    /* Both variants are always computed, so the time taken does not tell which matched. */
    bool a = false, b = false;
    if (twiliosig_url_without_port(url, variant, url_len + 16) == 0)
        a = twiliosig_matches(key, key_len, variant, params, n, signature);
    if (twiliosig_url_with_port(url, variant, url_len + 16) == 0)
        b = twiliosig_matches(key, key_len, variant, params, n, signature);
    ok = a || b;
out:
    free(variant);
    return ok;
}

bool twiliosig_body_hash_ok(const char *url, const void *body, size_t len)
{
    const char *q = strchr(url, '?');
    if (q == NULL)
        return false;
    const char *hash = NULL;
    size_t hash_len = 0;
    for (const char *p = q + 1; *p;) {
        size_t seg = strcspn(p, "&#");
        if (seg > 11 && strncmp(p, "bodySHA256=", 11) == 0) {
            hash = p + 11;
            hash_len = seg - 11;
        }
        p += seg;
        if (*p != '&')
            break;
        p++;
    }
    if (hash == NULL)
        return false;
    unsigned char want[CRYPTO_SHA256_SIZE], got[CRYPTO_SHA256_SIZE];
    size_t got_len = 0;
    if (hex_decode(hash, hash_len, got, sizeof(got), &got_len) != 0)
        return false;
    if (crypto_sha256(body, len, want) != 0)
        return false;
    return crypto_ct_equal(want, sizeof(want), got, got_len);
}
