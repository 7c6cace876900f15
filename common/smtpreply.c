#include "smtpreply.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Which stages a row applies to. */
#define ST(s)   (1u << (s))
#define ST_ANY  0xFFFFu
#define ST_ENV  (ST(SMTPREPLY_MAIL) | ST(SMTPREPLY_RCPT) | ST(SMTPREPLY_DATA))
#define ST_SEND (ST_ENV | ST(SMTPREPLY_CONNECT) | ST(SMTPREPLY_EHLO))

typedef enum {
    RETRY_TABLE = 0, /* errcode_retryable() of the row's code */
    RETRY_YES,
    RETRY_NO,
} smtpreply_retry_t;

/* One row. lo..hi is the reply code range; enh is a pattern of the enhanced code where '*'
 * matches any digits of one field ("*.7.1" is 4.7.1 and 5.7.1); words is a list of
 * lower-case phrases separated by '|', any of which in the text matches. NULL matches
 * anything. */
typedef struct smtpreply_row_s {
    unsigned stages;
    int lo, hi;
    const char *enh;
    const char *words;
    errcode_t code;
    smtpreply_retry_t retry;
} smtpreply_row_t;

#define BLOCKLIST_WORDS                                                                   \
    "blocked using|blacklist|blocklist|listed in|listed at|listed by|spamhaus|dnsbl|rbl|" \
    "client host [|reputation"
#define RELAY_WORDS                                                                         \
    "relay access denied|unable to relay|relaying denied|relay denied|relay not permitted|" \
    "not permitted to relay|relaying not allowed|relay not allowed|no relay"
#define SIZE_WORDS     "too large|too big|message size|size limit|exceeds"
#define TOO_MANY_WORDS "too many recipients"

