"""What kind of error a text is, before which cause: one taxonomy, written once.

Four classes, and the follow-on errors that come after one of them:

==================  ==========================================================================
``gone``            the connection is gone or unusable: 2006, 2013 during a query, 2055, 4031,
                    1927, a protocol out of step (2014, "Packet sequence number wrong")
``refused``         a live connection refused the statement: the node is not ready (1047
                    WSREP), read-only (1290), a certification conflict (1213 with WSREP)
``not_disconnect``  a statement-level error on a live connection: a time limit (MariaDB's
                    1969, the server's 3024), ``KILL QUERY`` (1317), a lock wait (1205), a
                    deadlock (1213)
``cannot_connect``  no connection was made: 1040, 1129, 1045, 2003, 2002, a 2013 during the
                    handshake, a TLS handshake that failed (2026)
``follow_on``       raised because of an earlier error: ``PendingRollbackError``, the
                    QueuePool limit, the async garbage collector's warning, "Exception during
                    reset"; the doctor names the first error to look for
==================  ==========================================================================

The signatures of :mod:`~helpers.runbook.classify` carry each code's class; ``TRANSPORT`` reads the errno
inside a text (Linux and Windows numbers, in any language) as a fact about the network;
``KNOWN_CAUSES`` are causes the runbook recognises but the lab does not reproduce (yet),
each with its fix from a primary source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

GONE, REFUSED, NOT_DISCONNECT, CANNOT_CONNECT, FOLLOW_ON = (
    "gone",
    "refused",
    "not_disconnect",
    "cannot_connect",
    "follow_on",
)
#: Where a text holds errors of several classes, the first of these wins: a 2003 that wraps a
#: 2013 is a failed connect, a 1290 behind a 2006 a refusal, a follow-on names its first error.
PRECEDENCE = (CANNOT_CONNECT, REFUSED, NOT_DISCONNECT, GONE, FOLLOW_ON)
MEANING = {
    GONE: "the connection is gone: a disconnect ('gone away')",
    REFUSED: "a live connection refused the statement: not 'gone away'; the node or its role changed",
    NOT_DISCONNECT: "a statement-level error on a live connection: not 'gone away'; do not reconnect",
    CANNOT_CONNECT: "no connection could be made: not 'gone away'; the server, the network or the login",
    FOLLOW_ON: "an error that follows an earlier one: look for the first error",
}


@dataclass(frozen=True)
class Transport:
    """An errno inside an error text, the network fact it states, and the causes it supports."""

    fact: str
    numbers: tuple[int, ...]
    reason: str
    weights: Mapping[str, float]
    #: wordings of the same errno where a text carries no number (localized Windows messages)
    words: tuple[str, ...] = ()
    #: the class of a text that shows nothing but this errno
    kind: str = GONE
    #: a wording that means another error printed the same words (SQLAlchemy's pool timeout)
    unless: str = ""


TRANSPORT: tuple[Transport, ...] = (
    Transport(
        "ECONNRESET",
        (104, 10054),
        "the peer reset the connection: a server that closed it (idle, killed, restarted) or a "
        "device that forgot the flow and answered with a reset",
        {"idle": 1.5, "lb_reset": 2.5, "conntrack_reset": 2.5, "kill_idle": 1, "restart": 1},
        (
            "forcibly closed by the remote host",
            "强迫关闭了一个现有的连接",
            "interrotta forzatamente dall'host remoto",
            "vom Remotehost geschlossen",
            "Connection reset by peer",
            "ConnectionResetError",
        ),
    ),
    Transport(
        "ETIMEDOUT",
        (110, 10060),
        "the peer never answered: the kernel gave up retransmitting (a silent drop by a "
        "firewall or NAT, or a dead host), not a restart, which answers with a close or a reset",
        {"conntrack_drop": 5, "lb_silent_drop": 4.5, "paused_server": 2},
        (
            "Connection timed out",
            "没有正确答复或连接的主机没有反应",
            "did not properly respond after a period",
        ),
        unless=r"QueuePool limit",
    ),
    Transport(
        "EPIPE",
        (32,),
        "the connection was already closed when the client wrote: the server (or a device) closed "
        "it while it sat idle",
        {"idle": 2, "long_work": 1, "lb_reset": 1},
        ("Broken pipe", "BrokenPipeError"),
    ),
    Transport(
        "ECONNABORTED",
        (103, 10053),
        "the local stack aborted the connection (on Windows, often after the peer's reset)",
        {"idle": 1.5, "lb_reset": 1.5},
        (
            "An established connection was aborted by the software in your host machine",
            "ConnectionAbortedError",
        ),
    ),
    Transport(
        "ECONNREFUSED",
        (111, 10061),
        "nothing listens at the address: the server is down or restarting, or the port is wrong",
        {"cannot_connect": 3, "restart": 2},
        ("actively refused", "积极拒绝"),
        kind=CANNOT_CONNECT,
    ),
    Transport(
        "EHOSTUNREACH",
        (113, 10065),
        "no route to the host: a network or a host that is down",
        {"cannot_connect": 3, "lb_silent_drop": 1},
        ("No route to host",),
        kind=CANNOT_CONNECT,
    ),
)

#: An errno as drivers and OSes print it: [Errno 110], (104, 'Connection ...'), error(10054, ...),
#: [WinError 10054], system error: 110, errno 113, Can't connect ... (111).
_ERRNO = re.compile(
    r"\[(?:Errno|WinError)\s+(\d+)\]|\b(?:\w*Error|error)\((\d+),|\((\d+),\s*['\"]"
    r"|system error:\s*(\d+)|\berrno[ =:]+(\d+)|server on '[^']*' \((\d+)\)|\((\d+)\s+[^\d\s)][^)]*\)\s*['\"]?\)?$",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class KnownCause:
    """A cause the runbook recognises that no lab scenario reproduces (yet)."""

    key: str
    kind: str
    summary: str
    fix: str
    source: str


# fmt: off
KNOWN_CAUSES: dict[str, KnownCause] = {c.key: c for c in (
    KnownCause("max_statement_time", NOT_DISCONNECT,
               "MariaDB's max_statement_time ended the statement (1969); the connection is alive",
               "make the query faster, or raise the limit for that statement "
               "(SET STATEMENT max_statement_time=N FOR ...); a retry on a new connection will not help",
               "MariaDB KB: Aborting Statements that Exceed a Certain Time to Execute"),
    KnownCause("max_execution_time", NOT_DISCONNECT,
               "MySQL's max_execution_time ended a SELECT (3024 from the server); the connection is alive",
               "raise max_execution_time for the session or use the MAX_EXECUTION_TIME() hint; "
               "the connection stays usable",
               "MySQL Reference Manual: max_execution_time"),
    KnownCause("kill_query", NOT_DISCONNECT,
               "KILL QUERY stopped the statement (1317); the connection is alive",
               "find what kills queries (a DBA, pt-kill, a proxy's query rules); retry reads only",
               "MariaDB KB: KILL"),
    KnownCause("lock_wait_timeout", NOT_DISCONNECT,
               "a row lock was held longer than innodb_lock_wait_timeout (1205)",
               "find the transaction holding the lock (information_schema.innodb_trx); keep transactions short; "
               "retry the transaction",
               "MariaDB KB: innodb_lock_wait_timeout"),
    KnownCause("deadlock", NOT_DISCONNECT,
               "InnoDB rolled the transaction back as a deadlock victim (1213)",
               "retry the whole transaction; take locks in one order",
               "MySQL Reference Manual: Deadlocks in InnoDB"),
    KnownCause("proxy_no_backend", REFUSED,
               "the proxy in front found no usable server (ProxySQL 9001)",
               "check the proxy's view of its backends (ProxySQL's stats_mysql_connection_pool)",
               "ProxySQL docs: mysql-connect_timeout_server_max"),
    KnownCause("too_many_connections", CANNOT_CONNECT,
               "the server is at max_connections (1040)",
               "pools × workers must stay below max_connections; close Sessions; lower pool_size",
               "MariaDB KB: max_connections"),
    KnownCause("host_blocked", CANNOT_CONNECT,
               "the server blocks the client's host after max_connect_errors failed handshakes (1129)",
               "mariadb-admin flush-hosts (mysqladmin flush-hosts); find what opens and abandons connections "
               "(health checks that only open a TCP connection)",
               "MariaDB KB: max_connect_errors"),
    KnownCause("access_denied", CANNOT_CONNECT, "the login was refused (1045)",
               "check the user, host and password the app uses", "MariaDB KB: Error 1045"),
    KnownCause("cannot_connect", CANNOT_CONNECT,
               "nothing answered at the address, or the handshake was cut (2003, 2002, 2013 at connect)",
               "is the server up and reachable from the app (its port, a firewall, a proxy at its limit)?",
               "MariaDB KB: Error 2003"),
    KnownCause("tls", CANNOT_CONNECT,
               "the TLS handshake failed (2026 at connect): certificates, versions or ssl settings do not match",
               "match ssl settings on both sides (the CA the client trusts, the server's certificate, "
               "require_secure_transport); a TLS error on an open connection is a close: see idle_tls",
               "MariaDB KB: Secure Connections Overview"),
)}
# fmt: on


@dataclass
class Reading:
    """What an error text says before any cause: its class, the error that decided it, the
    network facts its errnos state, the follow-ons it holds and the first error to look for."""

    kind: str | None
    decided_by: str | None
    what: str
    transport: list[tuple[str, str]] = field(default_factory=list)
    follow_ons: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_disconnect(self) -> bool:
        return self.kind == GONE

    def line(self) -> str:
        """One line for the on-call engineer."""
        if self.kind is None:
            return "No known MySQL or MariaDB error in the text."
        out = f"Class: {self.kind} ({MEANING[self.kind]}). Decided by {self.decided_by}: {self.what}."
        for fact, reason in self.transport:
            out += f" {fact}: {reason}."
        for label, first in self.follow_ons:
            out += f" {label} is a follow-on: look for {first}."
        return out


def errnos(text: str) -> list[int]:
    """Every errno the text prints, in order."""
    return [int(next(g for g in m.groups() if g)) for m in _ERRNO.finditer(text)]


def transport_facts(text: str) -> list[Transport]:
    """The network facts the text's errnos (or their localized wordings) state."""
    numbers = set(errnos(text))
    lowered = text.lower()
    return [
        t
        for t in TRANSPORT
        if (numbers & set(t.numbers) or any(w.lower() in lowered for w in t.words))
        and not (t.unless and re.search(t.unless, text, re.IGNORECASE))
    ]
