/*
 * twilio-worker: consumes SMS send requests and delivers them through the Twilio REST API.
 */
#include "app.h"
#include "log.h"

extern char **environ;

static const app_desc_t twilio_desc = {
    .name = "twilio-worker",
    .binary = CFG_BIN_TWILIO,
    .summary = "consumes SMS send requests and delivers them through the Twilio REST API.",
    .usage = NULL,
    .checks = APP_CHECK_KAFKA | APP_CHECK_DATABASE | APP_CHECK_SECRETS,
};

int main(int argc, char **argv)
{
    app_args_t args;
    int rc = app_start(&twilio_desc, argc, argv, environ, &args);
    if (rc != APP_CONTINUE)
        return rc;
    /* The Twilio channel is not written yet: refuse to run rather than pretend to deliver. */
    log_error(
        "twilio-worker: the Twilio channel is not implemented yet; only --help, --version and "
        "--check-config work");
    app_args_free(&args);
    return 2;
}
