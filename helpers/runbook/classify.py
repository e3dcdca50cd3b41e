"""From an error text (and what else is known) to ranked causes.

Two data tables do the work, no if-chains:

``SIGNATURES``  a regular expression over the pasted text (a driver message, a
                whole traceback, server error-log lines) and the weight it adds
                to each cause it points to;
``FACT_RULES``  a fact about the situation (from the server check, the
                application's settings, or the answer to a deciding question)
                and the weight it adds.

A cause's score is the sum of the weights that matched; candidates are ranked
by score. Each candidate carries its evidence (which signatures and facts
matched, with the text they matched) and the question that would decide
between it and the next one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .causes import CAUSES, RECYCLE_MARGIN

if TYPE_CHECKING:
    import pandas as pd
from .taxonomy import (
    CANNOT_CONNECT,
    FOLLOW_ON,
    GONE,
    KNOWN_CAUSES,
    NOT_DISCONNECT,
    PRECEDENCE,
    REFUSED,
    Reading,
    transport_facts,
)

#: Pasted text beyond this many characters is not read (a 5 MB log is cut to its last part).
MAX_TEXT = 1_000_000


@dataclass(frozen=True)
class Signature:
    """One thing real systems print, and the causes it points to. ``kind`` is the class it puts
    a text in (:mod:`~helpers.runbook.taxonomy`; None: it names no error, only where it ran),
    ``what`` what it is, ``first`` the error to look for behind a follow-on, and ``unless`` a
    wording that means another error printed the same code."""

    label: str
    pattern: str
    weights: Mapping[str, float]
    source: str = ""
    kind: str | None = None
    what: str = ""
    first: str = ""
    unless: str = ""

    def compiled(self) -> re.Pattern[str]:
        return _compile(self.pattern)

    def matches(self, text: str) -> list[re.Match[str]]:
        if self.unless and _compile(self.unless).search(text):
            return []
        return list(self.compiled().finditer(text))


@functools.cache
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _code(number: int) -> str:
    """A MySQL code as drivers print it: ``(1969, ``, ``1969 (HY000)``, ``Error 1969:``,
    ``[1969] Query``; not a year in a timestamp (``[2026-11-23``), a PID (``[1290]``,
    ``app[2003]:``) or a line number (``test.py:1213:``)."""
    return (
        rf"\(\s*{number}\s*,|(?<![\w\]])\[{number}\](?!\s*\[)(?=\s*[A-Za-z])|\b(?:error|errno)\s*:?\s*{number}\b"
        rf"|(?<![\w:./\[-]){number}\s*(?:\(\w{{5}}\)|,\s*u?['\"]|:(?!\d))"
    )


GONE_AWAY = {
    "idle": 3,
    "long_work": 2.5,
    "recycle_margin": 2,
    "keepalive": 1.5,
    "idle_transaction": 1.5,
    "flask_sqlalchemy": 1.5,
    "max_allowed_packet": 1,
    "interactive_timeout": 1,
    "flask_scoped_session": 1,
    "fastapi_session": 1,
    "fork": 0.5,
    "lb_reset": 1,
    "idle_tls": 1,
    "mysql8_inactivity": 1,
}
LOST_DURING_QUERY = {
    "restart": 3,
    "kill_idle": 2.5,
    "kill_mid_query": 2,
    "node_loss": 2,
    "commit_in_doubt": 1.5,
    "read_timeout": 1.5,
    "net_write_timeout": 1.5,
    "paused_server": 1.5,
    "lb_silent_drop": 1.5,
    "fork": 0.5,
    "restart_tls": 1,
    "kill_idle_tls": 1,
    "mysql8_inactivity": 1,
}
SESSION_FOLLOW_ON = (
    "the first error in that Session, a request or more before (often a 2006 or 2013): its cause is "
    "the cause; then end every Session with its request (08_web_apps)"
)

# fmt: off
SIGNATURES: tuple[Signature, ...] = (
    # -- (a) the connection is gone, in every driver's wording ------------------------------
    Signature("2006 server has gone away", _code(2006) + r"|server has gone away", GONE_AWAY,
              "CR_SERVER_GONE_ERROR: PyMySQL, libmysqlclient ('MySQL server has gone away'); "
              "MariaDB Connector/C and Connector/Python ('Server has gone away')",
              GONE, "the client found the connection closed when it wrote"),
    Signature("4031 disconnected for inactivity", _code(4031) + r"|disconnected by the server because of inactivity",
              {"mysql8_inactivity": 7, "idle": 3, "long_work": 2, "keepalive": 1.5, "recycle_margin": 1},
              "MySQL 8.0.24+ ER_CLIENT_INTERACTION_TIMEOUT (mysqlclient and MariaDB Connector/Python report it)",
              GONE, "MySQL 8 told the client it closed an idle connection"),
    Signature("2013 lost connection during query",
              _code(2013) + r"|Lost connection to (?:MySQL )?server during query", LOST_DURING_QUERY,
              "CR_SERVER_LOST: PyMySQL, libmysqlclient, Connector/C ('Lost connection to server during query')",
              GONE, "the connection was lost while a statement waited for its answer"),
    Signature("client timed out", r"\(timed out\)|(?<!connection )\btimed out\b|socket\.timeout|\bTimeoutError\(",
              {"read_timeout": 5, "paused_server": 3, "lb_silent_drop": 3},
              "PyMySQL appends the socket's '(timed out)'; mysql-connector-python 'timed out'"),
    Signature("async app's own timeout",
              r"(?m)(?:^|\s|\.)TimeoutError(?:\(\)|:)?\s*$|asyncio[/\\]timeouts\.py|\bwait_for\b",
              {"read_timeout": 4, "paused_server": 3, "lb_silent_drop": 3},
              "asyncio.timeout() or wait_for() around an await: aiomysql has no read timeout; "
              "the TimeoutError has no code and no text", GONE, "the app's own timeout cancelled the await",
              unless=r"QueuePool limit"),
    Signature("mysql-connector-python read timeout", r"ReadTimeoutError|WriteTimeoutError", {"read_timeout": 4},
              "mysql-connector-python raises its read_timeout as ReadTimeoutError (errno 3024)",
              GONE, "mysql-connector-python's own read_timeout ended the statement and closed the connection"),
    Signature("stream ended early", r"IncompleteReadError|0 bytes read on a total of",
              {"idle": 2, "restart": 2}, "asyncio drivers (aiomysql, asyncmy) on a closed socket",
              GONE, "the socket closed under an async driver's read"),
    Signature("2055 lost connection, system error",
              _code(2055) + r"|Lost connection to (?:MySQL )?server at '[^']*', system error",
              {"idle": 2.5, "restart": 2, "kill_idle": 1.5, "long_work": 1.5},
              "CR_SERVER_LOST_EXTENDED: mysql-connector-python on a closed socket",
              GONE, "mysql-connector-python found the connection closed"),
    Signature("connection not available",
              r"MySQL Connection not available|Connection is not available|The server closed the connection"
              r"|Detected a broken connection during query|Failed to read the result set",
              {"idle": 2, "restart": 1.5, "kill_idle": 1},
              "mysql-connector-python OperationalError; mysqljs, ProxySQL and MySqlConnector wordings",
              GONE, "the driver or proxy found the connection closed"),
    Signature("2014 commands out of sync", _code(2014) + r"|Commands? out of sync",
              {"fork": 6, "async_cancel": 2}, "CR_COMMANDS_OUT_OF_SYNC: two users of one connection",
              GONE, "two users of one connection, or a cancelled read, left it out of step"),
    Signature("packet sequence number wrong", r"Packet sequence number wrong",
              {"fork": 5, "async_cancel": 3}, "PyMySQL InternalError when two processes read one socket",
              GONE, "the client and the server no longer agree where the conversation is"),
    Signature("sequence got 0: MySQL 8's goodbye", r"Packet sequence number wrong - got 0 expected 1",
              {"mysql8_inactivity": 7, "idle": 2, "fork": -3, "async_cancel": -2},
              "an old aiomysql or PyMySQL reading MySQL 8.0.24+'s 4031 packet (sqlalchemy #7586)"),
    Signature("garbled reply, mysql-connector-python",
              r"Unread result found|Failed parsing column information|bytearray index out of range"
              r"|invalid literal for int\(\) with base",
              {"fork": 5, "read_timeout": 1.5},
              "mysql-connector-python when two processes read one socket, or on a connection its "
              "own read timeout closed"),
    Signature("result closed under the reader", r"ResourceClosedError|This result object does not return rows",
              {"fork": 3}, "SQLAlchemy, when another process consumed the result", GONE,
              "another user of the same connection consumed the result: the connection is shared"),
    Signature("interface error on a closed connection", r"InterfaceError\W+\(0, ''\)|\bAlready closed\b",
              {"idle": 2, "fork": 1.5, "flask_scoped_session": 1},
              "PyMySQL on a connection it closed after an earlier error", GONE, "the driver had closed the connection"),
    Signature("1153 packet too large",
              _code(1153) + "|" + _code(2020) + r"|packet bigger than .?max_allowed_packet",
              {"max_allowed_packet": 8}, "ER_NET_PACKET_TOO_LARGE (server), CR_NET_PACKET_TOO_LARGE (client)",
              GONE, "the server refused a packet above max_allowed_packet and closed the connection"),
    Signature("a large value in the statement", r"characters truncated\)|\[parameters: [^\n]{3000}",
              {"max_allowed_packet": 7}, "SQLAlchemy truncates long parameters in its message"),
    Signature("1927 connection was killed", _code(1927) + r"|Connection was killed",
              {"kill_idle": 3, "kill_mid_query": 3, "idle_transaction": 1.5}, "MariaDB ER_CONNECTION_KILLED",
              GONE, "MariaDB killed the connection"),
    Signature("TLS peer closed",
              r"unexpected eof while reading|UNEXPECTED_EOF_WHILE_READING|EOF occurred in violation of protocol"
              r"|SSLEOFError",
              {"idle_tls": 4, "restart_tls": 3, "kill_idle_tls": 3, "idle": 1, "restart": 0.5},
              "OpenSSL through Python's ssl (PyMySQL's 2006, mysql-connector-python's 2055): the TLS peer "
              "closed without close_notify; OpenSSL 3's C clients say 'unexpected eof while reading'",
              GONE, "the TLS connection was closed by its peer: read it as the 2006 or 2013 it wraps"),
    Signature("2026 on a closed TLS connection", r"shutdown while in init",
              {"restart_tls": 5, "kill_idle_tls": 5},
              "MariaDB Connector/C (mysqlclient, MariaDB Connector/Python): a ping or statement on a TLS "
              "connection the server closed", GONE,
              "the server closed the TLS connection; SQLAlchemy does not count 2026 as a disconnect, so "
              "pool_pre_ping raises it instead of reconnecting"),
    # -- (b) a live connection refused the statement ----------------------------------------
    Signature("1047 WSREP not ready", _code(1047) + r"|WSREP has not yet prepared node",
              {"non_primary": 8}, "Galera ER_UNKNOWN_COM_ERROR from a node outside the primary component",
              REFUSED, "a Galera node outside the primary component refuses statements on a live socket"),
    Signature("1290 read-only", _code(1290) + r"|running with the --(?:super-)?read-only option",
              {"writer_switchover": 8}, "ER_OPTION_PREVENTS_STATEMENT", REFUSED,
              "the server is read-only: a demoted writer, or a replica"),
    Signature("1836 read-only mode", _code(1836) + r"|Running in read-only mode",
              {"writer_switchover": 8}, "ER_READ_ONLY_MODE", REFUSED,
              "the server is in read-only mode: a demoted writer"),
    Signature("a cluster named", r"\bwsrep_\w+|\bGalera\b|\bnon-Primary\b|\bPXC\b|Percona XtraDB Cluster",
              {"non_primary": 1.5, "node_loss": 2, "certification_conflict": 1},
              "a Galera cluster's words in the text (wsrep_ status, a node's state)"),
    Signature("1213 with Galera", r"wsrep aborted transaction|wsrep|galera",
              {"certification_conflict": 4}, "a cluster's context around a 1213", REFUSED,
              "Galera's certification aborted a transaction that conflicted with another node's",
              unless=r"^(?![\s\S]*(?:" + _code(1213) + r"|Deadlock))"),
    Signature("3100 replication hook", _code(3100) + r"|Error on observer while running replication hook",
              {"writer_switchover": 3, "certification_conflict": 2}, "MySQL Group Replication", REFUSED,
              "MySQL Group Replication refused the commit"),
    Signature("ProxySQL: no backend", r"Max connect timeout reached while reaching hostgroup",
              {"proxy_no_backend": 8}, "ProxySQL 9001", REFUSED, "ProxySQL found no usable server in the hostgroup"),
    # -- (c) not a disconnect ---------------------------------------------------------------
    Signature("1969 max_statement_time", _code(1969) + r"|max_statement_time exceeded",
              {"max_statement_time": 12}, "MariaDB ER_STATEMENT_TIMEOUT", NOT_DISCONNECT,
              "MariaDB's max_statement_time ended the statement; the connection is alive"),
    Signature("3024 max_execution_time (server)", _code(3024) + r"|maximum statement execution time exceeded",
              {"max_execution_time": 12}, "MySQL ER_QUERY_TIMEOUT, from the server (not mysql-connector's own)",
              NOT_DISCONNECT, "MySQL's max_execution_time ended the SELECT; the connection is alive",
              unless=r"ReadTimeoutError|WriteTimeoutError"),
    Signature("1317 query interrupted",
              _code(1317) + r"|ER_QUERY_INTERRUPTED|Query execution was interrupted(?!, maximum| \(max_statement)",
              {"kill_query": 10}, "ER_QUERY_INTERRUPTED: KILL QUERY", NOT_DISCONNECT,
              "KILL QUERY stopped the statement; the connection is alive"),
    Signature("1205 lock wait timeout", _code(1205) + r"|Lock wait timeout exceeded",
              {"lock_wait_timeout": 10}, "ER_LOCK_WAIT_TIMEOUT", NOT_DISCONNECT,
              "the statement waited longer than innodb_lock_wait_timeout for a row lock"),
    Signature("1213 deadlock", _code(1213) + r"|Deadlock found when trying to get lock|\bDeadlock:",
              {"deadlock": 8, "certification_conflict": 3}, "ER_LOCK_DEADLOCK", NOT_DISCONNECT,
              "the transaction was rolled back as a deadlock victim (with Galera: a certification conflict)"),
    # -- (d) cannot connect -----------------------------------------------------------------
    Signature("1040 too many connections", _code(1040) + r"|Too many connections|ny connections'",
              {"too_many_connections": 8, "pool_exhaustion": 3},
              "ER_CON_COUNT_ERROR: pools × workers above max_connections", CANNOT_CONNECT,
              "the server is at max_connections"),
    Signature("1129 host blocked",
              _code(1129) + r"|is blocked because of many connection errors|HOST_IS_BLOCKED",
              {"host_blocked": 12}, "ER_HOST_IS_BLOCKED", CANNOT_CONNECT,
              "the server blocks the client's host after max_connect_errors failed handshakes"),
    Signature("1045 access denied", _code(1045) + r"|Access denied for user", {"access_denied": 12},
              "ER_ACCESS_DENIED_ERROR", CANNOT_CONNECT, "the login was refused"),
    Signature("2003 cannot connect",
              _code(2003) + r"|" + _code(2002) + r"|Can't connect to (?:local )?(?:MySQL )?server"
              r"|Couldn't connect to server|Unable to connect to any of the specified MySQL hosts",
              {"cannot_connect": 5, "restart": 3, "paused_server": 1.5},
              "CR_CONN_HOST_ERROR, CR_CONNECTION_ERROR: the server is down, restarting or unreachable",
              CANNOT_CONNECT, "nothing answered at the address (or the socket)"),
    Signature("lost during connect",
              r"Lost connection to (?:MySQL )?server at '(?:reading|waiting for) (?:initial|authorization|final)",
              {"cannot_connect": 4, "paused_server": 2.5, "restart": 2}, "CR_SERVER_LOST during the handshake",
              CANNOT_CONNECT, "the connection was lost while it was being made (a proxy, or a server at its limit)"),
    Signature("2026 TLS handshake", _code(2026) + r"|SSL connection error|SSL is required", {"tls": 8},
              "CR_SSL_CONNECTION_ERROR", CANNOT_CONNECT, "the TLS handshake failed",
              unless=r"shutdown while in init"),
    # -- follow-ons: raised because of an earlier error -------------------------------------
    Signature("Session needs a rollback",
              r"PendingRollbackError|Can't reconnect until invalid (?:savepoint )?transaction is rolled back"
              r"|transaction has been rolled back due to a previous exception",
              {"flask_scoped_session": 3.5, "fastapi_session": 3, "idle_transaction": 2.5}, "SQLAlchemy 1.4 / 2.x",
              FOLLOW_ON, "the Session was not rolled back after an earlier error", SESSION_FOLLOW_ON),
    Signature("pool exhausted", r"QueuePool limit of size \d+ overflow -?\d+ reached", {"pool_exhaustion": 8},
              "SQLAlchemy TimeoutError", FOLLOW_ON, "every connection was checked out for pool_timeout seconds",
              "what holds the connections: Sessions never closed or removed, or long requests "
              "(engine.pool.status(); 08_web_apps)"),
    Signature("async garbage collector", r"garbage collector is trying to clean up",
              {"async_cancel": 4, "fastapi_session": 1.5}, "SQLAlchemy's pool on an async driver", FOLLOW_ON,
              "an async connection was never returned to its pool",
              "an AsyncSession or connection not closed, or a task cancelled while it held one "
              "(a CancelledError earlier in the log)"),
    Signature("Exception during reset", r"Exception during reset or similar",
              {"async_cancel": 2, "idle": 1, "fork": 1}, "SQLAlchemy's pool, returning a connection", FOLLOW_ON,
              "the pool could not roll back a returned connection",
              "the error inside it (the connection was already gone: a 2006/2013, or a CancelledError)"),
    Signature("a cancelled task", r"CancelledError", {"async_cancel": 4}, "asyncio", None,
              "the task was cancelled while it awaited the driver"),
    # -- SQLAlchemy ---------------------------------------------------------------------------
    Signature("error during COMMIT", r"\[SQL: COMMIT\]|\bdo_commit\b|\.commit\(\)|, in commit\b",
              {"commit_in_doubt": 3}, "traceback through commit()"),
    Signature("streamed result", r"SSCursor|SSDictCursor|stream_results|yield_per|server_side_cursors",
              {"net_write_timeout": 3}, "an unbuffered cursor in the traceback"),
    # -- the server's error log ---------------------------------------------------------------
    Signature("server log: timeout reading", r"Got timeout reading communication packets",
              {"idle": 4, "long_work": 3, "keepalive": 2, "recycle_margin": 1.5, "idle_transaction": 1},
              "MariaDB/MySQL 'Aborted connection' line: wait_timeout passed",
              GONE, "the server closed a connection idle past wait_timeout (the client had sent nothing)"),
    Signature("server log: error reading", r"Got an error reading communication packets",
              {"fork": 2, "lb_reset": 2, "kill_idle": 1, "commit_in_doubt": 1.5, "read_timeout": 1.5},
              "'Aborted connection' line: the client went away without COM_QUIT",
              GONE, "the client's side went away without COM_QUIT: a killed or exited worker, a reset by the "
              "network, a read timeout that gave up; not wait_timeout (that line says 'Got timeout reading')"),
    Signature("server log: writing", r"Got (?:an error|timeout) writing communication packets",
              {"net_write_timeout": 5}, "'Aborted connection' line: net_write_timeout passed",
              GONE, "the server gave up writing to a client that did not read"),
    Signature("server log: no authentication", r"closed normally without authentication|user: 'unauthenticated'",
              {"cannot_connect": 3, "tls": 2}, "'Aborted connection' line of a handshake that never finished",
              CANNOT_CONNECT, "a client opened a connection and left before logging in (a TCP health check, a TLS "
              "mismatch)"),
    Signature("server log: killed", r"\bKILL(?: CONNECTION| QUERY)?\s+\d+|killed by", {"kill_idle": 2, "kill_mid_query": 2},
              "general log or audit line"),
    # -- where it ran -------------------------------------------------------------------------
    Signature("Flask", r"\bflask[/.\\]|werkzeug", {"flask_scoped_session": 1.5, "flask_sqlalchemy": 1},
              "frames in the traceback"),
    Signature("Flask-SQLAlchemy", r"flask_sqlalchemy|SQLALCHEMY_(?:ENGINE_OPTIONS|POOL_RECYCLE|DATABASE_URI)",
              {"flask_sqlalchemy": 3}, "frames or config keys"),
    Signature("FastAPI", r"fastapi|starlette", {"fastapi_session": 2.5}, "frames in the traceback"),
    Signature("scoped_session", r"scoped_session", {"flask_scoped_session": 1.5, "pool_exhaustion": 1}, ""),
    Signature("a forking worker", r"celery|billiard|gunicorn|uwsgi|multiprocessing|os\.fork|ForkPoolWorker|--preload",
              {"fork": 2}, "frames or process names of prefork servers"),
    Signature("a load balancer in the path", r"haproxy|\bELB\b|load.?balancer|\bNAT\b|proxysql|MySQL_Session\.cpp",
              {"lb_reset": 1.5, "lb_silent_drop": 1.5, "haproxy_idle": 1.5, "conntrack_drop": 1},
              "a device between app and server, named in the text"),
    Signature("HAProxy: idle timeout", r"(?<![\w-])[cs]D(?:-[-\w])?(?![\w-])|\btimeout (?:client|server|tunnel)\b",
              {"haproxy_idle": 5}, "HAProxy's log: termination state cD or sD (tcplog; cD-- in HTTP mode): the client's or the server's "
              "side timed out while idle), or its timeouts named", GONE,
              "HAProxy closed an idle session at its timeout client or timeout server"),
    Signature("HAProxy: server down", r"\bServer \S+ is DOWN\b|on-marked-down|shutdown-sessions",
              {"haproxy_backend_down": 6}, "HAProxy's log: 'Server be/srv is DOWN, reason: ...'", GONE,
              "HAProxy took the server out; its sessions were closed or left on it"),
    Signature("kernel: conntrack", r"nf_conntrack|conntrack table full|\bct state invalid\b",
              {"conntrack_drop": 4, "conntrack_reset": 2}, "the kernel's firewall log or rules"),
    Signature("interactive_timeout", r"interactive_timeout|CLIENT[._]INTERACTIVE|client_flag",
              {"interactive_timeout": 3}, ""),
    Signature("idle transaction timeout", r"idle_(?:write_|readonly_)?transaction_timeout",
              {"idle_transaction": 4}, "MariaDB 10.3+"),
)
# fmt: on


@dataclass(frozen=True)
class FactRule:
    """A fact about the situation and the causes it points to."""

    label: str
    applies: Callable[[Mapping[str, Any]], bool]
    weights: Mapping[str, float]


def _num(facts: Mapping[str, Any], key: str) -> float | None:
    value = facts.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _recycle_too_close(f: Mapping[str, Any]) -> bool:
    recycle, wait = _num(f, "pool_recycle"), _num(f, "wait_timeout")
    return recycle is not None and recycle > 0 and wait is not None and recycle > (1 - RECYCLE_MARGIN) * wait


def _longer_than_wait(key: str) -> Callable[[Mapping[str, Any]], bool]:
    def rule(f: Mapping[str, Any]) -> bool:
        value, wait = _num(f, key), _num(f, "wait_timeout")
        return value is not None and wait is not None and value >= wait

    return rule


def _flag(key: str) -> Callable[[Mapping[str, Any]], bool]:
    """The rule of a yes/no fact: it applies when ``facts[key]`` is true."""
    return lambda f: bool(f.get(key))


def _mysql8(f: Mapping[str, Any]) -> bool:
    """A MySQL server of 8.0.24 or later, by its version string (MariaDB's says MariaDB)."""
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", str(f.get("version") or ""))
    if not found or "mariadb" in str(f.get("version")).lower():
        return False
    return tuple(int(part) for part in found.groups()) >= (8, 0, 24)


def _shorter_than_wait(key: str) -> Callable[[Mapping[str, Any]], bool]:
    def rule(f: Mapping[str, Any]) -> bool:
        value, wait = _num(f, key), _num(f, "wait_timeout")
        return value is not None and wait is not None and value < wait

    return rule


FACT_RULES: tuple[FactRule, ...] = (
    FactRule(
        "pool_recycle within 10 % of wait_timeout (or above it)",
        _recycle_too_close,
        {"recycle_margin": 4, "idle": 1},
    ),
    FactRule(
        "no pool_pre_ping and no pool_recycle",
        lambda f: f.get("pool_pre_ping") is False and not _num(f, "pool_recycle"),
        {"idle": 2, "keepalive": 1, "flask_sqlalchemy": 1, "lb_reset": 1},
    ),
    FactRule(
        "the request ran longer than wait_timeout", _longer_than_wait("request_seconds"), {"long_work": 5}
    ),
    FactRule(
        "the pool was quiet longer than wait_timeout",
        _longer_than_wait("idle_seconds"),
        {"idle": 3, "idle_tls": 3, "mysql8_inactivity": 2},
    ),
    FactRule(
        "the app connects over TLS", _flag("tls"), {"idle_tls": 6, "restart_tls": 6, "kill_idle_tls": 6}
    ),
    FactRule("a request was cancelled just before (asyncio)", _flag("cancelled"), {"async_cancel": 6}),
    FactRule("server: MySQL 8.0.24 or later (not MariaDB)", _mysql8, {"mysql8_inactivity": 6}),
    FactRule(
        "wait_timeout was raised and failures still come after quiet hours",
        _flag("raised_wait_timeout"),
        {"keepalive": 5},
    ),
    FactRule(
        "idle_transaction_timeout is set on the server",
        lambda f: bool(_num(f, "idle_transaction_timeout")),
        {"idle_transaction": 3},
    ),
    FactRule(
        "the statement was inside an open transaction",
        _flag("in_transaction"),
        {"idle_transaction": 3},
    ),
    FactRule(
        "the failing request wrote a large value",
        _flag("large_statement"),
        {"max_allowed_packet": 8},
    ),
    FactRule("results are streamed", _flag("streaming"), {"net_write_timeout": 3}),
    FactRule(
        "the app runs on Flask-SQLAlchemy",
        lambda f: f.get("framework") == "flask_sqlalchemy",
        {"flask_sqlalchemy": 6},
    ),
    FactRule(
        "the app runs on Flask with scoped_session",
        lambda f: f.get("framework") == "flask",
        {"flask_scoped_session": 4},
    ),
    FactRule("the app runs on FastAPI", lambda f: f.get("framework") == "fastapi", {"fastapi_session": 4}),
    FactRule("workers fork after the engine exists", _flag("forked"), {"fork": 4}),
    FactRule(
        "the CLI's timeout was taken for the application's",
        _flag("timeout_from_cli"),
        {"interactive_timeout": 8},
    ),
    FactRule(
        "server: connections aborted during the window",
        lambda f: (_num(f, "aborted_clients_delta") or 0) > 0,
        {"idle": 2, "long_work": 1, "keepalive": 1},
    ),
    FactRule(
        "server: pooled connections sleeping close to wait_timeout",
        lambda f: (_num(f, "sleeping_near_timeout") or 0) > 0,
        {"idle": 3, "recycle_margin": 1},
    ),
    FactRule(
        "server: restarted recently",
        lambda f: (_num(f, "uptime") or 1e9) < 600,
        {"restart": 5, "restart_tls": 3},
    ),
    FactRule(
        "server: a node of a Galera cluster",
        lambda f: (_num(f, "wsrep_cluster_size") or 0) > 0,
        {"node_loss": 3},
    ),
    FactRule("server: read-only", _flag("read_only"), {"writer_switchover": 4}),
    FactRule(
        "server: a cluster node outside the quorum, or not ready",
        lambda f: f.get("wsrep_cluster_status") not in (None, "Primary") or f.get("wsrep_ready") == "OFF",
        {"non_primary": 6},
    ),
    FactRule(
        "the statement failed after exactly the client's read_timeout",
        _flag("hit_read_timeout"),
        {"read_timeout": 5},
    ),
    FactRule(
        "server: requests waited without an answer",
        _flag("hung"),
        {"paused_server": 5, "lb_silent_drop": 3, "conntrack_drop": 4},
    ),
    FactRule(
        "requests hung while the server counted no aborted connection",
        lambda f: bool(f.get("hung")) and _num(f, "aborted_clients_delta") == 0,
        {"lb_silent_drop": 6, "conntrack_drop": 6},
    ),
    FactRule(
        "a load balancer, NAT gateway or firewall sits between the app and the server",
        _flag("network_device"),
        {"lb_silent_drop": 3, "lb_reset": 3},
    ),
    FactRule(
        "a stateful firewall or NAT gateway (conntrack) sits between the app and the server",
        lambda f: f.get("device") == "firewall",
        {"conntrack_drop": 4, "conntrack_reset": 4},
    ),
    FactRule(
        "HAProxy sits between the app and the server",
        lambda f: f.get("device") == "haproxy",
        {"haproxy_idle": 5, "haproxy_backend_down": 3},
    ),
    FactRule(
        "the load balancer marked the server down",
        _flag("server_marked_down"),
        {"haproxy_backend_down": 6},
    ),
    FactRule(
        "the connection was gone after a quiet period shorter than wait_timeout",
        _shorter_than_wait("idle_seconds"),
        {
            "lb_reset": 3,
            "conntrack_reset": 3,
            "lb_silent_drop": 2,
            "conntrack_drop": 1,
            "kill_idle": 1,
            "restart": 1,
        },
    ),
    FactRule("the error came from COMMIT", _flag("during_commit"), {"commit_in_doubt": 5}),
    FactRule(
        "the pool's checked-out count only grows",
        _flag("checked_out_grows"),
        {"pool_exhaustion": 5},
    ),
    FactRule(
        "the connection was killed",
        _flag("killed"),
        {"kill_idle": 3, "kill_mid_query": 3, "kill_idle_tls": 3},
    ),
)

CANDIDATE_COLUMNS = [
    "rank",
    "scenario",
    "score",
    "cause_class",
    "reproduced",
    "summary",
    "evidence",
    "fix",
    "notebook",
    "decide",
]
#: The class of each cause the runbook can name: the lab's scenarios are disconnects, but for
#: the one whose error is a follow-on (the pool's limit); the known causes say their own.
CAUSE_KINDS: dict[str, str] = {
    **{name: GONE for name in CAUSES},
    "pool_exhaustion": FOLLOW_ON,
    **{name: REFUSED for name in ("non_primary", "writer_switchover", "certification_conflict")},
    **{key: c.kind for key, c in KNOWN_CAUSES.items()},
}


def normalize_text(text: str | bytes | None) -> str:
    """Pasted input as text: bytes decoded leniently, control characters dropped, at most
    :data:`MAX_TEXT` characters (the end of a long log, where the newest lines are)."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) > MAX_TEXT:
        text = text[-MAX_TEXT:]
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", text)


@dataclass
class _Tally:
    score: float = 0.0
    evidence: list[str] = field(default_factory=list)


def read(text: str | bytes | None) -> Reading:
    """What ``text`` says before any cause: its class (the signature of the highest
    :data:`~helpers.runbook.taxonomy.PRECEDENCE` that matched), what that error is, the network
    facts its errnos state, and for each follow-on the first error to look for."""
    body = normalize_text(text)
    matched = [sig for sig in SIGNATURES if sig.kind and sig.matches(body)]
    facts = transport_facts(body)
    transport = [(t.fact, t.reason) for t in facts]
    follow = [(sig.label, sig.first) for sig in matched if sig.kind == FOLLOW_ON]
    if not matched:
        if facts:  # a socket error under the driver, with no code of its own
            first = min(facts, key=lambda t: PRECEDENCE.index(t.kind))
            what = (
                "no connection was made"
                if first.kind == CANNOT_CONNECT
                else "a socket error under the driver"
            )
            return Reading(first.kind, first.fact, what, transport, follow)
        return Reading(None, None, "", transport, follow)
    top = min(matched, key=lambda sig: PRECEDENCE.index(str(sig.kind)))
    return Reading(top.kind, top.label, top.what, transport, follow)


def classify(text: str | bytes | None = "", facts: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """:func:`rank` as a DataFrame, columns :data:`CANDIDATE_COLUMNS` (empty: nothing matched)."""
    import pandas as pd

    return pd.DataFrame(rank(text, facts), columns=CANDIDATE_COLUMNS)


def rank(text: str | bytes | None = "", facts: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rank the causes that ``text`` (and ``facts``) point to; one record per candidate
    (plain data: the CLI's quick path needs no pandas).

    ``facts`` holds what is known besides the text, by the names ``FACT_RULES``
    read: ``wait_timeout``, ``pool_recycle``, ``pool_pre_ping``,
    ``request_seconds``, ``idle_seconds``, ``large_statement``, ``framework`` (``flask``,
    ``flask_sqlalchemy``, ``fastapi``), ``streaming``, ``forked``, ``hung`` (requests
    waited without an answer), ``network_device`` (a load balancer, NAT or firewall sits
    between the app and the server), ``cluster`` (Galera or another cluster) and the server
    check's ``aborted_clients_delta``, ``sleeping_near_timeout``, ``uptime``.

    A candidate is a lab scenario (``reproduced``) or a cause the runbook knows that no
    scenario reproduces yet (:data:`~helpers.runbook.taxonomy.KNOWN_CAUSES`). Where the text
    is not a disconnect (a refusal, a statement-level error, a failed connect), the causes of
    its class rank first. Keys: rank, scenario, score, cause_class, reproduced, summary, evidence,
    fix, notebook, decide. Nothing matched: no record.
    """
    body = normalize_text(text)
    facts = facts or {}
    tally: dict[str, _Tally] = {}

    def add(name: str, weight: float, evidence: str) -> None:
        entry = tally.setdefault(name, _Tally())
        entry.score += weight
        entry.evidence.append(evidence)

    for sig in SIGNATURES:
        hits = sig.matches(body)
        if not hits:
            continue
        first = hits[0].group(0).strip()
        shown = first if len(first) <= 60 else first[:57] + "..."
        count = f" ×{len(hits)}" if len(hits) > 1 else ""
        for name, weight in sig.weights.items():
            add(name, weight, f"{sig.label}: “{shown}”{count}")
    for t in transport_facts(body):
        for name, weight in t.weights.items():
            add(name, weight, f"{t.fact}: {t.reason}")
    for rule in FACT_RULES:
        try:
            applies = rule.applies(facts)
        except (TypeError, ValueError):
            applies = False
        if applies:
            for name, weight in rule.weights.items():
                add(name, weight, rule.label)
    kind = read(body).kind
    order = [*CAUSES, *KNOWN_CAUSES]
    first_class = kind if kind in (REFUSED, NOT_DISCONNECT, CANNOT_CONNECT) else None
    ranked = sorted(
        ((name, entry) for name, entry in tally.items() if entry.score > 0),
        key=lambda item: (CAUSE_KINDS[item[0]] != first_class, -item[1].score, order.index(item[0])),
    )
    rows = []
    for rank, (name, entry) in enumerate(ranked, start=1):
        cause = CAUSES.get(name)
        known = KNOWN_CAUSES.get(name)
        rows.append(
            {
                "rank": rank,
                "scenario": name,
                "score": round(entry.score, 2),
                "cause_class": CAUSE_KINDS[name],
                "reproduced": cause is not None,
                "summary": cause.summary if cause else known.summary if known else "",
                "evidence": "; ".join(entry.evidence),
                "fix": cause.fix if cause else f"{known.fix} (source: {known.source})" if known else "",
                "notebook": cause.notebook if cause else "none yet: the lab does not reproduce this cause",
                "decide": cause.decide if cause else "",
            }
        )
    return rows