static const smtpreply_row_t smtpreply_table[] = {
    /* No reply: the connection failed or was closed. */
    {ST_ANY, 0, 0, NULL, NULL, ERRCODE_CONNECTION_FAILED, RETRY_YES},
    /* STARTTLS refused: 454 4.7.0 TLS not available now, or not implemented. */
    {ST(SMTPREPLY_STARTTLS), 400, 599, NULL, NULL, ERRCODE_TLS_FAILED, RETRY_TABLE},
    /* AUTH: 535 5.7.8 bad credentials, 534 mechanism too weak, 530 auth required are the
     * organisation's configuration; 454 4.7.0 and other 4xx are the server's trouble. */
    {ST(SMTPREPLY_AUTH), 400, 499, NULL, NULL, ERRCODE_AUTH_FAILED, RETRY_YES},
    {ST(SMTPREPLY_AUTH), 500, 599, NULL, NULL, ERRCODE_AUTH_FAILED, RETRY_NO},
    /* 530 5.7.0 "authentication required" or 538 "encryption required" at MAIL: the same
     * configuration problem, seen later. */
    {ST_SEND, 530, 530, NULL, NULL, ERRCODE_AUTH_FAILED, RETRY_NO},
    {ST_SEND, 538, 538, NULL, NULL, ERRCODE_TLS_FAILED, RETRY_NO},
    {ST_SEND, 500, 599, "*.7.8", NULL, ERRCODE_AUTH_FAILED, RETRY_NO},
    /* 421 closes the session at any point: retried on a new connection. */
    {ST_ANY, 421, 421, NULL, NULL, ERRCODE_SMTP_421, RETRY_YES},
    /* A mailbox that does not exist, whatever the text around it says ("User unknown in
     * relay recipient table" is not a relay refusal). */
    {ST(SMTPREPLY_RCPT), 500, 599, "*.1.1", NULL, ERRCODE_RECIPIENT_REJECTED, RETRY_NO},
    /* Policy refusals, told apart by their text; permanent only. */
    {ST_SEND, 500, 599, NULL, BLOCKLIST_WORDS, ERRCODE_BLACKLISTED, RETRY_NO},
    {ST_SEND, 500, 599, NULL, RELAY_WORDS, ERRCODE_RELAY_DENIED, RETRY_NO},
    /* 571 is older Microsoft servers' "delivery not authorized" (relay refused). */
    {ST_SEND, 571, 571, NULL, NULL, ERRCODE_RELAY_DENIED, RETRY_NO},
    {ST_SEND, 500, 599, NULL, "spam", ERRCODE_SPAM_DETECTED, RETRY_NO},
    {ST(SMTPREPLY_DATA), 500, 599, "*.7.1", NULL, ERRCODE_SPAM_DETECTED, RETRY_NO},
    {ST(SMTPREPLY_DATA), 500, 599, "*.7.*", NULL, ERRCODE_SPAM_DETECTED, RETRY_NO},
    /* Too many recipients is temporary even as a 552 (RFC 5321 4.5.3.1.10): the rest goes
     * in another transaction. */
    {ST_ENV, 452, 452, NULL, NULL, ERRCODE_SMTP_452, RETRY_YES},
    {ST_ENV, 552, 552, "*.5.3", NULL, ERRCODE_SMTP_552, RETRY_YES},
    {ST_ENV, 552, 552, NULL, TOO_MANY_WORDS, ERRCODE_SMTP_552, RETRY_YES},
    /* Size: 552 5.3.4 message too big for the system, 5.2.3 over the administrative limit. */
    {ST_ENV, 500, 599, "*.3.4", NULL, ERRCODE_MESSAGE_TOO_LARGE, RETRY_NO},
    {ST_ENV, 500, 599, "*.2.3", NULL, ERRCODE_MESSAGE_TOO_LARGE, RETRY_NO},
    {ST(SMTPREPLY_MAIL) | ST(SMTPREPLY_DATA), 552, 554, NULL, SIZE_WORDS, ERRCODE_MESSAGE_TOO_LARGE,
     RETRY_NO},
    /* A mailbox that is full: 4.2.2 waits, 5.2.2 is the server's final word. */
    {ST_ENV, 400, 499, "*.2.2", NULL, ERRCODE_SMTP_452, RETRY_YES},
    /* The recipient: 550 5.1.1 no such user, 551 not local, 553 name not allowed, 5.1.x
     * addressing, 521/556 domain accepts no mail (RFC 7504), 5.7.1 refused for it. */
    {ST(SMTPREPLY_RCPT), 550, 551, NULL, NULL, ERRCODE_RECIPIENT_REJECTED, RETRY_NO},
    {ST(SMTPREPLY_RCPT), 553, 553, NULL, NULL, ERRCODE_RECIPIENT_REJECTED, RETRY_NO},
    {ST(SMTPREPLY_RCPT), 521, 521, NULL, NULL, ERRCODE_RECIPIENT_REJECTED, RETRY_NO},
    {ST(SMTPREPLY_RCPT), 556, 556, NULL, NULL, ERRCODE_RECIPIENT_REJECTED, RETRY_NO},
    {ST(SMTPREPLY_RCPT), 500, 599, "*.1.*", NULL, ERRCODE_RECIPIENT_REJECTED, RETRY_NO},
    {ST(SMTPREPLY_RCPT), 500, 599, "*.7.1", NULL, ERRCODE_RECIPIENT_REJECTED, RETRY_NO},
    /* The sender: 550/553 to MAIL, 5.1.7 bad sender syntax, 5.1.8 bad sender domain. */
    {ST(SMTPREPLY_MAIL), 550, 550, NULL, NULL, ERRCODE_SENDER_REJECTED, RETRY_NO},
    {ST(SMTPREPLY_MAIL), 553, 553, NULL, NULL, ERRCODE_SENDER_REJECTED, RETRY_NO},
    {ST(SMTPREPLY_MAIL), 500, 599, "*.1.7", NULL, ERRCODE_SENDER_REJECTED, RETRY_NO},
    {ST(SMTPREPLY_MAIL), 500, 599, "*.1.8", NULL, ERRCODE_SENDER_REJECTED, RETRY_NO},
    {ST(SMTPREPLY_MAIL), 500, 599, "*.7.1", NULL, ERRCODE_SENDER_REJECTED, RETRY_NO},
    /* The seed's codes, as they are. */
    {ST_ANY, 450, 450, NULL, NULL, ERRCODE_SMTP_450, RETRY_TABLE},
    {ST_ANY, 451, 451, NULL, NULL, ERRCODE_SMTP_451, RETRY_TABLE},
    {ST_ANY, 452, 452, NULL, NULL, ERRCODE_SMTP_452, RETRY_TABLE},
    {ST_ANY, 500, 500, NULL, NULL, ERRCODE_SMTP_500, RETRY_TABLE},
    {ST_ANY, 501, 501, NULL, NULL, ERRCODE_SMTP_501, RETRY_TABLE},
    {ST_ANY, 502, 502, NULL, NULL, ERRCODE_SMTP_502, RETRY_TABLE},
    {ST_ANY, 503, 503, NULL, NULL, ERRCODE_SMTP_503, RETRY_TABLE},
    {ST_ANY, 504, 504, NULL, NULL, ERRCODE_SMTP_504, RETRY_TABLE},
    {ST_ANY, 550, 550, NULL, NULL, ERRCODE_SMTP_550, RETRY_TABLE},
    {ST_ANY, 551, 551, NULL, NULL, ERRCODE_SMTP_551, RETRY_TABLE},
    {ST_ANY, 552, 552, NULL, NULL, ERRCODE_SMTP_552, RETRY_TABLE},
    {ST_ANY, 553, 553, NULL, NULL, ERRCODE_SMTP_553, RETRY_TABLE},
    {ST_ANY, 554, 554, NULL, NULL, ERRCODE_SMTP_554, RETRY_TABLE},
    /* Codes outside the seed's list keep their class: any other 4xx is a local error to
     * retry (454, 455 ...), any other 5xx the transaction failing. */
    {ST_ANY, 400, 499, NULL, NULL, ERRCODE_SMTP_451, RETRY_YES},
    {ST_ANY, 500, 599, NULL, NULL, ERRCODE_SMTP_554, RETRY_NO},
    /* 2xx/3xx where a failure was seen: the server broke the protocol. */
    {ST_ANY, 1, 399, NULL, NULL, ERRCODE_SMTP_503, RETRY_NO},
};

