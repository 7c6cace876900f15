/*
 * twilio-worker: consumes SMS send requests and delivers them through the Twilio REST API,
 * on the shared pipeline (pipeline.h) with the Twilio provider (twilio_engine.h).
 */
#include "app.h"
#include "pipeline.h"
#include "twilio_engine.h"

#include <curl/curl.h>
#include <stdio.h>

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
    int rc;

    /* Before any thread exists: curl's global state (and GnuTLS's) is set up once. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "twilio-worker: libcurl failed to initialise\n");
        return 1;
    }
    rc = app_start(&twilio_desc, argc, argv, environ, &args);
    if (rc == APP_CONTINUE) {
        rc = pipeline_main(args.cfg, "twilio-worker", &twilio_sender);
        app_args_free(&args);
    }
    curl_global_cleanup();
    return rc;
}
