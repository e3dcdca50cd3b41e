"""The lab handle: one MariaDB, its URLs, and the server-side views the notebooks show.

>>> import helpers
>>> lab = helpers.start_lab()           # docker where an engine answers, else local
>>> engine = lab.engine("pymysql", pool_pre_ping=True)
>>> lab.processlist()                   # DataFrame
>>> lab.stop()                          # or let the kernel's exit do it
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import pandas as pd
import pymysql
import sqlalchemy
from sqlalchemy import URL, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import tls
from .backends import Backend, choose_backend
from .config import LabConfig
from .drivers import ASYNC_DRIVERS, NO_CHARSET, check_driver
from .errors import LabError

log = logging.getLogger(__name__)

#: Status counters the notebooks watch.
COUNTERS = ("Aborted_clients", "Aborted_connects", "Connections", "Threads_connected", "Threads_running")

#: The admin connection must not fall to the timeouts the lab sets for everyone else.
ADMIN_INIT = "SET SESSION wait_timeout = 86400, interactive_timeout = 86400"


def _store_server_id(dbapi_connection: Any, record: Any) -> None:
    """``connect`` listener: remember the server's id for this DBAPI connection: the
    driver's own record of it (``thread_id()``, ``connection_id``), else asked once."""
    thread_id = getattr(dbapi_connection, "thread_id", None)
    connection_id = getattr(dbapi_connection, "connection_id", None)
    if callable(thread_id):  # PyMySQL, mysqlclient
        record.info["server_id"] = thread_id()
    elif isinstance(connection_id, int):  # mysql-connector-python, MariaDB Connector/Python
        record.info["server_id"] = connection_id
    else:  # the async drivers' adapted connections
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT CONNECTION_ID()")
            record.info["server_id"] = int(cursor.fetchone()[0])
        finally:
            cursor.close()


def server_id(connection: Any) -> int | None:
    """The server's connection id (``CONNECTION_ID()``) behind a checked-out Connection
    (or an ``AsyncConnection``), known without a round trip, so it can be reported even
    when the next query fails."""
    sync = getattr(connection, "sync_connection", None) or connection
    return sync.connection.info.get("server_id")  # type: ignore[no-any-return]


