#include "formenc.h"

#include "hex.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct formenc_s {
    size_t count;
    char *names[FORMENC_MAX_PAIRS];
    char *values[FORMENC_MAX_PAIRS];
    /* One allocation holds every decoded string: decoding never makes text longer. */
    char *storage;
};

/* Decodes in[0..len) into out, NUL-terminates it, and returns the bytes written plus one,
 * or 0 when the text is malformed. */
static size_t formenc_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 1 < len ? hex_digit_value((unsigned char)in[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit_value((unsigned char)in[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return 0;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '\0') {
            return 0;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return o + 1;
}

formenc_t *formenc_parse(const char *body, size_t len, char *errstr, size_t errstr_size)
{
    formenc_t *form = calloc(1, sizeof(*form));
    if (form == NULL)
        abort();
    /* Each segment adds at most two NULs; len + 2 * (segments) <= 3 * len + 2. */
    form->storage = malloc(3 * len + 2);
    if (form->storage == NULL)
        abort();
    char *w = form->storage;
    size_t pos = 0;
    while (pos < len) {
        const char *seg = body + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seg_len = amp ? (size_t)(amp - seg) : len - pos;
        pos += seg_len + (amp ? 1 : 0);
        if (seg_len == 0)
            continue;
        if (form->count == FORMENC_MAX_PAIRS) {
            snprintf(errstr, errstr_size, "more than %d parameters", FORMENC_MAX_PAIRS);
            goto fail;
        }
        const char *eq = memchr(seg, '=', seg_len);
        size_t name_len = eq ? (size_t)(eq - seg) : seg_len;
        size_t n = formenc_decode(seg, name_len, w);
        if (n == 0) {
            snprintf(errstr, errstr_size, "parameter %zu: malformed percent-encoding",
                     form->count + 1);
            goto fail;
        }
        form->names[form->count] = w;
        w += n;
        n = eq ? formenc_decode(eq + 1, seg_len - name_len - 1, w) : formenc_decode("", 0, w);
        if (n == 0) {
            snprintf(errstr, errstr_size, "parameter %zu: malformed percent-encoding",
                     form->count + 1);
            goto fail;
        }
        form->values[form->count] = w;
        w += n;
        /* Twilio encodes UTF-8; other bytes were not written by it, and could not go into
         * a status event or the database as text. */
        if (!utf8_valid(form->names[form->count], strlen(form->names[form->count])) ||
            !utf8_valid(w - n, n - 1)) {
            snprintf(errstr, errstr_size, "parameter %zu: not UTF-8", form->count + 1);
            goto fail;
        }
        form->count++;
    }
    return form;
fail:
    formenc_destroy(form);
    return NULL;
}

void formenc_destroy(formenc_t *form)
{
    if (form == NULL)
        return;
    free(form->storage);
    free(form);
}

size_t formenc_count(const formenc_t *form)
{
    return form->count;
}

const char *formenc_name(const formenc_t *form, size_t i)
{
    return i < form->count ? form->names[i] : NULL;
}

const char *formenc_value(const formenc_t *form, size_t i)
{
    return i < form->count ? form->values[i] : NULL;
}

const char *formenc_get(const formenc_t *form, const char *name)
{
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->names[i], name) == 0)
            return form->values[i];
    return NULL;
}
