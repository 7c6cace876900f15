/*
 * A hand-written scanner rather than a regex library: it runs on every log line and every
 * error message that leaves the process, and one left-to-right pass that tries a few cheap
 * rules at each position is both faster and easier to reason about than a set of regexes.
 *
 * The scan moves once from left to right. At each position it tries, in order:
 *   1. a registered secret value starting here (hash of the next four bytes);
 *   2. at the start of an identifier ([A-Za-z0-9_.-]+): our ciphertext form (copied as it
 *      is), the SMTP "AUTH <mechanism> <argument>" command, a header whose whole value is
 *      a credential (Authorization, Cookie), and the seed's key rule;
 *   3. an AWS access key id, the userinfo of a URL, a PEM private key block.
 * A rule that fires names the part of the input to keep, the part to replace with the
 * mask, and where scanning resumes; everything else is copied as it is.
 */
/* For glibc's writer-preferring read-write lock (see redact_lock). */
#define _GNU_SOURCE

#include "redact.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REDACT_MASK       "***"
#define REDACT_MIN_SECRET 4

/*
 * The registry of exact values. Lookup hashes the four bytes at the current position into
 * a bucket table four times larger than the capacity, so a scan costs one multiply and one
 * load per input byte whatever the number of registered values, plus a compare for the
 * rare position whose four bytes hash to a non-empty bucket: O(n) expected per line, and
 * O(n * r) only if many of the r values share their first four bytes.
 */
#define REDACT_CAPACITY    1024
#define REDACT_BUCKET_BITS 12
#define REDACT_BUCKETS     (1u << REDACT_BUCKET_BITS)

typedef struct redact_entry_s {
    char *value; /* NULL for a free slot */
    size_t len;
    uint16_t next; /* index + 1 of the next entry in the same bucket, 0 ends the chain */
} redact_entry_t;

/*
 * Every redact_copy() holds the read lock for its scan. Threads that log all the time could
 * keep a default (reader-preferring) lock read-locked without a gap and starve a
 * registration forever, so the lock prefers writers.
 */
#ifdef PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
static pthread_rwlock_t redact_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
#else
static pthread_rwlock_t redact_lock = PTHREAD_RWLOCK_INITIALIZER;
#endif
static redact_entry_t redact_entries[REDACT_CAPACITY];
static uint16_t redact_buckets[REDACT_BUCKETS]; /* index + 1 of the first entry, 0 = empty */
static size_t redact_next_slot;                 /* the slot the next value takes */
/*
 * How many values are registered, read without the lock so that a process that never
 * registers anything never touches the lock. A value whose registration completed before
 * redact_copy() starts is always seen (release/acquire on this counter).
 */
static atomic_size_t redact_count;

/*
 * Words that make the value after an identifier ending in them a secret: the seed's six,
 * the common spellings of a password, plurals that name collections of secrets
 * (SECRET_KEYS) and request signatures (X-Twilio-Signature, X-Amz-Signature of a
 * presigned URL, which grants access like a password). "tokens" is left out on purpose:
 * quota leases count tokens.
 */
typedef struct redact_word_s {
    const char *word;
    size_t len;
} redact_word_t;

static const redact_word_t redact_keywords[] = {
    {"password", sizeof("password") - 1},
    {"passwd", sizeof("passwd") - 1},
    {"passphrase", sizeof("passphrase") - 1},
    {"pass", sizeof("pass") - 1},
    {"pwd", sizeof("pwd") - 1},
    {"secret", sizeof("secret") - 1},
    {"secrets", sizeof("secrets") - 1},
    {"token", sizeof("token") - 1},
    {"key", sizeof("key") - 1},
    {"keys", sizeof("keys") - 1},
    {"credential", sizeof("credential") - 1},
    {"credentials", sizeof("credentials") - 1},
    {"signature", sizeof("signature") - 1},
    {"auth", sizeof("auth") - 1},
};

/* The mechanisms of SMTP AUTH whose argument is a credential (RFC 4954 and kin). */
static const char *const redact_smtp_mechanisms[] = {
    "PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "XOAUTH2", "OAUTHBEARER",
};

