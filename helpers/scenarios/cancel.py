"""A request cancelled mid-query on an async pool, and what the *next* request on that pool gets.

``async_cancel``: each async trial's request runs ``SELECT SLEEP(5)`` and is cancelled once the
server shows that statement in its processlist (a fixed point, not a race), in the two ways an
async app meets:

- **the task is cancelled**, as an ASGI server's task group cancels the request of a client that
  went away (``Task.cancel()``: the request gets ``CancelledError``);
- **a timeout around the statement** expires (``asyncio.timeout()``, set here to expire at the
  fixed point: the request gets ``TimeoutError``).

Then the next request runs on the same pool. Before the drivers and SQLAlchemy handled this, the
cancelled connection went back to the pool out of step with its server: ``Packet sequence number
wrong``, ``2014 Command Out of Sync``, or the previous request's rows (aiomysql #605/#614, asyncmy
#89/#100/#103, SQLAlchemy #7286/#8145/#11760). The lab runs the locked versions only; read there:

- aiomysql 0.3.2, ``connection.py``: a ``CancelledError`` while reading a packet closes the
  connection (``_close_on_cancel``: "Cancelled during execution");
- asyncmy 0.2.18, ``connection.pyx``: the same ("Cancelled mid-read: the protocol stream is now
  desynced, so the connection must not be reused");
- SQLAlchemy 2.1, ``Connection._handle_dbapi_exception``: a cancellation is an exit exception,
  counted as a disconnect, so the connection is invalidated, not returned to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from sqlalchemy import text

from ..drivers import ALL_DRIVERS, ASYNC_DRIVERS, ErrorInfo
from ..errors import LabError
from ..lab import Lab, server_id
from ..progress import wait_until
from .common import HARDENED, PRE_PING
from .fixes import Fix
from .registry import scenario
from .trial import Trial, each

#: The statement the cancellation lands in: long enough that only the cancellation ends it.
SLEEP = 5
STATEMENT = f"SELECT SLEEP({SLEEP})"
#: The two ways a request is cancelled.
TASK_CANCEL = "the task cancelled (a client that went away)"
TIMEOUT = "asyncio.timeout() around the statement"
WAYS = (TASK_CANCEL, TIMEOUT)

SHIELD = Fix("asyncio.shield() around the cleanup", code_change="shield")
DROP = Fix("drop the cancelled connection (invalidate())", code_change="drop")

SYNC_ONLY = "a sync driver's call is not an asyncio task: nothing cancels it mid-query"


@scenario(
    "async_cancel",
    "A request cancelled mid-query (client gone, or a timeout): what the next request on the pool gets",
    fixes=[Fix("none: SQLAlchemy's and the driver's own handling"), SHIELD, PRE_PING, HARDENED, DROP],
    codes=frozenset({None, 2013, 2014}),
    code_changes={"shield", "drop"},
    not_for={driver: SYNC_ONLY for driver in ALL_DRIVERS if driver not in ASYNC_DRIVERS},
)
def async_cancel(lab: Lab, trials: list[Trial]) -> None:
    each(trials, "first query")
    for trial in trials:
        for way in WAYS:
            cancelled = cancelled_request(lab, trial, way)
            trial.query(f"next request, after {way}")
            row = trial.rows[-1]
            if row["outcome"] == "ok":  # which connection the pool handed out
                row["message"] = "; ".join(filter(None, [_same_or_new(row, cancelled), row["message"]]))


def cancelled_request(lab: Lab, trial: Trial, way: str) -> int | None:
    """One request cancelled ``way`` while the server runs its statement; recorded as a step
    whose message says what the request got and whether the server still ran the statement."""
    if trial.driver not in ASYNC_DRIVERS:
        raise ValueError(f"{trial.driver}: {SYNC_ONLY}")
    loop: asyncio.AbstractEventLoop = trial.loop  # type: ignore[attr-defined]
    seen: dict[str, Any] = {}
    start = time.monotonic()
    future = asyncio.run_coroutine_threadsafe(_request(trial, way, seen), loop)
    on_server = lambda: future.done() or _running(lab, seen.get("connection_id"))  # noqa: E731
    if not wait_until(on_server, 5, "the statement on the server") or future.done():
        future.cancel()
        failed = future.exception() if future.done() and not future.cancelled() else None
        raise LabError(f"{trial.driver}: the statement never ran: {failed or 'not in the processlist'}")
    if way == TASK_CANCEL:
        future.cancel()
    else:
        loop.call_soon_threadsafe(seen["timeout"].reschedule, loop.time())  # expires now
    with contextlib.suppress(Exception):  # what the request got is in ``seen``, whatever it is
        future.result(timeout=10)
    wait_until(lambda: "done" in seen, 5, "the cancelled request's cleanup")
    cid = seen.get("connection_id")
    time.sleep(0.2)  # the server's view a moment after the cancellation
    still = _running(lab, cid)
    outcome = str(seen.get("outcome", "no outcome"))
    cancelled = outcome.startswith(("CancelledError", "TimeoutError"))
    error = None if cancelled else ErrorInfo("not cancelled", None, outcome, False, outcome)
    row = trial.record(f"request cancelled: {way}", start, cid, error)
    row["invalidated"] = bool(seen.get("invalidated"))
    row["message"] = (
        f"{outcome}; connection invalidated: {row['invalidated']};"
        f" the server {'still runs' if still else 'no longer runs'} the statement"
    )
    if still and cid is not None:
        lab.kill(cid)  # nothing would stop it before its end: leave no sleeper behind
    return cid


async def _request(trial: Trial, way: str, seen: dict[str, Any]) -> None:
    """The request: a checkout, the statement, the cleanup the trial's fix asks for."""
    conn = await trial.engine.connect()
    seen["connection_id"] = server_id(conn.sync_connection)
    try:
        if way == TIMEOUT:
            async with asyncio.timeout(None) as timeout:  # moved to the fixed point from outside
                seen["timeout"] = timeout
                await conn.execute(text(STATEMENT))
        else:
            await conn.execute(text(STATEMENT))
        seen["outcome"] = "not cancelled"
    except (asyncio.CancelledError, TimeoutError) as exc:
        seen["outcome"] = f"{type(exc).__name__} in the request"
        seen["invalidated"] = conn.invalidated
        if trial.fix.code_change == "drop" and not conn.invalidated:
            await conn.invalidate()
        raise
    finally:
        cleanup = conn.close()
        if trial.fix.code_change == "shield":
            await asyncio.shield(cleanup)
        else:
            await cleanup
        seen.setdefault("outcome", "an error in the request")
        seen["done"] = True  # last: the cleanup has run


def _running(lab: Lab, connection_id: int | None) -> bool:
    """Whether the server shows ``connection_id`` running the statement."""
    if connection_id is None:
        return False
    rows = lab.processlist().query("ID == @connection_id")
    return bool(not rows.empty and str(rows["INFO"].iloc[0] or "").startswith("SELECT SLEEP"))


def _same_or_new(row: dict[str, Any], cancelled: int | None) -> str:
    return "the cancelled connection again" if row["connection_id"] == cancelled else "a new connection"
