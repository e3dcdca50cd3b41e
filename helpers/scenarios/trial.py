"""A trial: one engine (a driver and a fix) inside a scenario, recording each step as a row.

A failure is a row with its error code and message, never an exception. A sync
trial and an async one (:class:`AsyncTrial`) share every step's body: each body is a
coroutine that awaits :meth:`Trial.settle` on what the engine returns. For a sync
driver nothing is awaitable, so the coroutine never suspends and one ``send()``
finishes it; an async trial runs it on an event loop of its own.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import text

from goneaway_pool.hardened import PoolWatch

from ..drivers import ASYNC_DRIVERS, DRIVER_ERRORS, ErrorInfo, describe_error, versions
from ..lab import Lab, server_id
from .fixes import Fix, build_engine

T = TypeVar("T")

COLUMNS = [
    "scenario",
    "time",
    "step",
    "driver",
    "fix",
    "connection_id",
    "outcome",
    "error_class",
    "error_code",
    "message",
    "invalidated",
    "latency",
    "error_text",
    "caught_by",
    "prevents",
    "driver_version",
    "sqlalchemy_version",
]

#: The statement a step runs unless told otherwise: cheap, and it names the connection.
PROBE = "SELECT CONNECTION_ID()"

#: What a step records as an error row instead of raising.
RECORDED: tuple[type[Exception], ...] = (sqlalchemy.exc.SQLAlchemyError, *DRIVER_ERRORS)

#: A table for the scenarios that write: ``request_id`` is an idempotency key.
EVENTS = "lab_events"


def ensure_events_table(lab: Lab) -> str:
    """Create the scenarios' table in the lab's database if needed; return its name."""
    lab.sql(
        f"CREATE TABLE IF NOT EXISTS `{lab.backend.database}`.{EVENTS} ("
        " id INT AUTO_INCREMENT PRIMARY KEY, request_id VARCHAR(64) NULL UNIQUE,"
        " v INT NOT NULL DEFAULT 0, payload LONGBLOB NULL)"
    )
    return EVENTS


class Trial:
    """One engine (a driver and a fix) inside a scenario; records each step."""

    #: what a step records as an error row instead of raising
    step_errors: tuple[type[BaseException], ...] = RECORDED

    def __init__(self, lab: Lab, scenario: str, driver: str, fix: Fix, t0: float) -> None:
        self.lab = lab
        self.scenario = scenario
        self.driver = driver
        self.fix = fix
        self.t0 = t0
        #: seconds each statement may take where the driver has no read timeout (aiomysql), or None
        self.statement_timeout = fix.statement_timeout(driver)
        self.watch: PoolWatch | None = None
        self.versions = versions(driver)
        self.engine = self.make_engine()
        self.rows: list[dict[str, Any]] = []

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a step's body to its end. A sync trial's bodies await only :meth:`settle` on
        values that are not awaitable, so they never suspend: one ``send()`` finishes them."""
        try:
            coroutine.send(None)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
        coroutine.close()
        raise RuntimeError(f"a step of the sync trial {self.driver} waited on an event loop")

    async def settle(self, value: Any, timeout: float | None = None) -> Any:
        """``value`` itself, or what it gives when awaited (an async engine's call), within
        ``timeout`` seconds if one is given (``asyncio.wait_for``)."""
        if not inspect.isawaitable(value):
            return value
        if timeout is None:
            return await value
        return await asyncio.wait_for(value, timeout)

    def resolve(self, value: Any) -> Any:
        """``value`` settled (:meth:`settle`): lets a scenario body drive a sync ``Connection``
        or an ``AsyncConnection`` with one code path."""
        return self.run_coroutine(self.settle(value))

    def make_engine(self, via: int | None = None) -> Any:
        """This trial's engine: one pooled connection (unless the fix picks a pool class),
        the fix applied (:func:`build_engine`); ``via`` routes it through a local port."""
        sized = {} if "poolclass" in self.fix.options else {"pool_size": 1, "max_overflow": 0}
        if self.watch is not None:
            self.watch.close()
        engine, self.watch = build_engine(self.lab, self.driver, self.fix, via, **sized)
        return engine

    def route_via(self, port: int) -> None:
        """Send this trial's connections through ``port`` on 127.0.0.1 (a fault proxy)."""
        self.resolve(self.engine.dispose())
        self.engine = self.make_engine(via=port)

    def checkout(self) -> Any:
        """Check a connection out and keep it (for work done while holding it): a
        ``Connection``, or an ``AsyncConnection`` on an async trial."""
        return self.resolve(self.engine.connect())  # an AsyncConnection starts when awaited

    def touch(self) -> None:
        """Check a connection out and return it at once, with no statement: what the pool's
        own checks and its reset on return cost."""
        self.resolve(self.checkout().close())

    def query(
        self,
        step: str,
        sql: str = PROBE,
        conn: Any = None,
        keep: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Run ``sql`` on a fresh checkout, or on ``conn`` (committed and closed afterwards
        unless ``keep``), as one recorded step."""
        with self.step(step) as note:
            self.run_coroutine(self._query(note, sql, conn, conn is None or not keep, params))

    async def _query(
        self, note: dict[str, Any], sql: str, conn: Any, done: bool, params: dict[str, Any] | None
    ) -> None:
        try:
            if conn is None:
                conn = await self.settle(self.engine.connect())
            note["connection_id"] = server_id(getattr(conn, "sync_connection", conn))
            try:
                result = await self.settle(conn.execute(text(sql), params), self.statement_timeout)
            except asyncio.TimeoutError:  # wait_for cancelled it: did SQLAlchemy invalidate it?
                note["invalidated"] = conn.invalidated
                raise
            if result.returns_rows:
                result.fetchall()
            if done:
                await self.settle(conn.commit())
        finally:
            if conn is not None and done:
                await self.settle(conn.close())

    @contextmanager
    def step(self, name: str, connection_id: int | None = None) -> Iterator[dict[str, Any]]:
        """Record the ``with`` block as one step: a row with its outcome and latency.

        A SQLAlchemy or driver error inside the block becomes an error row and does
        not propagate. Set ``note["connection_id"]`` inside the block if it is known late.
        """
        start = time.monotonic()
        note: dict[str, Any] = {"connection_id": connection_id}
        if self.watch is not None:
            self.watch.take_caught()  # what it caught before this step belongs to no step
        try:
            yield note
        except self.step_errors as exc:
            row = self.record(name, start, note["connection_id"], exc)
            if note.get("invalidated"):  # seen on the connection, where the exception does not say
                row["invalidated"] = True
        else:
            self.record(name, start, note["connection_id"])
            caught = self.watch.take_caught() if self.watch is not None else []
            if caught:  # the hardened pool replaced a connection: which part caught it, and why
                self.rows[-1]["caught_by"] = ", ".join(dict.fromkeys(part for part, _ in caught))
                note.setdefault("message", "hardened pool: " + "; ".join(reason for _, reason in caught))
            if note.get("message"):  # an ok step may report what it saw
                self.rows[-1]["message"] = note["message"]

    def record(
        self,
        step: str,
        start: float,
        connection_id: int | None,
        exc: BaseException | ErrorInfo | None = None,
    ) -> dict[str, Any]:
        """Append one row; ``exc`` (an exception, or one already described) makes it an error row."""
        row: dict[str, Any] = {
            "scenario": self.scenario,
            "time": round(start - self.t0, 3),
            "step": step,
            "driver": self.driver,
            "fix": self.fix.name,
            "connection_id": connection_id,
            "outcome": "ok",
            "error_class": None,
            "error_code": None,
            "message": None,
            "invalidated": False,
            "latency": round(time.monotonic() - start, 4),
            "error_text": None,
            "caught_by": None,
            "prevents": self.fix.expected(self.driver),
            **self.versions,
        }
        if exc is not None:
            info = exc if isinstance(exc, ErrorInfo) else describe_error(exc)
            row.update(
                outcome="error",
                error_class=info.error_class,
                error_code=info.error_code,
                message=info.message,
                invalidated=info.invalidated,
                error_text=info.text,
            )
        self.rows.append(row)
        return row

    def close(self) -> None:
        try:
            self.resolve(self.engine.dispose())
        finally:
            if self.watch is not None:
                self.watch.close()


class AsyncTrial(Trial):
    """A trial on an async driver: an ``AsyncEngine``, and an event loop of its own that
    runs each step's body. The loop runs in a thread of its own for as long as the trial
    (a connection belongs to the loop that made it), so that a trial also works where a
    loop already runs in the caller's thread (Jupyter).

    A fix's ``read_timeout`` for a driver that has none (aiomysql) becomes
    ``asyncio.wait_for()`` around each statement: its ``TimeoutError`` is recorded, and the
    row says whether SQLAlchemy invalidated the connection it cancelled."""

    step_errors = (*RECORDED, asyncio.TimeoutError)

    def __init__(self, lab: Lab, scenario: str, driver: str, fix: Fix, t0: float) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"trial-{driver}", daemon=True)
        self._thread.start()
        try:
            super().__init__(lab, scenario, driver, fix, t0)
        except BaseException:  # no engine: stop the loop we started
            self._stop_loop()
            raise

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the trial's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def _stop_loop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()

    def close(self) -> None:
        if self.loop.is_closed():  # closed already
            return
        try:
            super().close()
        finally:
            self._stop_loop()


def new_trial(lab: Lab, scenario: str, driver: str, fix: Fix, t0: float) -> Trial:
    """A :class:`Trial`, or an :class:`AsyncTrial` for an async driver."""
    return (AsyncTrial if driver in ASYNC_DRIVERS else Trial)(lab, scenario, driver, fix, t0)


def each(trials: Iterable[Trial], step: str, sql: str = PROBE) -> None:
    """Every trial runs the same step, one after the other (milliseconds apart)."""
    for trial in trials:
        trial.query(step, sql)
