/* Time: wall-clock milliseconds and RFC 3339 UTC text with milliseconds. */
#ifndef NOTIFY_TIMEFMT_H
#define NOTIFY_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Room for "2026-11-27T04:21:59.123Z" and its NUL. */
#define TIMEFMT_RFC3339_SIZE 32

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t timefmt_now_ms(void);
/* Milliseconds of a monotonic clock, for timeouts and intervals. */
int64_t timefmt_mono_ms(void);

/* Formats epoch milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ". Returns 0, or -1 if out is too
 * small or the time is outside years 0000-9999. */
int timefmt_format_rfc3339(int64_t epoch_ms, char *out, size_t out_size);

/*
 * Parses an RFC 3339 date-time ("2026-11-27T04:21:59Z", fractional seconds and a numeric
 * offset allowed, 'T'/'t' and 'Z'/'z' either case) into epoch milliseconds. Fractions
 * beyond milliseconds are truncated. Returns 0, or -1 if the text is not RFC 3339 or names
 * an impossible date.
 */
int timefmt_parse_rfc3339(const char *text, int64_t *epoch_ms);

#endif
