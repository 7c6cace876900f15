/*
 * email-worker: consumes email send requests and delivers them over SMTP.
 */
#include "app.h"
#include "log.h"

extern char **environ;

static const app_desc_t email_desc = {
    .name = "email-worker",
    .binary = CFG_BIN_EMAIL,
    .summary = "consumes email send requests and delivers them over SMTP.",
    .usage = NULL,
    .checks = APP_CHECK_KAFKA | APP_CHECK_DATABASE | APP_CHECK_SECRETS,
};

int main(int argc, char **argv)
{
    app_args_t args;
    int rc = app_start(&email_desc, argc, argv, environ, &args);
    if (rc != APP_CONTINUE)
        return rc;
    /* The email channel is not written yet: refuse to run rather than pretend to deliver. */
    log_error("email-worker: the email channel is not implemented yet; only --help, --version and "
              "--check-config work");
    app_args_free(&args);
    return 2;
}