/* How the value after a key ends. */
typedef enum {
    REDACT_VALUE_TOKEN, /* the seed's rule: up to whitespace, ',' or '}' */
    REDACT_VALUE_AUTH,  /* an Authorization header: scheme, credentials, ", k=v" params */
    REDACT_VALUE_LINE,  /* a Cookie header: to the end of the line */
} redact_value_t;

typedef struct redact_scan_s {
    const char *in;
    size_t n;
    int registry; /* registered values are matched (the read lock is held) */
} redact_scan_t;

/*
 * What a rule found at position i: in[i, keep) is copied, then `mask` replaces
 * in[keep, cut), then in[cut, resume) is copied (a closing quote, a PEM END line), and
 * the scan resumes at `resume` (always > i).
 */
typedef struct redact_match_s {
    size_t keep;
    const char *mask;
    size_t cut;
    size_t resume;
} redact_match_t;

typedef struct redact_out_s {
    char *buf;
    size_t cap; /* bytes available before the terminating NUL */
    size_t len;
    int truncated;
} redact_out_t;

static inline int redact_is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static inline int redact_is_ident(unsigned char c)
{
    return redact_is_alnum(c) || c == '_' || c == '-' || c == '.';
}

static inline int redact_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline int redact_is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static inline unsigned char redact_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Whether in[p, p + len) equals `word`, ignoring ASCII case. */
static int redact_ci_equal(const char *in, size_t p, size_t len, const char *word)
{
    for (size_t k = 0; k < len; k++) {
        if (word[k] == '\0' ||
            redact_lower((unsigned char)in[p + k]) != redact_lower((unsigned char)word[k]))
            return 0;
    }
    return word[len] == '\0';
}

/* Whether the identifier in[i, j) ends with `word` (of length len), ignoring ASCII case. */
static int redact_ci_suffix(const char *in, size_t i, size_t j, const char *word, size_t len)
{
    return j - i >= len && redact_ci_equal(in, j - len, len, word);
}

/* The first occurrence of `needle` in in[from, n), or n. */
static size_t redact_find(const redact_scan_t *s, size_t from, const char *needle)
{
    size_t len = strlen(needle);
    for (size_t p = from; p + len <= s->n; p++) {
        const char *hit = memchr(s->in + p, needle[0], s->n - len + 1 - p);
        if (hit == NULL)
            break;
        p = (size_t)(hit - s->in);
        if (memcmp(s->in + p, needle, len) == 0)
            return p;
    }
    return s->n;
}

/* ---- registry ---- */

static uint32_t redact_hash4(const char *p)
{
    uint32_t w;
    memcpy(&w, p, sizeof(w));
    return (w * 2654435761u) >> (32 - REDACT_BUCKET_BITS);
}

/* The length of the longest registered value starting at p (0 if none). Lock held. */
static size_t redact_registered_at(const redact_scan_t *s, size_t p)
{
    if (s->n - p < REDACT_MIN_SECRET)
        return 0;
    size_t best = 0;
    for (uint16_t e = redact_buckets[redact_hash4(s->in + p)]; e != 0;
         e = redact_entries[e - 1].next) {
        const redact_entry_t *entry = &redact_entries[e - 1];
        if (entry->len > best && entry->len <= s->n - p &&
            memcmp(s->in + p, entry->value, entry->len) == 0)
            best = entry->len;
    }
    return best;
}

/* Write lock held. Registration is rare (as secrets are loaded), so rebuilding is fine. */
static void redact_rebuild_buckets(void)
{
    memset(redact_buckets, 0, sizeof(redact_buckets));
    for (size_t k = 0; k < REDACT_CAPACITY; k++) {
        redact_entry_t *entry = &redact_entries[k];
        if (entry->value == NULL)
            continue;
        uint32_t b = redact_hash4(entry->value);
        entry->next = redact_buckets[b];
        redact_buckets[b] = (uint16_t)(k + 1);
    }
}

static void redact_entry_free(redact_entry_t *entry)
{
    if (entry->value != NULL) {
        explicit_bzero(entry->value, entry->len);
        free(entry->value);
    }
    entry->value = NULL;
    entry->len = 0;
    entry->next = 0;
}

