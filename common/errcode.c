#include "errcode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct errcode_entry_s {
    const char *name;
    bool retryable;
    const char *description;
} errcode_entry_t;

/* Indexed by errcode_t; row 0 is ERRCODE_OK. */
static const errcode_entry_t errcode_table[ERRCODE__COUNT] = {{"OK", false, ""},
#define ERRCODE_X_ROW(name, retryable, description) {#name, retryable, description},
                                                              ERRCODE_MAP(ERRCODE_X_ROW)
#undef ERRCODE_X_ROW
};

typedef struct errcode_twilio_entry_s {
    int code;
    bool retryable;
    const char *description;
} errcode_twilio_entry_t;

static const errcode_twilio_entry_t errcode_twilio_table[] = {
#define ERRCODE_X_TWILIO(code, retryable, description) {code, retryable, description},
    ERRCODE_TWILIO_MAP(ERRCODE_X_TWILIO)
#undef ERRCODE_X_TWILIO
};

#define ERRCODE_TWILIO_COUNT (sizeof(errcode_twilio_table) / sizeof(errcode_twilio_table[0]))

static const errcode_entry_t *errcode_entry(errcode_t code)
{
    if ((int)code < 0 || (int)code >= ERRCODE__COUNT)
        return NULL;
    return &errcode_table[code];
}

const char *errcode_name(errcode_t code)
{
    const errcode_entry_t *e = errcode_entry(code);
    return e ? e->name : "UNKNOWN";
}

bool errcode_retryable(errcode_t code)
{
    const errcode_entry_t *e = errcode_entry(code);
    return e ? e->retryable : false;
}

const char *errcode_description(errcode_t code)
{
    const errcode_entry_t *e = errcode_entry(code);
    return e ? e->description : "";
}

int errcode_from_name(const char *name, errcode_t *out)
{
    if (name == NULL)
        return -1;
    /* Row 0 ("OK") is skipped on purpose: it is not a name that travels. */
    for (int i = 1; i < ERRCODE__COUNT; i++) {
        if (strcmp(errcode_table[i].name, name) == 0) {
            if (out)
                *out = (errcode_t)i;
            return 0;
        }
    }
    return -1;
}

static const errcode_twilio_entry_t *errcode_twilio_entry(int code)
{
    for (size_t i = 0; i < ERRCODE_TWILIO_COUNT; i++) {
        if (errcode_twilio_table[i].code == code)
            return &errcode_twilio_table[i];
    }
    return NULL;
}

int errcode_twilio_lookup(int code, int http_status, char *name, size_t name_size, bool *retryable)
{
    int result = -1;
    bool retry = false;
    const errcode_twilio_entry_t *e;

    if (name && name_size > 0)
        name[0] = '\0';
    if (code <= 0)
        goto out;
    if (name) {
        int n = snprintf(name, name_size, "TWILIO_%d", code);
        if (n < 0 || (size_t)n >= name_size) {
            if (name_size > 0)
                name[0] = '\0';
            goto out;
        }
    }
    e = errcode_twilio_entry(code);
    if (e) {
        retry = e->retryable;
        result = 1;
    } else {
        /* Twilio's rule for codes it has not documented: the request was not processed
         * when the answer was 429 or 5xx; anything else is a permanent refusal. */
        retry = http_status == 429 || (http_status >= 500 && http_status <= 599);
        result = 0;
    }

out:
    if (retryable)
        *retryable = result >= 0 ? retry : false;
    return result;
}

const char *errcode_twilio_description(int code)
{
    const errcode_twilio_entry_t *e = errcode_twilio_entry(code);
    return e ? e->description : NULL;
}

int errcode_classify(const char *name, bool *retryable)
{
    errcode_t code;
    const char *digits;
    char *end;
    long n;

    if (retryable)
        *retryable = false;
    if (name == NULL)
        return -1;
    if (errcode_from_name(name, &code) == 0) {
        if (retryable)
            *retryable = errcode_retryable(code);
        return 0;
    }
    if (strncmp(name, "TWILIO_", 7) != 0)
        return -1;
    digits = name + 7;
    /* One spelling per number: strtol alone would also take "+21211", " 21211" or
     * "021211", which would then name the same code twice in metrics and events. */
    if (digits[0] < '1' || digits[0] > '9')
        return -1;
    errno = 0;
    n = strtol(digits, &end, 10);
    if (errno != 0 || *end != '\0' || n > 2147483647L)
        return -1;
    return errcode_twilio_lookup((int)n, 0, NULL, 0, retryable) >= 0 ? 0 : -1;
}

bool errcode_credentials_refused(const char *name)
{
    return name != NULL && (strcmp(name, errcode_name(ERRCODE_AUTH_FAILED)) == 0 ||
                            strcmp(name, "TWILIO_20003") == 0);
}
