#include "log.h"

#include "redact.h"
#include "timefmt.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A line longer than this is cut: one runaway message must not stall the process. */
#define LOG_MESSAGE_MAX 8192

static const char *log_binary = "notify";
static atomic_int log_level = LOG_LEVEL_INFO;
static atomic_int log_fd = 1;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *binary_name, log_level_t level)
{
    log_binary = binary_name;
    atomic_store(&log_level, (int)level);
}

void log_set_level(log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

log_level_t log_get_level(void)
{
    return (log_level_t)atomic_load(&log_level);
}

void log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

int log_level_parse(const char *name, log_level_t *level)
{
    for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcmp(name, log_level_names[i]) == 0) {
            *level = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(log_level_t level)
{
    if ((int)level < 0 || (size_t)level >= sizeof(log_level_names) / sizeof(log_level_names[0]))
        return "unknown";
    return log_level_names[level];
}

static void log_add_redacted(json_object *line, const char *key, const char *value)
{
    if (value == NULL) {
        json_object_object_add(line, key, NULL);
        return;
    }
    char clean[LOG_MESSAGE_MAX];
    redact_copy(value, clean, sizeof(clean));
    json_object_object_add(line, key, json_object_new_string(clean));
}

static void log_write(json_object *line)
{
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        line, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    /* One write per line keeps concurrent lines whole (the buffer plus newline). */
    char buf[LOG_MESSAGE_MAX * 2 + 256];
    if (len > sizeof(buf) - 1)
        len = sizeof(buf) - 1;
    memcpy(buf, text, len);
    buf[len++] = '\n';
    ssize_t rc = write(atomic_load(&log_fd), buf, len);
    (void)rc; /* Nowhere left to report a failed log write. */
}

static json_object *log_line_new(log_level_t level, const char *msg)
{
    char ts[TIMEFMT_RFC3339_SIZE];
    if (timefmt_format_rfc3339(timefmt_now_ms(), ts, sizeof(ts)) != 0)
        ts[0] = '\0';
    json_object *line = json_object_new_object();
    json_object_object_add(line, "ts", json_object_new_string(ts));
    json_object_object_add(line, "level", json_object_new_string(log_level_name(level)));
    json_object_object_add(line, "bin", json_object_new_string(log_binary));
    log_add_redacted(line, "msg", msg);
    return line;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&log_level))
        return;
    char msg[LOG_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object *line = log_line_new(level, msg);
    log_write(line);
    json_object_put(line);
}

void log_kv(log_level_t level, const char *msg, ...)
{
    if ((int)level < atomic_load(&log_level))
        return;
    json_object *line = log_line_new(level, msg);
    va_list ap;
    va_start(ap, msg);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        log_add_redacted(line, key, value);
    }
    va_end(ap);
    log_write(line);
    json_object_put(line);
}
