#include "uuid4.h"

#include "crypto.h"

void uuid4_generate(char out[UUID4_TEXT_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char b[16];
    size_t o = 0;

    crypto_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    for (size_t i = 0; i < sizeof(b); i++) {
        /* Dashes after bytes 4, 6, 8 and 10 give the 8-4-4-4-12 groups. */
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[b[i] >> 4];
        out[o++] = digits[b[i] & 0x0f];
    }
    out[o] = '\0';
}
