"""fork / multiprocessing: an engine created before a fork, used by the children.

A forked child inherits the parent's pool, and with it the parent's open
sockets. Parent and children then talk over the same connection at once and
the protocol breaks: lost connections, commands out of sync, wrong packet
sequence. Fix: in the child, ``engine.dispose(close=False)`` (forget the
inherited connections without closing the parent's sockets), or ``NullPool``.

``dispose(close=False)`` holds with PyMySQL only. The inherited connections it lets go of
are freed by the child's next garbage collection, and mysqlclient, MariaDB Connector/Python
and mysql-connector-python close a connection they free with COM_QUIT, over the socket the
parent still uses: the server ends the parent's connection (2013, or 2055). ``gc.freeze()``
in the parent just before forking keeps the child's collector away from them.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.pool import NullPool

from ..drivers import ASYNC_DRIVERS, describe_error
from ..lab import Lab
from .fixes import Fix
from .registry import scenario
from .trial import Trial, each

CHILDREN = 2
QUERIES = 30
#: A dead or tangled connection must fail, not hang: every trial has a read timeout.
READ_TIMEOUT = 3


#: The drivers whose connection, when garbage-collected, closes itself with COM_QUIT: in a child,
#: over the socket it shares with the parent (mysqlclient's and MariaDB Connector/Python's C
#: dealloc call mysql_close(); mysql-connector-python's too). PyMySQL only closes its file descriptor.
QUIT_ON_COLLECT = ("mysqldb", "mysqlconnector", "mariadbconnector")


def _work(engine: Any, dispose: bool, results: Any, who: str, go: Any) -> None:
    """QUERIES checkouts and queries, once ``go`` is set; put (who, error or None) on ``results``.

    ``dispose``: ``engine.dispose(close=False)`` first, then a garbage collection, as any
    long-lived worker runs sooner or later: it frees the inherited connections the pool let
    go of (unless the parent froze them with ``gc.freeze()`` before forking). ``go`` starts every
    process's queries at once: forking a large process takes milliseconds, and without it the
    parent's 30 queries could be done before a child's begin (seen once with MariaDB
    Connector/Python: no error in any of the three)."""
    if dispose:
        engine.dispose(close=False)
        gc.collect()
    go.wait(10)
    try:
        for _ in range(QUERIES):
            with engine.connect() as conn:
                conn.execute(text("SELECT CONNECTION_ID()")).scalar()
        results.put((who, None))
    except Exception as exc:
        results.put((who, describe_error(exc)))


@scenario(
    "fork",
    f"An engine used by the parent and {CHILDREN} forked children at once",
    fixes=[
        Fix("none", prevents=False, read_timeout=READ_TIMEOUT),
        Fix(
            "engine.dispose(close=False) in the child",
            code_change="dispose",
            read_timeout=READ_TIMEOUT,
            prevents_for=dict.fromkeys(QUIT_ON_COLLECT, False),
        ),
        Fix(
            "gc.freeze() before fork + dispose(close=False) in the child",
            code_change="freeze",
            read_timeout=READ_TIMEOUT,
        ),
        Fix("NullPool", {"poolclass": NullPool}, read_timeout=READ_TIMEOUT),
    ],
    # None: errors without a driver code, e.g. ResourceClosedError (a reply meant for another process)
    codes=frozenset({2006, 2013, 2014, None}),
    code_changes={"dispose", "freeze"},
    not_for={
        d: "an asyncio event loop and its connections do not survive fork(): an async app starts "
        "its engine in each worker"
        for d in ASYNC_DRIVERS
    },
)
def fork(lab: Lab, trials: list[Trial]) -> None:
    ctx = mp.get_context("fork")
    each(trials, "parent: first query (the pool now holds a connection)")
    for trial in trials:
        results, go = ctx.Queue(), ctx.Event()
        dispose = trial.fix.code_change in ("dispose", "freeze")
        children = [
            ctx.Process(target=_work, args=(trial.engine, dispose, results, f"child {k}", go))
            for k in range(CHILDREN)
        ]
        start = time.monotonic()
        if trial.fix.code_change == "freeze":  # what exists now is never collected by a child's GC
            gc.freeze()
        try:
            for child in children:
                child.start()
        finally:
            gc.unfreeze()
        go.set()
        _work(trial.engine, False, results, "parent", go)  # at the same time as the children
        outcomes = dict(results.get(timeout=30) for _ in range(CHILDREN + 1))
        for child in children:
            child.join(timeout=10)
            if child.is_alive():  # pragma: no cover - the read timeout should prevent it
                child.kill()
        for who in sorted(outcomes, key=lambda w: w != "parent"):
            trial.record(f"{who}: {QUERIES} queries", start, None, outcomes[who])
        # A tangled connection that raised no disconnect error is still pooled: the parent's
        # next checkout may get it and fail (2014), which finally invalidates it.
        trial.query("parent: next checkout")
        trial.query("parent: checkout after that")
