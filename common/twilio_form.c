#include "twilio_form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct twilio_form_s {
    char *buf;
    size_t len;
    size_t cap;
};

static int twilio_form_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int twilio_form_escape(const char *value, int plus_for_space, char *out, size_t out_size)
{
    static const char hexdig[] = "0123456789ABCDEF";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        size_t need = twilio_form_unreserved(*p) || (*p == ' ' && plus_for_space) ? 1 : 3;
        if (o + need >= out_size) {
            if (out_size > 0)
                out[0] = '\0';
            return -1;
        }
        if (twilio_form_unreserved(*p)) {
            out[o++] = (char)*p;
        } else if (*p == ' ' && plus_for_space) {
            out[o++] = '+';
        } else {
            out[o++] = '%';
            out[o++] = hexdig[*p >> 4];
            out[o++] = hexdig[*p & 15];
        }
    }
    if (out_size == 0)
        return -1;
    out[o] = '\0';
    return (int)o;
}

twilio_form_t *twilio_form_new(void)
{
    twilio_form_t *form = calloc(1, sizeof(*form));
    if (form == NULL)
        abort();
    form->cap = 1024;
    form->buf = malloc(form->cap);
    if (form->buf == NULL)
        abort();
    form->buf[0] = '\0';
    return form;
}

void twilio_form_reset(twilio_form_t *form)
{
    form->len = 0;
    form->buf[0] = '\0';
}

void twilio_form_destroy(twilio_form_t *form)
{
    if (form == NULL)
        return;
    free(form->buf);
    free(form);
}

/* Room for `extra` more bytes and the NUL, within the cap. */
static int twilio_form_reserve(twilio_form_t *form, size_t extra)
{
    size_t need = form->len + extra + 1;
    if (need > TWILIO_FORM_MAX)
        return -1;
    if (need <= form->cap)
        return 0;
    size_t cap = form->cap;
    while (cap < need)
        cap *= 2;
    if (cap > TWILIO_FORM_MAX)
        cap = TWILIO_FORM_MAX;
    char *b = realloc(form->buf, cap);
    if (b == NULL)
        abort();
    form->buf = b;
    form->cap = cap;
    return 0;
}

int twilio_form_add(twilio_form_t *form, const char *name, const char *value)
{
    /* Worst case every byte is escaped: three bytes out for one in. */
    size_t nlen = strlen(name), vlen = strlen(value);
    size_t worst = 1 + 3 * nlen + 1 + 3 * vlen;
    size_t start = form->len;
    int n;

    if (twilio_form_reserve(form, worst) != 0)
        return -1;
    if (form->len > 0)
        form->buf[form->len++] = '&';
    n = twilio_form_escape(name, 1, form->buf + form->len, form->cap - form->len);
    if (n < 0)
        goto fail;
    form->len += (size_t)n;
    form->buf[form->len++] = '=';
    n = twilio_form_escape(value, 1, form->buf + form->len, form->cap - form->len);
    if (n < 0)
        goto fail;
    form->len += (size_t)n;
    return 0;

fail:
    form->len = start;
    form->buf[start] = '\0';
    return -1;
}

const char *twilio_form_data(const twilio_form_t *form)
{
    return form->buf;
}

size_t twilio_form_len(const twilio_form_t *form)
{
    return form->len;
}
