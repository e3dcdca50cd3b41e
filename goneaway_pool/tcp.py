"""TCP keepalive and TCP_USER_TIMEOUT on every connection an engine makes (Linux).

A NAT gateway, firewall or load balancer forgets a flow that stays idle past its limit
(AWS NLB 350 s, Azure Load Balancer 4 min by default); a packet on a forgotten flow is
dropped or answered with a reset. Linux sends its first keepalive probe after
``tcp_keepalive_time`` (7200 s), far above any such limit, and PyMySQL, aiomysql and asyncmy
only switch ``SO_KEEPALIVE`` on. :func:`tcp_keepalive` sets the idle time, interval and count
on each new connection's socket (a ``connect`` listener), so the probes keep the flow alive;
``user_timeout_ms`` bounds how long unacknowledged data may wait before the kernel gives up
(``ETIMEDOUT``), where ``tcp_retries2`` would take about 15 minutes.

Standard library and SQLAlchemy only::

    engine = create_engine(url, pool_pre_ping=True)
    tcp_keepalive(engine, TcpKeepalive(idle=60, interval=10, count=3))
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class TcpKeepalive:
    """Seconds idle before the first probe, seconds between probes, probes unanswered before
    the kernel drops the connection (``idle=None``: leave keepalive as the driver set it); and
    ``TCP_USER_TIMEOUT`` in ms (None: leave it)."""

    idle: int | None = 60
    interval: int = 10
    count: int = 3
    user_timeout_ms: int | None = None

    def __post_init__(self) -> None:
        for name in ("idle", "interval", "count", "user_timeout_ms"):
            value = getattr(self, name)
            if value is None and name in ("idle", "user_timeout_ms"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: a whole number ≥ 1 (seconds; ms for the user timeout)")

    def apply(self, sock: socket.socket) -> None:
        """Set the options on ``sock`` (or on a duplicate of a driver's socket: same socket)."""
        if self.idle is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, self.idle)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, self.interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, self.count)
        if self.user_timeout_ms is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, self.user_timeout_ms)


def driver_fd(dbapi_connection: Any, peer_port: int | None = None) -> int | None:
    """The file descriptor of a driver connection's TCP socket, or None where it cannot be found.

    Where the driver shows its socket (PyMySQL ``_sock``; mysqlclient ``fileno()``; MariaDB
    Connector/Python ``_get_socket()``; mysql-connector-python's pure-Python ``_socket.sock``;
    aiomysql and asyncmy through their transport), that; otherwise (the C extension of
    mysql-connector-python) the one socket of this process whose local port the server reports
    for this connection (``information_schema.PROCESSLIST``) and whose peer is ``peer_port`` (the
    port the engine connects to; default: the server's own, where no proxy is between)."""
    conn = getattr(dbapi_connection, "_connection", None) or dbapi_connection  # SQLAlchemy's async adapter
    sock = getattr(conn, "_sock", None)
    if sock is not None and hasattr(sock, "fileno"):
        return int(sock.fileno())
    get_socket = getattr(conn, "_get_socket", None)  # MariaDB Connector/Python (not .socket: it closes
    if callable(get_socket):  # libmariadb's fd when collected)
        return int(get_socket())
    inner = getattr(getattr(conn, "_socket", None), "sock", None)  # mysql-connector-python, pure
    if inner is not None:
        return int(inner.fileno())
    stream = getattr(conn, "_writer", None) or getattr(conn, "_transport", None)  # aiomysql, asyncmy
    if stream is not None:
        transport_sock = stream.get_extra_info("socket")
        if transport_sock is not None:
            return int(transport_sock.fileno())
    fileno = getattr(conn, "fileno", None)  # mysqlclient
    if callable(fileno) and not hasattr(conn, "_socket"):
        try:
            return int(fileno())
        except Exception:  # a driver that refuses: look it up below
            pass
    return _fd_by_local_port(dbapi_connection, peer_port)


def _fd_by_local_port(dbapi_connection: Any, peer_port: int | None = None) -> int | None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT HOST, @@port FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()")
        row = cursor.fetchone()
    finally:
        cursor.close()
    host = str(row[0]) if row else ""
    if ":" not in host:  # a unix socket ("localhost"): no TCP
        return None
    port, server_port = int(host.rsplit(":", 1)[1]), peer_port or int(row[1])
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/thread-self/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:  # through a proxy, the server sees the proxy's port: no socket of ours matches
            fields = line.split()
            local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
            if (local, remote) == (port, server_port):
                inodes.add(fields[9])
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return int(fd)
    return None


def set_on(dbapi_connection: Any, settings: TcpKeepalive, peer_port: int | None = None) -> bool:
    """Apply ``settings`` to a driver connection's socket; False where none was found."""
    fd = driver_fd(dbapi_connection, peer_port)
    if fd is None or fd < 0:
        return False
    with socket.socket(fileno=os.dup(fd)) as sock:  # the duplicate shares the socket's options
        settings.apply(sock)
    return True


def tcp_keepalive(engine: Any, settings: TcpKeepalive | None = None) -> None:
    """Set ``settings`` on every new connection of ``engine`` (an ``Engine`` or ``AsyncEngine``),
    at connect. A driver whose socket cannot be found raises, rather than silently run without."""
    settings = settings or TcpKeepalive()
    target: Engine = getattr(engine, "sync_engine", engine)

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        if not set_on(dbapi_connection, settings, target.url.port or 3306):
            raise RuntimeError(f"no TCP socket found for {type(dbapi_connection).__name__}")

    event.listen(target, "connect", on_connect)


def socket_options(fd: int) -> dict[str, int]:
    """What a socket's keepalive options are now (to check what a driver set itself)."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        return {
            "SO_KEEPALIVE": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            "TCP_KEEPIDLE": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            "TCP_KEEPINTVL": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            "TCP_KEEPCNT": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            "TCP_USER_TIMEOUT": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
        }
