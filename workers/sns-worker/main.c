/*
 * sns-worker: consumes SMS send requests and delivers them through AWS SNS Publish.
 */
#include "app.h"
#include "log.h"

extern char **environ;

static const app_desc_t sns_desc = {
    .name = "sns-worker",
    .binary = CFG_BIN_SNS,
    .summary = "consumes SMS send requests and delivers them through AWS SNS Publish.",
    .usage = NULL,
    .checks = APP_CHECK_KAFKA | APP_CHECK_DATABASE | APP_CHECK_SECRETS,
};

int main(int argc, char **argv)
{
    app_args_t args;
    int rc = app_start(&sns_desc, argc, argv, environ, &args);
    if (rc != APP_CONTINUE)
        return rc;
    /* The SNS channel is not written yet: refuse to run rather than pretend to deliver. */
    log_error("sns-worker: the SNS channel is not implemented yet; only --help, --version and "
              "--check-config work");
    app_args_free(&args);
    return 2;
}
