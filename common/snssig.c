#include "snssig.h"

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

/* The fields kept from an envelope, by canonical name; the alternative spellings are the
 * Lambda ones. */
typedef enum {
    SNSSIG_F_MESSAGE = 0,
    SNSSIG_F_MESSAGE_ID,
    SNSSIG_F_SUBJECT,
    SNSSIG_F_SUBSCRIBE_URL,
    SNSSIG_F_TIMESTAMP,
    SNSSIG_F_TOKEN,
    SNSSIG_F_TOPIC_ARN,
    SNSSIG_F_TYPE,
    SNSSIG_F_SIGNATURE_VERSION,
    SNSSIG_F_SIGNATURE,
    SNSSIG_F_SIGNING_CERT_URL,
    SNSSIG_F_UNSUBSCRIBE_URL,
    SNSSIG_F__COUNT
} snssig_field_t;

static const struct {
    const char *name;
    const char *alt;
} snssig_fields[SNSSIG_F__COUNT] = {
    [SNSSIG_F_MESSAGE] = {"Message", NULL},
    [SNSSIG_F_MESSAGE_ID] = {"MessageId", NULL},
    [SNSSIG_F_SUBJECT] = {"Subject", NULL},
    [SNSSIG_F_SUBSCRIBE_URL] = {"SubscribeURL", "SubscribeUrl"},
    [SNSSIG_F_TIMESTAMP] = {"Timestamp", NULL},
    [SNSSIG_F_TOKEN] = {"Token", NULL},
    [SNSSIG_F_TOPIC_ARN] = {"TopicArn", NULL},
    [SNSSIG_F_TYPE] = {"Type", NULL},
    [SNSSIG_F_SIGNATURE_VERSION] = {"SignatureVersion", NULL},
    [SNSSIG_F_SIGNATURE] = {"Signature", NULL},
    [SNSSIG_F_SIGNING_CERT_URL] = {"SigningCertURL", "SigningCertUrl"},
    [SNSSIG_F_UNSUBSCRIBE_URL] = {"UnsubscribeURL", "UnsubscribeUrl"},
};

/* The signed keys per type, in their byte-sorted order (the one table of the rule). */
static const snssig_field_t snssig_notification_keys[] = {
    SNSSIG_F_MESSAGE,   SNSSIG_F_MESSAGE_ID, SNSSIG_F_SUBJECT,
    SNSSIG_F_TIMESTAMP, SNSSIG_F_TOPIC_ARN,  SNSSIG_F_TYPE,
};
static const snssig_field_t snssig_confirmation_keys[] = {
    SNSSIG_F_MESSAGE, SNSSIG_F_MESSAGE_ID, SNSSIG_F_SUBSCRIBE_URL, SNSSIG_F_TIMESTAMP,
    SNSSIG_F_TOKEN,   SNSSIG_F_TOPIC_ARN,  SNSSIG_F_TYPE,
};

struct snssig_msg_s {
    json_object *root; /* owns the strings below */
    snssig_type_t type;
    const char *fields[SNSSIG_F__COUNT];
};

static void snssig_keys(snssig_type_t type, const snssig_field_t **keys, size_t *n)
{
    if (type == SNSSIG_NOTIFICATION) {
        *keys = snssig_notification_keys;
        *n = sizeof(snssig_notification_keys) / sizeof(snssig_notification_keys[0]);
    } else {
        *keys = snssig_confirmation_keys;
        *n = sizeof(snssig_confirmation_keys) / sizeof(snssig_confirmation_keys[0]);
    }
}

