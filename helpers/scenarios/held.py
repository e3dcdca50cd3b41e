"""Long work while holding a connection: the 2013/2006 in the middle of a request.

The request checks a connection out, queries, then spends longer than
``wait_timeout`` on non-database work (calling an API, rendering a report)
before its next query. Pool settings act only at checkout, so they cannot help.
"""

from __future__ import annotations

import logging
import time

import pandas as pd
from sqlalchemy import Engine, text

from goneaway_pool.hardened import Hardening

from ..lab import Lab
from ..logs import capture
from ..progress import ticks
from .common import HARDENED, PRE_PING, RECYCLE_BELOW, WAIT_TIMEOUT, does_not_prevent, whole_seconds
from .fixes import NO_FIX, Fix, built_engine
from .registry import scenario
from .trial import Trial, each

#: Seconds of non-database work: longer than WAIT_TIMEOUT.
WORK = WAIT_TIMEOUT + 1.0
#: A keep-alive ping every PING_EVERY seconds: shorter than WAIT_TIMEOUT.
PING_EVERY = 1.0
#: A session wait_timeout long enough for the work.
SESSION_WAIT = 10


@scenario(
    "long_work",
    "A request holds its connection through 3 s of non-database work, then queries again",
    fixes=[
        NO_FIX,
        does_not_prevent(PRE_PING),
        does_not_prevent(RECYCLE_BELOW),
        does_not_prevent(HARDENED),
        Fix("release during work", PRE_PING.options, code_change="release"),
        Fix("release during work, hardened pool", code_change="release", hardening=HARDENED.hardening),
        Fix("keep-alive during work", code_change="keepalive"),
        Fix(
            f"session wait_timeout={SESSION_WAIT} (connect event)",
            on_connect=(f"SET SESSION wait_timeout = {SESSION_WAIT}",),
        ),
        Fix(
            f"init_command wait_timeout={SESSION_WAIT}",
            {"connect_args": {"init_command": f"SET SESSION wait_timeout = {SESSION_WAIT}"}},
        ),
    ],
    timings={"wait_timeout": WAIT_TIMEOUT, "work": WORK},
    code_changes={"release", "keepalive"},
)
def long_work(lab: Lab, trials: list[Trial], wait_timeout: float, work: float) -> None:
    with lab.globals(wait_timeout=whole_seconds(wait_timeout)):
        held = {}
        for trial in trials:
            conn = trial.checkout()
            trial.query("query before work", conn=conn, keep=trial.fix.code_change != "release")
            held[trial] = conn
        for _ in ticks(work, PING_EVERY, "non-database work"):
            for trial, conn in held.items():
                if trial.fix.code_change == "keepalive":
                    trial.query("keep-alive", "SELECT 1", conn=conn, keep=True)
        for trial, conn in held.items():
            if trial.fix.code_change == "release":  # check out anew after the work
                trial.query("query after work")
            else:
                trial.query("query after work", conn=conn)
        each(trials, "next checkout")


def long_checkout_report(
    lab: Lab, driver: str = "pymysql", leak_after: float = 1.0, hold: float = 2.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hardened pool's report of a connection held too long: a request checks out,
    queries, then holds the connection ``hold`` seconds (``leak_after`` < ``hold``).

    Returns (long checkouts, log): :meth:`~goneaway_pool.hardened.PoolWatch.long_checkouts`, with
    the stack of the code that checked the connection out, and the warning it logged.
    """
    fix = Fix("hardened pool, leak_after", hardening=Hardening(leak_after=leak_after))
    with built_engine(lab, driver, fix, pool_size=1, max_overflow=0) as (engine, watch):
        assert watch is not None
        with capture("goneaway_pool.hardened", level=logging.WARNING) as records:
            start = time.monotonic()
            _export_nightly_report(engine, hold)
            return watch.long_checkouts(), records.frame(start)


def _export_nightly_report(engine: Engine, hold: float) -> None:
    """Application code that checks out, queries, then keeps its connection through slow work."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        for _ in ticks(hold, 0.25, "holding the connection"):
            pass
