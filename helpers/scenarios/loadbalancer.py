"""HAProxy between the application and the server, for real (Debian's ``haproxy``, TCP mode).

- ``haproxy_idle``: HAProxy closes a session idle past its ``timeout client`` /
  ``timeout server`` (seconds here; often 30 s to 1 h in the field), on both sides. The
  server counts an aborted client; the application's next query on that connection fails.
- ``haproxy_backend_down``: the pool's server stops answering its health check and its
  open sessions stop getting answers (the lab's fault proxy forgets them); HAProxy marks it
  down and sends new sessions to the backup. With ``on-marked-down shutdown-sessions`` it
  closes the sessions it had there, and the application finds out at once; without it, they
  stay open to a server that does not answer, and a query waits for its read timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd

from ..faultproxy import FaultProxy
from ..haproxy import HAProxy, Listener, Upstream, unavailable
from ..lab import Lab
from ..progress import wait
from .common import HARDENED, PRE_PING
from .fixes import NO_FIX, Fix
from .network import query_all_at_once
from .registry import Place, scenario
from .trial import Trial, each

#: HAProxy's idle timeouts in ``haproxy_idle``, and the idle past them.
HAPROXY_TIMEOUT = 2.0
IDLE = 3.0
RECYCLE = Fix("pool_recycle=1 (below HAProxy's timeouts)", {"pool_recycle": 1})


@contextmanager
def _idle_place(lab: Lab, timings: dict[str, float]) -> Iterator[Place]:
    b, limit = lab.backend, timings["haproxy_timeout"]
    listener = Listener("db", [Upstream("lab", b.host, b.port)], timeout_client=limit, timeout_server=limit)
    with HAProxy([listener]) as proxy:
        yield Place(lab, device=proxy)


@scenario(
    "haproxy_idle",
    "HAProxy closes a session idle past its timeout client / timeout server (below wait_timeout)",
    fixes=[NO_FIX, RECYCLE, PRE_PING, HARDENED],
    timings={"haproxy_timeout": HAPROXY_TIMEOUT, "idle": IDLE},
    place=_idle_place,
    needs=unavailable,
)
def haproxy_idle(lab: Lab, trials: list[Trial], place: Place, haproxy_timeout: float, idle: float) -> None:
    proxy: HAProxy = place.device
    aborted = int(lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"])
    for trial in trials:
        trial.route_via(proxy.port("db"))
    each(trials, "first query")
    before = _sessions(proxy, "db")
    wait(idle, f"idle; HAProxy closes sessions idle {haproxy_timeout:g}s")
    after = _sessions(proxy, "db")
    each(trials, "query after the idle")
    each(trials, "next request")
    place.views.append({"view": "haproxy", "sessions_before_idle": before, "sessions_after_idle": after})
    delta = int(lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"]) - aborted
    place.views.append({"view": "server", "aborted_clients_delta": delta})


def _sessions(proxy: HAProxy, listener: str) -> int:
    return _on(proxy.stats(), listener, "FRONTEND")


# -- a server marked down ------------------------------------------------------------------

READ_TIMEOUT = 2
#: The two listeners: the same servers, with and without ``on-marked-down shutdown-sessions``.
STAY = "sessions_stay"
SHUTDOWN = "shutdown_sessions"
#: The trials on the listener whose sessions stay on a server marked down ...
STAY_FIXES = [
    Fix(f"sessions stay (read_timeout={READ_TIMEOUT})", prevents=False, read_timeout=READ_TIMEOUT),
    Fix(
        f"sessions stay + pool_pre_ping (waits for read_timeout={READ_TIMEOUT})",
        PRE_PING.options,
        read_timeout=READ_TIMEOUT,
        prevents_for={"aiomysql": False},  # its ping has no read timeout: it waits for the bound
    ),
]
#: ... and on the one with ``on-marked-down shutdown-sessions``: HAProxy's setting is part of the fix.
SHUTDOWN_FIXES = [
    Fix("on-marked-down shutdown-sessions", prevents=False, read_timeout=READ_TIMEOUT),
    Fix("shutdown-sessions + pool_pre_ping", PRE_PING.options, read_timeout=READ_TIMEOUT),
    Fix("shutdown-sessions + hardened pool", hardening=HARDENED.hardening, read_timeout=READ_TIMEOUT),
]
DOWN_FIXES = STAY_FIXES + SHUTDOWN_FIXES


#: How long a query may wait here before the lab records it as unanswered.
BOUND = 8.0


class HealthPort:
    """A TCP port that accepts (HAProxy's check passes) until :meth:`close` (it fails)."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="health-port", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accept() in progress; close alone would not
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)


@contextmanager
def _down_place(lab: Lab, timings: dict[str, float]) -> Iterator[Place]:
    b = lab.backend
    health = HealthPort()
    try:
        with FaultProxy(b.host, b.port) as primary_path:
            servers = [
                Upstream("primary", "127.0.0.1", primary_path.port, check_port=health.port),
                Upstream("backup", b.host, b.port, backup=True),
            ]
            listeners = [Listener(STAY, servers), Listener(SHUTDOWN, servers, shutdown_sessions=True)]
            with HAProxy(listeners) as proxy:
                yield Place(lab, device=(proxy, primary_path, health))
    finally:
        health.close()


@scenario(
    "haproxy_backend_down",
    "HAProxy marks the pool's server down: its sessions are closed (shutdown-sessions) or stay stuck",
    fixes=DOWN_FIXES,
    codes=frozenset({2006, 2013, 2055, None}),
    place=_down_place,
    needs=unavailable,
)
def haproxy_backend_down(lab: Lab, trials: list[Trial], place: Place) -> None:
    proxy, primary_path, health = place.device
    for trial in trials:
        trial.route_via(proxy.port(STAY if trial.fix in STAY_FIXES else SHUTDOWN))
    each(trials, "first query (on the primary)")
    primary_path.drop_after_idle(0.3)  # the primary stops answering its open sessions ...
    wait(0.6, "the primary stops answering")
    health.close()  # ... and its health check
    seconds = {name: proxy.wait_status(name, "primary", "DOWN") for name in (STAY, SHUTDOWN)}
    open_now = proxy.stats()
    threads = query_all_at_once(trials, "query after the primary is marked down", BOUND)
    primary_path.release()
    for thread in threads:
        thread.join(timeout=10)
    each(trials, "next request")
    on_primary = {f"{name}_sessions_on_primary": _on(open_now, name, "primary") for name in (STAY, SHUTDOWN)}
    place.views.append({"view": "haproxy", "seconds_to_mark_down": max(seconds.values()), **on_primary})


def _on(stats: pd.DataFrame, listener: str, server: str) -> int:
    part = stats[(stats["listener"] == listener) & (stats["server"] == server)]
    return int(part["scur"].sum())
