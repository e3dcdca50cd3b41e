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
from typing import Any

import pandas as pd

from .causes import CAUSES
from .settings import RECYCLE_MARGIN

#: Pasted text beyond this many characters is not read (a 5 MB log is cut to its last part).
MAX_TEXT = 1_000_000


@dataclass(frozen=True)
class Signature:
    """One thing real systems print, and the causes it points to."""

    label: str
    pattern: str
    weights: Mapping[str, float]
    source: str = ""

    def compiled(self) -> re.Pattern[str]:
        return _compile(self.pattern)


@functools.cache
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


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
}
LOST_DURING_QUERY = {
    "restart": 3,
    "kill_idle": 2.5,
    "kill_mid_query": 2,
    "commit_in_doubt": 1.5,
    "read_timeout": 1.5,
    "net_write_timeout": 1.5,
    "paused_server": 1.5,
    "lb_silent_drop": 1.5,
    "fork": 0.5,
}

# fmt: off
SIGNATURES: tuple[Signature, ...] = (
    # -- the client codes, in every driver's wording --------------------------------------
    Signature("2006 server has gone away", r"\b2006\b\s*(?:,|\(HY000\)|:)|server has gone away", GONE_AWAY,
              "CR_SERVER_GONE_ERROR: PyMySQL, libmysqlclient ('MySQL server has gone away'); "
              "MariaDB Connector/C and Connector/Python ('Server has gone away')"),
    Signature("4031 disconnected for inactivity", r"\b4031\b|disconnected by the server because of inactivity",
              {"idle": 6, "long_work": 3, "keepalive": 2, "recycle_margin": 1.5},
              "MySQL 8.0.24+ ER_CLIENT_INTERACTION_TIMEOUT"),
    Signature("2013 lost connection during query",
              r"\b2013\b\s*(?:,|\(HY000\)|:)|Lost connection to (?:MySQL )?server during query", LOST_DURING_QUERY,
              "CR_SERVER_LOST: PyMySQL, libmysqlclient, Connector/C ('Lost connection to server during query')"),
    Signature("client timed out", r"\(timed out\)|(?<!connection )\btimed out\b|socket\.timeout|\bTimeoutError\(",
              {"read_timeout": 5, "paused_server": 3, "lb_silent_drop": 3},
              "PyMySQL appends the socket's '(timed out)'; mysql-connector-python 'timed out'"),
    Signature("async app's own timeout",
              r"(?m)(?:^|\s|\.)TimeoutError(?:\(\)|:)?\s*$|asyncio[/\\]timeouts\.py|\bwait_for\b",
              {"read_timeout": 4, "paused_server": 3, "lb_silent_drop": 3},
              "asyncio.timeout() or wait_for() around an await: aiomysql has no read timeout; "
              "the TimeoutError has no code and no text"),
    Signature("socket closed under a write or read",
              r"BrokenPipeError|Broken pipe|ConnectionAbortedError|WinError 1005[34]|ConnectionResetError"
              r"|Connection reset by peer",
              {"idle": 2, "lb_reset": 2, "long_work": 1, "restart": 1, "kill_idle": 0.5},
              "the OS error inside the driver's message: the server had closed the socket"),
    Signature("stream ended early", r"IncompleteReadError|0 bytes read on a total of",
              {"idle": 2, "restart": 2}, "asyncio drivers (aiomysql, asyncmy) on a closed socket"),
    Signature("the network stopped answering", r"Errno 110\]|ETIMEDOUT|Connection timed out(?!, timeout)",
              {"paused_server": 4, "lb_silent_drop": 3.5, "read_timeout": 1},
              "the kernel gave up retransmitting: peer unreachable (or a device forgot the flow)"),
    Signature("lost during connect", r"reading (?:initial|authorization) (?:communication )?packet",
              {"paused_server": 2.5, "restart": 2}, "CR_SERVER_LOST during the handshake"),
    Signature("2055 lost connection, system error",
              r"\b2055\b|Lost connection to (?:MySQL )?server at '[^']*', system error",
              {"idle": 2.5, "restart": 2, "kill_idle": 1.5, "long_work": 1.5},
              "CR_SERVER_LOST_EXTENDED: mysql-connector-python on a closed socket"),
    Signature("connection not available", r"MySQL Connection not available|Connection is not available",
              {"idle": 2, "restart": 1.5, "kill_idle": 1}, "mysql-connector-python OperationalError"),
    Signature("2003 cannot connect", r"\b2003\b\s*(?:,|\(HY000\)|:)|Can't connect to (?:MySQL )?server",
              {"restart": 3, "paused_server": 1.5}, "CR_CONN_HOST_ERROR: the server is down or restarting"),
    Signature("2014 commands out of sync", r"\b2014\b\s*(?:,|\(HY000\)|:)|Commands? out of sync",
              {"fork": 6}, "CR_COMMANDS_OUT_OF_SYNC: two users of one connection"),
    Signature("packet sequence number wrong", r"Packet sequence number wrong", {"fork": 6},
              "PyMySQL InternalError when two processes read one socket"),
    Signature("garbled reply, mysql-connector-python",
              r"Unread result found|Failed parsing column information|bytearray index out of range"
              r"|invalid literal for int\(\) with base",
              {"fork": 5, "read_timeout": 1.5},
              "mysql-connector-python when two processes read one socket, or on a connection its "
              "own read timeout closed"),
    Signature("result closed under the reader", r"ResourceClosedError|This result object does not return rows",
              {"fork": 3}, "SQLAlchemy, when another process consumed the result"),
    Signature("interface error on a closed connection", r"InterfaceError\W+\(0, ''\)|\bAlready closed\b",
              {"idle": 2, "fork": 1.5, "flask_scoped_session": 1},
              "PyMySQL on a connection it closed after an earlier error"),
    Signature("1153 packet too large",
              r"\b(?:1153|2020)\b\s*(?:,|\(\w+\)|:)|packet bigger than .?max_allowed_packet",
              {"max_allowed_packet": 8}, "ER_NET_PACKET_TOO_LARGE (server), CR_NET_PACKET_TOO_LARGE (client)"),
    Signature("a large value in the statement", r"characters truncated\)|\[parameters: [^\n]{3000}",
              {"max_allowed_packet": 7}, "SQLAlchemy truncates long parameters in its message"),
    Signature("1927 connection was killed", r"\b1927\b\s*(?:,|\(\w+\)|:)|Connection was killed",
              {"kill_idle": 3, "kill_mid_query": 3, "idle_transaction": 1.5}, "MariaDB ER_CONNECTION_KILLED"),
    Signature("1317 query interrupted", r"\b1317\b\s*(?:,|\(\w+\)|:)|Query execution was interrupted",
              {"kill_mid_query": 6}, "ER_QUERY_INTERRUPTED: KILL QUERY or max_statement_time"),
    Signature("1040 too many connections", r"\b1040\b\s*(?:,|\(\w+\)|:)|Too many connections",
              {"pool_exhaustion": 3}, "ER_CON_COUNT_ERROR: pools × workers above max_connections"),
    # -- SQLAlchemy ---------------------------------------------------------------------------
    Signature("Session needs a rollback",
              r"PendingRollbackError|Can't reconnect until invalid (?:savepoint )?transaction is rolled back"
              r"|transaction has been rolled back due to a previous exception",
              {"flask_scoped_session": 3.5, "fastapi_session": 3, "idle_transaction": 2.5}, "SQLAlchemy 1.4 / 2.x"),
    Signature("pool exhausted", r"QueuePool limit of size \d+ overflow -?\d+ reached", {"pool_exhaustion": 8},
              "SQLAlchemy TimeoutError"),
    Signature("error during COMMIT", r"\[SQL: COMMIT\]|\bdo_commit\b|\.commit\(\)|, in commit\b",
              {"commit_in_doubt": 3}, "traceback through commit()"),
    Signature("streamed result", r"SSCursor|SSDictCursor|stream_results|yield_per|server_side_cursors",
              {"net_write_timeout": 3}, "an unbuffered cursor in the traceback"),
    # -- the server's error log ---------------------------------------------------------------
    Signature("server log: timeout reading", r"Got timeout reading communication packets",
              {"idle": 4, "long_work": 3, "keepalive": 2, "recycle_margin": 1.5, "idle_transaction": 1},
              "MariaDB/MySQL 'Aborted connection' line: wait_timeout passed"),
    Signature("server log: error reading", r"Got an error reading communication packets",
              {"read_timeout": 2, "fork": 2, "commit_in_doubt": 1.5, "paused_server": 1.5},
              "'Aborted connection' line: the client went away without COM_QUIT"),
    Signature("server log: writing", r"Got (?:an error|timeout) writing communication packets",
              {"net_write_timeout": 5}, "'Aborted connection' line: net_write_timeout passed"),
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
              {"fork": 1}, "frames or process names of prefork servers"),
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
    FactRule("the pool was quiet longer than wait_timeout", _longer_than_wait("idle_seconds"), {"idle": 3}),
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
    FactRule("server: restarted recently", lambda f: (_num(f, "uptime") or 1e9) < 600, {"restart": 5}),
    FactRule(
        "the statement failed after exactly the client's read_timeout",
        _flag("hit_read_timeout"),
        {"read_timeout": 5},
    ),
    FactRule(
        "server: requests waited without an answer",
        _flag("hung"),
        {"paused_server": 5, "lb_silent_drop": 3},
    ),
    FactRule(
        "requests hung while the server counted no aborted connection",
        lambda f: bool(f.get("hung")) and _num(f, "aborted_clients_delta") == 0,
        {"lb_silent_drop": 6},
    ),
    FactRule(
        "a load balancer, NAT gateway or firewall sits between the app and the server",
        _flag("network_device"),
        {"lb_silent_drop": 3, "lb_reset": 3},
    ),
    FactRule(
        "the connection was gone after a quiet period shorter than wait_timeout",
        _shorter_than_wait("idle_seconds"),
        {"lb_reset": 3, "lb_silent_drop": 2, "kill_idle": 1, "restart": 1},
    ),
    FactRule("the error came from COMMIT", _flag("during_commit"), {"commit_in_doubt": 5}),
    FactRule(
        "the pool's checked-out count only grows",
        _flag("checked_out_grows"),
        {"pool_exhaustion": 5},
    ),
    FactRule("the connection was killed", _flag("killed"), {"kill_idle": 3, "kill_mid_query": 3}),
)