static const char *const smtpreply_stage_names[SMTPREPLY__COUNT] = {
    "CONNECT", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA",
};

const char *smtpreply_stage_name(smtpreply_stage_t stage)
{
    return (unsigned)stage < SMTPREPLY__COUNT ? smtpreply_stage_names[stage] : "?";
}

int smtpreply_enhanced(const char *text, char *out, size_t out_size)
{
    /* class "." subject "." detail: class 2, 4 or 5; subject 1-3 digits; detail 1-3. */
    if (text == NULL || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.')
        return -1;
    size_t i = 2;
    for (int field = 0; field < 2; field++) {
        size_t start = i;
        while (isdigit((unsigned char)text[i]) && i - start < 3)
            i++;
        if (i == start)
            return -1;
        if (field == 0) {
            if (text[i] != '.')
                return -1;
            i++;
        }
    }
    if (isdigit((unsigned char)text[i]) || i + 1 > out_size)
        return -1;
    memcpy(out, text, i);
    out[i] = '\0';
    return 0;
}

/* Does "4.7.1" match "*.7.1"? Fields compare whole; '*' matches any field. */
static int smtpreply_enh_match(const char *pattern, const char *enh)
{
    while (*pattern) {
        size_t plen = strcspn(pattern, "."), elen = strcspn(enh, ".");
        if (!(plen == 1 && pattern[0] == '*') && (plen != elen || memcmp(pattern, enh, plen) != 0))
            return 0;
        pattern += plen;
        enh += elen;
        if ((*pattern == '.') != (*enh == '.'))
            return 0;
        if (*pattern == '.')
            pattern++, enh++;
    }
    return *enh == '\0';
}

/* Does the lower-cased text hold any of the '|'-separated phrases? */
static int smtpreply_words_match(const char *words, const char *lower)
{
    while (*words) {
        size_t n = strcspn(words, "|");
        for (const char *p = lower; *p; p++)
            if (strncmp(p, words, n) == 0)
                return 1;
        words += n;
        if (*words == '|')
            words++;
    }
    return 0;
}

smtpreply_verdict_t smtpreply_classify(smtpreply_stage_t stage, int code, const char *text,
                                       bool enhanced)
{
    char enh[16] = "";
    char lower[512];
    size_t n = 0;
    if (enhanced)
        smtpreply_enhanced(text, enh, sizeof(enh));
    for (; text && text[n] && n + 1 < sizeof(lower); n++)
        lower[n] = (char)tolower((unsigned char)text[n]);
    lower[n] = '\0';

    for (size_t i = 0; i < sizeof(smtpreply_table) / sizeof(smtpreply_table[0]); i++) {
        const smtpreply_row_t *r = &smtpreply_table[i];
        if (!(r->stages & ST(stage)) || code < r->lo || code > r->hi)
            continue;
        if (r->enh && (enh[0] == '\0' || !smtpreply_enh_match(r->enh, enh)))
            continue;
        if (r->words && !smtpreply_words_match(r->words, lower))
            continue;
        smtpreply_verdict_t v = {r->code, r->retry == RETRY_YES};
        if (r->retry == RETRY_TABLE)
            v.retryable = errcode_retryable(r->code);
        return v;
    }
    /* Codes above 599 or negative: nothing a server should send. */
    smtpreply_verdict_t v = {ERRCODE_SMTP_554, false};
    return v;
}
