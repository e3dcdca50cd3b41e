"""The network between the application and the server: a device that forgets idle flows.

A load balancer, NAT gateway or firewall keeps a table of the flows it passes and
forgets a flow idle for longer than its own limit (AWS NLB 350 s, Azure Load
Balancer 4 min, GCP Cloud NAT 20 min for established TCP), often long before the
server's ``wait_timeout``. The lab's fault proxy plays that device on loopback.

- **Silent drop** (most devices): nothing tells either side. The client's next
  query waits for an answer that never comes; only a client timeout ends the wait.
  On a real network the kernel would retransmit the query unanswered and give up
  after ``net.ipv4.tcp_retries2`` (15 retries, about 15 minutes) with ``ETIMEDOUT``;
  here the proxy's socket acknowledges it, so the lab bounds the wait itself.
  The server sees nothing until its own ``wait_timeout``.
- **Reset** (Azure with "TCP reset on idle", some firewalls): both sides get a
  TCP RST at the idle limit; the next query fails at once.

Raising ``wait_timeout`` helps with neither. A TCP keepalive shorter than the
device's limit (``net.ipv4.tcp_keepalive_time``, or the socket options
``TCP_KEEPIDLE``/``TCP_KEEPINTVL``/``TCP_KEEPCNT``) would keep the flow alive on a
real network, since the device sees the probes; through a user-space proxy the
probes end at the proxy's socket, so the lab explains it rather than shows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import text

from goneaway_pool.hardened import Hardening

from ..drivers import ErrorInfo, describe_error, timeout_args
from ..faultproxy import FaultProxy
from ..lab import Lab
from ..progress import ticks, wait, wait_until
from .common import HARDENED, PRE_PING, does_not_prevent
from .fixes import NO_FIX, Fix
from .registry import scenario
from .trial import RECORDED, Trial, each

#: The device's idle limit, the quiet time (longer), and the lab's bound on a wait no timeout ends.
DEVICE_IDLE = 1.5
QUIET = 2.0
HANG = 2.0
READ_TIMEOUT = 1

RECYCLE_BELOW_DEVICE = Fix("pool_recycle=1 (below the device's idle limit)", {"pool_recycle": 1})


def hung(seconds: float) -> ErrorInfo:
    return ErrorInfo("no answer", None, f"still waiting after {seconds:g}s: no timeout ends it", False)


@scenario(
    "lb_silent_drop",
    "A load balancer or NAT silently forgets a flow idle longer than its limit (below wait_timeout)",
    fixes=[
        Fix("no timeout", prevents=False),
        Fix(f"read_timeout={READ_TIMEOUT}", prevents=False, read_timeout=READ_TIMEOUT),
        Fix(PRE_PING.name, PRE_PING.options, prevents=False),
        Fix(f"pool_pre_ping + read_timeout={READ_TIMEOUT}", PRE_PING.options, read_timeout=READ_TIMEOUT),
        does_not_prevent(HARDENED),
        Fix(
            f"hardened pool, ping_after=1 + read_timeout={READ_TIMEOUT}",
            hardening=Hardening(ping_after=1),
            read_timeout=READ_TIMEOUT,
        ),
        RECYCLE_BELOW_DEVICE,
    ],
    codes=frozenset({2013, None}),  # None: the hang, recorded as "no answer"
    timings={"device_idle": DEVICE_IDLE, "quiet": QUIET, "hang": HANG},
)
def lb_silent_drop(lab: Lab, trials: list[Trial], device_idle: float, quiet: float, hang: float) -> None:
    """After the quiet, every trial's checkout and query run in their own thread. A trial
    still waiting after ``hang`` seconds gets a "no answer" row; then the proxy releases
    the forgotten flows (a real kernel would, many minutes later) and its own row follows."""
    with _behind_device(lab, trials, quiet, drop=device_idle) as proxy:
        threads = query_all_at_once(trials, "query after the quiet", hang)
        proxy.release()
        for thread in threads:
            thread.join(timeout=30)
        each(trials, "next checkout")


@scenario(
    "lb_reset",
    "A load balancer or firewall resets a flow idle longer than its limit (below wait_timeout)",
    fixes=[NO_FIX, PRE_PING, HARDENED, RECYCLE_BELOW_DEVICE],
    timings={"device_idle": DEVICE_IDLE, "quiet": QUIET},
)
def lb_reset(lab: Lab, trials: list[Trial], device_idle: float, quiet: float) -> None:
    with _behind_device(lab, trials, quiet, reset=device_idle):
        each(trials, "query after the quiet")
        each(trials, "next checkout")


@contextmanager
def _behind_device(
    lab: Lab, trials: list[Trial], quiet: float, drop: float | None = None, reset: float | None = None
) -> Iterator[FaultProxy]:
    """Route every trial through a fault proxy that forgets (``drop``) or resets (``reset``)
    flows idle that many seconds; run a first query, then stay quiet for ``quiet`` seconds."""
    with FaultProxy(lab.backend.host, lab.backend.port) as proxy:
        for trial in trials:
            trial.route_via(proxy.port)
        proxy.drop_after_idle(drop)
        proxy.reset_after_idle(reset)
        each(trials, "first query")
        wait(quiet, f"quiet; the device {'forgets' if drop else 'resets'} flows idle {drop or reset:g}s")
        yield proxy


def query_all_at_once(trials: list[Trial], step: str, bound: float) -> list[threading.Thread]:
    """Run ``step`` for every trial at once, each in a thread; wait at most ``bound`` seconds
    for them, and record a "no answer" row for each still waiting. Returns the threads."""
    started = time.monotonic()
    threads = [threading.Thread(target=trial.query, args=(step,), daemon=True) for trial in trials]
    for thread in threads:
        thread.start()
    wait_until(lambda: not any(thread.is_alive() for thread in threads), bound, "waiting for answers")
    for trial, thread in zip(trials, threads, strict=True):
        if thread.is_alive():
            trial.record(f"no answer for {bound:g}s", started, None, hung(bound))
    return threads


def server_view(
    lab: Lab,
    driver: str = "pymysql",
    wait_timeout: int = 4,
    device_idle: float = 1.0,
    seconds: float = 5.5,
    every: float = 0.1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two idle connections, each failing its way: what the client saw, and what the server saw.

    ``server closed it``: a direct connection idle past ``wait_timeout``; ``network dropped
    it``: a connection through a device that forgets it after ``device_idle`` seconds, with
    ``read_timeout=1``. Each queries once after its limit. Returns (client, server): the
    client's events (time, which, outcome, error code, message, seconds it took, and
    ``aborted_clients_then``: the server's count when the answer came) and the server's
    ``Aborted_clients`` sampled every ``every`` seconds, as a change from the start.
    """
    before = int(lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"])
    events: list[dict[str, Any]] = []
    with lab.globals(wait_timeout=wait_timeout), FaultProxy(lab.backend.host, lab.backend.port) as proxy:
        proxy.drop_after_idle(device_idle)
        engines = {
            "server closed it": lab.engine(driver, pool_size=1),
            "network dropped it": lab.engine(
                driver, via=proxy.port, pool_size=1, connect_args=timeout_args(driver, read=READ_TIMEOUT)
            ),
        }
        due = {"network dropped it": device_idle + 0.5, "server closed it": wait_timeout + 0.5}
        samples = []
        try:
            for engine in engines.values():
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            t0 = time.monotonic()
            threads = []
            for t in ticks(seconds, every, "watching the client and the server"):
                for which in [w for w, at in due.items() if t >= at]:
                    del due[which]
                    thread = threading.Thread(target=_query_once, args=(engines[which], which, t0, events))
                    thread.start()
                    threads.append(thread)
                aborted = int(lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"]) - before
                samples.append({"t": round(t, 2), "aborted_clients": aborted})
            for thread in threads:
                thread.join(timeout=10)
        finally:
            for engine in engines.values():
                engine.dispose()
    server = pd.DataFrame(samples)
    client = pd.DataFrame(events, columns=["t", "which", "outcome", "error_code", "message", "seconds"])
    client["aborted_clients_then"] = [
        int(server[server["t"] <= t + seconds]["aborted_clients"].iloc[-1])
        for t, seconds in zip(client["t"], client["seconds"], strict=True)
    ]
    return client.astype({"error_code": "Int64"}), server


def _query_once(engine: Any, which: str, t0: float, events: list[dict[str, Any]]) -> None:
    start = time.monotonic()
    event: dict[str, Any] = {"t": round(start - t0, 2), "which": which, "outcome": "ok"}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except RECORDED as exc:
        info = describe_error(exc)
        event.update(outcome="error", error_code=info.error_code, message=info.message)
    event["seconds"] = round(time.monotonic() - start, 2)
    events.append(event)
