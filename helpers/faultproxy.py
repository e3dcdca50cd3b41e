"""A loopback TCP proxy in front of the lab's server: the network's faults, on demand.

It plays the device between an application and its database (a load balancer,
a NAT gateway, a firewall) and can misbehave in the ways such devices do. Every
mode can be switched while connections are open; each applies to every flow.

- ``latency(up, down)``: add seconds to each direction (a longer round trip).
- ``drop_after_idle(s)``: a flow idle for ``s`` seconds is *forgotten*. Nothing
  is forwarded or answered any more, in either direction, but both sockets stay
  open: the client's next query waits for an answer that never comes, and the
  server hears nothing until its own ``wait_timeout``. ``release()`` ends the
  wait (the lab's stand-in for the kernel giving up minutes later).
- ``reset_after_idle(s)``: a flow idle for ``s`` seconds gets a TCP reset on both
  sides (Azure's "TCP reset on idle").
- ``cut_after(n)``: the next ``n`` bytes from the server pass, then that flow is cut.
- ``lose_reply_to(b"COMMIT")``: the next query starting with COMMIT reaches the
  server (which commits); its answer does not reach the client, and the flow is
  cut. The client sees 2013 and cannot know whether it committed.
- ``farewell_after_idle(s, packet)``: a flow idle for ``s`` seconds gets ``packet``
  (e.g. :data:`MYSQL8_INACTIVITY`, the ERR packet MySQL 8.0.24+ sends at its
  ``wait_timeout``), then both sides are closed: another server's goodbye, replayed in
  front of MariaDB.

It parses just enough of the MySQL protocol (3-byte length, sequence id, command
byte) to recognise a ``COM_QUERY``; it does not speak TLS.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

log = logging.getLogger(__name__)

COM_QUERY = 0x03


def err_packet(code: int, sqlstate: str, message: str, sequence: int = 0) -> bytes:
    """A MySQL protocol ERR packet (protocol 4.1): header, 0xFF, the code, ``#`` and the
    SQLSTATE, the message."""
    payload = b"\xff" + code.to_bytes(2, "little") + b"#" + sqlstate.encode() + message.encode()
    return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload


#: What MySQL 8.0.24+ sends to a client idle past ``wait_timeout`` before it closes the connection:
#: ``ER_CLIENT_INTERACTION_TIMEOUT``, 4031, SQLSTATE HY000 (MySQL 8.0 Error Reference, "Server Error
#: Message Reference"). Sequence number 0: the server waits for a command's first packet
#: (``pkt_nr`` 0, ``sql-common/net_serv.cc``) when its read times out. MariaDB sends nothing.
ER_CLIENT_INTERACTION_TIMEOUT = 4031
MYSQL8_INACTIVITY = err_packet(
    ER_CLIENT_INTERACTION_TIMEOUT,
    "HY000",
    "The client was disconnected by the server because of inactivity. "
    "See wait_timeout and interactive_timeout for configuring this behavior.",
)

#: How often the proxy looks for flows past an idle limit (seconds).
TICK = 0.02


@dataclass
class _Flow:
    """One client connection and the proxy's connection to the server for it."""

    client: socket.socket
    server: socket.socket
    last: float = field(default_factory=time.monotonic)  # last byte either way
    forgotten: bool = False
    reset: bool = False
    lose_next_reply: bool = False
    cut_in: int | None = None  # bytes from the server left before the cut


