/*
 * sns-worker: consumes SMS send requests and delivers them through AWS SNS Publish
 * (sns_engine.h) on the shared delivery pipeline (pipeline.h).
 */
#include "app.h"
#include "pipeline.h"
#include "sns_engine.h"

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
    rc = pipeline_main(args.cfg, "sns-worker", &sns_sender);
    app_args_free(&args);
    return rc;
}
