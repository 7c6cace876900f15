#include "smsseg.h"

#include "utf8.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/*
 * The GSM 03.38 default alphabet in table order (0x00-0x7F), as UTF-8 so a reader can check
 * it against the standard. 0x1B (the escape to the extension table) is not a character and
 * is left out; 0x09 is the capital C with cedilla, as in the standard's table.
 */
static const char smsseg_gsm7_basic[] = "@£$¥èéùìòÇ\nØø\rÅå"
                                        "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
                                        " !\"#¤%&'()*+,-./"
                                        "0123456789:;<=>?"
                                        "¡ABCDEFGHIJKLMNO"
                                        "PQRSTUVWXYZÄÖÑÜ§"
                                        "¿abcdefghijklmno"
                                        "pqrstuvwxyzäöñüà";

/* The extension table: each costs the escape septet and its own. */
static const char smsseg_gsm7_extension[] = "\f^{}\\[~]|€";

/* Septets per code point below U+0100 (0 = not in GSM-7), built once from the tables
 * above; the few characters beyond Latin-1 (Greek capitals, the euro sign) are found by
 * scanning the tables, which is rare enough not to need an index. */
static unsigned char smsseg_latin1_cost[256];
static pthread_once_t smsseg_once = PTHREAD_ONCE_INIT;

static bool smsseg_table_has(const char *table, uint32_t cp)
{
    const unsigned char *p = (const unsigned char *)table;
    size_t len = strlen(table);
    size_t off = 0;

    while (off < len) {
        uint32_t t;
        size_t n = utf8_decode(p + off, len - off, &t);
        if (n == 0)
            return false;
        if (t == cp)
            return true;
        off += n;
    }
    return false;
}

static void smsseg_fill_latin1(const char *table, unsigned char cost)
{
    const unsigned char *p = (const unsigned char *)table;
    size_t len = strlen(table);
    size_t off = 0;

    while (off < len) {
        uint32_t t;
        size_t n = utf8_decode(p + off, len - off, &t);
        if (n == 0)
            return;
        if (t < 256)
            smsseg_latin1_cost[t] = cost;
        off += n;
    }
}

static void smsseg_init(void)
{
    smsseg_fill_latin1(smsseg_gsm7_basic, 1);
    smsseg_fill_latin1(smsseg_gsm7_extension, 2);
}

/* Septets a code point takes in GSM-7, or 0 when it forces UCS-2. */
static unsigned smsseg_gsm7_cost(uint32_t cp)
{
    if (cp < 256)
        return smsseg_latin1_cost[cp];
    if (smsseg_table_has(smsseg_gsm7_basic, cp))
        return 1;
    if (smsseg_table_has(smsseg_gsm7_extension, cp))
        return 2;
    return 0;
}

static unsigned smsseg_cost(smsseg_encoding_t encoding, uint32_t cp)
{
    if (encoding == SMSSEG_GSM7)
        return smsseg_gsm7_cost(cp);
    return cp >= 0x10000 ? 2 : 1;
}

int smsseg_analyze(const char *text, size_t len, smsseg_info_t *info)
{
    const unsigned char *s = (const unsigned char *)text;
    smsseg_info_t r = {SMSSEG_GSM7, 0, 0, 1};
    size_t single, part, in_part = 0, off;
    uint32_t cp;

    pthread_once(&smsseg_once, smsseg_init);
    memset(info, 0, sizeof(*info));

    /* First pass: validity, characters, and whether every one of them is GSM-7. */
    for (off = 0; off < len;) {
        size_t n = utf8_decode(s + off, len - off, &cp);
        if (n == 0)
            return -1;
        if (r.encoding == SMSSEG_GSM7 && smsseg_gsm7_cost(cp) == 0)
            r.encoding = SMSSEG_UCS2;
        r.chars++;
        off += n;
    }

    single = r.encoding == SMSSEG_GSM7 ? SMSSEG_GSM7_SINGLE : SMSSEG_UCS2_SINGLE;
    part = r.encoding == SMSSEG_GSM7 ? SMSSEG_GSM7_PART : SMSSEG_UCS2_PART;

    /* Second pass: units, and parts filled greedily without splitting a character. The
     * part count only matters when the whole does not fit one SMS. */
    r.segments = 1;
    for (off = 0; off < len;) {
        size_t n = utf8_decode(s + off, len - off, &cp);
        unsigned cost = smsseg_cost(r.encoding, cp);
        r.units += cost;
        if (in_part + cost > part) {
            r.segments++;
            in_part = 0;
        }
        in_part += cost;
        off += n;
    }
    if (r.units <= single)
        r.segments = 1;

    *info = r;
    return 0;
}

const char *smsseg_encoding_name(smsseg_encoding_t encoding)
{
    return encoding == SMSSEG_GSM7 ? "GSM-7" : "UCS-2";
}