class FaultProxy:
    """Listen on 127.0.0.1 (``.port``), forward to ``host:port``. Use as a context manager.

    ``counts`` says how often each fault struck (``dropped``, ``reset``, ``cut``, ``lost``).
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._flows: list[_Flow] = []
        self._closed = threading.Event()
        self._armed: bytes | None = None
        self._cut_after: int | None = None
        self.up = 0.0
        self.down = 0.0
        self.drop_idle: float | None = None
        self.reset_idle: float | None = None
        self.farewell_idle: float | None = None
        self.farewell: bytes = b""
        self.counts = {"dropped": 0, "reset": 0, "cut": 0, "lost": 0, "farewell": 0}

    # -- the modes -------------------------------------------------------------
    def latency(self, up: float = 0.0, down: float | None = None) -> None:
        """Delay client->server by ``up`` and server->client by ``down`` (default: ``up``) seconds."""
        if up < 0 or (down is not None and down < 0):
            raise ValueError("latency is a number of seconds, at least 0")
        self.up, self.down = up, up if down is None else down

    def drop_after_idle(self, seconds: float | None) -> None:
        """Forget flows idle for ``seconds`` (None: never), silently."""
        self.drop_idle = _positive_or_none(seconds)

    def reset_after_idle(self, seconds: float | None) -> None:
        """Reset flows idle for ``seconds`` (None: never), on both sides."""
        self.reset_idle = _positive_or_none(seconds)

    def farewell_after_idle(self, seconds: float | None, packet: bytes = MYSQL8_INACTIVITY) -> None:
        """Send ``packet`` to a flow idle for ``seconds`` (None: never), then close both sides."""
        self.farewell_idle, self.farewell = _positive_or_none(seconds), packet

    def cut_after(self, nbytes: int) -> None:
        """The next flow the server sends to is cut once ``nbytes`` more bytes have passed."""
        with self._lock:
            self._cut_after = nbytes

    def lose_reply_to(self, prefix: bytes) -> None:
        """The next query starting with ``prefix`` (case-insensitive) reaches the server;
        its answer does not reach the client."""
        with self._lock:
            self._armed = prefix.upper()

    def release(self) -> int:
        """Close the client side of every forgotten flow, so that a client waiting on one
        gets an end-of-file at last. Returns how many were released."""
        with self._lock:
            forgotten = [flow for flow in self._flows if flow.forgotten]
        for flow in forgotten:
            _close(flow.client)
        return len(forgotten)

    # -- plumbing ----------------------------------------------------------------
    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._accept, name="faultproxy", daemon=True).start()
        threading.Thread(target=self._watch_idle, name="faultproxy-idle", daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed.set()
        _close(self._listener)  # shut down first: close() alone leaves accept() blocked, and listening
        with self._lock:
            flows, self._flows = self._flows, []
        for flow in flows:
            _close(flow.client, flow.server)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError as exc:
                log.warning("fault proxy: cannot reach the server: %s", exc)
                _close(client)
                continue
            flow = _Flow(client, server)
            with self._lock:
                self._flows.append(flow)
            threading.Thread(target=self._client_to_server, args=(flow,), daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(flow,), daemon=True).start()

    def _watch_idle(self) -> None:
        while not self._closed.wait(TICK):
            now = time.monotonic()
            with self._lock:
                flows = [flow for flow in self._flows if not flow.forgotten]
            for flow in flows:
                idle = now - flow.last
                if self.reset_idle is not None and idle >= self.reset_idle:
                    flow.reset = True
                    self._forget(flow)
                    self.counts["reset"] += 1  # before the reset: the client may look at once
                    _reset(flow.client, flow.server)
                    log.info("fault proxy: reset a flow idle for %.1fs", idle)
                elif self.farewell_idle is not None and idle >= self.farewell_idle:
                    self._forget(flow)
                    self.counts["farewell"] += 1  # before the goodbye: the client may look at once
                    _send(flow.client, self.farewell)
                    _close(flow.client, flow.server)
                    log.info("fault proxy: sent a farewell to a flow idle for %.1fs, closed it", idle)
                elif self.drop_idle is not None and idle >= self.drop_idle:
                    flow.forgotten = True
                    self.counts["dropped"] += 1
                    log.info("fault proxy: silently forgot a flow idle for %.1fs", idle)

    def _forget(self, flow: _Flow) -> None:
        with self._lock:
            if flow in self._flows:
                self._flows.remove(flow)

    def _client_to_server(self, flow: _Flow) -> None:
        buffer = b""
        while chunk := _recv(flow.client):
            if flow.forgotten:
                continue  # the device has no state for this flow: the bytes go nowhere
            flow.last = time.monotonic()
            buffer += chunk
            packets = b""
            while len(buffer) >= 4 and len(buffer) >= 4 + int.from_bytes(buffer[:3], "little"):
                size = int.from_bytes(buffer[:3], "little")
                packet, buffer = buffer[: 4 + size], buffer[4 + size :]
                if self._matches(packet[4:]):
                    flow.lose_next_reply = True  # before forwarding: the answer must not slip through
                packets += packet
            _delay(flow.last, self.up)
            if packets and not _send(flow.server, packets):
                break
        self._end(flow, flow.client)

    def _server_to_client(self, flow: _Flow) -> None:
        while chunk := _recv(flow.server):
            if flow.forgotten:
                continue
            flow.last = time.monotonic()
            if flow.lose_next_reply:  # the server has answered the armed query: drop it, hang up
                self.counts["lost"] += 1
                log.info("fault proxy: dropped the answer and cut the connection")
                break
            with self._lock:
                if flow.cut_in is None and self._cut_after is not None:
                    flow.cut_in, self._cut_after = self._cut_after, None
            if flow.cut_in is not None:
                chunk = chunk[: flow.cut_in]
                flow.cut_in -= len(chunk)
            _delay(flow.last, self.down)
            if not _send(flow.client, chunk):
                break
            if flow.cut_in == 0:
                self.counts["cut"] += 1
                log.info("fault proxy: cut a flow mid-answer")
                break
        self._end(flow, flow.server)

    def _end(self, flow: _Flow, side: socket.socket) -> None:
        """One side hung up. A forgotten flow passes nothing on: only that side closes."""
        if flow.reset:
            return  # already reset on both sides
        if flow.forgotten:
            _close(side)
            return
        self._forget(flow)
        _close(flow.client, flow.server)

    def _matches(self, payload: bytes) -> bool:
        with self._lock:
            query = payload[:1] == bytes([COM_QUERY])
            if self._armed and query and payload[1:].lstrip().upper().startswith(self._armed):
                self._armed = None
                return True
        return False


def _positive_or_none(seconds: float | None) -> float | None:
    if seconds is not None and seconds <= 0:
        raise ValueError("an idle limit is a number of seconds above 0 (or None: never)")
    return seconds


def _delay(since: float, seconds: float) -> None:
    if seconds > 0:
        time.sleep(max(0.0, since + seconds - time.monotonic()))


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


def _reset(*socks: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER on, zero seconds). ``SHUT_RD`` first
    wakes the proxy's own thread blocked reading it, which would otherwise hold the socket
    open; it sends nothing to the peer."""
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RD)
        sock.close()
