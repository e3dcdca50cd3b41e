"""Gone away after idling: the server's ``wait_timeout``, and the two pool fixes.

Scenarios (registered, run with :func:`helpers.scenarios.run`):

``idle``            a pooled connection idles past ``wait_timeout``
``recycle_margin``  a request checks out, works, then queries: recycle at
                    ``wait_timeout`` is too late
``restart``         the server restarts under the pool

Measurements for the notebooks: :func:`timeout_scopes`, :func:`watch_idle`,
:func:`recycle_by_age`, :func:`replacements`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

import pandas as pd
from sqlalchemy import Engine, text

from ..lab import Lab, server_id
from ..logs import capture
from ..progress import ticks, wait
from .common import HARDENED, PRE_PING, RECYCLE_BELOW, WAIT_TIMEOUT, whole_seconds
from .fixes import NO_FIX, Fix, built_engine
from .registry import scenario
from .trial import Trial, each


@scenario(
    "idle",
    "A pooled connection idles past wait_timeout; the next request fails once",
    fixes=[NO_FIX, RECYCLE_BELOW, PRE_PING, HARDENED],
    timings={"wait_timeout": WAIT_TIMEOUT, "idle": WAIT_TIMEOUT + 1},
)
def idle(lab: Lab, trials: list[Trial], wait_timeout: float, idle: float) -> None:
    with lab.globals(wait_timeout=whole_seconds(wait_timeout)):
        each(trials, "first query")
        wait(idle, f"idle {idle:g}s (wait_timeout={whole_seconds(wait_timeout)}s)")
        each(trials, "after idle")
        each(trials, "next checkout")


#: ``recycle_margin`` timing: checkout after HOLD seconds of idling, then HOLD
#: seconds of work before the first query, so the query comes 2*HOLD after the
#: last command: past WAIT_TIMEOUT, though the checkout itself was not.
HOLD = 1.3


@scenario(
    "recycle_margin",
    "Checkout at 1.3 s idle, 1.3 s of work, then the first query: recycle must leave a margin",
    fixes=[
        NO_FIX,
        RECYCLE_BELOW,
        Fix("pool_recycle=2 (=wait_timeout)", {"pool_recycle": WAIT_TIMEOUT}, prevents=False),
        Fix("pool_recycle=4", {"pool_recycle": 2 * WAIT_TIMEOUT}, prevents=False),
        PRE_PING,
        HARDENED,
    ],
    timings={"wait_timeout": WAIT_TIMEOUT, "hold": HOLD},
)
def recycle_margin(lab: Lab, trials: list[Trial], wait_timeout: float, hold: float) -> None:
    with lab.globals(wait_timeout=whole_seconds(wait_timeout)):
        each(trials, "first query")
        wait(hold, "idle in the pool")
        held = [(trial, trial.checkout()) for trial in trials]
        wait(hold, "work before the first query")
        for trial, conn in held:
            trial.query("query after work", conn=conn)
        each(trials, "next checkout")


@scenario(
    "restart",
    "The server restarts; every pooled connection is dead",
    fixes=[NO_FIX, PRE_PING, HARDENED],
)
def restart(lab: Lab, trials: list[Trial]) -> None:
    each(trials, "first query")
    lab.restart()
    each(trials, "after restart")
    each(trials, "next checkout")


# -- measurements ------------------------------------------------------------


def timeout_scopes(lab: Lab, driver: str = "pymysql", value: int = WAIT_TIMEOUT) -> pd.DataFrame:
    """``SET GLOBAL wait_timeout`` reaches new connections only.

    Opens one connection before the change and one after; returns each one's
    ``@@global.wait_timeout`` and ``@@session.wait_timeout``.
    """
    engine = lab.engine(driver, pool_size=2)
    probe = text("SELECT CONNECTION_ID(), @@global.wait_timeout, @@session.wait_timeout")
    rows = []
    try:
        with engine.connect() as before, lab.globals(wait_timeout=value), engine.connect() as after:
            for label, conn in (("opened before SET GLOBAL", before), ("opened after SET GLOBAL", after)):
                cid, glob, sess = conn.execute(probe).one()
                rows.append({"connection": label, "connection_id": cid, "global": glob, "session": sess})
    finally:
        engine.dispose()
    return pd.DataFrame(rows)


def watch_idle(
    lab: Lab, driver: str = "pymysql", seconds: float = WAIT_TIMEOUT + 1.5, every: float = 0.25
) -> pd.DataFrame:
    """Watch a pooled connection sleep in ``SHOW PROCESSLIST`` until the server drops it.

    Returns one row per sample: time since the connection went back to the
    pool, whether its row is still there, its ``COMMAND`` and ``TIME_MS``.
    """
    engine = lab.engine(driver, pool_size=1)
    samples = []
    try:
        with lab.globals(wait_timeout=WAIT_TIMEOUT):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                cid = server_id(conn)
            for t in ticks(seconds, every, f"watching connection {cid}"):
                row = lab.processlist().query("ID == @cid")
                present = not row.empty
                samples.append(
                    {
                        "t": round(t, 2),
                        "connection_id": cid,
                        "present": present,
                        "command": row["COMMAND"].iloc[0] if present else None,
                        "time_ms": float(row["TIME_MS"].iloc[0]) if present else None,
                    }
                )
    finally:
        engine.dispose()
    return pd.DataFrame(samples)


def recycle_by_age(
    lab: Lab, driver: str = "pymysql", recycle: float = 1.2, every: float = 0.5, seconds: float = 4.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A connection used every ``every`` seconds (never idle long) with ``pool_recycle=recycle``.

    Returns (uses, pool_log): one row per use with the server connection id,
    and the ``sqlalchemy.pool`` log records of the same run. The id changes
    every ``recycle`` seconds although the connection is never idle that long:
    recycle counts age since connect, not idle time.
    """
    engine = lab.engine(driver, pool_size=1, pool_recycle=recycle)
    uses: list[dict[str, Any]] = []
    try:
        with capture("sqlalchemy.pool") as records:
            start = time.monotonic()
            for t in ticks(seconds, every, "using the connection"):
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                    uses.append({"t": round(t, 2), "connection_id": server_id(conn)})
    finally:
        engine.dispose()
    return pd.DataFrame(uses), records.frame(start)