void redact_register(const char *secret)
{
    if (secret == NULL)
        return;
    size_t len = strlen(secret);
    if (len < REDACT_MIN_SECRET)
        return;

    pthread_rwlock_wrlock(&redact_lock);
    redact_scan_t probe = {secret, len, 1};
    if (redact_registered_at(&probe, 0) == len)
        goto done; /* already registered */

    char *copy = malloc(len + 1);
    if (copy == NULL)
        abort(); /* a daemon out of memory is restarted; see architecture.md */
    memcpy(copy, secret, len + 1);

    /* The slots form a ring, so when the registry is full the oldest value goes. */
    redact_entry_t *entry = &redact_entries[redact_next_slot];
    int was_free = entry->value == NULL;
    redact_entry_free(entry);
    entry->value = copy;
    entry->len = len;
    redact_next_slot = (redact_next_slot + 1) % REDACT_CAPACITY;
    redact_rebuild_buckets();
    if (was_free)
        atomic_fetch_add_explicit(&redact_count, 1, memory_order_release);
done:
    pthread_rwlock_unlock(&redact_lock);
}

void redact_clear(void)
{
    pthread_rwlock_wrlock(&redact_lock);
    for (size_t k = 0; k < REDACT_CAPACITY; k++)
        redact_entry_free(&redact_entries[k]);
    memset(redact_buckets, 0, sizeof(redact_buckets));
    redact_next_slot = 0;
    atomic_store_explicit(&redact_count, 0, memory_order_release);
    pthread_rwlock_unlock(&redact_lock);
}

/*
 * A rule replaces a value it recognised by its shape; a registered value that starts
 * inside it may run past its end (a passphrase with spaces after "password: "), so the
 * replaced part grows to cover it.
 */
static void redact_extend(const redact_scan_t *s, redact_match_t *m)
{
    if (!s->registry)
        return;
    for (size_t p = m->keep; p < m->cut; p++) {
        size_t len = redact_registered_at(s, p);
        if (len > 0 && p + len > m->cut)
            m->cut = p + len;
    }
    if (m->resume < m->cut)
        m->resume = m->cut;
}

/* ---- shapes ---- */

/*
 * Our ciphertext text form v1:<key-id>:<base64> (see secret.h) is safe to show and useful
 * when diagnosing a row that does not decrypt, so it is recognised in order to be left
 * alone, key id included (an id may well be "key" or "prod-key"). The base64 part is at
 * least 40 characters (a 12-byte nonce and a 16-byte tag). Returns its length or 0.
 */
static size_t redact_ciphertext_len(const redact_scan_t *s, size_t p)
{
    const char *in = s->in;
    if (s->n - p < 3 || in[p] != 'v' || in[p + 1] != '1' || in[p + 2] != ':')
        return 0;
    size_t k = p + 3;
    while (k < s->n && (redact_is_alnum((unsigned char)in[k]) || in[k] == '_' || in[k] == '-'))
        k++;
    if (k == p + 3 || k - (p + 3) > 32 || k >= s->n || in[k] != ':')
        return 0;
    size_t b = ++k;
    while (k < s->n && (redact_is_alnum((unsigned char)in[k]) || in[k] == '+' || in[k] == '/'))
        k++;
    if (k - b < 40)
        return 0;
    for (int pad = 0; pad < 2 && k < s->n && in[k] == '='; pad++)
        k++;
    if (k < s->n && (redact_is_ident((unsigned char)in[k]) || in[k] == '+' || in[k] == '/' ||
                     in[k] == '=' || in[k] == ':'))
        return 0;
    return k - p;
}

/* A quote that opens or closes a string: '"', '\'' or the escaped "\"" of JSON in JSON. */
static size_t redact_quote_len(const redact_scan_t *s, size_t p)
{
    if (p >= s->n)
        return 0;
    if (s->in[p] == '"' || s->in[p] == '\'')
        return 1;
    if (s->in[p] == '\\' && p + 1 < s->n && s->in[p + 1] == '"')
        return 2;
    return 0;
}

