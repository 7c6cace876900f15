/*
 * Logging: one JSON object a line on stdout, e.g.
 *   {"ts":"2026-11-27T04:21:59.123Z","level":"info","bin":"email-worker","msg":"...",
 *    "org_id":"acme"}
 * Every message and every field value passes through redact_copy() before it is written,
 * so a secret that slips into a format argument still does not reach the log.
 * Lines are written with one write() each, so threads never interleave within a line.
 */
#ifndef NOTIFY_LOG_H
#define NOTIFY_LOG_H

typedef enum { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level_t;

/* Names the binary in every line ("bin"). The string must outlive logging. */
void log_init(const char *binary_name, log_level_t level);
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* Redirects output to a file descriptor (tests); the default is 1 (stdout). */
void log_set_fd(int fd);

/* Parses "debug", "info", "warn", "error". Returns 0 on success, -1 otherwise. */
int log_level_parse(const char *name, log_level_t *level);
const char *log_level_name(log_level_t level);

/* A printf-style message. */
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A message with fields: after `msg`, pairs of (const char *key, const char *value),
 * ended by a NULL key. A NULL value is written as JSON null.
 *   log_kv(LOG_LEVEL_INFO, "sent", "org_id", org, "provider_message_id", id, NULL);
 */
void log_kv(log_level_t level, const char *msg, ...) __attribute__((sentinel));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
