"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the email tests and benchmarks.

The app sends to it through Django's SMTP backend, unchanged, as it would to a mail server:

    with Mailbox() as box:
        ... EMAIL_HOST=127.0.0.1, EMAIL_PORT=box.port ...
        message = box.wait_for(1)[0]
        assert message["Subject"] == "Plan"

`box.refuse = True` answers every message with a temporary failure (451), as a full or broken server does.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    """One message as the server took it: the envelope, the parsed message, and when (time.time())."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    at: float
    raw: bytes = field(repr=False, default=b"")
    peer: tuple = ()  # the client's (address, port): one per SMTP connection

    def __getitem__(self, header: str):
        return self.message[header]

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""


class Mailbox:
    def __init__(self, port: int | None = None):
        self.port = port or _free_port()
        self.received: list[Received] = []
        self.refuse = False
        self.refused = 0
        # A condition, not a plain lock: wait_for wakes when a message arrives instead of polling.
        self._lock = threading.Condition()
        self._controller = None

    # --- aiosmtpd's handler ---
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.refuse:
            self.refused += 1
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    message,
                    time.time(),
                    envelope.original_content,
                    tuple(session.peer),
                )
            )
            self._lock.notify_all()
        return "250 Message accepted for delivery"

    def start(self) -> Mailbox:
        import logging

        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's line per SMTP command
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Mailbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    @property
    def connections(self) -> int:
        """How many SMTP connections the messages came over."""
        return len({m.peer for m in self.messages})

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """The messages once at least `count` arrived (polled with a deadline), else fail."""
        with self._lock:
            if self._lock.wait_for(lambda: len(self.received) >= count, timeout):
                return list(self.received)
        raise AssertionError(f"{count} message(s) expected, {len(self.received)} arrived within {timeout} s")
