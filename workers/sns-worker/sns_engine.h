/*
 * The AWS SNS provider: sender_ops_t (sender.h) over one curl multi handle driven by its
 * own thread. Each job becomes one signed Publish (sns_publish.h, sigv4.h); the answer is
 * read by sns_response.h and reported through `done` from the engine's thread.
 *
 * Endpoint: SNS_ENDPOINT_URL, or https://sns.<region>.amazonaws.com/ with the region of
 * the organisation's row (us-east-1 when the row has none). Signing keys are cached per
 * access key, day and region on the engine's thread. TLS always verifies the peer's
 * certificate and host name. At most SNS_MAX_CONNECTIONS requests are in curl at once (one
 * connection each, kept alive); further ones wait in the engine and are signed only when
 * they start, so SNS_TIMEOUT_MS bounds one request, not its wait, and X-Amz-Date is fresh.
 *
 * Sender id: the row's aws_sender_id is sent as AWS.SNS.SMS.SenderID whenever it is not
 * NULL, even when empty, so that a broken row is refused by AWS (InvalidParameter, FAILED
 * with AWS_INVALID_PARAMETER) instead of sending without the sender the org configured.
 *
 * Ambiguity: a Publish that timed out or lost its connection after the request was sent
 * may have been accepted; it is retried (retryable TIMEOUT / CONNECTION_FAILED), which can
 * send the SMS twice. SNS has no idempotency for phone numbers; the IdempotencyKey message
 * attribute at least lets the duplicates be recognised in AWS's delivery logs.
 */
#ifndef NOTIFY_SNS_ENGINE_H
#define NOTIFY_SNS_ENGINE_H

#include "sender.h"

extern const sender_ops_t sns_sender;

#endif