/*
 * The end of a quoted string whose opening quote is in[v, v + qlen): sets *close to the
 * closing quote and returns the position after it. An unclosed string runs to the end of
 * the line, so a cut-off value is still removed whole.
 */
static size_t redact_quoted_end(const redact_scan_t *s, size_t v, size_t qlen, size_t *close)
{
    const char *in = s->in;
    char q = in[v + qlen - 1];
    size_t k = v + qlen;
    while (k < s->n && in[k] != '\n') {
        if (qlen == 2) { /* \" ... \" : the next backslash-quote closes it */
            if (in[k] == '\\' && k + 1 < s->n && in[k + 1] == '"') {
                *close = k;
                return k + 2;
            }
            k += (in[k] == '\\') ? 2 : 1;
            continue;
        }
        if (in[k] == '\\') {
            k += 2;
            continue;
        }
        if (in[k] == q) {
            *close = k;
            return k + 1;
        }
        k++;
    }
    if (k > s->n)
        k = s->n;
    *close = k;
    return k;
}

/* The end of a JSON object or array opening at v, skipping strings; unbalanced: the end. */
static size_t redact_balanced_end(const redact_scan_t *s, size_t v)
{
    const char *in = s->in;
    size_t depth = 0;
    for (size_t k = v; k < s->n; k++) {
        if (in[k] == '"') {
            size_t close;
            k = redact_quoted_end(s, k, 1, &close) - 1;
        } else if (in[k] == '{' || in[k] == '[') {
            depth++;
        } else if (in[k] == '}' || in[k] == ']') {
            if (--depth == 0)
                return k + 1;
        }
    }
    return s->n;
}

/* Whether in[p...] is "name=" (the next parameter of a query string). */
static int redact_param_at(const redact_scan_t *s, size_t p)
{
    size_t k = p;
    while (k < s->n && redact_is_ident((unsigned char)s->in[k]))
        k++;
    return k > p && k < s->n && s->in[k] == '=';
}

/* The seed's value: up to whitespace, ',' or '}'; '&' also ends it before "name=". */
static size_t redact_token_end(const redact_scan_t *s, size_t v)
{
    const char *in = s->in;
    size_t k = v;
    while (k < s->n && !redact_is_space((unsigned char)in[k]) && in[k] != ',' && in[k] != '}') {
        if (in[k] == '&' && redact_param_at(s, k + 1))
            break;
        k++;
    }
    return k;
}

/* One item of an Authorization value: up to whitespace or ',', quoted strings included. */
static size_t redact_auth_item_end(const redact_scan_t *s, size_t v)
{
    const char *in = s->in;
    size_t k = v;
    while (k < s->n && !redact_is_space((unsigned char)in[k]) && in[k] != ',') {
        if (in[k] == '"') {
            size_t close;
            k = redact_quoted_end(s, k, 1, &close);
            continue;
        }
        k++;
    }
    return k;
}

static size_t redact_skip_blanks(const redact_scan_t *s, size_t k)
{
    while (k < s->n && redact_is_blank((unsigned char)s->in[k]))
        k++;
    return k;
}

/*
 * An Authorization value: a scheme, then its credentials ("Basic <b64>", "Bearer <t>"),
 * then any ", name=value" parameters (SigV4's SignedHeaders= and Signature=, Digest).
 * The parse stops there rather than at the end of the line so that the rest of an error
 * message on the same line stays readable.
 */
static size_t redact_auth_end(const redact_scan_t *s, size_t v)
{
    size_t e = redact_auth_item_end(s, v);
    if (e == v)
        return v;
    /* Credentials follow only a scheme name; not the mask of an earlier redaction. */
    int scheme = 1;
    for (size_t k = v; k < e; k++)
        scheme = scheme && (redact_is_alnum((unsigned char)s->in[k]) || s->in[k] == '-');
    size_t t = redact_skip_blanks(s, e);
    if (scheme && t > e && t < s->n && !redact_is_space((unsigned char)s->in[t]) && s->in[t] != ',')
        e = redact_auth_item_end(s, t);
    for (;;) {
        t = redact_skip_blanks(s, e);
        if (t >= s->n || s->in[t] != ',')
            break;
        size_t u = redact_skip_blanks(s, t + 1);
        size_t f = redact_auth_item_end(s, u);
        if (f == u || memchr(s->in + u, '=', f - u) == NULL)
            break;
        e = f;
    }
    return e;
}