snssig_msg_t *snssig_parse(const char *json, size_t len, char *errstr, size_t errstr_size)
{
    snssig_msg_t *msg = calloc(1, sizeof(*msg));
    if (msg == NULL)
        abort();
    json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        abort();
    if (len > (size_t)INT32_MAX) {
        snprintf(errstr, errstr_size, "envelope too large");
        goto fail;
    }
    msg->root = json_tokener_parse_ex(tok, json, (int)len);
    if (msg->root == NULL || json_tokener_get_parse_end(tok) != len ||
        !json_object_is_type(msg->root, json_type_object)) {
        snprintf(errstr, errstr_size, "envelope is not a JSON object");
        goto fail;
    }
    for (int f = 0; f < SNSSIG_F__COUNT; f++) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(msg->root, snssig_fields[f].name, &v) &&
            !(snssig_fields[f].alt &&
              json_object_object_get_ex(msg->root, snssig_fields[f].alt, &v)))
            continue;
        if (!json_object_is_type(v, json_type_string)) {
            snprintf(errstr, errstr_size, "%s: must be a string", snssig_fields[f].name);
            goto fail;
        }
        msg->fields[f] = json_object_get_string(v);
    }
    const char *type = msg->fields[SNSSIG_F_TYPE];
    if (type == NULL) {
        snprintf(errstr, errstr_size, "Type: missing");
        goto fail;
    } else if (strcmp(type, "Notification") == 0) {
        msg->type = SNSSIG_NOTIFICATION;
    } else if (strcmp(type, "SubscriptionConfirmation") == 0) {
        msg->type = SNSSIG_SUBSCRIPTION_CONFIRMATION;
    } else if (strcmp(type, "UnsubscribeConfirmation") == 0) {
        msg->type = SNSSIG_UNSUBSCRIBE_CONFIRMATION;
    } else {
        snprintf(errstr, errstr_size, "Type: not an SNS message type");
        goto fail;
    }
    const snssig_field_t *keys;
    size_t n;
    snssig_keys(msg->type, &keys, &n);
    for (size_t i = 0; i < n; i++) {
        if (keys[i] != SNSSIG_F_SUBJECT && msg->fields[keys[i]] == NULL) {
            snprintf(errstr, errstr_size, "%s: missing", snssig_fields[keys[i]].name);
            goto fail;
        }
    }
    const char *version = msg->fields[SNSSIG_F_SIGNATURE_VERSION];
    if (version == NULL || (strcmp(version, "1") != 0 && strcmp(version, "2") != 0)) {
        snprintf(errstr, errstr_size, "SignatureVersion: must be \"1\" or \"2\"");
        goto fail;
    }
    if (msg->fields[SNSSIG_F_SIGNATURE] == NULL || msg->fields[SNSSIG_F_SIGNING_CERT_URL] == NULL) {
        snprintf(errstr, errstr_size, "%s: missing",
                 msg->fields[SNSSIG_F_SIGNATURE] ? "SigningCertURL" : "Signature");
        goto fail;
    }
    json_tokener_free(tok);
    return msg;
fail:
    json_tokener_free(tok);
    snssig_msg_destroy(msg);
    return NULL;
}

void snssig_msg_destroy(snssig_msg_t *msg)
{
    if (msg == NULL)
        return;
    json_object_put(msg->root);
    free(msg);
}

snssig_type_t snssig_type(const snssig_msg_t *msg)
{
    return msg->type;
}

const char *snssig_field(const snssig_msg_t *msg, const char *name)
{
    for (int f = 0; f < SNSSIG_F__COUNT; f++)
        if (strcmp(snssig_fields[f].name, name) == 0)
            return msg->fields[f];
    return NULL;
}

char *snssig_string_to_sign(const snssig_msg_t *msg, size_t *len)
{
    const snssig_field_t *keys;
    size_t n, total = 0;
    snssig_keys(msg->type, &keys, &n);
    for (size_t i = 0; i < n; i++)
        if (msg->fields[keys[i]])
            total += strlen(snssig_fields[keys[i]].name) + strlen(msg->fields[keys[i]]) + 2;
    char *text = malloc(total + 1);
    if (text == NULL)
        abort();
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = msg->fields[keys[i]];
        if (v == NULL)
            continue;
        size_t kl = strlen(snssig_fields[keys[i]].name), vl = strlen(v);
        memcpy(text + w, snssig_fields[keys[i]].name, kl);
        w += kl;
        text[w++] = '\n';
        memcpy(text + w, v, vl);
        w += vl;
        text[w++] = '\n';
    }
    text[w] = '\0';
    *len = w;
    return text;
}

