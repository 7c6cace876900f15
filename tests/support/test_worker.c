/*
 * test-worker: the real pipeline with the scripted provider (scripted_sender.h), for the
 * pipeline's integration tests and its benchmark. NOTIFY_TEST_CHANNEL picks the flavour:
 * "email" (default) or "twilio".
 */
#include "app.h"
#include "pipeline.h"
#include "scripted_sender.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv)
{
    const char *channel = getenv("NOTIFY_TEST_CHANNEL");
    bool twilio = channel && strcmp(channel, "twilio") == 0;
    const app_desc_t desc = {
        .name = "test-worker",
        .binary = twilio ? CFG_BIN_TWILIO : CFG_BIN_EMAIL,
        .summary = "The delivery pipeline with a scripted provider, for tests.",
        .usage = NULL,
        .checks = APP_CHECK_KAFKA | APP_CHECK_DATABASE | APP_CHECK_SECRETS,
    };
    app_args_t args;
    int rc = app_start(&desc, argc, argv, environ, &args);
    if (rc != APP_CONTINUE)
        return rc;
    rc = pipeline_main(args.cfg, twilio ? "test-worker-twilio" : "test-worker",
                       twilio ? &scripted_sender_twilio : &scripted_sender_email);
    app_args_free(&args);
    return rc;
}