/*
 * A PEM private key block at i: "-----BEGIN <label>-----" where the label names a private
 * key, up to the matching "-----END ...-----". The BEGIN and END lines stay so a reader
 * sees what was there; the body goes. Without an END line the rest of the input goes.
 */
static int redact_pem(const redact_scan_t *s, size_t i, redact_match_t *m)
{
    static const char begin[] = "-----BEGIN ";
    const char *in = s->in;
    if (s->n - i < sizeof(begin) - 1 || memcmp(in + i, begin, sizeof(begin) - 1) != 0)
        return 0;
    size_t label = i + sizeof(begin) - 1;
    size_t k = label;
    while (k < s->n && k - label < 64 && (in[k] == ' ' || redact_is_alnum((unsigned char)in[k])))
        k++;
    if (s->n - k < 5 || memcmp(in + k, "-----", 5) != 0)
        return 0;
    int private_key = 0;
    for (size_t p = label; p + 11 <= k && !private_key; p++)
        private_key = memcmp(in + p, "PRIVATE KEY", 11) == 0;
    if (!private_key)
        return 0;

    m->keep = k + 5;
    m->mask = REDACT_MASK;
    m->cut = redact_find(s, m->keep, "-----END ");
    m->resume = s->n;
    if (m->cut < s->n) {
        size_t close = redact_find(s, m->cut + 9, "-----");
        if (close < s->n)
            m->resume = close + 5;
    }
    return 1;
}

/* An AWS access key id: AKIA (long-term) or ASIA (temporary) and 16 of [A-Z0-9]. */
static int redact_aws_key_id(const redact_scan_t *s, size_t i, redact_match_t *m)
{
    const char *in = s->in;
    if (s->n - i < 20 || in[i] != 'A' || (in[i + 1] != 'K' && in[i + 1] != 'S') ||
        in[i + 2] != 'I' || in[i + 3] != 'A')
        return 0;
    if (i > 0 && redact_is_alnum((unsigned char)in[i - 1]))
        return 0;
    for (size_t k = i + 4; k < i + 20; k++) {
        if (!((in[k] >= 'A' && in[k] <= 'Z') || (in[k] >= '0' && in[k] <= '9')))
            return 0;
    }
    if (i + 20 < s->n && redact_is_alnum((unsigned char)in[i + 20]))
        return 0;
    *m = (redact_match_t){i, REDACT_MASK, i + 20, i + 20};
    return 1;
}

/*
 * The password in a URL's userinfo, at the "://" found at i: scheme://user:pass@host. The
 * authority ends at '/', whitespace or a quote (a '/' in a password must be percent-encoded
 * in a URL anyway); its last '@' ends the userinfo, whose first ':' starts the password.
 * A userinfo without ':' is left: by convention it names a user, not a secret.
 */
static int redact_url_userinfo(const redact_scan_t *s, size_t i, redact_match_t *m)
{
    const char *in = s->in;
    if (i == 0 || !redact_is_alnum((unsigned char)in[i - 1]) || s->n - i < 3 || in[i + 1] != '/' ||
        in[i + 2] != '/')
        return 0;
    size_t a = i + 3, at = 0, k;
    for (k = a; k < s->n; k++) {
        unsigned char c = (unsigned char)in[k];
        if (redact_is_space(c) || c == '/' || c == '"' || c == '\'' || c == '<' || c == '>' ||
            c == '\\' || c == '`')
            break;
        if (c == '@')
            at = k;
    }
    if (at == 0)
        return 0;
    const char *colon = memchr(in + a, ':', at - a);
    if (colon == NULL || (size_t)(colon - in) + 1 == at)
        return 0;
    size_t pass = (size_t)(colon - in) + 1;
    *m = (redact_match_t){pass, REDACT_MASK, at, at};
    return 1;
}

