"""What the lab found a driver or library really does, and the versions it was measured with.

A finding holds for the versions it names; another release may behave otherwise. The lock
(``requirements.txt``) pins these versions, and ``tests/test_findings.py`` fails, naming the
finding and both versions, as soon as the lock or the installed set moves away from them:
re-run the finding's test (``tests/test_scenarios.py`` or the lesson's claims), then update
the version here, or the finding.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field

import pandas as pd

SQLALCHEMY = {"SQLAlchemy": "2.1.9"}


@dataclass(frozen=True)
class Finding:
    """One behaviour the lab measured: a short name, what it is, where it is shown and asserted,
    and the distributions (as their metadata names them) with the versions it was measured with."""

    name: str
    what: str
    shown_in: str
    measured_with: dict[str, str] = field(default_factory=dict)


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "mysqlconnector-2055-not-invalidated",
        "mysql-connector-python's first statement on a dead checkout fails with 2055, which "
        "SQLAlchemy does not see as a disconnect (connection_invalidated False)",
        "15_drivers; tests/test_scenarios.py NOT_INVALIDATED",
        {"mysql-connector-python": "26.10.0", **SQLALCHEMY},
    ),
    Finding(
        "mysqlconnector-read-timeout-3024",
        "mysql-connector-python's read_timeout ends a query with 3024, not a disconnect: the pool "
        "hands the closed connection out again",
        "15_drivers; tests/test_scenarios.py FINDINGS",
        {"mysql-connector-python": "26.10.0", **SQLALCHEMY},
    ),
    Finding(
        "mysqlconnector-no-server-side-cursor",
        "SQLAlchemy's mysql-connector-python dialect buffers every result, so net_write_timeout never passes",
        "tests/test_scenarios.py FINDINGS",
        {"mysql-connector-python": "26.10.0", **SQLALCHEMY},
    ),
    Finding(
        "asyncmy-reads-ahead",
        "asyncmy reads the socket into memory as data arrives, so net_write_timeout never passes",
        "tests/test_scenarios.py FINDINGS",
        {"asyncmy": "0.2.18", **SQLALCHEMY},
    ),
    Finding(
        "aiomysql-no-read-timeout",
        "aiomysql has no read timeout: asyncio.wait_for bounds a statement (a bare TimeoutError), "
        "not the pool's pre-ping, and cannot send bytes with PyMySQL 1.2 (TypeError)",
        "15_drivers; tests/test_scenarios.py FINDINGS",
        {"aiomysql": "0.3.2", "PyMySQL": "1.2.4", **SQLALCHEMY},
    ),
    Finding(
        "mariadbconnector-packet-interfaceerror",
        "MariaDB Connector/Python's oversized write reaches the caller as an empty InterfaceError, "
        "not invalidated (or, where the server's close wins the race, as 2006); its pre-ping is a SELECT 1",
        "15_drivers; tests/test_scenarios.py FINDINGS",
        {"mariadb": "1.1.14", **SQLALCHEMY},
    ),
    Finding(
        "flask-sqlalchemy-charset-mariadb",
        "Flask-SQLAlchemy adds charset=utf8mb4 to a MySQL URL, which mariadb.connect() refuses",
        "helpers/scenarios/web.py (not_for)",
        {"Flask-SQLAlchemy": "3.1.1", "mariadb": "1.1.14"},
    ),
    Finding(
        "pymysql-tls-context-per-connect",
        "PyMySQL builds a TLS context on every connect in its default mode, even when the server "
        "offers no TLS; it sends bytes hex-encoded, halving its max_allowed_packet headroom",
        "07_packets_and_timeouts, 13_beyond_pre_ping",
        {"PyMySQL": "1.2.4"},
    ),
    Finding(
        "fork-dispose-close-false",
        "engine.dispose(close=False) in a forked child holds with PyMySQL only: the other drivers "
        "send COM_QUIT when the child's garbage collector frees the parent's connections",
        "10_fork",
        {"PyMySQL": "1.2.4", "mysqlclient": "2.3.2", **SQLALCHEMY},
    ),
)


def installed(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def table() -> pd.DataFrame:
    """One row per finding and distribution: measured with, installed, and whether they agree."""
    rows = [
        {
            "finding": f.name,
            "distribution": dist,
            "measured_with": version,
            "installed": installed(dist),
            "shown_in": f.shown_in,
        }
        for f in FINDINGS
        for dist, version in f.measured_with.items()
    ]
    df = pd.DataFrame(rows)
    df["same"] = df["measured_with"] == df["installed"]
    return df
