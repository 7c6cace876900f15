#include "phone.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool phone_is_separator(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

static bool phone_is_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int phone_fail(char *errstr, size_t errstr_size, const char *rule)
{
    if (errstr && errstr_size > 0)
        snprintf(errstr, errstr_size, "%s", rule);
    return -1;
}

int phone_normalize_e164(const char *in, char *out, size_t out_size, char *errstr,
                         size_t errstr_size)
{
    char digits[PHONE_MAX_DIGITS + 1];
    size_t ndigits = 0;
    bool prefixed = false; /* a '+' or "00" has been read */
    int leading_zeros = 0; /* zeros read while looking for "00" */
    const char *p;

    if (out && out_size > 0)
        out[0] = '\0';
    if (in == NULL || in[0] == '\0')
        return phone_fail(errstr, errstr_size, "must not be empty");

    for (p = in; *p; p++) {
        char c = *p;
        if (phone_is_separator(c))
            continue;
        if (c == '+') {
            if (prefixed || leading_zeros > 0)
                return phone_fail(errstr, errstr_size, "'+' is allowed only once, at the start");
            prefixed = true;
            continue;
        }
        if (phone_is_letter(c))
            return phone_fail(errstr, errstr_size, "must not contain letters");
        if (c < '0' || c > '9')
            return phone_fail(errstr, errstr_size,
                              "may contain only digits, a leading '+', spaces, '-', '.', "
                              "'(' and ')'");
        if (!prefixed) {
            /* Before any prefix only the two zeros of "00" may appear. */
            if (c != '0')
                return phone_fail(errstr, errstr_size,
                                  "must start with '+' or 00 (national numbers are not "
                                  "accepted)");
            if (++leading_zeros == 2)
                prefixed = true;
            continue;
        }
        if (ndigits == 0 && c == '0')
            return phone_fail(errstr, errstr_size, "country code must not start with 0");
        if (ndigits == PHONE_MAX_DIGITS)
            return phone_fail(errstr, errstr_size, "more than 15 digits");
        digits[ndigits++] = c;
    }

    if (!prefixed) {
        if (leading_zeros == 0 && ndigits == 0)
            return phone_fail(errstr, errstr_size, "must not be empty");
        return phone_fail(errstr, errstr_size,
                          "must start with '+' or 00 (national numbers are not accepted)");
    }
    if (ndigits < PHONE_MIN_DIGITS)
        return phone_fail(errstr, errstr_size, "fewer than 8 digits");
    digits[ndigits] = '\0';
    if (out == NULL || out_size < ndigits + 2)
        return phone_fail(errstr, errstr_size, "output buffer too small");
    out[0] = '+';
    memcpy(out + 1, digits, ndigits + 1);
    return 0;
}
