"""The read-only server check: what a MySQL or MariaDB server shows about 2006/2013.

It only reads. The statements it sends are all in :data:`STATEMENTS` (plus the
driver's handshake); a test runs it with the least-privilege account under the
general log and asserts none of them writes. The least privilege is::

    CREATE USER 'doctor'@'%' IDENTIFIED BY '...';
    GRANT PROCESS ON *.* TO 'doctor'@'%';
    -- MySQL 8 only, for the error log table:
    GRANT SELECT ON performance_schema.error_log TO 'doctor'@'%';

Without PROCESS the check still runs: it sees only its own connection and
says so in :attr:`ServerReport.unseen`. The password in the URL is never
printed, logged or returned: :func:`safe_url` is the only way the URL is shown.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pymysql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ..errors import LabError
from ..progress import ticks

log = logging.getLogger(__name__)

#: Variables that decide 2006/2013 (those a server does not have are left out of the report).
VARIABLES = (
    "wait_timeout",
    "interactive_timeout",
    "net_read_timeout",
    "net_write_timeout",
    "max_allowed_packet",
    "idle_transaction_timeout",
    "idle_readonly_transaction_timeout",
    "idle_write_transaction_timeout",
    "max_statement_time",
    "connect_timeout",
    "max_connections",
    "thread_cache_size",
    "log_warnings",
    "log_error_verbosity",
    "read_only",
    "wsrep_on",
)
#: A Galera node's status the check reports (a server without Galera has none of them).
WSREP_STATUS = (
    "wsrep_cluster_size",
    "wsrep_cluster_status",
    "wsrep_local_state_comment",
    "wsrep_ready",
    "wsrep_connected",
    "wsrep_flow_control_paused",
    "wsrep_local_recv_queue",
)
#: Status counters sampled over the window (plus every ``Connection_errors_%``).
SAMPLED_STATUS = (
    "Aborted_clients",
    "Aborted_connects",
    "Connections",
    "Threads_connected",
    "Threads_created",
    "Max_used_connections",
    "Uptime",
)
#: Every statement the check sends; nothing else goes to the server.
STATEMENTS = {
    "version": "SELECT VERSION()",
    "grants": "SHOW GRANTS",
    "global": "SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})",
    "session": "SHOW SESSION VARIABLES WHERE Variable_name IN ({names})",
    "status": (
        "SHOW GLOBAL STATUS WHERE Variable_name IN ({names}) OR Variable_name LIKE 'Connection_errors%'"
    ),
    "wsrep": "SHOW GLOBAL STATUS WHERE Variable_name IN ({names})",
    "processlist": "SELECT * FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()",
    "error_log": (
        "SELECT LOGGED, DATA FROM performance_schema.error_log "
        "WHERE DATA LIKE 'Aborted connection%' ORDER BY LOGGED DESC LIMIT 50"
    ),
}
#: Where the password may come from instead of the URL (so it is not written into a notebook).
PASSWORD_ENV = "LAB_DOCTOR_PASSWORD"
#: For a fleet: a JSON object of URL without password -> password (the HTML report's kernel).
PASSWORDS_ENV = "LAB_DOCTOR_PASSWORDS"
#: A sleeping connection this far into its wait_timeout is "close to being dropped".
NEAR = 0.75


def parse_url(url: str | URL) -> URL:
    """A server URL (``mysql://user:password@host:port/db``, any ``mysql+driver`` or
    ``mariadb`` scheme) as a SQLAlchemy URL; a clear error, without the password, if not."""
    if isinstance(url, URL):
        parsed = url
    else:
        try:
            parsed = make_url(str(url).strip())
        except (ArgumentError, ValueError):
            raise LabError("not a server URL: expected mysql://user:password@host:port/database") from None
    if "@" in (parsed.host or ""):
        raise LabError(
            "the URL's password holds an unencoded @: write it as %40 (or use LAB_DOCTOR_PASSWORD)"
        )
    if parsed.get_backend_name() not in ("mysql", "mariadb") or not parsed.host:
        raise LabError(
            f"not a MySQL/MariaDB URL: {safe_url(parsed)} (expected mysql://user:password@host:port/db)"
        )
    if parsed.password is None:
        known = json.loads(os.environ.get(PASSWORDS_ENV) or "{}")
        password = known.get(parsed.render_as_string(hide_password=False)) or os.environ.get(PASSWORD_ENV)
        if password:
            parsed = parsed._replace(password=password)
    return parsed


def without_password(url: URL) -> URL:
    """The same URL with no password at all (``URL.set(password=None)`` would keep it)."""
    return url._replace(password=None)


#: ``scheme://user:password@`` inside free text (a Flask config, a URL among engine options).
#: (greedy to the token's last ``@``: a password with an unencoded ``@`` is hidden whole)
_URL_PASSWORD = re.compile(r"(\b[a-z][\w+.-]*://[^\s:/@'\"]*:)[^\s'\"]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every URL's password replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def safe_url(url: str | URL) -> str:
    """The URL as it may be shown: the password replaced by ``***``."""
    try:
        parsed = url if isinstance(url, URL) else make_url(str(url))
    except (ArgumentError, ValueError):
        return "<unparsable URL>"
    if "@" in (parsed.host or ""):  # an unencoded @ in the password: part of it parsed as the host
        return redact(str(url)) if not isinstance(url, URL) else "<a URL whose password holds an unencoded @>"
    return parsed.render_as_string(hide_password=True)


def connect(url: URL, timeout: float = 5.0) -> pymysql.connections.Connection:
    """A read-only session: autocommit, no statements at connect, short timeouts."""
    try:
        return pymysql.connect(
            host=url.host,
            port=url.port or 3306,
            user=url.username or "",
            password=url.password or "",
            database=url.database or None,
            autocommit=None,  # send no SET AUTOCOMMIT: the only statement at connect is SET NAMES
            connect_timeout=timeout,
            read_timeout=timeout * 2,
            write_timeout=timeout * 2,
        )
    except pymysql.MySQLError as exc:
        code = exc.args[0] if exc.args else None
        reason = exc.args[1] if len(exc.args) > 1 else str(exc)
        raise LabError(f"cannot connect to {safe_url(url)}: ({code}) {reason}") from None


@dataclass
class ServerReport:
    """What the check saw. DataFrames for the notebook; :meth:`facts` for the classifier."""

    target: str
    version: str
    variables: pd.DataFrame
    samples: pd.DataFrame
    sleeping: pd.DataFrame
    error_log: list[str]
    unseen: list[str] = field(default_factory=list)
    #: a Galera node's ``wsrep_%`` status (:data:`WSREP_STATUS`); empty where ``wsrep_on`` is off
    wsrep: dict[str, str] = field(default_factory=dict)

    @property
    def wait_timeout(self) -> float | None:
        row = self.variables[self.variables["name"] == "wait_timeout"]
        return float(row["global"].iloc[0]) if len(row) else None

    def variable(self, name: str) -> float | str | None:
        row = self.variables[self.variables["name"] == name]
        if row.empty:
            return None
        value = row["global"].iloc[0]
        try:
            return float(value)
        except (TypeError, ValueError):
            return str(value)

    def deltas(self) -> pd.DataFrame:
        """Each counter's first and last value in the window, and the change."""
        if self.samples.empty:
            return pd.DataFrame(columns=["counter", "first", "last", "delta"])
        wide = self.samples.pivot_table(index="t", columns="counter", values="value", aggfunc="last")
        rows = [
            {"counter": c, "first": int(wide[c].iloc[0]), "last": int(wide[c].iloc[-1])} for c in wide.columns
        ]
        out = pd.DataFrame(rows)
        out["delta"] = out["last"] - out["first"]
        return out.sort_values("counter", key=lambda s: s.map(_counter_order)).reset_index(drop=True)

    def sleeping_by_client(self) -> pd.DataFrame:
        """Sleeping connections grouped by user and host: how many, the oldest, how many near the cliff."""
        if self.sleeping.empty:
            return pd.DataFrame(columns=["user", "host", "sleeping", "oldest_s", "near_timeout"])
        grouped = self.sleeping.groupby(["user", "host"], as_index=False).agg(
            sleeping=("id", "count"), oldest_s=("idle_s", "max"), near_timeout=("near_timeout", "sum")
        )
        return grouped.sort_values("oldest_s", ascending=False).reset_index(drop=True)

    def facts(self) -> dict[str, Any]:
        """What the classifier's fact rules read from the server."""
        deltas = self.deltas().set_index("counter")["delta"] if not self.samples.empty else pd.Series()
        uptime = self.last_status("Uptime")
        return {
            "version": self.version,
            "wait_timeout": self.wait_timeout,
            "idle_transaction_timeout": self.variable("idle_transaction_timeout"),
            "aborted_clients_delta": int(deltas.get("Aborted_clients", 0)),
            "sleeping_near_timeout": int(self.sleeping["near_timeout"].sum()) if len(self.sleeping) else 0,
            "uptime": uptime,
            "read_only": self.variable("read_only") in ("ON", 1.0),
            **{name: self.wsrep.get(name) for name in ("wsrep_cluster_status", "wsrep_ready")},
            "wsrep_cluster_size": int(self.wsrep["wsrep_cluster_size"])
            if "wsrep_cluster_size" in self.wsrep
            else None,
        }

    def last_status(self, counter: str) -> float | None:
        """The counter's value in the window's last sample."""
        rows = self.samples[self.samples["counter"] == counter]
        return float(rows["value"].iloc[-1]) if len(rows) else None


