#include "smtp_tls.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void smtp_tls_global_init(void)
{
    /* Reference-counted by GnuTLS: this one is never given back. */
    gnutls_global_init();
}

static bool smtp_tls_is_ip(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

void smtp_tls_setup_cb(struct mailstream_ssl_context *ctx, void *data)
{
    char *host = data;
    if (host && !smtp_tls_is_ip(host))
        mailstream_ssl_set_server_name(ctx, host);
}

int smtp_tls_verify(mailstream *stream, const char *host, const char *ca_file, char *errstr,
                    size_t errstr_size)
{
    int result = -1;
    carray *chain = mailstream_get_certificate_chain(stream);
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *untrusted = NULL;
    X509 *leaf = NULL;

    if (chain == NULL || carray_count(chain) == 0) {
        snprintf(errstr, errstr_size, "the server presented no certificate");
        goto out;
    }
    untrusted = sk_X509_new_null();
    for (unsigned i = 0; i < carray_count(chain); i++) {
        MMAPString *der = carray_get(chain, i);
        const unsigned char *p = (const unsigned char *)der->str;
        X509 *cert = d2i_X509(NULL, &p, (long)der->len);
        if (cert == NULL) {
            snprintf(errstr, errstr_size, "the server's certificate %u does not parse", i);
            goto out;
        }
        /* Leaf first, then what the server sent to help: untrusted intermediates. */
        if (i == 0)
            leaf = cert;
        else
            sk_X509_push(untrusted, cert);
    }

    store = X509_STORE_new();
    if (ca_file && *ca_file) {
        if (X509_STORE_load_file(store, ca_file) != 1) {
            snprintf(errstr, errstr_size, "cannot load the organisation's CA file");
            goto out;
        }
    } else if (X509_STORE_set_default_paths(store) != 1) {
        snprintf(errstr, errstr_size, "cannot load the system's trusted certificates");
        goto out;
    }
    ctx = X509_STORE_CTX_new();
    if (ctx == NULL || X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        snprintf(errstr, errstr_size, "cannot set up certificate verification");
        goto out;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    if (smtp_tls_is_ip(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, host);
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, host, 0);
    }
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        snprintf(errstr, errstr_size, "certificate verify failed for %s: %s", host,
                 X509_verify_cert_error_string(err));
        goto out;
    }
    result = 0;

out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(leaf);
    sk_X509_pop_free(untrusted, X509_free);
    if (chain)
        mailstream_certificate_chain_free(chain);
    return result;
}
