#include "base64.h"

#include <stdbool.h>
#include <stdint.h>

/*
 * The two alphabets differ only in the characters for 62 and 63 and in padding, so one
 * encoder and one decoder serve both, driven by this description.
 */
typedef struct base64_variant_s {
    const char *alphabet; /* 64 characters */
    bool padded;
} base64_variant_t;

static const base64_variant_t base64_standard = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true};
static const base64_variant_t base64_urlsafe = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false};

/* Sizes saturate at SIZE_MAX instead of wrapping, so an absurd length can never fit. */
static size_t base64_size(size_t len, bool padded)
{
    size_t groups = len / 3, rest = len % 3;
    if (groups > (SIZE_MAX - 4) / 4)
        return SIZE_MAX;
    if (rest == 0)
        return groups * 4;
    return groups * 4 + (padded ? 4 : rest + 1);
}

size_t base64_encoded_size(size_t len)
{
    return base64_size(len, true);
}

size_t base64_url_encoded_size(size_t len)
{
    return base64_size(len, false);
}

size_t base64_decoded_max(size_t text_len)
{
    return text_len / 4 * 3 + (text_len % 4) * 3 / 4;
}

static int base64_encode_variant(const base64_variant_t *v, const void *data, size_t len, char *out,
                                 size_t out_size)
{
    size_t need = base64_size(len, v->padded);
    if (need == SIZE_MAX || need >= out_size) {
        if (out_size > 0)
            out[0] = '\0';
        return BASE64_ERR_SPACE;
    }
    const unsigned char *in = data;
    const char *a = v->alphabet;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[(w >> 18) & 63];
        out[o++] = a[(w >> 12) & 63];
        out[o++] = a[(w >> 6) & 63];
        out[o++] = a[w & 63];
    }
    if (len - i == 1) {
        uint32_t w = (uint32_t)in[i] << 16;
        out[o++] = a[(w >> 18) & 63];
        out[o++] = a[(w >> 12) & 63];
        if (v->padded) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = a[(w >> 18) & 63];
        out[o++] = a[(w >> 12) & 63];
        out[o++] = a[(w >> 6) & 63];
        if (v->padded)
            out[o++] = '=';
    }
    out[o] = '\0';
    return 0;
}

int base64_encode(const void *data, size_t len, char *out, size_t out_size)
{
    return base64_encode_variant(&base64_standard, data, len, out, out_size);
}

int base64_url_encode(const void *data, size_t len, char *out, size_t out_size)
{
    return base64_encode_variant(&base64_urlsafe, data, len, out, out_size);
}

/* The 6-bit value of `c` in the variant's alphabet, or -1 ('=' included). */
static int base64_value(const base64_variant_t *v, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (unsigned char)v->alphabet[62])
        return 62;
    if (c == (unsigned char)v->alphabet[63])
        return 63;
    return -1;
}

static int base64_decode_variant(const base64_variant_t *v, const char *text, size_t text_len,
                                 void *out, size_t out_size, size_t *out_len)
{
    const unsigned char *t = (const unsigned char *)text;
    unsigned char *o = out;
    size_t data_chars = text_len;

    *out_len = 0;
    if (v->padded) {
        if (text_len % 4 != 0)
            return BASE64_ERR_INVALID;
        /* At most two '=' and only at the end; any other '=' fails as a bad character. */
        if (text_len >= 1 && t[text_len - 1] == '=')
            data_chars--;
        if (text_len >= 2 && t[text_len - 2] == '=')
            data_chars--;
    } else if (text_len % 4 == 1) {
        return BASE64_ERR_INVALID; /* one character carries only 6 bits: never a byte */
    }

    size_t rest = data_chars % 4;
    size_t need = data_chars / 4 * 3 + (rest == 0 ? 0 : rest - 1);
    if (need > out_size)
        return BASE64_ERR_SPACE;

    size_t i = 0, n = 0;
    for (; i + 4 <= data_chars; i += 4) {
        int a = base64_value(v, t[i]), b = base64_value(v, t[i + 1]);
        int c = base64_value(v, t[i + 2]), d = base64_value(v, t[i + 3]);
        if ((a | b | c | d) < 0)
            return BASE64_ERR_INVALID;
        uint32_t w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        o[n++] = (unsigned char)(w >> 16);
        o[n++] = (unsigned char)(w >> 8);
        o[n++] = (unsigned char)w;
    }
    if (rest >= 2) {
        int a = base64_value(v, t[i]), b = base64_value(v, t[i + 1]);
        int c = rest == 3 ? base64_value(v, t[i + 2]) : 0;
        if ((a | b | c) < 0)
            return BASE64_ERR_INVALID;
        /* Bits below the last whole byte must be zero (canonical form only). */
        if (rest == 2 && (b & 0x0f) != 0)
            return BASE64_ERR_INVALID;
        if (rest == 3 && (c & 0x03) != 0)
            return BASE64_ERR_INVALID;
        uint32_t w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        o[n++] = (unsigned char)(w >> 16);
        if (rest == 3)
            o[n++] = (unsigned char)(w >> 8);
    }
    *out_len = n;
    return 0;
}

int base64_decode(const char *text, size_t text_len, void *out, size_t out_size, size_t *out_len)
{
    return base64_decode_variant(&base64_standard, text, text_len, out, out_size, out_len);
}

int base64_url_decode(const char *text, size_t text_len, void *out, size_t out_size,
                      size_t *out_len)
{
    return base64_decode_variant(&base64_urlsafe, text, text_len, out, out_size, out_len);
}
