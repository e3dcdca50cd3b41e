"""The drivers the lab compares, and how their errors are read as data.

``DRIVERS`` are the two the lessons and scenarios use by default (PyMySQL and mysqlclient);
``ALL_DRIVERS`` adds Oracle's mysql-connector-python, MariaDB Connector/Python, and the two
async drivers, which run through ``create_async_engine`` (``ASYNC_DRIVERS``).
"""

from __future__ import annotations

import gc
import importlib
import importlib.metadata
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import MySQLdb
import pandas as pd
import pymysql
import sqlalchemy.exc
import sqlalchemy.pool
import sqlalchemy.pool.impl

from .driverset import ALL_DRIVERS as ALL_DRIVERS  # the names are plain data: re-exported here
from .driverset import ASYNC_DRIVERS as ASYNC_DRIVERS
from .driverset import DRIVERS as DRIVERS
from .driverset import NO_CHARSET as NO_CHARSET

log = logging.getLogger(__name__)


def _base_errors() -> tuple[type[Exception], ...]:
    """The drivers' own base exceptions, of those installed."""
    found: list[type[Exception]] = [pymysql.err.Error, MySQLdb.Error]
    for module, name in (("mysql.connector", "Error"), ("mariadb", "Error"), ("asyncmy.errors", "Error")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except ImportError:  # not installed: its scenarios cannot run anyway
            continue
    return tuple(found)


#: The drivers' own base exceptions (raised where SQLAlchemy does not wrap them).
DRIVER_ERRORS: tuple[type[Exception], ...] = _base_errors()

#: Client error codes for a connection that died under the client.
#: 2006 ``CR_SERVER_GONE_ERROR``: the request could not be sent.
#: 2013 ``CR_SERVER_LOST``: the request was sent, the answer never came.
#: These are the two the lab's scenarios really produce with both drivers;
#: SQLAlchemy's MySQL dialect also treats 2014, 2045, 2055, 4031 and 1927 as
#: disconnects.
DISCONNECT_CODES = frozenset({2006, 2013})

#: mysql-connector-python's code for a write to a dead socket: 2055
#: ``CR_SERVER_LOST_EXTENDED``, "Lost connection to MySQL server at 'host:port', system
#: error: ...", where the other drivers say 2006 (SQLAlchemy's dialect lists it too).
CR_SERVER_LOST_EXTENDED = 2055
#: mysql-connector-python's ``ReadTimeoutError`` when its ``read_timeout`` passes (where the
#: others say 2013).
READ_TIMEOUT_ERROR = 3024
#: Codes a driver reports for a dead connection besides ``DISCONNECT_CODES``.
EXTRA_CODES: dict[str, frozenset[int]] = {
    "mysqlconnector": frozenset({CR_SERVER_LOST_EXTENDED, READ_TIMEOUT_ERROR})
}


@dataclass(frozen=True)
class TimeoutOptions:
    """A driver's own ``connect()`` argument names for its timeouts (None: it has none)."""

    connect: str
    read: str | None
    write: str | None
    #: the kinds ("connect", "read", "write") the driver takes in whole seconds only (an int)
    whole_seconds: tuple[str, ...] = ()
    #: what else a person setting them should know
    note: str = ""


#: The kinds of timeout a driver may have.
ALL_KINDS = ("connect", "read", "write")

#: Each driver's names for its connect, read and write timeouts (read from their sources:
#: the names differ, and two drivers lack some).
TIMEOUT_OPTIONS: dict[str, TimeoutOptions] = {
    "pymysql": TimeoutOptions("connect_timeout", "read_timeout", "write_timeout"),
    "mysqldb": TimeoutOptions("connect_timeout", "read_timeout", "write_timeout", whole_seconds=ALL_KINDS),
    "mysqlconnector": TimeoutOptions(
        "connection_timeout",
        "read_timeout",
        "write_timeout",
        whole_seconds=("read", "write"),
        note="connect_timeout is an alias of connection_timeout",
    ),
    "mariadbconnector": TimeoutOptions(
        "connect_timeout", "read_timeout", "write_timeout", whole_seconds=ALL_KINDS
    ),
    "aiomysql": TimeoutOptions(
        "connect_timeout",
        None,
        None,
        note="no read or write timeout: bound the await with asyncio.wait_for() (or asyncio.timeout())",
    ),
    "asyncmy": TimeoutOptions("connect_timeout", "read_timeout", None, note="no write timeout"),
}


def timeout_args(
    driver: str, connect: float | None = None, read: float | None = None, write: float | None = None
) -> dict[str, float]:
    """``connect_args`` that set the given timeouts (seconds) under ``driver``'s own names;
    ``ValueError`` for a timeout the driver does not have, or a fraction of a second where
    it takes whole seconds."""
    names = TIMEOUT_OPTIONS[check_driver(driver)]
    args: dict[str, float] = {}
    for kind, seconds in zip(ALL_KINDS, (connect, read, write), strict=True):
        if seconds is None:
            continue
        name = getattr(names, kind)
        if name is None:
            raise ValueError(f"{driver} has no {kind} timeout: {names.note}")
        if kind in names.whole_seconds:
            if seconds != int(seconds):
                raise ValueError(f"{driver}'s {name} takes whole seconds, not {seconds:g}")
            seconds = int(seconds)
        args[name] = seconds
    return args


def timeout_table() -> pd.DataFrame:
    """One row per driver: its names for the connect, read and write timeouts."""
    return pd.DataFrame(
        [
            {
                "driver": driver,
                "connect": o.connect,
                "read": o.read,
                "write": o.write,
                "whole seconds": ", ".join(o.whole_seconds) or "none",
                "note": o.note,
            }
            for driver, o in TIMEOUT_OPTIONS.items()
        ]
    )


def driver_codes(driver: str, codes: frozenset[int | None]) -> frozenset[int | None]:
    """``codes`` (a scenario's), widened by what ``driver`` reports for the same fault."""
    return codes | EXTRA_CODES.get(driver, frozenset()) if codes & DISCONNECT_CODES else codes


def check_driver(driver: str) -> str:
    """Return ``driver`` if it is one the lab knows, else raise ``ValueError``."""
    if driver not in ALL_DRIVERS:
        raise ValueError(f"unknown driver {driver!r}: choose one of {', '.join(ALL_DRIVERS)}")
    return driver


def versions(driver: str) -> dict[str, str | None]:
    """The installed versions of ``driver``'s package and of SQLAlchemy (None: not installed).
    From the packages' metadata: PyMySQL's ``__version__`` imitates mysqlclient's."""

    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "driver_version": version(ALL_DRIVERS[check_driver(driver)]),
        "sqlalchemy_version": version("SQLAlchemy"),
    }


