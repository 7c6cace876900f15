#include "utf8.h"

size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t c, min;
    size_t n;

    if (len == 0)
        return 0;
    c = s[0];
    if (c < 0x80) {
        n = 1;
        min = 0;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        c &= 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        c &= 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    if (cp)
        *cp = c;
    return n;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, n; i < len; i += n) {
        if (p[i] < 0x80) {
            n = 1;
            continue;
        }
        n = utf8_decode(p + i, len - i, NULL);
        if (n == 0)
            return false;
    }
    return true;
}

size_t utf8_cut(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = len;
    /* Back over at most three continuation bytes to the lead byte of the last sequence. */
    while (start > 0 && len - start < 3 && (p[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0 || p[start - 1] < 0xC0)
        return len;
    unsigned char lead = p[start - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    return len - (start - 1) < need ? start - 1 : len;
}