CANDIDATE_COLUMNS = ["rank", "scenario", "score", "summary", "evidence", "fix", "notebook", "decide"]


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


def classify(text: str | bytes | None = "", facts: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Rank the causes that ``text`` (and ``facts``) point to; one row per candidate.

    ``facts`` holds what is known besides the text, by the names ``FACT_RULES``
    read: ``wait_timeout``, ``pool_recycle``, ``pool_pre_ping``,
    ``request_seconds``, ``idle_seconds``, ``large_statement``, ``framework`` (``flask``,
    ``flask_sqlalchemy``, ``fastapi``), ``streaming``, ``forked``, ``hung`` (requests
    waited without an answer), ``network_device`` (a load balancer, NAT or firewall sits
    between the app and the server) and the server check's ``aborted_clients_delta``,
    ``sleeping_near_timeout``, ``uptime``.
    Columns: rank, scenario, score, summary, evidence, fix, notebook, decide.
    Nothing matched: an empty frame.
    """
    body = normalize_text(text)
    facts = facts or {}
    tally: dict[str, _Tally] = {}
    for sig in SIGNATURES:
        hits = list(sig.compiled().finditer(body))
        if not hits:
            continue
        first = hits[0].group(0).strip()
        shown = first if len(first) <= 60 else first[:57] + "..."
        count = f" ×{len(hits)}" if len(hits) > 1 else ""
        for name, weight in sig.weights.items():
            entry = tally.setdefault(name, _Tally())
            entry.score += weight
            entry.evidence.append(f"{sig.label}: “{shown}”{count}")
    for rule in FACT_RULES:
        try:
            applies = rule.applies(facts)
        except (TypeError, ValueError):
            applies = False
        if applies:
            for name, weight in rule.weights.items():
                entry = tally.setdefault(name, _Tally())
                entry.score += weight
                entry.evidence.append(rule.label)
    order = list(CAUSES)
    ranked = sorted(tally.items(), key=lambda item: (-item[1].score, order.index(item[0])))
    rows = []
    for rank, (name, entry) in enumerate(ranked, start=1):
        cause = CAUSES[name]
        rows.append(
            {
                "rank": rank,
                "scenario": name,
                "score": round(entry.score, 2),
                "summary": cause.summary,
                "evidence": "; ".join(entry.evidence),
                "fix": cause.fix,
                "notebook": cause.notebook,
                "decide": cause.decide,
            }
        )
    return pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)
