"""SMTP servers for the email tests: Python's aiosmtpd (Debian's python3-aiosmtpd) on free
loopback ports, with STARTTLS or implicit TLS, AUTH PLAIN/LOGIN, a SIZE limit, and every
message kept as the exact bytes received; plus a throwaway PKI made with the openssl
command at run time (no key is ever stored in the tree).

    pki = Pki(tmpdir)                      # ca, rogue_ca; certificates for localhost
    srv = SmtpServer(tls="starttls", cert=pki.server, auth=("user", "pw")).start()
    srv.port, srv.messages                 # [(mail_from, [rcpt...], bytes)]
    srv.stop()
"""
import os
import socket
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


class Pki:
    """Two CAs (the trusted `ca` and a `rogue` one nobody trusts) and server certificates:
    `server` (localhost and 127.0.0.1, by ca), `rogue_server` (localhost, by rogue) and
    `wrong_host` (wrong.example only, by ca). Each certificate is (cert_path, key_path)."""

    def __init__(self, directory):
        self.dir = directory
        self.ca = self._ca("ca", "Notify Test CA")
        self.rogue = self._ca("rogue", "Rogue Test CA")
        self.server = self._leaf("server", self.ca, "localhost",
                                 "DNS:localhost,IP:127.0.0.1")
        self.rogue_server = self._leaf("rogue-server", self.rogue, "localhost",
                                       "DNS:localhost,IP:127.0.0.1")
        self.wrong_host = self._leaf("wrong-host", self.ca, "wrong.example", "DNS:wrong.example")

    def _ca(self, name, cn):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
                 "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        return (os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key"))

    def _leaf(self, name, ca, cn, san):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn,
                 cwd=self.dir)
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n"
                    "basicConstraints=CA:FALSE\n" % san)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca[0], "-CAkey", ca[1],
                 "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", ext,
                 cwd=self.dir)
        return (os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key"))


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, server, session, envelope):
        with self.server.lock:
            self.server.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                         bytes(envelope.original_content)))
            self.server.peers.append(session.peer)
        return "250 2.0.0 Ok: queued"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # aiosmtpd reads commands one line at a time, so pipelined commands just work; it
        # only does not say so. Advertised on request, to exercise a client's PIPELINING.
        session.host_name = hostname
        if self.server.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RSET(self, server, session, envelope):
        with self.server.lock:
            self.server.resets.append(session.peer)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.server.reject:
            return self.server.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"


class SmtpServer:
    """tls: None, "starttls" (required before AUTH and mail) or "implicit"; cert: (cert,
    key); auth: (user, password) to require AUTH; size: the SIZE limit to advertise;
    reject: {address: reply} for RCPT TO; idle_timeout: seconds after which the server drops
    an idle connection; pipelining: advertise PIPELINING. `peers` holds the client address of each message's connection, so
    a test can count connections; `resets` the client address of each RSET."""

    def __init__(self, tls=None, cert=None, auth=None, size=None, reject=None,
                 idle_timeout=None, exclude_auth=None, pipelining=False):
        self.tls = tls
        self.cert = cert
        self.auth = auth
        self.size = size
        self.reject = reject or {}
        self.messages = []
        self.peers = []
        self.resets = []
        self.idle_timeout = idle_timeout
        self.exclude_auth = exclude_auth
        self.pipelining = pipelining
        self.auth_attempts = []
        self.lock = threading.Lock()
        self.port = None
        self.controller = None

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and self.auth is not None
              and auth_data.login == self.auth[0].encode()
              and auth_data.password == self.auth[1].encode())
        with self.lock:
            self.auth_attempts.append((mechanism, ok))
        # handled=False: aiosmtpd answers 235, or 535 5.7.8 on failure.
        return AuthResult(success=ok, handled=False)

    def start(self):
        self.port = free_port()
        kwargs = {"hostname": "127.0.0.1", "port": self.port, "ident": "notify-test-smtpd"}
        ctx = None
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert[0], self.cert[1])
        if self.tls == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        elif self.tls == "implicit":
            kwargs.update(ssl_context=ctx)
        if self.auth:
            # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; on an implicit
            # TLS port the whole connection is encrypted anyway.
            kwargs.update(authenticator=self._authenticator, auth_required=True,
                          auth_require_tls=self.tls == "starttls")
            if self.exclude_auth:
                kwargs.update(auth_exclude_mechanism=self.exclude_auth)
        if self.size:
            kwargs.update(data_size_limit=self.size)
        if self.idle_timeout:
            kwargs.update(timeout=self.idle_timeout)
        self.controller = Controller(_Handler(self), **kwargs)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            try:
                self.controller.stop()
            except Exception:
                pass
            self.controller = None

    def received(self):
        with self.lock:
            return list(self.messages)


class SilentServer:
    """A TCP listener that never answers: connections complete in the kernel's backlog and
    wait forever for a greeting."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def stop(self):
        self.sock.close()


class SmtpSink:
    """Postfix's smtp-sink on a free loopback port, with its fault options (`-r RCPT`: 4xx
    to RCPT, `-f .` with `-B "554 ..."`: 5xx to the message, `-q .`: disconnect without a
    reply after the message, `-Q MAIL`: 421 and disconnect). Runs as `nobody` when started
    by root, as smtp-sink wants."""

    def __init__(self, *options):
        self.options = list(options)
        self.port = None
        self.proc = None

    def start(self):
        self.port = free_port()
        cmd = ["smtp-sink"]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]
        cmd += self.options + ["127.0.0.1:%d" % self.port, "256"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("smtp-sink exited: %s" % cmd)
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start: %s" % cmd)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