def _counter_order(name: str) -> int:
    return SAMPLED_STATUS.index(name) if name in SAMPLED_STATUS else len(SAMPLED_STATUS)


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _run(conn: pymysql.connections.Connection, key: str, **fmt: str) -> list[tuple[Any, ...]]:
    return _run_named(conn, key, **fmt)[1]


def _run_named(
    conn: pymysql.connections.Connection, key: str, **fmt: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One statement of :data:`STATEMENTS`: its column names and rows."""
    with conn.cursor() as cur:
        cur.execute(STATEMENTS[key].format(**fmt) if fmt else STATEMENTS[key])
        return [d[0].upper() for d in cur.description or ()], list(cur.fetchall())


def _query_or_unseen(
    conn: pymysql.connections.Connection, key: str, unseen: list[str], what: str
) -> list[dict[str, Any]] | None:
    """Rows as dicts, or None (and a line in ``unseen``) where the account may not read them."""
    try:
        columns, rows = _run_named(conn, key)
        return [dict(zip(columns, row, strict=True)) for row in rows]
    except pymysql.MySQLError as exc:
        reason = exc.args[1] if len(exc.args) > 1 else str(exc)
        unseen.append(f"{what}: {reason}")
        return None


def check_server(
    url: str | URL,
    sample_seconds: float = 5.0,
    every: float = 0.5,
    error_log: Callable[[int], list[str]] | None = None,
    connect_timeout: float = 5.0,
) -> ServerReport:
    """Read what matters for 2006/2013 from the server at ``url``, without writing anything.

    Samples the status counters every ``every`` seconds for ``sample_seconds``.
    ``error_log`` (e.g. the lab's ``lab.error_log``) reads the server's log where
    SQL cannot (MariaDB has no error-log table).
    """
    parsed = parse_url(url)
    if sample_seconds < 0 or sample_seconds > 300:
        raise LabError(f"sample_seconds={sample_seconds}: choose 0 to 300 seconds")
    target = safe_url(parsed)
    log.info("checking %s (read-only) for %.1f s", target, sample_seconds)
    conn = connect(parsed, connect_timeout)
    unseen: list[str] = []
    try:
        version = str(_run(conn, "version")[0][0])
        grants = " ".join(str(*r.values()) for r in _query_or_unseen(conn, "grants", unseen, "grants") or [])
        names = _names(VARIABLES)
        glob = dict(_run(conn, "global", names=names))
        sess = dict(_run(conn, "session", names=names))
        variables = pd.DataFrame(
            [{"name": n, "global": glob.get(n), "session": sess.get(n)} for n in VARIABLES if n in glob]
        )
        samples = []
        moments = ticks(sample_seconds, every, "sampling the server's counters") if sample_seconds else [0.0]
        for t in moments:  # a window of 0 s still takes one sample
            for name, value in _run(conn, "status", names=_names(SAMPLED_STATUS)):
                samples.append({"t": round(t, 2), "counter": name, "value": int(value)})
        # a MariaDB built with Galera reports wsrep_% status (ready OFF, status Disconnected) with
        # no provider loaded: only a node with wsrep_on is a cluster's
        galera = str(glob.get("wsrep_on", "OFF")).upper() == "ON"
        wsrep = {str(k): str(v) for k, v in _run(conn, "wsrep", names=_names(WSREP_STATUS))} if galera else {}
        processes = _query_or_unseen(conn, "processlist", unseen, "processlist")
        wait_timeout = float(glob.get("wait_timeout") or 0) or None
        sleeping = _sleeping(processes, wait_timeout)
        if not ("PROCESS" in grants or "ALL PRIVILEGES" in grants):
            unseen.append(
                "other accounts' connections: the processlist shows only this account's own; "
                "GRANT PROCESS shows them all"
            )
        lines = _aborted_lines(conn, version, unseen, error_log)
    except pymysql.MySQLError as exc:  # the server went away, a timeout, a KILL: one line, no password
        reason = exc.args[1] if len(exc.args) > 1 else str(exc)
        raise LabError(f"the check of {target} stopped: {reason}") from None
    finally:
        with suppress(pymysql.MySQLError):
            conn.close()
    return ServerReport(target, version, variables, pd.DataFrame(samples), sleeping, lines, unseen, wsrep)


def _sleeping(processes: list[dict[str, Any]] | None, wait_timeout: float | None) -> pd.DataFrame:
    """Sleeping connections, their idle time (TIME_MS where the server has it) against wait_timeout."""
    columns = ["id", "user", "host", "db", "idle_s", "wait_timeout", "left_s", "near_timeout"]
    rows = []
    for p in processes or []:
        if p.get("COMMAND") != "Sleep":
            continue
        idle = float(p["TIME_MS"]) / 1000 if p.get("TIME_MS") is not None else float(p.get("TIME") or 0)
        host = str(p.get("HOST") or "").rsplit(":", 1)[0]
        rows.append(
            {
                "id": p.get("ID"),
                "user": p.get("USER"),
                "host": host,
                "db": p.get("DB"),
                "idle_s": round(idle, 2),
                "wait_timeout": wait_timeout,
                "left_s": None if wait_timeout is None else round(wait_timeout - idle, 2),
                "near_timeout": bool(wait_timeout and idle >= NEAR * wait_timeout),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _aborted_lines(
    conn: pymysql.connections.Connection,
    version: str,
    unseen: list[str],
    error_log: Callable[[int], list[str]] | None,
) -> list[str]:
    if error_log is not None:
        return [line for line in error_log(2000) if "Aborted connection" in line][-50:]
    if "mariadb" in version.lower():
        unseen.append(
            "the error log's 'Aborted connection' lines: MariaDB has no SQL view of its error log; "
            "read the file named by @@log_error on the server's host"
        )
        return []
    rows = _query_or_unseen(
        conn, "error_log", unseen, "the error log (GRANT SELECT ON performance_schema.error_log)"
    )
    return [f"{r['LOGGED']} {r['DATA']}" for r in reversed(rows or [])]
