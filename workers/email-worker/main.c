/*
 * email-worker: consumes email send requests and delivers them over SMTP, through the
 * shared pipeline (pipeline.h) and the SMTP provider (smtp_engine.h).
 */
#include "app.h"
#include "pipeline.h"
#include "smtp_engine.h"

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
    rc = pipeline_main(args.cfg, "email-worker", &smtp_sender);
    app_args_free(&args);
    return rc;
}