class Lab:
    """A running MariaDB and the views of it the notebooks need."""

    def __init__(self, backend: Backend, *, owned: bool = False) -> None:
        self.backend = backend
        self.owned = owned
        #: whether :meth:`start` brought the server up (False: it was already running)
        self.started = False
        self._admin: pymysql.connections.Connection | None = None
        self._lock = threading.Lock()
        if owned:
            atexit.register(self.stop)

    # -- lifecycle -----------------------------------------------------------
    @classmethod
    def start(cls, config: LabConfig | None = None, *, detach: bool = False) -> Lab:
        """Bring the lab up (or find it up) and return its handle.

        A server this call starts without ``detach`` stops when this process
        exits (kernel shutdown, end of script, Ctrl-C); a server that was
        already running is left as it is.
        """
        backend = choose_backend(config or LabConfig.from_env())
        started = backend.start(detach=detach)
        lab = cls(backend, owned=started and not detach)
        lab.started = started
        log.info("lab %s on %s:%s", "started" if started else "found", backend.host, backend.port)
        return lab

    def stop(self, volumes: bool = False) -> None:
        """Stop the server and leave nothing running (``down``); ``volumes`` also removes its data."""
        self._close_admin()
        self.backend.stop(volumes=volumes)
        if self.owned:
            atexit.unregister(self.stop)
            self.owned = False

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        """``with Lab.start(...) as lab:``: stopped at the end if this handle started it."""
        if self.owned:
            self.stop()

    def close(self) -> None:
        """Close the lab's admin connection; the server keeps running."""
        self._close_admin()

    def restart(self) -> None:
        """Restart the server: every open connection dies, data and port stay."""
        self._require_changes("restart the server")
        self._close_admin()
        self.backend.restart()

    def pause(self) -> None:
        """Freeze the server (docker: the container's freezer; local: SIGSTOP): its
        connections stay open and nothing answers, until :meth:`unpause`."""
        self._require_changes("pause the server")
        self.backend.pause()

    def unpause(self) -> None:
        self.backend.unpause()

    def crash(self) -> None:
        """Kill the server with SIGKILL, then start it again: a crash, not a shutdown."""
        self._require_changes("crash the server")
        self._close_admin()
        self.backend.crash()
        self.backend.start(detach=not self.owned)

    def describe(self) -> dict[str, Any]:
        return self.backend.describe()

    def __repr__(self) -> str:
        b = self.backend
        return f"<Lab {b.name} {b.host}:{b.port} database={b.database!r}>"

    # -- clients -------------------------------------------------------------
    def url(self, driver: str = "pymysql", via: int | None = None, **query: str) -> URL:
        """SQLAlchemy URL for ``mysql+<driver>`` with the lab's application account;
        ``via`` replaces the server's port with a local one (a fault proxy in front of it)."""
        b = self.backend
        return URL.create(
            f"mysql+{check_driver(driver)}",
            username=b.user,
            password=b.password,
            host="127.0.0.1" if via else b.host,
            port=via or b.port,
            database=b.database,
            query={**({} if driver in NO_CHARSET else {"charset": "utf8mb4"}), **query},
        )

    def admin_url(self) -> URL:
        """``mysql://`` URL of the admin account (the lab's own throwaway, or the external
        server's one account): what the runbook's read-only check connects with."""
        b = self.backend
        return URL.create("mysql", username=b.admin_user, password=b.admin_password, host=b.host, port=b.port)

    def engine(self, driver: str = "pymysql", via: int | None = None, **options: Any) -> Engine:
        """``create_engine(lab.url(driver, via), **options)``, with each connection's
        server id recorded (see :func:`server_id`)."""
        if driver in ASYNC_DRIVERS:
            raise ValueError(f"{driver} is an async driver: use lab.async_engine()")
        engine = sqlalchemy.create_engine(self.url(driver, via), **self._with_tls(driver, options))
        event.listen(engine, "connect", _store_server_id)
        return engine

    def async_engine(self, driver: str = "aiomysql", via: int | None = None, **options: Any) -> AsyncEngine:
        """``create_async_engine(lab.url(driver, via), **options)`` for an async driver, with
        each connection's server id recorded (its pool events are the ``sync_engine``'s)."""
        if driver not in ASYNC_DRIVERS:
            raise ValueError(f"{driver} is not an async driver: use lab.engine()")
        engine = create_async_engine(self.url(driver, via), **self._with_tls(driver, options))
        event.listen(engine.sync_engine, "connect", _store_server_id)
        return engine

    def _with_tls(self, driver: str, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` with the driver's TLS arguments where the server requires TLS (the
        caller's own ``connect_args`` win)."""
        ca = self.backend.tls_ca
        if ca is None:
            return options
        args = {**tls.connect_args(driver, ca), **options.get("connect_args", {})}
        return {**options, "connect_args": args}

    # -- admin SQL -----------------------------------------------------------
    def _connection(self) -> pymysql.connections.Connection:
        if self._admin is not None:
            try:
                self._admin.ping()
            except pymysql.Error:  # the server restarted, or killed us: connect again
                self._admin = None
        if self._admin is None:
            self._admin = self.backend.admin_connect(timeout=5)
            with self._admin.cursor() as cur:
                cur.execute(ADMIN_INIT)
        return self._admin

    def _close_admin(self) -> None:
        with self._lock:
            if self._admin is not None:
                with suppress(pymysql.Error):
                    self._admin.close()
                self._admin = None

    def _fetch(self, statement: str, params: Any = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._lock:
            try:
                with self._connection().cursor() as cur:
                    cur.execute(statement, params)
                    columns = [d[0] for d in cur.description] if cur.description else []
                    return columns, list(cur.fetchall())
            except pymysql.err.OperationalError as exc:
                if exc.args and exc.args[0] in (2003, 2006, 2013):
                    self._admin = None
                raise

    def sql(self, statement: str, params: Any = None) -> pd.DataFrame:
        """Run one statement with the admin account; rows as a DataFrame."""
        columns, rows = self._fetch(statement, params)
        return pd.DataFrame(rows, columns=columns)

    def variables(self, like: str = "%timeout%", scope: str = "global") -> pd.DataFrame:
        """``SHOW GLOBAL VARIABLES LIKE ...`` (scope ``global``) or the admin session's."""
        if scope not in ("global", "session"):
            raise ValueError("scope is 'global' or 'session'")
        return self.sql(f"SHOW {scope.upper()} VARIABLES LIKE %s", (like,))

    def get_global(self, name: str) -> Any:
        """``@@GLOBAL.name``, typed as the server gives it (int for numbers)."""
        if not name.isidentifier():
            raise ValueError(f"not a variable name: {name!r}")
        try:
            return self._fetch(f"SELECT @@GLOBAL.{name}")[1][0][0]
        except pymysql.err.OperationalError as exc:
            raise LabError(f"the server has no global variable {name!r}: {exc.args[-1]}") from None

    def set_global(self, **values: Any) -> None:
        """``SET GLOBAL name = value`` for each keyword: new connections see it, open ones do not."""
        self._require_changes("change global variables")
        for name, value in values.items():
            if not name.isidentifier():
                raise ValueError(f"not a variable name: {name!r}")
            self.sql(f"SET GLOBAL {name} = %s", (value,))

    @contextmanager
    def globals(self, **values: Any) -> Iterator[None]:
        """Set globals for the duration of a ``with`` block, then put the old values back."""
        before = {name: self.get_global(name) for name in values}
        self.set_global(**values)
        try:
            yield
        finally:
            self.set_global(**before)

    def processlist(self, user: str | None = None) -> pd.DataFrame:
        """``SHOW PROCESSLIST`` with millisecond ``TIME_MS``, the admin's own row left out."""
        df = self.sql(
            "SELECT ID, USER, HOST, DB, COMMAND, TIME, TIME_MS, STATE, INFO "
            "FROM information_schema.PROCESSLIST "
            "WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' ORDER BY ID"
        )
        return df[df["USER"] == user].reset_index(drop=True) if user else df

    def status(self, names: Sequence[str] = COUNTERS) -> pd.DataFrame:
        """``SHOW GLOBAL STATUS`` for ``names``, one row, values as integers."""
        names = list(names)
        df = self.sql(
            "SHOW GLOBAL STATUS WHERE Variable_name IN (" + ", ".join(["%s"] * len(names)) + ")",
            tuple(names),
        )
        values = dict(zip(df["Variable_name"], pd.to_numeric(df["Value"]), strict=True))
        return pd.DataFrame([{name: values.get(name) for name in names}])

    def kill(self, connection_id: int, query_only: bool = False) -> None:
        """``KILL [QUERY] id``: end a connection (or just its running statement)."""
        self._require_changes("kill connections")
        self.sql(f"KILL {'QUERY' if query_only else 'CONNECTION'} %s", (int(connection_id),))

    def error_log(self, lines: int = 20, contains: str | None = None) -> list[str]:
        """The server's error log: the last ``lines`` lines (of those with ``contains``)."""
        if contains is None:
            return self.backend.error_log(lines)
        found = [line for line in self.backend.error_log(100_000) if contains in line]
        return found[-lines:]

    def _require_changes(self, what: str) -> None:
        if not self.backend.can_change:
            raise LabError(
                f"refusing to {what} on the external server {self.backend.host}:{self.backend.port}; "
                "set LAB_ALLOW_CHANGES=1 if that server is yours to change"
            )


def start_lab(**overrides: Any) -> Lab:
    """Bring the lab up with the environment's configuration (keywords override it). What the
    lessons call first: it also has pandas show texts whole, since the lessons quote them in
    their tables (error messages, error-log lines); ``import helpers`` alone changes nothing."""
    pd.set_option("display.max_colwidth", None)
    return Lab.start(LabConfig.from_env(**overrides))
