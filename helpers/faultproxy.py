"""A loopback TCP proxy in front of the lab's server that can lose one answer.

``lose_reply_to(b"COMMIT")`` arms it: the next query starting with COMMIT is
forwarded to the server (which commits), and the connection is cut before the
server's answer reaches the client. The client sees 2013 and cannot know
whether its transaction committed: a COMMIT *in doubt*.

It parses just enough of the MySQL protocol (3-byte length, sequence id,
command byte) to recognise a ``COM_QUERY``; it does not speak TLS.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from types import TracebackType

log = logging.getLogger(__name__)

COM_QUERY = 0x03


class FaultProxy:
    """Listen on 127.0.0.1 (``.port``), forward to ``host:port``. Use as a context manager."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._armed: bytes | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.cuts = 0

    def lose_reply_to(self, prefix: bytes) -> None:
        """The next query starting with ``prefix`` (case-insensitive) reaches the server;
        its answer does not reach the client."""
        with self._lock:
            self._armed = prefix.upper()

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._accept, name="faultproxy", daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, server]
            cut = threading.Event()
            threading.Thread(target=self._client_to_server, args=(client, server, cut), daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(server, client, cut), daemon=True).start()

    def _client_to_server(self, client: socket.socket, server: socket.socket, cut: threading.Event) -> None:
        buffer = b""
        while chunk := _recv(client):
            buffer += chunk
            while len(buffer) >= 4 and len(buffer) >= 4 + int.from_bytes(buffer[:3], "little"):
                size = int.from_bytes(buffer[:3], "little")
                packet, buffer = buffer[: 4 + size], buffer[4 + size :]
                if self._matches(packet[4:]):
                    cut.set()  # before forwarding: the answer must not slip through
                if not _send(server, packet):
                    return
        _close(client, server)

    def _server_to_client(self, server: socket.socket, client: socket.socket, cut: threading.Event) -> None:
        while chunk := _recv(server):
            if cut.is_set():  # the server has answered the armed query: drop it and hang up
                self.cuts += 1
                log.info("fault proxy: dropped the answer and cut the connection")
                break
            if not _send(client, chunk):
                break
        _close(client, server)

    def _matches(self, payload: bytes) -> bool:
        with self._lock:
            query = payload[:1] == bytes([COM_QUERY])
            if self._armed and query and payload[1:].lstrip().upper().startswith(self._armed):
                self._armed = None
                return True
        return False


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
