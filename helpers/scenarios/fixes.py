"""What a trial changes: a :class:`Fix`, and the engine built with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy
from sqlalchemy import event

from goneaway_pool.failover import treat_as_disconnect
from goneaway_pool.hardened import Hardening, PoolWatch, harden
from goneaway_pool.tcp import TcpKeepalive, tcp_keepalive

from ..drivers import ASYNC_DRIVERS, TIMEOUT_OPTIONS, timeout_args
from ..lab import Lab


@dataclass(frozen=True)
class Fix:
    """What a trial changes, and whether that should prevent the scenario's failure.

    ``options`` go to ``create_engine``; ``on_connect`` statements run on every new
    DBAPI connection (a ``connect`` event); ``code_change`` names a change to the
    application's code that the scenario's body carries out (e.g. ``"release"``: give the
    connection back during long work); a scenario declares the code changes its body
    knows, and a fix naming any other is refused at registration. ``hardening`` hardens the engine's
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
    code_change: str | None = None
    hardening: Hardening | None = None
    read_timeout: float | None = None
    driver_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    prevents_for: dict[str, bool] = field(default_factory=dict)
    #: TCP keepalive and TCP_USER_TIMEOUT set on each new connection's socket (the socket
    #: options, not the keep-alive job of :mod:`goneaway_pool.keepalive`)
    tcp: TcpKeepalive | None = None
    #: server error codes counted as a disconnect (:func:`goneaway_pool.failover.treat_as_disconnect`)
    disconnect_codes: frozenset[int] = frozenset()

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
    if fix.tcp is not None:
        tcp_keepalive(pool_engine, fix.tcp)
    if fix.disconnect_codes:
        treat_as_disconnect(pool_engine, fix.disconnect_codes)
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
