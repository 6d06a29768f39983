"""A real SMTP server on 127.0.0.1 that keeps what it receives: aiosmtpd's `Controller`.

`smtp_sink(authenticator=None)` starts one on a free loopback port and yields the controller
with `.envelopes` (every delivered envelope, in order); tests parse `envelope.content` as a mail
client would. With an `authenticator`, AUTH is offered (without TLS: loopback only).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class _Recorder:
    """An aiosmtpd handler that keeps every delivered envelope."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 OK queued"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_sink(authenticator=None, **options) -> Iterator[Controller]:
    """`options` go to aiosmtpd's Controller (e.g. data_size_limit)."""
    handler = _Recorder()
    if authenticator is not None:
        options.update(authenticator=authenticator, auth_require_tls=False)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    controller.envelopes = handler.envelopes
    try:
        yield controller
    finally:
        controller.stop()
