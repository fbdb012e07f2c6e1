"""The task's network namespace: one for all its containers (127.0.0.1 is shared, as in awsvpc),
and ports in it that reach services on this machine (S3's emulator stands where AWS would)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)


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
        subprocess.run(
            ["nsenter", f"--net={self.path}", "--", "ip", "link", "set", "lo", "up"], check=True
        )
        self._listeners: list[socket.socket] = []

    def _listen(self, port: int) -> socket.socket:
        """A socket listening on 127.0.0.1:port inside the namespace. setns() moves only the
        calling thread, so a short-lived thread makes the socket; it stays in the namespace."""
        made: list[socket.socket | BaseException] = []

        def inside() -> None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    if LIBC.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                sock = socket.create_server(("127.0.0.1", port))
                made.append(sock)
            except BaseException as exc:  # handed to the caller
                made.append(exc)

        thread = threading.Thread(target=inside)
        thread.start()
        thread.join()
        if isinstance(made[0], BaseException):
            raise made[0]
        return made[0]

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
        self._holder.wait()


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
