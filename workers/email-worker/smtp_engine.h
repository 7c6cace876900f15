/*
 * The SMTP provider (sender.h): a pool of SMTP sessions per organisation, one blocking
 * libetpan session per thread.
 *
 * Jobs are queued per organisation and configuration (host, port, credentials, TLS mode,
 * CA file: a changed row gets a pool of its own, and the old one idles away). A pool runs
 * up to the organisation's pool_size threads, started when jobs wait and no thread is
 * free; each thread keeps its session open across messages (a failed transaction is
 * ended with RSET), opens a new one when the server closed it (421, a dropped
 * connection; a message not yet handed over is then tried once more on the new
 * session), and closes it with QUIT after SMTP_IDLE_MS without work, then ends.
 *
 * prepare() builds the message once to refuse, before the ledger and the quota, what is
 * over 25 MB (MESSAGE_TOO_LARGE) or has an unusable from address (CONFIG_ERROR); the
 * thread that sends builds it again (the pipeline gives a prepared job no way back to
 * free what prepare() kept). A server's advertised SIZE is honoured too.
 *
 * provider_message_id is the Message-ID without its angle brackets. Recipients the
 * server refused while others were accepted are logged and counted
 * (notify_smtp_recipients_rejected_total); the message counts as sent.
 */
#ifndef NOTIFY_SMTP_ENGINE_H
#define NOTIFY_SMTP_ENGINE_H

#include "sender.h"

extern const sender_ops_t smtp_sender;

#endif