/* "AUTH <mechanism> <argument>": the argument is the credential (or its first step). */
static int redact_smtp_auth(const redact_scan_t *s, size_t i, size_t j, redact_match_t *m)
{
    const char *in = s->in;
    if (!redact_ci_equal(in, i, j - i, "auth") || j >= s->n || !redact_is_blank(in[j]))
        return 0;
    size_t mech = redact_skip_blanks(s, j);
    size_t k = mech;
    while (k < s->n && redact_is_ident((unsigned char)in[k]))
        k++;
    int known = 0;
    for (size_t w = 0; w < sizeof(redact_smtp_mechanisms) / sizeof(redact_smtp_mechanisms[0]); w++)
        known = known || redact_ci_equal(in, mech, k - mech, redact_smtp_mechanisms[w]);
    if (!known || k >= s->n || !redact_is_blank(in[k]))
        return 0;
    size_t arg = redact_skip_blanks(s, k);
    size_t end = arg;
    while (end < s->n && !redact_is_space((unsigned char)in[end]))
        end++;
    if (end == arg)
        return 0;
    *m = (redact_match_t){arg, REDACT_MASK, end, end};
    return 1;
}

/*
 * The key rules, for the identifier in[i, j): a key (keyword suffix or header name), then
 * an optional closing quote, optional whitespace, ':' or '=' (or "=>"), optional
 * whitespace and the value. An unquoted key gives the seed's "<key>=***"; a quoted key
 * ("password": "x y", JSON or JSON inside a JSON string) keeps its punctuation and only
 * the value becomes "***", so a redacted JSON document is still JSON.
 */
static int redact_key_value(const redact_scan_t *s, size_t i, size_t j, redact_match_t *m)
{
    const char *in = s->in;

    /* The separator first: it is the cheap test that turns most identifiers away. */
    size_t k = j;
    int quoted_key = 0;
    if (i >= 1 && (in[i - 1] == '"' || in[i - 1] == '\'')) {
        size_t open = (in[i - 1] == '"' && i >= 2 && in[i - 2] == '\\') ? 2 : 1;
        if (redact_quote_len(s, j) == open && in[j + open - 1] == in[i - 1]) {
            quoted_key = 1;
            k = j + open;
        }
    }
    while (k < s->n && redact_is_space((unsigned char)in[k]))
        k++;
    if (k >= s->n || (in[k] != ':' && in[k] != '='))
        return 0;
    if (in[k++] == '=' && k < s->n && in[k] == '>')
        k++;

    redact_value_t kind;
    if (redact_ci_suffix(in, i, j, "authorization", sizeof("authorization") - 1))
        kind = REDACT_VALUE_AUTH;
    else if (redact_ci_equal(in, i, j - i, "cookie") || redact_ci_equal(in, i, j - i, "set-cookie"))
        kind = REDACT_VALUE_LINE;
    else {
        int keyword = 0;
        for (size_t w = 0; w < sizeof(redact_keywords) / sizeof(redact_keywords[0]); w++)
            keyword = keyword ||
                      redact_ci_suffix(in, i, j, redact_keywords[w].word, redact_keywords[w].len);
        if (!keyword)
            return 0;
        kind = REDACT_VALUE_TOKEN;
    }

    /* Header values start on the same line; the seed's rule allows any whitespace. */
    if (kind == REDACT_VALUE_TOKEN) {
        while (k < s->n && redact_is_space((unsigned char)in[k]))
            k++;
    } else {
        k = redact_skip_blanks(s, k);
    }
    size_t v = k;
    if (v >= s->n)
        return 0;

    size_t qlen = redact_quote_len(s, v);
    size_t inner = v + qlen, close = 0, end;
    redact_match_t pem;
    if (qlen > 0) {
        end = redact_quoted_end(s, v, qlen, &close);
    } else if (kind == REDACT_VALUE_AUTH) {
        end = close = redact_auth_end(s, v);
    } else if (kind == REDACT_VALUE_LINE) {
        end = v;
        while (end < s->n && in[end] != '\r' && in[end] != '\n')
            end++;
        close = end;
    } else if (redact_pem(s, v, &pem)) {
        end = close = pem.resume; /* "key:\n-----BEGIN ..." goes whole */
    } else if (in[v] == '{' || in[v] == '[') {
        end = close = redact_balanced_end(s, v);
    } else {
        end = close = redact_token_end(s, v);
    }
    if (end == v)
        return 0;
    if (close > inner && redact_ciphertext_len(s, inner) == close - inner)
        return 0; /* the value is our ciphertext form: not a secret */

    if (!quoted_key && kind == REDACT_VALUE_TOKEN) {
        /* The seed's "$1=***": the key as written, the separator and value replaced. */
        *m = (redact_match_t){j, "=" REDACT_MASK, end, end};
    } else {
        *m = (redact_match_t){inner, REDACT_MASK, close, end};
    }
    return 1;
}

