#ifndef NOTIFYCTL_CMD_DLQ_H
#define NOTIFYCTL_CMD_DLQ_H

#include "config.h"

/* notifyctl dlq replay: moves dead-letter copies back to their original topic. */
int ctl_dlq(const cfg_t *cfg, int argc, char **argv);

#endif
