"""A real SMTP server for the tests: accepts mail for any address and
stores each message as a file; refuses recipients starting with `reject`
(550, permanent) and `later` (451, transient).

Usage: python3 tests/smtp_server.py PORT OUTPUT_DIR
"""
import os
import signal
import sys
import time
import uuid

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, outdir):
        self.outdir = outdir

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 Mailbox unavailable"
        if address.startswith("later"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # Named in arrival order, so that readers can tell first from last.
        path = os.path.join(self.outdir, f"{time.time_ns():020d}-{uuid.uuid4().hex}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def main():
    port, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    controller = Controller(Store(outdir), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    main()