int snssig_check_url(const char *url, const char *host_pattern, bool require_pem, char *errstr,
                     size_t errstr_size)
{
    int result = -1;
    bool compiled = false;
    regex_t re;
    char host[256];

    if (strncmp(url, "https://", 8) != 0) {
        snprintf(errstr, errstr_size, "URL is not https");
        goto out;
    }
    const char *auth = url + 8;
    size_t auth_len = strcspn(auth, "/?#");
    if (memchr(auth, '@', auth_len) != NULL) {
        snprintf(errstr, errstr_size, "URL has user information");
        goto out;
    }
    /*
     * The pattern sees the whole authority, the port included when the URL names one: AWS
     * never writes a port, so the default pattern refuses every URL that does (a fetch
     * from sns.<region>.amazonaws.com:<port> would reach whatever a resolver or proxy puts
     * there), and a test's pattern for a local server names its port. IPv6 literals are
     * never an SNS host.
     */
    if (auth_len == 0 || auth_len >= sizeof(host) || auth[0] == '[' || auth[0] == ':') {
        snprintf(errstr, errstr_size, "URL has no usable host");
        goto out;
    }
    memcpy(host, auth, auth_len);
    host[auth_len] = '\0';
    if (require_pem) {
        const char *path = auth + auth_len;
        size_t path_len = strcspn(path, "?#");
        if (path_len < 5 || path[0] != '/' || strncmp(path + path_len - 4, ".pem", 4) != 0) {
            snprintf(errstr, errstr_size, "certificate URL path does not end in .pem");
            goto out;
        }
    }
    if (regcomp(&re, host_pattern ? host_pattern : SNSSIG_DEFAULT_HOST_PATTERN,
                REG_EXTENDED | REG_NOSUB) != 0) {
        snprintf(errstr, errstr_size, "host pattern is not a valid regular expression");
        goto out;
    }
    compiled = true;
    if (regexec(&re, host, 0, NULL, 0) != 0) {
        snprintf(errstr, errstr_size, "URL host (and port) is not an SNS host");
        goto out;
    }
    result = 0;
out:
    if (compiled)
        regfree(&re);
    return result;
}

int snssig_verify(const snssig_msg_t *msg, const char *cert_pem, size_t len, char *errstr,
                  size_t errstr_size)
{
    int result = -1;
    BIO *bio = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned char *sig = NULL;
    char *text = NULL;
    size_t sig_len = 0, text_len = 0;

    if (len > (size_t)INT32_MAX) {
        snprintf(errstr, errstr_size, "signing certificate too large");
        goto out;
    }
    bio = BIO_new_mem_buf(cert_pem, (int)len);
    if (bio == NULL)
        abort();
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (cert == NULL) {
        snprintf(errstr, errstr_size, "signing certificate is not a PEM certificate");
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0 ||
        X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
        snprintf(errstr, errstr_size, "signing certificate is not within its validity period");
        goto out;
    }
    key = X509_get_pubkey(cert);
    if (key == NULL) {
        snprintf(errstr, errstr_size, "signing certificate has no usable public key");
        goto out;
    }
    const char *b64 = msg->fields[SNSSIG_F_SIGNATURE];
    size_t b64_len = strlen(b64);
    sig = malloc(base64_decoded_max(b64_len) + 1);
    if (sig == NULL)
        abort();
    if (base64_decode(b64, b64_len, sig, base64_decoded_max(b64_len) + 1, &sig_len) != 0) {
        snprintf(errstr, errstr_size, "Signature is not base64");
        goto out;
    }
    const EVP_MD *digest =
        strcmp(msg->fields[SNSSIG_F_SIGNATURE_VERSION], "2") == 0 ? EVP_sha256() : EVP_sha1();
    text = snssig_string_to_sign(msg, &text_len);
    md = EVP_MD_CTX_new();
    if (md == NULL)
        abort();
    if (EVP_DigestVerifyInit(md, NULL, digest, NULL, key) != 1 ||
        EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)text, text_len) != 1) {
        snprintf(errstr, errstr_size, "signature does not verify");
        goto out;
    }
    result = 0;
out:
    /* OpenSSL's error queue is per thread; leave nothing behind for the next caller. */
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    free(text);
    free(sig);
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(bio);
    return result;
}
