/*
 * webhook-ingest: verifies provider callbacks and turns them into status events.
 *
 * The server (wh_server.c) answers on httpd's event threads and the relay's
 * (wh_relay.h); this thread does the housekeeping and waits for SIGTERM or SIGINT, then
 * stops accepting, lets the callbacks in progress finish (each is answered once Kafka
 * acknowledged or refused its event) and leaves.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "log.h"
#include "timefmt.h"
#include "wh.h"

#define WEBHOOK_HOUSEKEEPING_MS (10 * 60 * 1000)

extern char **environ;

static const app_desc_t webhook_desc = {
    .name = "webhook-ingest",
    .binary = CFG_BIN_WEBHOOK,
    .summary = "verifies provider callbacks and turns them into status events.",
    .usage = NULL,
    .checks = APP_CHECK_KAFKA | APP_CHECK_DATABASE | APP_CHECK_SECRETS,
};

static volatile sig_atomic_t webhook_stop;

static void webhook_on_signal(int sig)
{
    (void)sig;
    webhook_stop = 1;
}

int main(int argc, char **argv)
{
    app_args_t args;
    char errstr[512];
    int rc = app_start(&webhook_desc, argc, argv, environ, &args);
    if (rc != APP_CONTINUE)
        return rc;
    /* Before any thread exists: curl's global set-up is not thread-safe. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = webhook_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    wh_t *wh = wh_new(args.cfg, errstr, sizeof(errstr));
    if (wh == NULL) {
        log_kv(LOG_LEVEL_ERROR, "start-up failed", "error", errstr, NULL);
        rc = 1;
        goto out;
    }
    log_kv(LOG_LEVEL_INFO, "started", "addr", cfg_str(args.cfg, CFG_HTTP_ADDR), NULL);
    int64_t next_housekeeping = 0;
    while (!webhook_stop) {
        if (timefmt_mono_ms() >= next_housekeeping) {
            wh_housekeeping(wh);
            next_housekeeping = timefmt_mono_ms() + WEBHOOK_HOUSEKEEPING_MS;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    log_kv(LOG_LEVEL_INFO, "stopping: finishing callbacks in progress", NULL);
    wh_destroy(wh);
    log_kv(LOG_LEVEL_INFO, "stopped", NULL);
    rc = 0;
out:
    curl_global_cleanup();
    app_args_free(&args);
    return rc;
}
