"""The machinery every scenario shares: fixes, trials, the registry, the runner.

A *scenario* reproduces one cause of 2006/2013. It runs several *trials* in
lockstep, one per (driver, fix), so that a wait is paid once for all of them.
Each trial owns one engine and records every step as a row; a failure is a
row with its error code and message, never an exception. A trial on an async
driver (:class:`AsyncTrial`) owns an ``AsyncEngine`` and an event loop that
runs each of its steps as a coroutine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from goneaway_pool.hardened import Hardening, PoolWatch, harden

from .. import runlock
from ..drivers import (
    ALL_DRIVERS,
    ASYNC_DRIVERS,
    DISCONNECT_CODES,
    DRIVER_ERRORS,
    DRIVERS,
    TIMEOUT_OPTIONS,
    ErrorInfo,
    check_driver,
    describe_error,
    driver_noise_logged,
    timeout_args,
    versions,
)
from ..lab import Lab, server_id

log = logging.getLogger(__name__)
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


@dataclass(frozen=True)
class Fix:
    """What a trial changes, and whether that should prevent the scenario's failure.

    ``options`` go to ``create_engine``; ``on_connect`` statements run on every new
    DBAPI connection (a ``connect`` event); ``pattern`` names an application-code
    change the scenario's body carries out (e.g. ``"release"``: give the connection
    back during long work); a scenario declares the patterns its body knows, and a
    fix naming any other is refused at registration. ``hardening`` hardens the engine's
    pool (:mod:`goneaway_pool.hardened`). ``read_timeout`` (seconds) goes to each driver under its
    own name (:data:`helpers.drivers.TIMEOUT_OPTIONS`); a driver without one (aiomysql)
    bounds each statement with ``asyncio.wait_for()`` instead, as an async app would.
    ``driver_options`` replace ``options`` for a driver that spells the same setting
    another way (mysql-connector-python's ``client_flags``); ``prevents_for`` replaces
    ``prevents`` for a driver where the fix does not hold (see :meth:`expected`).
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    #: True: the failure must not happen; False: it must; None: unknown (a setting being tried).
    prevents: bool | None = True
    on_connect: tuple[str, ...] = ()
    pattern: str | None = None
    hardening: Hardening | None = None
    read_timeout: float | None = None
    driver_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    prevents_for: dict[str, bool] = field(default_factory=dict)

    def expected(self, driver: str) -> bool | None:
        """Whether the fix should prevent the failure with ``driver``."""
        return self.prevents_for.get(driver, self.prevents)

    def statement_timeout(self, driver: str) -> float | None:
        """The read timeout ``driver`` cannot take itself (aiomysql): what bounds each statement."""
        return self.read_timeout if TIMEOUT_OPTIONS[driver].read is None else None

    def engine_options(self, driver: str) -> dict[str, Any]:
        """``create_engine`` keywords for ``driver``: its ``driver_options`` or ``options``,
        with the read timeout under the driver's own name (``ValueError`` for a value it refuses)."""
        options = dict(self.driver_options.get(driver, self.options))
        if self.read_timeout is not None and self.statement_timeout(driver) is None:
            read = timeout_args(driver, read=self.read_timeout)
            options["connect_args"] = {**options.get("connect_args", {}), **read}
        return options


NO_FIX = Fix("none", prevents=False)


def build_engine(
    lab: Lab, driver: str, fix: Fix, via: int | None = None, **options: Any
) -> tuple[Any, PoolWatch | None]:
    """An engine for ``driver`` with ``fix`` applied (its options over ``options``, its
    connect statements, its hardened pool), and the hardened pool's watch (None without).
    For an async driver, an ``AsyncEngine`` (the listeners go on its ``sync_engine``)."""
    merged = {**options, **fix.engine_options(driver)}
    if driver in ASYNC_DRIVERS:
        engine: Any = lab.async_engine(driver, via=via, **merged)
        pool_engine = engine.sync_engine
    else:
        engine = pool_engine = lab.engine(driver, via=via, **merged)
    if fix.on_connect:
        event.listen(pool_engine, "connect", run_on_connect(fix.on_connect))
    return engine, harden(pool_engine, fix.hardening) if fix.hardening else None


@contextmanager
def built_engine(
    lab: Lab, driver: str, fix: Fix, via: int | None = None, **options: Any
) -> Iterator[tuple[sqlalchemy.Engine, PoolWatch | None]]:
    """:func:`build_engine` for a sync driver, disposed (and its watch closed) on exit."""
    if driver in ASYNC_DRIVERS:
        raise ValueError(f"{driver} is an async driver: use an AsyncTrial")
    engine, watch = build_engine(lab, driver, fix, via, **options)
    try:
        yield engine, watch
    finally:
        try:
            engine.dispose()
        finally:
            if watch is not None:
                watch.close()


def run_on_connect(statements: Sequence[str]) -> Callable[[Any, Any], None]:
    """A ``connect`` event listener that runs ``statements`` on every new DBAPI connection
    (e.g. ``SET SESSION wait_timeout = 10``)."""

    def listener(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()

    return listener


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
        self.watch: PoolWatch | None = None
        self.versions = versions(driver)
        self.engine = self.make_engine()
        self.rows: list[dict[str, Any]] = []

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
        self.engine.dispose()
        self.engine = self.make_engine(via=port)

    def checkout(self) -> sqlalchemy.Connection:
        """Check a connection out and keep it (for work done while holding it)."""
        return self.engine.connect()

    def touch(self) -> None:
        """Check a connection out and return it at once, with no statement: what the pool's
        own checks and its reset on return cost."""
        self.engine.connect().close()

    def resolve(self, value: Any) -> Any:
        """``value`` itself; an async trial awaits it on its loop if it is awaitable. Lets a
        scenario body drive a sync ``Connection`` or an ``AsyncConnection`` with one code path."""
        return value

    def query(
        self,
        step: str,
        sql: str = PROBE,
        conn: sqlalchemy.Connection | None = None,
        keep: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Run ``sql`` on a fresh checkout, or on ``conn`` (committed and closed afterwards
        unless ``keep``), as one recorded step."""
        done = conn is None or not keep
        with self.step(step) as note:
            try:
                if conn is None:
                    conn = self.engine.connect()
                note["connection_id"] = server_id(conn)
                result = conn.execute(text(sql), params)
                if result.returns_rows:
                    result.fetchall()
                if done:
                    conn.commit()
            finally:
                if conn is not None and done:
                    conn.close()

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
            if caught:  # the hardened pool replaced a connection: say which part caught what
                note.setdefault("message", "hardened pool: " + "; ".join(caught))
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
            self.engine.dispose()
        finally:
            if self.watch is not None:
                self.watch.close()


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


class AsyncTrial(Trial):
    """A trial on an async driver: an ``AsyncEngine``, and an event loop of its own that
    runs each step as a coroutine. The loop runs in a thread of its own for as long as the
    trial (a connection belongs to the loop that made it), so that a trial also works where
    a loop already runs in the caller's thread (Jupyter). ``checkout`` returns an
    ``AsyncConnection``.

    A fix's ``read_timeout`` for a driver that has none (aiomysql) becomes
    ``asyncio.wait_for()`` around each statement: its ``TimeoutError`` is recorded, and the
    row says whether SQLAlchemy invalidated the connection it cancelled."""

    step_errors = (*RECORDED, asyncio.TimeoutError)

    def __init__(self, lab: Lab, scenario: str, driver: str, fix: Fix, t0: float) -> None:
        #: seconds each statement may take (asyncio.wait_for), or None
        self.statement_timeout = fix.statement_timeout(driver)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"trial-{driver}", daemon=True)
        self._thread.start()
        try:
            super().__init__(lab, scenario, driver, fix, t0)
        except BaseException:  # no engine: stop the loop we started
            self._stop_loop()
            raise

    def _stop_loop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the trial's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def route_via(self, port: int) -> None:
        self.run_coroutine(self.engine.dispose())
        self.engine = self.make_engine(via=port)

    def checkout(self) -> AsyncConnection:  # type: ignore[override]
        engine: AsyncEngine = self.engine
        return self.run_coroutine(engine.connect().start())

    def touch(self) -> None:
        self.run_coroutine(self._touch())

    def resolve(self, value: Any) -> Any:
        return self.run_coroutine(_awaited(value)) if inspect.isawaitable(value) else value

    async def _touch(self) -> None:
        conn = await self.engine.connect().start()
        await conn.close()

    def query(
        self,
        step: str,
        sql: str = PROBE,
        conn: AsyncConnection | None = None,  # type: ignore[override]
        keep: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        with self.step(step) as note:
            self.run_coroutine(self._query(note, sql, conn, conn is None or not keep, params))

    async def _query(
        self,
        note: dict[str, Any],
        sql: str,
        conn: AsyncConnection | None,
        done: bool,
        params: dict[str, Any] | None,
    ) -> None:
        try:
            if conn is None:
                conn = await self.engine.connect().start()
            note["connection_id"] = server_id(conn.sync_connection)
            try:  # wait_for(..., None) just awaits
                result = await asyncio.wait_for(conn.execute(text(sql), params), self.statement_timeout)
            except asyncio.TimeoutError:
                note["invalidated"] = conn.invalidated
                raise
            if result.returns_rows:
                result.fetchall()
            if done:
                await conn.commit()
        finally:
            if conn is not None and done:
                await conn.close()

    def close(self) -> None:
        if self.loop.is_closed():  # closed already
            return
        try:
            self.run_coroutine(self.engine.dispose())
        finally:
            try:
                if self.watch is not None:
                    self.watch.close()
            finally:
                self._stop_loop()


def new_trial(lab: Lab, scenario: str, driver: str, fix: Fix, t0: float) -> Trial:
    """A :class:`Trial`, or an :class:`AsyncTrial` for an async driver."""
    return (AsyncTrial if driver in ASYNC_DRIVERS else Trial)(lab, scenario, driver, fix, t0)


def each(trials: Iterable[Trial], step: str, sql: str = PROBE) -> None:
    """Every trial runs the same step, one after the other (milliseconds apart)."""
    for trial in trials:
        trial.query(step, sql)


@dataclass(frozen=True)
class Scenario:
    """A registered reproduction: its story, its fixes, the function that runs it, the
    error codes its failure really gives (None: an error with no driver code), and its
    timings (``params``: name -> default seconds) that a caller may change. ``not_for``: why
    it does not run with a driver, by driver; ``drivers``: the others, which it runs with."""

    name: str
    title: str
    fixes: tuple[Fix, ...]
    body: Callable[..., None]
    codes: frozenset[int | None] = DISCONNECT_CODES
    params: dict[str, float] = field(default_factory=dict)
    not_for: dict[str, str] = field(default_factory=dict)

    @property
    def drivers(self) -> frozenset[str]:
        """The drivers it runs with: every one but those ``not_for`` names."""
        return frozenset(ALL_DRIVERS) - set(self.not_for)

    def why_not(self, driver: str) -> str | None:
        """None if the scenario runs with ``driver``; else why not."""
        return self.not_for.get(check_driver(driver))


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str,
    title: str,
    fixes: Sequence[Fix],
    codes: frozenset[int | None] = DISCONNECT_CODES,
    params: dict[str, float] | None = None,
    patterns: set[str] | frozenset[str] = frozenset(),
    not_for: dict[str, str] | None = None,
) -> Callable[[Callable[..., None]], Scenario]:
    """Decorator: register ``body(lab, trials, **params)`` as scenario ``name``; ``params``
    are its timings in seconds (e.g. ``wait_timeout``, ``idle``) with their defaults;
    ``patterns`` the application-code changes (``Fix.pattern``) its body carries out;
    ``not_for`` the drivers it does not run with, and why (it runs with every other one)."""

    def register(body: Callable[..., None]) -> Scenario:
        for fix in fixes:
            if fix.pattern is not None and fix.pattern not in patterns:
                known = ", ".join(sorted(patterns)) or "none"
                raise ValueError(
                    f"scenario {name!r}: fix {fix.name!r} names pattern {fix.pattern!r}; known: {known}"
                )
        entry = Scenario(
            name,
            title,
            tuple(fixes),
            body,
            frozenset(codes),
            dict(params or {}),
            {check_driver(d): why for d, why in (not_for or {}).items()},
        )
        SCENARIOS[name] = entry
        return entry

    return register


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"no scenario {name!r}; there are: {', '.join(SCENARIOS)}") from None


#: No timing a caller sets may exceed this: nobody freezes a kernel for minutes.
MAX_SECONDS = 30.0


def check_params(entry: Scenario, params: dict[str, float]) -> dict[str, float]:
    """The scenario's timings with ``params`` applied; unknown names or values out of
    range raise ``ValueError`` with a message a person can act on."""
    unknown = set(params) - set(entry.params)
    if unknown:
        known = ", ".join(entry.params) or "none"
        raise ValueError(
            f"scenario {entry.name!r} has no timing {', '.join(sorted(unknown))}; it has: {known}"
        )
    merged = {**entry.params}
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_SECONDS:
            raise ValueError(
                f"{key}={value!r}: choose a number of seconds above 0 and at most {MAX_SECONDS:g}"
            )
        merged[key] = value
    return merged


def run(
    name: str,
    lab: Lab,
    drivers: Sequence[str] | None = None,
    fixes: Sequence[Fix | str] | None = None,
    **params: float,
) -> pd.DataFrame:
    """Run scenario ``name`` for every driver × fix; one row per step per trial.

    ``drivers`` defaults to the two default drivers (``DRIVERS``); any of ``ALL_DRIVERS``
    the scenario runs with (``Scenario.drivers``) may be picked. ``fixes`` defaults to the
    scenario's own list (names pick from it). ``params`` change the scenario's timings
    (``Scenario.params``). Runs against one server are serialized across processes
    (:mod:`helpers.runlock`): a second one waits.
    """
    entry = get(name)
    timings = check_params(entry, params)
    chosen = [f if isinstance(f, Fix) else _fix_named(entry, f) for f in (fixes or entry.fixes)]
    drivers = list(drivers or DRIVERS)
    for driver in drivers:
        why = entry.why_not(check_driver(driver))
        if why:
            raise ValueError(f"scenario {name!r} does not run with {driver}: {why}")
    b = lab.backend
    trials: list[Trial] = []
    with runlock.exclusive(b.host, b.port, f"scenario {name}"), driver_noise_logged(), ExitStack() as closing:
        t0 = time.monotonic()
        for driver in drivers:
            for fix in chosen:  # each closed at the end, whatever fails after it was made
                trials.append(new_trial(lab, name, driver, fix, t0))
                closing.callback(trials[-1].close)
        entry.body(lab, trials, **timings)
    rows = [row for trial in trials for row in trial.rows]
    return pd.DataFrame(rows, columns=COLUMNS).astype({"error_code": "Int64", "connection_id": "Int64"})


def run_all(
    lab: Lab, names: Sequence[str] | None = None, drivers: Sequence[str] | None = None
) -> pd.DataFrame:
    """Every scenario (or ``names``) with every fix and driver, one after the other: all rows.
    A scenario runs with those of ``drivers`` it runs with; the others are logged with why."""
    chosen = list(names or SCENARIOS)
    wanted = [check_driver(d) for d in (drivers or DRIVERS)]
    plan = {}
    for name in chosen:
        entry = get(name)  # an unknown name fails before anything runs
        for driver in wanted:
            why = entry.why_not(driver)
            if why:
                log.warning("%s does not run with %s: %s", name, driver, why)
        plan[name] = [d for d in wanted if not entry.why_not(d)]
    frames = [run(name, lab, runs_with) for name, runs_with in plan.items() if runs_with]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def first_errors(rows: pd.DataFrame) -> pd.DataFrame:
    """The first error of each scenario × driver × fix in ``run`` rows: what an application
    would see, whether SQLAlchemy invalidated the connection, how long the failing step took
    (``latency``, seconds), and the versions."""
    columns = [
        *("scenario", "driver", "fix", "step", "error_class", "error_code", "message", "invalidated"),
        "latency",
    ]
    errors = rows[rows["outcome"] == "error"].drop_duplicates(["scenario", "driver", "fix"])
    return errors[[*columns, "driver_version", "sqlalchemy_version"]].reset_index(drop=True)


def coverage(drivers: Sequence[str] | None = None) -> pd.DataFrame:
    """Which scenario runs with which driver: one row per scenario, a column per driver
    (default: ``ALL_DRIVERS``) holding "runs" or why not."""
    drivers = [check_driver(d) for d in (drivers or ALL_DRIVERS)]
    return pd.DataFrame(
        [{"scenario": e.name, **{d: e.why_not(d) or "runs" for d in drivers}} for e in SCENARIOS.values()]
    )


def _fix_named(entry: Scenario, name: str) -> Fix:
    for fix in entry.fixes:
        if fix.name == name:
            return fix
    raise ValueError(f"scenario {entry.name!r} has no fix {name!r}: {', '.join(f.name for f in entry.fixes)}")


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per scenario × driver × fix: did it stay clean, and if not, the first error.
    ``as_expected`` compares that with what the trial's fix should do with its driver
    (``Fix.expected``; None where unknown)."""
    out = []
    for (name, driver, fix), group in rows.groupby(["scenario", "driver", "fix"], sort=False):
        errors = group[group["outcome"] == "error"]
        first = errors.iloc[0] if len(errors) else None
        ok = first is None
        declared = group["prevents"].iloc[0]
        prevents = None if declared is None or pd.isna(declared) else bool(declared)
        out.append(
            {
                "scenario": name,
                "driver": driver,
                "fix": fix,
                "ok": ok,
                "errors": len(errors),
                "error_class": None if first is None else first["error_class"],
                "error_code": None if first is None else first["error_code"],
                "error_message": None if first is None else first["message"],
                "recovered": group.iloc[-1]["outcome"] == "ok",
                "seconds": round(float((group["time"] + group["latency"]).max() - group["time"].min()), 2),
                "as_expected": None if prevents is None else ok == prevents,
            }
        )
    return pd.DataFrame(out).astype({"error_code": "Int64"})
