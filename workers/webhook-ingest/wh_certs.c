#include "wh_certs.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A certificate is a few KiB; anything much larger is not one. */
#define WH_CERTS_MAX_BYTES  (64 * 1024)
#define WH_CERTS_CACHE_MAX  64
#define WH_CERTS_TIMEOUT_MS 5000L

typedef struct wh_certs_entry_s {
    char *url;
    char *pem;
    size_t len;
} wh_certs_entry_t;

struct wh_certs_s {
    pthread_mutex_t mu;
    char *ca_file; /* NULL: the system store */
    wh_certs_entry_t cache[WH_CERTS_CACHE_MAX];
    size_t count;
    size_t next_evict; /* round robin once full: certificates change rarely */
};

typedef struct wh_certs_buf_s {
    char *data;
    size_t len;
    bool toobig;
} wh_certs_buf_t;

static size_t wh_certs_write(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    wh_certs_buf_t *buf = opaque;
    size_t n = size * nmemb;
    if (buf->len + n > WH_CERTS_MAX_BYTES) {
        buf->toobig = true;
        return 0;
    }
    char *grown = realloc(buf->data, buf->len + n + 1);
    if (grown == NULL)
        abort();
    buf->data = grown;
    memcpy(buf->data + buf->len, ptr, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return n;
}

wh_certs_t *wh_certs_new(const cfg_t *cfg)
{
    wh_certs_t *certs = calloc(1, sizeof(*certs));
    if (certs == NULL)
        abort();
    pthread_mutex_init(&certs->mu, NULL);
    const char *ca = cfg_str(cfg, CFG_SNS_CERT_CA_FILE);
    if (ca[0] != '\0') {
        certs->ca_file = strdup(ca);
        if (certs->ca_file == NULL)
            abort();
    }
    return certs;
}

void wh_certs_destroy(wh_certs_t *certs)
{
    if (certs == NULL)
        return;
    for (size_t i = 0; i < certs->count; i++) {
        free(certs->cache[i].url);
        free(certs->cache[i].pem);
    }
    free(certs->ca_file);
    pthread_mutex_destroy(&certs->mu);
    free(certs);
}

/* GETs url into buf. Returns 0 on a 2xx answer, -1 with errstr otherwise. */
static int wh_certs_fetch(wh_certs_t *certs, const char *url, wh_certs_buf_t *buf, char *errstr,
                          size_t errstr_size)
{
    int result = -1;
    char curl_err[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        abort();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (certs->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, certs->ca_file);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, WH_CERTS_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, wh_certs_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        snprintf(errstr, errstr_size, "%s",
                 buf->toobig   ? "answer too large"
                 : curl_err[0] ? curl_err
                               : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        snprintf(errstr, errstr_size, "HTTP status %ld", status);
        goto out;
    }
    result = 0;
out:
    curl_easy_cleanup(curl);
    return result;
}

static char *wh_certs_dup(const char *data, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, len);
    copy[len] = '\0';
    return copy;
}

char *wh_certs_get(wh_certs_t *certs, const char *url, size_t *len, char *errstr,
                   size_t errstr_size)
{
    char *pem = NULL;
    wh_certs_buf_t buf = {0};

    if (errstr_size > 0)
        errstr[0] = '\0';
    pthread_mutex_lock(&certs->mu);
    for (size_t i = 0; i < certs->count; i++) {
        if (strcmp(certs->cache[i].url, url) == 0) {
            pem = wh_certs_dup(certs->cache[i].pem, certs->cache[i].len);
            *len = certs->cache[i].len;
            break;
        }
    }
    pthread_mutex_unlock(&certs->mu);
    if (pem != NULL)
        goto out;

    /* Fetched without the lock: a slow certificate server must not stall other callbacks.
     * Two threads may fetch the same URL at once; the second insert just replaces. */
    if (wh_certs_fetch(certs, url, &buf, errstr, errstr_size) != 0 || buf.data == NULL) {
        if (buf.data == NULL && errstr[0] == '\0')
            snprintf(errstr, errstr_size, "empty answer");
        goto out;
    }
    pem = wh_certs_dup(buf.data, buf.len);
    *len = buf.len;

    pthread_mutex_lock(&certs->mu);
    wh_certs_entry_t *slot = NULL;
    for (size_t i = 0; i < certs->count && slot == NULL; i++)
        if (strcmp(certs->cache[i].url, url) == 0)
            slot = &certs->cache[i];
    if (slot == NULL && certs->count < WH_CERTS_CACHE_MAX)
        slot = &certs->cache[certs->count++];
    if (slot == NULL) {
        slot = &certs->cache[certs->next_evict];
        certs->next_evict = (certs->next_evict + 1) % WH_CERTS_CACHE_MAX;
    }
    free(slot->url);
    free(slot->pem);
    slot->url = strdup(url);
    if (slot->url == NULL)
        abort();
    slot->pem = wh_certs_dup(buf.data, buf.len);
    slot->len = buf.len;
    pthread_mutex_unlock(&certs->mu);
out:
    free(buf.data);
    return pem;
}

int wh_certs_get_url(wh_certs_t *certs, const char *url, char *errstr, size_t errstr_size)
{
    wh_certs_buf_t buf = {0};
    int rc = wh_certs_fetch(certs, url, &buf, errstr, errstr_size);
    free(buf.data);
    return rc;
}
