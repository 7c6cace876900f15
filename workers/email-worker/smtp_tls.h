/*
 * TLS for SMTP sessions over Debian's libetpan, which is built with GnuTLS and verifies
 * neither the certificate chain nor the host name (reference: providers.md section 9).
 * The handshake is libetpan's; the verification is ours, with OpenSSL, on the chain the
 * server presented, right after the handshake and before anything else is said: AUTH,
 * the envelope and the message never reach a server that did not pass.
 */
#ifndef NOTIFY_SMTP_TLS_H
#define NOTIFY_SMTP_TLS_H

#include <libetpan/libetpan.h>
#include <stddef.h>

/* Once at start-up: keeps GnuTLS initialised for the life of the process, because
 * libetpan deinitialises it each time it closes a TLS stream. */
void smtp_tls_global_init(void);

/* libetpan's connect/STARTTLS callback: `data` is the host name, sent as SNI (not for an
 * IP address, as RFC 6066 forbids). */
void smtp_tls_setup_cb(struct mailstream_ssl_context *ctx, void *data);

/*
 * Verifies the peer of a TLS stream: its chain up to a trusted root (the PEM bundle
 * `ca_file` when not NULL or empty, else the system's store), for TLS server use, and
 * `host` against the leaf's names (an IP address against its IP addresses). Returns 0,
 * or -1 with errstr saying why ("certificate verify failed: self-signed certificate in
 * certificate chain", "hostname mismatch").
 */
int smtp_tls_verify(mailstream *stream, const char *host, const char *ca_file, char *errstr,
                    size_t errstr_size);

#endif
