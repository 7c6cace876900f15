/*
 * application/x-www-form-urlencoded bodies (Twilio's status callbacks): "a=1&b=x+y%21"
 * decoded into name/value pairs in the order received, '+' read as a space and %XX as the
 * byte it names. Repeated names are kept, each pair on its own: Twilio's signature covers
 * every value of a repeated parameter.
 *
 * Decoding is strict where leniency would change what a signature covers: a '%' not
 * followed by two hex digits, or a decoded NUL byte, rejects the whole body. So does a
 * name or value that does not decode to well-formed UTF-8. An empty
 * segment ("a=1&&b=2") is skipped and a segment without '=' is a name with an empty value,
 * as browsers and Twilio's helpers read them.
 */
#ifndef NOTIFY_FORMENC_H
#define NOTIFY_FORMENC_H

#include <stddef.h>

/* Most pairs one body may hold; beyond it the body is refused rather than grown without
 * bound (a callback has a few dozen). */
#define FORMENC_MAX_PAIRS 256

typedef struct formenc_s formenc_t;

/*
 * Decodes `len` bytes of `body` (no NUL needed). Returns the pairs (free them with
 * formenc_destroy()), or NULL with errstr when the body breaks a rule above.
 */
formenc_t *formenc_parse(const char *body, size_t len, char *errstr, size_t errstr_size);
void formenc_destroy(formenc_t *form);

size_t formenc_count(const formenc_t *form);
/* The decoded name and value of the i-th pair (i < formenc_count()); NUL-terminated. */
const char *formenc_name(const formenc_t *form, size_t i);
const char *formenc_value(const formenc_t *form, size_t i);
/* The value of the first pair called `name`, or NULL when there is none. */
const char *formenc_get(const formenc_t *form, const char *name);

#endif
