#include "hex.h"

static const char hex_digits[] = "0123456789abcdef";

int hex_encode(const void *data, size_t len, char *out, size_t out_size)
{
    /* len > (out_size - 1) / 2 instead of 2 * len + 1 > out_size: no overflow. */
    if (out_size == 0 || len > (out_size - 1) / 2) {
        if (out_size > 0)
            out[0] = '\0';
        return HEX_ERR_SPACE;
    }
    const unsigned char *in = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
    return 0;
}

int hex_digit_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *text, size_t text_len, void *out, size_t out_size, size_t *out_len)
{
    unsigned char *o = out;

    *out_len = 0;
    if (text_len % 2 != 0)
        return HEX_ERR_INVALID;
    if (text_len / 2 > out_size)
        return HEX_ERR_SPACE;
    for (size_t i = 0; i < text_len; i += 2) {
        int hi = hex_digit_value((unsigned char)text[i]),
            lo = hex_digit_value((unsigned char)text[i + 1]);
        if ((hi | lo) < 0)
            return HEX_ERR_INVALID;
        o[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *out_len = text_len / 2;
    return 0;
}
