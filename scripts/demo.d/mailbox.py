"""The demo's mailbox: an SMTP server (aiosmtpd) on a loopback port that keeps every
message it accepts as one .eml file in a directory.

    mailbox.py --dir DIR --port-file FILE [--reject ADDR]... [--greylist ADDR]...

--reject ADDR    RCPT TO for ADDR is answered 550 5.1.1 (a permanent failure)
--greylist ADDR  the first RCPT TO for ADDR is answered 451 4.7.1, later ones are accepted
                 (a temporary failure, so the sender retries)
Runs until SIGTERM or SIGINT.
"""
import argparse
import os
import signal
import socket
import threading

from aiosmtpd.controller import Controller


class Mailbox:
    def __init__(self, directory, reject, greylist):
        self.dir = directory
        self.reject = {a.lower() for a in reject}
        self.greylist = {a.lower() for a in greylist}
        self.seen = set()
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        a = address.lower()
        if a in self.reject:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        with self.lock:
            if a in self.greylist and a not in self.seen:
                self.seen.add(a)
                return "451 4.7.1 <%s>: greylisted, try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        name = os.path.join(self.dir, "%04d.eml" % n)
        with open(name + ".tmp", "wb") as f:
            f.write(("X-Mailbox-From: %s\r\nX-Mailbox-To: %s\r\n"
                     % (envelope.mail_from, ", ".join(envelope.rcpt_tos))).encode())
            f.write(envelope.original_content)
        os.rename(name + ".tmp", name)
        return "250 2.0.0 Ok: queued as %04d" % n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--greylist", action="append", default=[])
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = Controller(Mailbox(args.dir, args.reject, args.greylist), hostname="127.0.0.1",
                     port=port, ident="notify-demo-mailbox")
    ctl.start()
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(args.port_file + ".tmp", args.port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
