/*
 * Phone numbers for SMS: normalisation of what a producer wrote into E.164
 * ("+<country code><subscriber number>", ITU-T E.164: at most 15 digits).
 *
 * Only international numbers are accepted. A number without "+" or the "00" international
 * prefix is rejected rather than completed with a default country: guessing the country of
 * "0612345678" sends a message to a stranger when the guess is wrong, so the producer, which
 * knows the user's country, must say it. For the same reason no trunk prefix ("(0)") is
 * removed and vanity letters are not translated.
 */
#ifndef NOTIFY_PHONE_H
#define NOTIFY_PHONE_H

#include <stddef.h>

/* Shortest and longest E.164 numbers accepted, in digits after the '+'. Eight is the
 * shortest full international number in use (small countries' codes with short plans). */
#define PHONE_MIN_DIGITS 8
#define PHONE_MAX_DIGITS 15

/* "+" and 15 digits and the NUL. */
#define PHONE_E164_SIZE 17

/*
 * Normalises `in` (NUL-terminated) to E.164 in `out`:
 *   - spaces, '-', '.', '(' and ')' are separators and are dropped wherever they are;
 *   - the first character that is not a separator must be '+', or the two digits "00"
 *     (international prefix, replaced by '+');
 *   - after that, digits only: a second '+', a letter or any other character is rejected;
 *   - 8 to 15 digits, the first of which (the country code's) is not 0.
 * Returns 0, or -1 with an errstr naming the rule that failed (e.g. "must start with '+'
 * or 00 (national numbers are not accepted)"); then `out` is "" when out_size > 0.
 * out_size must be at least PHONE_E164_SIZE for every valid number to fit.
 */
int phone_normalize_e164(const char *in, char *out, size_t out_size, char *errstr,
                         size_t errstr_size);

#endif
