/*
 * webhook-ingest: verifies provider callbacks and turns them into status events.
 */
#include "app.h"
#include "log.h"

extern char **environ;

static const app_desc_t webhook_desc = {
    .name = "webhook-ingest",
    .binary = CFG_BIN_WEBHOOK,
    .summary = "verifies provider callbacks and turns them into status events.",
    .usage = NULL,
    .checks = APP_CHECK_KAFKA | APP_CHECK_DATABASE | APP_CHECK_SECRETS,
};

int main(int argc, char **argv)
{
    app_args_t args;
    int rc = app_start(&webhook_desc, argc, argv, environ, &args);
    if (rc != APP_CONTINUE)
        return rc;
    /* The callback server is not written yet: refuse to run rather than pretend to deliver. */
    log_error(
        "webhook-ingest: the callback server is not implemented yet; only --help, --version and "
        "--check-config work");
    app_args_free(&args);
    return 2;
}
