/*
 * How long redact_copy() takes on typical log lines, with the registry empty and full.
 * Built as <build>/tests/bench_redact; run it from an optimised (RelWithDebInfo) build.
 */
#include "redact.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const lines[] = {
    "sent message m-123 to +15551234567 via TWILIO in 183 ms (attempt 1)",
    "smtp 535 5.7.8 Authentication credentials invalid for user sender@example.com",
    "{\"message_id\":\"m-1\",\"org_id\":\"acme\",\"status\":\"SENT\",\"provider\":\"SMTP\"}",
    "POST /api/webhooks/sms/acme/twilio/status?token=abc&x=1 X-Twilio-Signature: abc= 401",
    "connect postgres://app:pw@db:5432/notify failed: connection refused",
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(const char *label)
{
    enum { ROUNDS = 200000 };
    char out[512];
    size_t bytes = 0, sink = 0;
    double start = now_s();
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
            sink += redact_copy(lines[k], out, sizeof(out));
            bytes += strlen(lines[k]);
        }
    }
    double elapsed = now_s() - start;
    size_t count = ROUNDS * (sizeof(lines) / sizeof(lines[0]));
    printf("%-24s %7.0f ns/line %7.0f MB/s (%zu)\n", label, elapsed * 1e9 / (double)count,
           (double)bytes / elapsed / 1e6, sink % 10);
}

int main(void)
{
    char value[64];
    redact_clear();
    run("registry empty");
    for (int k = 0; k < 1024; k++) {
        snprintf(value, sizeof(value), "registered-secret-value-%04d", k);
        redact_register(value);
    }
    run("registry full (1024)");
    redact_clear();
    return 0;
}
