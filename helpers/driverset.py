"""The drivers the lab knows, by SQLAlchemy dialect name: plain data, importable without any
driver (the CLI builds its options from it; :mod:`helpers.drivers` re-exports it)."""

from __future__ import annotations

#: SQLAlchemy dialect suffix -> the package behind it: the two the lab uses by default.
DRIVERS: dict[str, str] = {"pymysql": "PyMySQL", "mysqldb": "mysqlclient"}
#: Every MySQL driver SQLAlchemy supports: dialect suffix -> the package behind it.
ALL_DRIVERS: dict[str, str] = {
    **DRIVERS,
    "mysqlconnector": "mysql-connector-python",
    "mariadbconnector": "mariadb",
    "aiomysql": "aiomysql",
    "asyncmy": "asyncmy",
}
#: The drivers that run through ``create_async_engine``, their steps driven by an event loop.
ASYNC_DRIVERS = frozenset({"aiomysql", "asyncmy"})
#: Drivers whose ``connect()`` refuses a ``charset`` argument (MariaDB Connector/Python
#: speaks utf8mb4 already).
NO_CHARSET = frozenset({"mariadbconnector"})

__all__ = ["ALL_DRIVERS", "ASYNC_DRIVERS", "DRIVERS", "NO_CHARSET"]
