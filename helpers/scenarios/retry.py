"""Retry, safely: a COMMIT in doubt, a naive retry that duplicates, an idempotency key that does not.

A retry after a disconnect is safe when repeating the work cannot change the
outcome: reads, and writes made idempotent. A write whose COMMIT's answer was
lost may or may not have committed; repeating it blindly writes it twice.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import sqlalchemy.exc
from sqlalchemy import text
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_fixed

from ..drivers import DISCONNECT_CODES, ErrorInfo
from ..faultproxy import FaultProxy
from ..lab import Lab
from .fixes import Fix
from .registry import scenario
from .trial import AsyncTrial, Trial, ensure_events_table

_markers = itertools.count(int(time.time()) % 1_000_000 * 1000)


def is_disconnect(exc: BaseException) -> bool:
    """Retry only what SQLAlchemy recognised as a lost connection."""
    return isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated


#: The retry policy of the retrying trials: tenacity, on disconnects only, three attempts.
retrying = retry(
    retry=retry_if_exception(is_disconnect), stop=stop_after_attempt(3), wait=wait_fixed(0.1), reraise=True
)


@scenario(
    "commit_in_doubt",
    "The connection drops after COMMIT reached the server, before its answer came back",
    fixes=[
        Fix("no retry", prevents=False),
        Fix("naive retry (tenacity, on disconnect)", code_change="retry", prevents=False),
        Fix("retry + idempotency key", code_change="idempotent"),
        Fix("read, retried", code_change="read"),
    ],
    codes=frozenset({*DISCONNECT_CODES, None}),  # None: a duplicated row
    code_changes={"retry", "idempotent", "read"},
)
def commit_in_doubt(lab: Lab, trials: list[Trial]) -> None:
    table = ensure_events_table(lab)
    with FaultProxy(lab.backend.host, lab.backend.port) as proxy:
        for trial in trials:
            trial.route_via(proxy.port)
            marker, key = next(_markers), uuid.uuid4().hex
            is_async = isinstance(trial, AsyncTrial)
            read, write = (_aread, _awrite) if is_async else (_read, _write)
            if trial.fix.code_change == "read":
                proxy.lose_reply_to(b"SELECT")
                with trial.step("SELECT, its answer lost, retried") as note:
                    note["message"] = _attempts(trial, retrying(read), trial)
                continue
            proxy.lose_reply_to(b"COMMIT")
            with trial.step("INSERT + COMMIT, the COMMIT's answer lost") as note:
                if trial.fix.code_change == "idempotent":
                    note["message"] = _attempts(trial, retrying(write), trial, table, marker, key)
                elif trial.fix.code_change == "retry":
                    note["message"] = _attempts(trial, retrying(write), trial, table, marker, None)
                else:
                    trial.resolve(write(trial, table, marker, None))
            _count(lab, trial, table, marker)


def _attempts(trial: Trial, fn: Any, *args: Any) -> str:
    """Call a tenacity-wrapped ``fn`` (tenacity wraps a coroutine function as one); say how
    many attempts it took."""
    trial.resolve(fn(*args))
    return f"succeeded at attempt {fn.statistics['attempt_number']}"


def _read(trial: Trial) -> None:
    with trial.engine.connect() as conn:
        conn.execute(text("SELECT CONNECTION_ID()")).scalar()


async def _aread(trial: Trial) -> None:
    async with trial.engine.connect() as conn:
        (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar()


def _insert(table: str, key: str | None) -> Any:
    """One request's write. With a key, a repeat is a no-op: ON DUPLICATE KEY keeps the first."""
    insert = f"INSERT INTO {table} (request_id, v) VALUES (:key, :v)"
    return text(insert + " ON DUPLICATE KEY UPDATE id = id" if key is not None else insert)


def _write(trial: Trial, table: str, marker: int, key: str | None) -> None:
    with trial.engine.begin() as conn:
        conn.execute(_insert(table, key), {"key": key, "v": marker})


async def _awrite(trial: Trial, table: str, marker: int, key: str | None) -> None:
    async with trial.engine.begin() as conn:
        await conn.execute(_insert(table, key), {"key": key, "v": marker})


def _count(lab: Lab, trial: Trial, table: str, marker: int) -> None:
    """How many rows the request left: 1 is right, 2 is a duplicate."""
    start = time.monotonic()
    rows = int(
        lab.sql(f"SELECT COUNT(*) AS n FROM `{lab.backend.database}`.{table} WHERE v = %s", (marker,)).n[0]
    )
    error = None if rows == 1 else ErrorInfo("duplicate row", None, f"{rows} rows for one request", False)
    trial.record("rows the request left (want 1)", start, None, error)
    if error is None:
        trial.rows[-1]["message"] = "1 row"
