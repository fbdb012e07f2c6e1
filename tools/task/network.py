"""The task's network namespace: one for all its containers (127.0.0.1 is shared, as in awsvpc),
an address this machine reaches it at (the task ENI's private IP), and ports in it that reach
services on this machine (S3's emulator stands where AWS would)."""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)
# The ENI's stand-in: a veth pair in a /30 of 198.18.0.0/15 (RFC 2544's benchmarking range,
# routed nowhere), one per namespace-holder PID, so that concurrent tasks do not collide.
ENI_RANGE = ipaddress.ip_network("198.18.0.0/15")


def _eni_addresses(pid: int) -> tuple[str, str]:
    """(this machine's side, the task's side) of the /30 for `pid`."""
    base = int(ENI_RANGE.network_address) + 4 * (pid % (ENI_RANGE.num_addresses // 4))
    return str(ipaddress.ip_address(base + 1)), str(ipaddress.ip_address(base + 2))


class TaskNetwork:
    """A network namespace held by a sleeping process, with its loopback up."""

    def __init__(self) -> None:
        # --pdeathsig: the namespace goes with the runner, even when the runner is killed.
        self._holder = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--net", "--", "sleep", "infinity"]
        )
        self.path = f"/proc/{self._holder.pid}/ns/net"
        own = os.stat("/proc/self/ns/net").st_ino
        while os.stat(self.path).st_ino == own:  # until `unshare` has made the namespace
            if self._holder.poll() is not None:
                raise RuntimeError("unshare --net failed: the runner needs root")
            time.sleep(0.005)
        inside = ["nsenter", f"--net={self.path}", "--", "ip"]
        subprocess.run([*inside, "link", "set", "lo", "up"], check=True)
        # The task's ENI: what a client outside the task (another host in the VPC) would reach.
        self._eni = f"eni{self._holder.pid}"
        host, self.address = _eni_addresses(self._holder.pid)
        for command in (
            ["ip", "link", "add", self._eni, "type", "veth", "peer", "name", "eth0",
             "netns", str(self._holder.pid)],
            ["ip", "address", "add", f"{host}/30", "dev", self._eni],
            ["ip", "link", "set", self._eni, "up"],
            [*inside, "address", "add", f"{self.address}/30", "dev", "eth0"],
            [*inside, "link", "set", "eth0", "up"],
        ):  # fmt: skip
            subprocess.run(command, check=True)
        self._listeners: list[socket.socket] = []

    def inside(self, call: Callable[[], T]) -> T:
        """`call()` run in the namespace: setns() moves only the calling thread, so a
        short-lived thread runs it; sockets it makes stay in the namespace."""
        made: list[T | BaseException] = []

        def run() -> None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    if LIBC.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                made.append(call())
            except BaseException as exc:  # handed to the caller
                made.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if isinstance(made[0], BaseException):
            raise made[0]
        return made[0]

    def _listen(self, port: int) -> socket.socket:
        """A socket listening on 127.0.0.1:port inside the namespace."""
        return self.inside(lambda: socket.create_server(("127.0.0.1", port)))

    def forward(self, port: int, target: tuple[str, int]) -> None:
        """Connections to 127.0.0.1:port in the task reach `target` on this machine."""
        listener = self._listen(port)
        self._listeners.append(listener)

        def serve() -> None:
            with contextlib.suppress(OSError):
                while True:
                    client, _ = listener.accept()
                    threading.Thread(target=_pipe, args=(client, target), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()

    def close(self) -> None:
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self._holder.kill()
        self._holder.wait()  # the namespace goes, and the veth pair with it
        subprocess.run(["ip", "link", "delete", self._eni], capture_output=True, check=False)


def _pipe(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target)
    except OSError:
        client.close()
        return

    def copy(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    back = threading.Thread(target=copy, args=(upstream, client), daemon=True)
    back.start()
    copy(client, upstream)
    back.join()
    client.close()
    upstream.close()


@contextlib.contextmanager
def task_network() -> Iterator[TaskNetwork]:
    network = TaskNetwork()
    try:
        yield network
    finally:
        network.close()
