"""moto's S3 over real HTTP on a free local port: what the demo, the benchmarks and the tests
use in place of S3 (the job reaches it through AWS_ENDPOINT_URL_S3, as it would any endpoint)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start() -> tuple[ThreadedMotoServer, str]:
    """A running emulator in this process's threads, and its endpoint URL; stop() it after."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


@contextmanager
def running() -> Iterator[str]:
    """The endpoint of an emulator that runs for the `with` block."""
    server, endpoint = start()
    try:
        yield endpoint
    finally:
        server.stop()