@dataclass(frozen=True)
class ErrorInfo:
    """An exception from a driver, flattened into the fields the lab records."""

    error_class: str
    error_code: int | None
    message: str
    invalidated: bool
    #: the whole text an application would log: ``str()`` of the exception it caught
    #: (SQLAlchemy's adds the statement and a link), prefixed with its class
    text: str = ""


def describe_error(exc: BaseException) -> ErrorInfo:
    """Turn a SQLAlchemy or driver exception into an :class:`ErrorInfo`.

    ``exc.orig`` (the driver's own exception) is what the application would see
    without SQLAlchemy; its class is reported with its module so that
    ``pymysql.err.OperationalError`` and ``MySQLdb.OperationalError`` stay apart.
    """
    invalidated = bool(getattr(exc, "connection_invalidated", False))
    orig = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None else exc
    cls = type(orig)
    module = cls.__module__
    error_class = cls.__name__ if module == "builtins" else f"{module}.{cls.__name__}"
    code: int | None = None
    message = str(orig)
    args = getattr(orig, "args", ())
    errno = getattr(orig, "errno", None)
    if args and isinstance(args[0], int):  # PyMySQL, mysqlclient, mysql-connector-python, async
        code = args[0] if args[0] > 0 else None  # 0 or mysql-connector-python's -1: no code
        message = str(args[1]) if len(args) > 1 else ""
    elif isinstance(errno, int):  # MariaDB Connector/Python
        code = errno if errno > 0 else None
    outer = type(exc)
    text = f"{outer.__module__}.{outer.__qualname__}: {exc}"
    return ErrorInfo(error_class, code, message, invalidated, text)


@contextmanager
def driver_noise_logged() -> Iterator[None]:
    """Log, instead of printing, the exceptions drivers raise in finalizers.

    PyMySQL's unbuffered cursor tries to drain the rest of a result in ``__del__``
    after the connection died and prints ``Exception ignored in ...`` tracebacks.
    They change nothing (the error was already raised and recorded) but would
    litter a notebook; here they go to the ``helpers.drivers`` logger at INFO.
    The same holds for SQLAlchemy's "Exception during reset or similar": the pool's
    rollback on return of a connection the scenario broke (mysql-connector-python after its
    read timeout, a node outside the quorum), logged at ERROR with a traceback; here the pool's
    record is dropped and one line goes to the ``helpers.drivers`` logger at INFO, whatever
    handlers the caller configured.
    """
    previous = sys.unraisablehook
    # each pool class logs to its own logger (sqlalchemy.pool.impl.QueuePool, ...), made when
    # the class first logs, and a logger's filters see only its own records: make and filter each
    pool_logs = [
        logging.getLogger(f"{cls.__module__}.{cls.__name__}")
        for cls in vars(sqlalchemy.pool.impl).values()
        if isinstance(cls, type) and issubclass(cls, sqlalchemy.pool.Pool)
    ]

    def hook(unraisable: Any) -> None:
        log.info("ignored in %r: %r", unraisable.object, unraisable.exc_value)

    def quieter(record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Exception during reset"):
            return True
        log.info("%s: %r", record.getMessage(), record.exc_info[1] if record.exc_info else None)
        return False

    sys.unraisablehook = hook
    for pool_log in pool_logs:
        pool_log.addFilter(quieter)
    try:
        yield
    finally:
        gc.collect()
        for pool_log in pool_logs:
            pool_log.removeFilter(quieter)
        sys.unraisablehook = previous
