"""Keep-alive job versus raising wait_timeout.

A keep-alive job keeps idle connections from ever reaching ``wait_timeout``;
raising the timeout only moves the cliff: an idle period longer than the new
value fails just the same.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pandas as pd
from sqlalchemy import event, text

from goneaway_pool.keepalive import KeepAlive

from ..drivers import ASYNC_DRIVERS
from ..lab import Lab
from ..progress import ticks, wait
from .common import WAIT_TIMEOUT
from .fixes import NO_FIX, Fix, run_on_connect
from .registry import scenario
from .trial import Trial, each

QUIET = 5.0  # the quiet period: longer than the raised timeout below
RAISED = 4  # a "raised" wait_timeout
JOB_EVERY = 1.0  # keep-alive period: shorter than WAIT_TIMEOUT

KEEPALIVE_JOB = Fix(f"keep-alive job every {JOB_EVERY:g}s", code_change="keepalive")
RAISED_TIMEOUT = Fix(
    f"wait_timeout raised to {RAISED}s (session)",
    on_connect=(f"SET SESSION wait_timeout = {RAISED}",),
    prevents=False,
)


@scenario(
    "keepalive",
    f"The pool idles {QUIET:g}s: a keep-alive job, or a wait_timeout raised to {RAISED}s",
    fixes=[NO_FIX, KEEPALIVE_JOB, RAISED_TIMEOUT],
    code_changes={"keepalive"},
    not_for={d: "the lab's keep-alive job is a thread on a sync engine" for d in ASYNC_DRIVERS},
)
def keepalive(lab: Lab, trials: list[Trial]) -> None:
    with lab.globals(wait_timeout=WAIT_TIMEOUT), contextlib.ExitStack() as jobs:
        each(trials, "first query")
        for trial in trials:
            if trial.fix.code_change == "keepalive":
                jobs.enter_context(KeepAlive(trial.engine, JOB_EVERY))
        wait(QUIET, f"quiet period of {QUIET:g}s")
        jobs.close()
        each(trials, "after the quiet period")
        each(trials, "next checkout")


def connections_over_time(
    lab: Lab, driver: str = "pymysql", pool_size: int = 3, seconds: float = QUIET + 1, every: float = 0.5
) -> pd.DataFrame:
    """How many server connections each strategy holds while the application is idle.

    Three engines of ``pool_size`` connections each: no fix, a keep-alive job,
    and a raised session ``wait_timeout``. One row per sample and strategy, plus
    the server's ``Threads_connected``.
    """
    strategies = {"none": NO_FIX, KEEPALIVE_JOB.name: KEEPALIVE_JOB, RAISED_TIMEOUT.name: RAISED_TIMEOUT}
    engines: dict[str, Any] = {}
    ids: dict[str, set[int]] = {name: set() for name in strategies}
    samples = []
    with lab.globals(wait_timeout=WAIT_TIMEOUT), contextlib.ExitStack() as stack:
        for name, fix in strategies.items():
            engine = lab.engine(driver, pool_size=pool_size, max_overflow=0)
            stack.callback(engine.dispose)
            if fix.on_connect:
                event.listen(engine, "connect", run_on_connect(fix.on_connect))
            event.listen(engine, "connect", lambda dbapi, rec, name=name: ids[name].add(dbapi.thread_id()))
            for conn in [engine.connect() for _ in range(pool_size)]:  # fill the pool
                conn.close()
            if fix.code_change == "keepalive":
                stack.enter_context(KeepAlive(engine, JOB_EVERY, size=pool_size))
            engines[name] = engine
        for engine in engines.values():  # one last use of every connection: the quiet starts now
            conns = [engine.connect() for _ in range(pool_size)]
            for conn in conns:
                conn.execute(text("SELECT 1"))
                conn.close()
        for t in ticks(seconds, every, "watching the server's connections"):
            present = set(lab.processlist()["ID"])
            threads = int(lab.status(["Threads_connected"]).iloc[0, 0])
            for name in strategies:
                samples.append({"t": round(t, 2), "strategy": name, "connections": len(ids[name] & present)})
            samples.append(
                {"t": round(t, 2), "strategy": "Threads_connected (server)", "connections": threads}
            )
    return pd.DataFrame(samples)
