#include "timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t timefmt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t timefmt_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm), so that
 * parsing needs neither timegm() nor the process time zone. */
static int64_t timefmt_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int timefmt_days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

int timefmt_format_rfc3339(int64_t epoch_ms, char *out, size_t out_size)
{
    int64_t secs = epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000;
    int ms = (int)(epoch_ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return -1;
    int n = snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return (n < 0 || (size_t)n >= out_size) ? -1 : 0;
}

/* Reads exactly `n` decimal digits. */
static int timefmt_digits(const char **p, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *value = v;
    return 0;
}

int timefmt_parse_rfc3339(const char *text, int64_t *epoch_ms)
{
    const char *p = text;
    int y, mo, d, h, mi, s, ms = 0;
    if (text == NULL || timefmt_digits(&p, 4, &y) || *p++ != '-' || timefmt_digits(&p, 2, &mo) ||
        *p++ != '-' || timefmt_digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't')
        return -1;
    p++;
    if (timefmt_digits(&p, 2, &h) || *p++ != ':' || timefmt_digits(&p, 2, &mi) || *p++ != ':' ||
        timefmt_digits(&p, 2, &s))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > timefmt_days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 60)
        return -1;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                ms = ms * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (timefmt_digits(&p, 2, &oh) || *p++ != ':' || timefmt_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    /* A leap second (":60") is read as the first millisecond of the next minute's start. */
    int64_t days = timefmt_days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - (int64_t)offset_min * 60;
    *epoch_ms = secs * 1000 + ms;
    return 0;
}