def replacements(
    lab: Lab,
    fixes: Mapping[str, Fix],
    driver: str = "pymysql",
    size: int = 8,
    wait_timeout: int = 6,
    every: float = 0.1,
) -> pd.DataFrame:
    """When each fix's pool replaces its connections by age: a pool of ``size`` connections, made
    together, all checked out together every ``every`` seconds (never idle), each session's
    ``wait_timeout`` set to ``wait_timeout``, watched a little longer than that.

    One row per checkout round: the fix, when (seconds since its pool started filling),
    how many connections it replaced, and how long the round took (connects included).
    ``pool_recycle`` replaces them all in one round, whose requests all wait for a connect;
    the hardened pool's jittered lifetimes spread the connects out.
    """
    session = (f"SET SESSION wait_timeout = {wait_timeout}",)
    engines = {}
    rows: list[dict[str, Any]] = []

    def check_out_all(name: str, engine: Engine) -> None:
        start = time.monotonic()
        conns = [engine.connect() for _ in range(size)]
        ids = {server_id(c) for c in conns}
        for c in conns:
            c.close()
        fresh = ids - seen.get(name, ids)
        seen[name] = seen.get(name, set()) | ids
        rows.append(
            {
                "fix": name,
                "t": round(start - origin[name], 2),
                "replaced": len(fresh),
                "round_ms": round((time.monotonic() - start) * 1000, 1),
            }
        )

    seen: dict[str, set[int | None]] = {}
    origin: dict[str, float] = {}
    with ExitStack() as built:
        for name, fix in fixes.items():
            fix = dataclasses.replace(fix, on_connect=(*session, *fix.on_connect))
            engine, _watch = engines[name] = built.enter_context(
                built_engine(lab, driver, fix, pool_size=size, max_overflow=0)
            )
            origin[name] = time.monotonic()
            check_out_all(name, engine)  # the first fill: every connection made now
        for _ in ticks(wait_timeout * 1.1, every, "checking out every connection"):
            for name, (engine, _watch) in engines.items():
                check_out_all(name, engine)
    return pd.DataFrame(rows[len(fixes) :], columns=["fix", "t", "replaced", "round_ms"])
