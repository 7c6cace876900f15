/*
 * SMS length: characters (for the 1600-character limit of Twilio and SNS) and segments
 * (the number of SMS the body is split into and billed as).
 *
 * Encoding: a text whose every character is in the GSM 03.38 default alphabet or its
 * extension table is sent as GSM-7, where a basic character takes one septet and an
 * extension character (^ { } [ ] ~ \ | euro sign, form feed) takes two (escape + char).
 * One character outside both tables makes the whole text UCS-2, counted in UTF-16 code
 * units, so a character outside the Basic Multilingual Plane (most emoji) takes two.
 *
 * Segments: a text that fits one SMS (160 septets / 70 units) is one segment; a longer
 * one is split into parts of at most 153 septets / 67 units (the user data header takes
 * the rest). The count is exact rather than units / 153: an escape pair or a surrogate
 * pair is never split across two parts, so a part that would end on the first half of one
 * ends one unit early, as handsets and carriers do. An empty text is one segment.
 * (Toll-free US/CA senders have 152/66-unit parts; not modelled here.)
 *
 * Characters are Unicode code points: "é" written precomposed is one, "e" + combining
 * accent is two, and an emoji is one even though it takes two UCS-2 units.
 */
#ifndef NOTIFY_SMSSEG_H
#define NOTIFY_SMSSEG_H

#include <stddef.h>

#define SMSSEG_MAX_CHARS 1600

#define SMSSEG_GSM7_SINGLE 160
#define SMSSEG_GSM7_PART   153
#define SMSSEG_UCS2_SINGLE 70
#define SMSSEG_UCS2_PART   67

typedef enum {
    SMSSEG_GSM7 = 0,
    SMSSEG_UCS2,
} smsseg_encoding_t;

typedef struct smsseg_info_s {
    smsseg_encoding_t encoding;
    size_t chars;    /* Unicode code points */
    size_t units;    /* septets (GSM-7) or UTF-16 code units (UCS-2) */
    size_t segments; /* >= 1 */
} smsseg_info_t;

/*
 * Analyses `len` bytes of UTF-8 `text` (no NUL needed). Returns 0, or -1 when the text is
 * not valid UTF-8 (overlong forms, surrogates and code points above U+10FFFF included);
 * then *info is zeroed.
 */
int smsseg_analyze(const char *text, size_t len, smsseg_info_t *info);

/* "GSM-7" or "UCS-2". */
const char *smsseg_encoding_name(smsseg_encoding_t encoding);

#endif
