/*
 * The Twilio provider of twilio-worker: sender_ops_t (sender.h) over one curl multi handle
 * driven by its own thread. Requests go out many at once over kept-alive connections
 * (at most TWILIO_MAX_CONNECTIONS, each carrying one request at a time); each answer is
 * classified by twilio_api.h and reported through the pipeline's done callback from that
 * thread.
 */
#ifndef NOTIFY_TWILIO_ENGINE_H
#define NOTIFY_TWILIO_ENGINE_H

#include "sender.h"

extern const sender_ops_t twilio_sender;

#endif
