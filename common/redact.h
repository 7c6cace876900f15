/*
 * Redaction of secrets in text that leaves the process (logs, error messages, status
 * events). Two layers: the shapes secrets take in text (the seed's key=value rule and
 * more), and the exact values of secrets this process has decrypted, registered as they
 * are loaded, so a secret is removed even where it appears without a telling key.
 */
#ifndef NOTIFY_REDACT_H
#define NOTIFY_REDACT_H

#include <stddef.h>

/*
 * Writes a redacted copy of `in` into `out` (always NUL-terminated when out_size > 0,
 * truncated to fit). Returns the length written. Thread-safe.
 */
size_t redact_copy(const char *in, char *out, size_t out_size);

/*
 * Registers a secret value (at least 4 bytes; shorter values are ignored because they
 * would match ordinary text) so that every later redact_copy() replaces it with "***".
 * The registry keeps its own copy and has a fixed capacity; when it is full the oldest
 * entry is dropped. Thread-safe.
 */
void redact_register(const char *secret);

/* Forgets every registered value (tests). */
void redact_clear(void);

#endif
