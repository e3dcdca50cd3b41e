"""A real network path: a lab MariaDB in a network namespace of its own, behind the kernel's
stateful firewall (nftables and conntrack), with the application's sockets in the same namespace.

The namespace holds only ``lo``. Its firewall tracks every TCP flow (conntrack) and, as a NAT
gateway or cloud firewall does, forgets a flow idle past :attr:`Device.idle_limit`
(``nf_conntrack_tcp_timeout_established``); with ``nf_conntrack_tcp_loose=0`` a packet of a
forgotten flow is *invalid*, and the rule ``ct state invalid`` drops it or answers it with a
TCP reset (:attr:`Device.forgotten`). ``tcp_retries2`` is lowered in the namespace, so the
kernel gives up on an unanswered query in seconds rather than the ~15 minutes of its default
(:func:`retransmission_timeout`).

Nothing here touches the host: the namespace is made by ``unshare --net`` for the server's
own process, which sets it up and then becomes ``mariadbd``; it ends with that process
(``mariadbd`` gets SIGTERM when the process that started it dies) and with this process's
sockets in it. The application's side runs in a thread that entered it (``setns``,
:func:`call_inside`); threads that thread starts (an async trial's event loop) are in it too.
The lab's own admin connection uses the server's unix socket.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import re
import shlex
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd
import pymysql

from goneaway_pool.tcp import TcpKeepalive, set_on

from . import runlock
from .backends.local import LocalBackend, find_binary, no_server_binaries
from .errors import LabError
from .lab import Lab
from .progress import wait

log = logging.getLogger(__name__)
T = TypeVar("T")

CLONE_NEWNET = 0x40000000
#: The nftables table the lab creates, in its own namespace only.
TABLE = "goneaway"
#: What enables the kernel-firewall scenarios where they are skipped.
ENABLE = "run as root (CAP_NET_ADMIN) with nftables, iproute2, util-linux and procps installed (make setup)"


@dataclass(frozen=True)
class Device:
    """The stateful firewall on the path: how long it remembers an idle flow (whole seconds),
    what it does with a packet of a flow it forgot, and the namespace's ``tcp_retries2``."""

    idle_limit: int = 2
    forgotten: Literal["drop", "reset"] = "drop"
    tcp_retries2: int = 3

    def rules(self) -> str:
        if self.forgotten == "drop":
            rules = ["ct state invalid counter drop"]
        else:  # the reset the rule sends is itself of a forgotten flow: let resets through
            rules = [
                "ct state invalid tcp flags & rst == rst accept",
                "ct state invalid counter reject with tcp reset",
            ]
        body = "".join(f"    {rule}\n" for rule in rules)
        hook = "    type filter hook input priority 0; policy accept;\n"
        return f"table inet {TABLE} {{\n  chain input {{\n{hook}{body}  }}\n}}\n"

    def sysctls(self) -> dict[str, int]:
        return {
            "net.netfilter.nf_conntrack_tcp_timeout_established": self.idle_limit,
            "net.netfilter.nf_conntrack_tcp_loose": 0,
            "net.ipv4.tcp_retries2": self.tcp_retries2,
        }


def retransmission_timeout(tcp_retries2: int = 15, rto_min: float = 0.2, rto_max: float = 120.0) -> float:
    """The kernel's "hypothetical timeout" for ``tcp_retries2``, in seconds: the sum of the
    retransmission timeouts, starting at ``TCP_RTO_MIN`` (200 ms) and doubling up to
    ``TCP_RTO_MAX`` (120 s), over ``tcp_retries2 + 1`` steps: 924.6 s for the default 15
    (Documentation/networking/ip-sysctl.rst, ``tcp_retries2``; ``tcp_model_timeout()`` in
    net/ipv4/tcp_timer.c). It is a lower bound: the socket fails at a retransmission timeout
    that expires past it, and a real RTO is above the minimum (:func:`flow_timeline` measures)."""
    bound, step = 0.0, rto_min
    for _ in range(tcp_retries2 + 1):
        bound += step
        step = min(step * 2, rto_max)
    return round(bound, 1)


@functools.cache
def unavailable() -> str | None:
    """Why the kernel-firewall scenarios cannot run here (one line), or None."""
    missing = [name for name in ("unshare", "nft", "ip", "sysctl") if not find_binary(name)]
    if missing:
        return f"{', '.join(missing)} not found: {ENABLE}"
    if (problem := no_server_binaries("the namespace's server")) is not None:
        return problem
    try:
        probe = subprocess.run(
            ["unshare", "--net", "--", "nft", "list", "tables"], capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        return f"making a network namespace with a firewall took over 10 s: {ENABLE}"
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["unshare failed"])[-1]
        return f"cannot make a network namespace with a firewall ({why}): {ENABLE}"
    return None


