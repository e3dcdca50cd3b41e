"""What an application behind a replicated cluster adds to its engine: errors SQLAlchemy does not
count as a disconnect, counted as one; and which errors are a conflict to retry.

A pool's connection can stay on a node that left the cluster's quorum (Galera answers
``1047 WSREP has not yet prepared node for application use``) or was demoted after a writer
switchover (``1290 ... --read-only option``, ``1836 Running in read-only mode``). The socket is
alive: ``pool_pre_ping`` passes, and SQLAlchemy's MySQL dialects list neither code in
``is_disconnect``. :func:`treat_as_disconnect` adds a ``handle_error`` listener so that such an
error invalidates the connection (and the pool's others) like a lost one: the request that met
it fails, the next gets a new connection, which the load balancer sends to a healthy node.

>>> from goneaway_pool.failover import treat_as_disconnect, is_conflict
>>> treat_as_disconnect(engine)            # 1047, 1290, 1836
>>> is_conflict(exc)                       # 1213: nothing was committed, retry the transaction

Standard library and SQLAlchemy only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

#: A node out of the quorum, and a server that is read-only (a demoted writer).
CLUSTER_DISCONNECTS = frozenset({1047, 1290, 1836})
#: A deadlock, or a Galera certification failure: the transaction was rolled back, nothing committed.
CONFLICTS = frozenset({1213})


def error_code(exc: BaseException | None) -> int | None:
    """The server's error number in ``exc`` (a SQLAlchemy error or the driver's own): ``errno``
    (mysql-connector-python, MariaDB Connector/Python) or the first argument (PyMySQL,
    mysqlclient, aiomysql, asyncmy)."""
    exc = getattr(exc, "orig", None) or exc
    if exc is None:
        return None
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return errno
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def treat_as_disconnect(engine: Any, codes: Iterable[int] = CLUSTER_DISCONNECTS) -> None:
    """Count the server errors ``codes`` as a disconnect on ``engine`` (an ``Engine``, or an
    ``AsyncEngine``'s ``sync_engine`` is found): SQLAlchemy invalidates the connection."""
    wanted = frozenset(codes)
    target: Engine = getattr(engine, "sync_engine", engine)

    def listener(context: Any) -> None:
        if not context.is_disconnect and error_code(context.original_exception) in wanted:
            context.is_disconnect = True

    event.listen(target, "handle_error", listener)


def is_conflict(exc: BaseException) -> bool:
    """Is ``exc`` a deadlock or certification conflict (1213), safe to retry as a whole
    transaction? (Unlike a lost connection at COMMIT, whose outcome is unknown.)"""
    return error_code(exc) in CONFLICTS
