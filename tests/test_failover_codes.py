"""``goneaway_pool.failover`` without a server: which error number each driver's exception carries,
and which errors are a conflict to retry (the scenarios of lesson 16 test the listener itself,
against a real cluster, with all six drivers)."""

from __future__ import annotations

import pymysql
import sqlalchemy.exc

from goneaway_pool.failover import CLUSTER_DISCONNECTS, error_code, is_conflict


class ErrnoError(Exception):
    """The shape of mysql-connector-python's and MariaDB Connector/Python's errors."""

    def __init__(self, message: str, errno: int) -> None:
        super().__init__(message)
        self.errno = errno


def test_the_code_as_each_driver_carries_it() -> None:
    assert error_code(pymysql.err.OperationalError(1047, "WSREP has not yet prepared node")) == 1047
    assert error_code(ErrnoError("1290 (HY000): read-only", 1290)) == 1290
    wrapped = sqlalchemy.exc.OperationalError("COMMIT", {}, pymysql.err.OperationalError(1213, "Deadlock"))
    assert error_code(wrapped) == 1213
    assert error_code(TimeoutError()) is None and error_code(None) is None


def test_conflicts_and_refusals_are_told_apart() -> None:
    deadlock = pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")
    assert is_conflict(deadlock) and not is_conflict(pymysql.err.OperationalError(2013, "Lost connection"))
    assert {1047, 1290, 1836} == CLUSTER_DISCONNECTS and 1213 not in CLUSTER_DISCONNECTS