/* The rules that start at the beginning of an identifier in[i, j). */
static int redact_identifier(const redact_scan_t *s, size_t i, size_t j, redact_match_t *m)
{
    size_t len = redact_ciphertext_len(s, i);
    if (len > 0) {
        *m = (redact_match_t){i + len, "", i + len, i + len};
        return 1;
    }
    return redact_smtp_auth(s, i, j, m) || redact_key_value(s, i, j, m);
}

static int redact_match_at(const redact_scan_t *s, size_t i, redact_match_t *m)
{
    const char *in = s->in;
    unsigned char c = (unsigned char)in[i];
    size_t len = s->registry ? redact_registered_at(s, i) : 0;
    if (len > 0) {
        *m = (redact_match_t){i, REDACT_MASK, i + len, i + len};
        goto found;
    }
    if (redact_is_ident(c) && (i == 0 || !redact_is_ident((unsigned char)in[i - 1]))) {
        size_t j = i;
        while (j < s->n && redact_is_ident((unsigned char)in[j]))
            j++;
        if (redact_identifier(s, i, j, m))
            goto found;
    }
    if ((c == 'A' && redact_aws_key_id(s, i, m)) || (c == ':' && redact_url_userinfo(s, i, m)) ||
        (c == '-' && redact_pem(s, i, m)))
        goto found;
    return 0;
found:
    redact_extend(s, m);
    return 1;
}

/* ---- output ---- */

static void redact_put(redact_out_t *o, const char *p, size_t len)
{
    if (o->truncated)
        return;
    if (len > o->cap - o->len) {
        len = o->cap - o->len;
        o->truncated = 1;
    }
    memcpy(o->buf + o->len, p, len);
    o->len += len;
}

/* After a cut, drops a UTF-8 sequence that lost its last bytes. */
static void redact_trim_utf8(redact_out_t *o)
{
    size_t k = o->len, cont = 0;
    while (k > 0 && cont < 3 && ((unsigned char)o->buf[k - 1] & 0xC0) == 0x80) {
        k--;
        cont++;
    }
    if (k == 0)
        return;
    unsigned char lead = (unsigned char)o->buf[k - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (need > cont + 1)
        o->len = k - 1;
}

size_t redact_copy(const char *in, char *out, size_t out_size)
{
    if (out == NULL || out_size == 0)
        return 0;
    if (in == NULL)
        in = "";
    redact_scan_t s = {in, strlen(in), 0};
    redact_out_t o = {out, out_size - 1, 0, 0};
    if (atomic_load_explicit(&redact_count, memory_order_acquire) > 0) {
        pthread_rwlock_rdlock(&redact_lock);
        s.registry = 1;
    }

    size_t copied = 0; /* in[copied, i) is waiting to be copied as it is */
    size_t i = 0;
    while (i < s.n) {
        /* Once the pending text alone overflows the output, nothing later can show. */
        if (i - copied > o.cap - o.len)
            break;
        redact_match_t m;
        if (!redact_match_at(&s, i, &m)) {
            i++;
            continue;
        }
        redact_put(&o, in + copied, m.keep - copied);
        redact_put(&o, m.mask, strlen(m.mask));
        redact_put(&o, in + m.cut, m.resume - m.cut);
        i = copied = m.resume;
    }
    redact_put(&o, in + copied, s.n - copied);

    if (s.registry)
        pthread_rwlock_unlock(&redact_lock);
    if (o.truncated)
        redact_trim_utf8(&o);
    out[o.len] = '\0';
    return o.len;
}
