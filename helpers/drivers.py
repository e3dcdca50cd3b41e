"""The two drivers the lab compares, and how their errors are read as data."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import MySQLdb
import pymysql
import sqlalchemy.exc

log = logging.getLogger(__name__)

#: SQLAlchemy dialect suffix -> the package behind it.
DRIVERS: dict[str, str] = {"pymysql": "PyMySQL", "mysqldb": "mysqlclient"}

#: The drivers' own base exceptions (raised where SQLAlchemy does not wrap them).
DRIVER_ERRORS: tuple[type[Exception], ...] = (pymysql.err.Error, MySQLdb.Error)

#: Client error codes for a connection that died under the client.
#: 2006 ``CR_SERVER_GONE_ERROR``: the request could not be sent.
#: 2013 ``CR_SERVER_LOST``: the request was sent, the answer never came.
#: These are the two the lab's scenarios really produce with both drivers;
#: SQLAlchemy's MySQL dialect also treats 2014, 2045, 2055, 4031 and 1927 as
#: disconnects.
DISCONNECT_CODES = frozenset({2006, 2013})


def check_driver(driver: str) -> str:
    """Return ``driver`` if it is one the lab knows, else raise ``ValueError``."""
    if driver not in DRIVERS:
        raise ValueError(f"unknown driver {driver!r}: choose one of {', '.join(DRIVERS)}")
    return driver


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
    if args and isinstance(args[0], int):
        code = args[0] or None
        message = str(args[1]) if len(args) > 1 else ""
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
    """
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        log.info("ignored in %r: %r", unraisable.object, unraisable.exc_value)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        gc.collect()
        sys.unraisablehook = previous
