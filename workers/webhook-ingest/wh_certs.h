/*
 * SNS signing certificates, fetched over HTTPS with TLS verification on (SNS_CERT_CA_FILE
 * or the system store), no redirects, a size cap and a timeout, and cached by URL: SNS
 * signs every message with one of a handful of certificates, so a busy endpoint fetches
 * each once. The caller checks the URL (snssig_check_url) before asking: nothing here
 * decides which hosts are trusted.
 *
 * wh_certs_get_url() is also how a SubscriptionConfirmation is confirmed (a GET of its
 * SubscribeURL, same TLS rules, never cached).
 */
#ifndef WH_CERTS_H
#define WH_CERTS_H

#include <stddef.h>

#include "config.h"

typedef struct wh_certs_s wh_certs_t;

wh_certs_t *wh_certs_new(const cfg_t *cfg);
void wh_certs_destroy(wh_certs_t *certs);

/* The certificate's PEM text at `url` (malloc'd, *len set), from the cache or fetched.
 * NULL with errstr when the fetch fails. Thread-safe. */
char *wh_certs_get(wh_certs_t *certs, const char *url, size_t *len, char *errstr,
                   size_t errstr_size);

/* GETs `url` and returns 0 on a 2xx answer, -1 with errstr otherwise. */
int wh_certs_get_url(wh_certs_t *certs, const char *url, char *errstr, size_t errstr_size);

#endif