def _setns(pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into the network namespace of pid {pid}: {os.strerror(err)}")
    finally:
        os.close(fd)


def call_inside(pid: int, fn: Callable[[], T], name: str = "in-namespace") -> T:
    """``fn()`` in a new thread inside the network namespace of ``pid``; its result, or its error."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            _setns(pid)
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


class NamespaceBackend(LocalBackend):
    """A private MariaDB whose process makes, sets up and holds a network namespace of its own
    (``unshare --net``: ``lo`` up, the device's rules and sysctls, then ``exec mariadbd``)."""

    name = "namespace"

    def __init__(self, config: Any, device: Device) -> None:
        super().__init__(config)
        self.dir = config.home / "namespace"
        self.device = device

    def _command(self, mariadbd: str) -> list[str]:
        self.dir.mkdir(parents=True, exist_ok=True)
        rules = self.dir / "rules.nft"
        rules.write_text(self.device.rules())
        sysctls = " ".join(f"{k}={v}" for k, v in self.device.sysctls().items())
        # the rules first: they load conntrack, whose sysctls appear only then
        nft = shlex.quote(str(rules))
        setup = f'ip link set lo up && nft -f {nft} && sysctl -qw {sysctls} && exec "$@"'
        return ["unshare", "--net", "--", "sh", "-c", setup, "sh", *super()._command(mariadbd)]

    def _write_init_sql(self) -> Any:
        path = super()._write_init_sql()
        # the admin connection comes over the unix socket: root@localhost, with the lab's password
        with path.open("a") as f:
            f.write(f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{self.config.root_password}';\n")
        return path

    def admin_connect(self, timeout: float = 3.0) -> pymysql.connections.Connection:
        return pymysql.connect(
            unix_socket=str(self.socket_path),
            user=self.admin_user,
            password=self.admin_password,
            connect_timeout=timeout,
            autocommit=True,
        )

    # -- the device's view ------------------------------------------------------
    def _nsenter(self, *command: str) -> str:
        pid = self.pid
        if pid is None:
            raise LabError("the namespace's server is not running")
        done = subprocess.run(
            ["nsenter", f"--net=/proc/{pid}/ns/net", *command], capture_output=True, text=True, timeout=10
        )
        if done.returncode != 0:
            raise LabError(f"{' '.join(command)} in the namespace failed: {done.stderr.strip()}")
        return done.stdout

    def counters(self) -> dict[str, int]:
        """The firewall rule's counter: packets of forgotten flows dropped or rejected so far."""
        ruleset = json.loads(self._nsenter("nft", "-j", "list", "table", "inet", TABLE))
        for item in ruleset["nftables"]:
            for expr in item.get("rule", {}).get("expr", []):
                if "counter" in expr:
                    counter = expr["counter"]
                    return {"packets": int(counter["packets"]), "bytes": int(counter["bytes"])}
        return {"packets": 0, "bytes": 0}

    def flows(self) -> pd.DataFrame:
        """The flows to the server that conntrack remembers now: ports, state, seconds left."""
        pid = self.pid
        text = self._nsenter("cat", "/proc/net/nf_conntrack") if pid else ""
        rows = []
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 6 or fields[2] != "tcp":
                continue
            ports = re.findall(r"sport=(\d+) dport=(\d+)", line)
            if ports and int(ports[0][1]) == self.port:
                client = int(ports[0][0])
                rows.append({"client_port": client, "state": fields[5], "seconds_left": int(fields[4])})
        return pd.DataFrame(rows, columns=["client_port", "state", "seconds_left"])


@contextmanager
def namespace_lab(config: Any, device: Device) -> Iterator[tuple[Lab, NamespaceBackend]]:
    """A lab server in a namespace of its own behind ``device``, for as long as the block, and
    its backend (``call_inside(backend.pid, fn)`` runs the application's side there).
    :class:`LabError` with one line where this machine cannot."""
    why = unavailable()
    if why:
        raise LabError(why)
    backend = NamespaceBackend(replace(config, port=None), device)
    # one namespace server per lab home at a time: the next start stops one a killed run left
    with runlock.exclusive(f"namespace{config.home}", 0, "the namespace's server"):
        backend.stop()
        inner = Lab(backend)
        try:
            backend.start()
            yield inner, backend
        finally:
            inner.stop()


# -- one flow's life, as the kernel sees it ---------------------------------------------------

#: ``struct tcp_info`` up to ``tcpi_total_retrans`` (linux/tcp.h): 8 bytes, then 24 u32.
_TCP_INFO = struct.Struct("8B24I")
_TOTAL_RETRANS = 8 + 23


def total_retransmissions(sock: socket.socket) -> int:
    """``tcpi_total_retrans``: segments this socket's kernel has retransmitted so far."""
    return int(
        _TCP_INFO.unpack(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size))[_TOTAL_RETRANS]
    )


def _remembered(port: int) -> bool:
    """Does this thread's namespace's conntrack remember the flow from local ``port``?"""
    try:
        table = Path("/proc/thread-self/net/nf_conntrack").read_text()
    except OSError:
        return False
    return f"sport={port} " in table


#: The lessons' TCP keepalive: well inside the firewall's 2 s.
LESSON_KEEPALIVE = TcpKeepalive(idle=1, interval=1, count=3)


def _note(events: list[dict[str, Any]], t0: float, which: str, event: str, detail: str = "") -> None:
    events.append({"t": round(time.monotonic() - t0, 3), "which": which, "event": event, "detail": detail})


def _watch_flows(
    conns: dict[str, pymysql.connections.Connection],
    events: list[dict[str, Any]],
    done: threading.Event,
    every: float,
) -> tuple[threading.Thread, float]:
    """The first query on each connection, then a thread (in the caller's namespace, as threads it
    starts are) that notes every ``every`` seconds whether conntrack still remembers each flow and
    each segment its kernel retransmits, until ``done``. Returns it, and the time axis's origin."""
    socks = {name: conn._sock for name, conn in conns.items()}
    ports = {name: int(sock.getsockname()[1]) for name, sock in socks.items()}
    t0 = time.monotonic()
    for name, conn in conns.items():
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        _note(events, t0, name, "answered", "first query")

    def sample() -> None:
        seen = dict.fromkeys(conns, True)
        retrans = {name: total_retransmissions(sock) for name, sock in socks.items()}
        watched = list(conns)
        while watched and not done.wait(every):
            for name in list(watched):
                now = _remembered(ports[name])
                if now != seen[name]:
                    _note(events, t0, name, "remembered" if now else "forgotten", "conntrack")
                    seen[name] = now
                try:
                    count = total_retransmissions(socks[name])
                except OSError:  # the driver closed its socket after the error: nothing more to see
                    watched.remove(name)
                    continue
                for _ in range(count - retrans[name]):
                    _note(events, t0, name, "retransmission", "the kernel resent the query")
                retrans[name] = count

    thread = threading.Thread(target=sample, name="flow-sampler", daemon=True)
    thread.start()
    return thread, t0


def _query(name: str, conn: pymysql.connections.Connection, events: list[dict[str, Any]], t0: float) -> None:
    _note(events, t0, name, "query sent")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        _note(events, t0, name, "answered")
    except pymysql.MySQLError as exc:
        _note(events, t0, name, "error", str(exc))


def flow_timeline(
    config: Any,
    keepalive: TcpKeepalive = LESSON_KEEPALIVE,
    idle: float = 3.5,
    device: Device | None = None,
    every: float = 0.05,
) -> pd.DataFrame:
    """Two PyMySQL connections through the firewall, one without TCP keepalive and one with
    ``keepalive``: a first query, ``idle`` seconds of quiet, then a query on each at once. Every
    ``every`` seconds, whether conntrack still remembers each flow and how many segments its
    kernel has retransmitted (``TCP_INFO``). One row per event: ``t`` (seconds from the first
    query), ``which`` connection, ``event`` (answered, remembered, forgotten, query sent,
    retransmission, error) and ``detail``."""
    events: list[dict[str, Any]] = []
    device = device or Device()
    with namespace_lab(config, device) as (lab, backend):
        assert backend.pid is not None

        def run() -> None:
            names = ("no TCP keepalive", f"TCP keepalive {keepalive.idle} s")
            conns: dict[str, pymysql.connections.Connection] = {}
            done = threading.Event()
            sampler: threading.Thread | None = None
            try:
                for name in names:
                    conns[name] = pymysql.connect(
                        host="127.0.0.1",
                        port=backend.port,
                        user=lab.backend.user,
                        password=lab.backend.password,
                    )
                set_on(conns[names[1]], keepalive)
                sampler, t0 = _watch_flows(conns, events, done, every)
                wait(idle, f"idle; the firewall forgets flows idle {device.idle_limit}s")
                threads = [
                    threading.Thread(target=_query, args=(name, conns[name], events, t0), daemon=True)
                    for name in names
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=60)
            finally:  # whatever failed: the sampler stops, the sockets close (they hold the namespace)
                done.set()
                if sampler is not None:
                    sampler.join()
                for conn in conns.values():
                    with contextlib.suppress(pymysql.MySQLError):
                        conn.close()

        call_inside(backend.pid, run, name="flow timeline")
    return (
        pd.DataFrame(events, columns=["t", "which", "event", "detail"])
        .sort_values("t", kind="stable")
        .reset_index(drop=True)
    )


def flow_facts(events: pd.DataFrame) -> dict[str, Any]:
    """What :func:`flow_timeline` showed: whether conntrack forgot each flow, how often the kernel
    retransmitted the query of the one without keepalive, its error, how long that query hung,
    and how many answers the one with keepalive got."""
    lost = events[events["which"] == "no TCP keepalive"]
    kept = events[events["which"] != "no TCP keepalive"]
    errors = lost[lost["event"] == "error"]
    sent = lost[lost["event"] == "query sent"]["t"]
    return {
        "forgotten": {
            "without": bool((lost["event"] == "forgotten").any()),
            "with": bool((kept["event"] == "forgotten").any()),
        },
        "retransmissions": int((lost["event"] == "retransmission").sum()),
        "error": str(errors["detail"].iloc[0]) if len(errors) else None,
        "hang_seconds": round(float(lost["t"].max() - sent.iloc[0]), 2) if len(sent) else None,
        "kept_answered": int((kept["event"] == "answered").sum()),
    }
