/*
 * Writing application/x-www-form-urlencoded, as Twilio's REST API takes its parameters
 * and as it posts its status callbacks (formenc.h reads it): name=value pairs joined by
 * '&', each byte outside the unreserved set A-Z a-z 0-9 - . _ ~ written as %XX, and a space
 * as '+', the way the official helpers (Python's urlencode) write it. The buffer has a hard
 * cap so that a hostile request can never make it grow without bound.
 */
#ifndef NOTIFY_TWILIO_FORM_H
#define NOTIFY_TWILIO_FORM_H

#include <stddef.h>

/* Far above any legal message (1600 characters of 4-byte UTF-8, escaped, plus the rest). */
#define TWILIO_FORM_MAX 65536

typedef struct twilio_form_s twilio_form_t;

twilio_form_t *twilio_form_new(void);
void twilio_form_destroy(twilio_form_t *form);

/* Empties the form and keeps its buffer, so that one form serves request after request. */
void twilio_form_reset(twilio_form_t *form);

/* Appends name=value (both encoded). Returns 0, or -1 when the cap would be passed (the
 * form is then unchanged). */
int twilio_form_add(twilio_form_t *form, const char *name, const char *value);

/* The encoded text, NUL-terminated ("" when empty), and its length. Owned by the form. */
const char *twilio_form_data(const twilio_form_t *form);
size_t twilio_form_len(const twilio_form_t *form);

/*
 * Percent-encodes `value` into `out` as twilio_form_add() does (with `plus_for_space`) or
 * for a URL path segment (without: a space is %20). Returns the length, or -1 when it does
 * not fit (out is then "" when out_size > 0).
 */
int twilio_form_escape(const char *value, int plus_for_space, char *out, size_t out_size);

#endif
