"""The idle timeout, a restart and a KILL, over TLS: what each driver says when the peer's close
arrives through a TLS session (:mod:`helpers.tls`).

``idle_tls``, ``restart_tls`` and ``kill_idle_tls`` are ``idle``, ``restart`` and ``kill_idle``
run against a private TLS server (``require_secure_transport`` on: every trial's connection is a
TLS one, or it could not connect). Over TLS a closed socket is read by OpenSSL first: a driver
may report ``unexpected eof while reading``, or ``2026 SSL connection error``, where the plain
connection said 2006 or 2013 (measured here: Python's ``ssl`` says "EOF occurred in violation of
protocol" inside PyMySQL's 2006 and mysql-connector-python's 2055; MariaDB Connector/C's ping
says 2026 "shutdown while in init"). Which it is, per driver, is what the rows record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from .. import tls
from ..backends.local import no_server_binaries
from ..lab import Lab
from .common import HARDENED, PRE_PING
from .fixes import NO_FIX, Fix
from .idle import idle, restart
from .registry import Place, Scenario, scenario
from .server_side import kill_idle
from .trial import Trial


def unavailable() -> str | None:
    """Why this machine cannot run the TLS server (it is a local ``mariadbd``), or None."""
    return no_server_binaries("the TLS scenarios' server (a local mariadbd)")


#: 2026 ``CR_SSL_CONNECTION_ERROR``: how mysqlclient and MariaDB Connector/Python (both on MariaDB
#: Connector/C) fail ``pool_pre_ping``'s ping of a TLS connection the server closed by a KILL or a
#: restart ("TLS/SSL error: shutdown while in init"). SQLAlchemy's MySQL dialect does not list it,
#: so the ping's error reaches the application instead of a reconnect.
CR_SSL_CONNECTION_ERROR = 2026
#: The drivers whose ping says 2026 there (measured; after ``idle_tls``'s timeout their ping says 2006).
PING_SAYS_2026 = ("mysqldb", "mariadbconnector")
#: ``pool_pre_ping`` against a closed TLS connection: its own name, since it holds with four drivers only.
PRE_PING_TLS = dataclasses.replace(
    PRE_PING, name="pool_pre_ping (over TLS)", prevents_for=dict.fromkeys(PING_SAYS_2026, False)
)
#: The workaround: 2026 counted as a disconnect by a ``handle_error`` listener (it sees pre-pings too).
PRE_PING_2026 = Fix(
    "pool_pre_ping + 2026 as a disconnect (handle_error)",
    PRE_PING.options,
    disconnect_codes=frozenset({CR_SSL_CONNECTION_ERROR}),
)


@contextmanager
def _tls_place(lab: Lab, timings: dict[str, float]) -> Iterator[Place]:
    """A private TLS server for one scenario (about 1 s from its data directory), stopped after,
    or the one :func:`~helpers.tls.kept` holds up for the TLS scenarios of a ``run_all``.
    Its view: the server's TLS settings, and the TLS version and cipher of a connection to it."""
    with tls.tls_lab(lab.backend.config) as inner:
        names = "('have_ssl', 'require_secure_transport', 'version')"
        server = inner.sql(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN {names}")
        session = inner.sql("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
        facts = dict(zip(server["Variable_name"], server["Value"], strict=True))
        facts.update(zip(session["Variable_name"], session["Value"], strict=True))
        place = Place(inner)
        place.views.append({"view": "server", **facts})
        yield place


def _one_tls_server(lab: Lab) -> AbstractContextManager[object]:
    """What the TLS scenarios share in a ``run_all``: one TLS server (one function, so that
    ``run_all`` sees the same share)."""
    return tls.kept(lab.backend.config)


def _over_tls(plain: Scenario, title: str, fixes: list[Fix]) -> Scenario:
    """Register ``plain``'s body and timings, with ``fixes``, against the TLS server."""

    def body(lab: Lab, trials: list[Trial], place: Place, **chosen: float) -> None:
        plain.body(lab, trials, **chosen)

    body.__module__ = __name__  # the registry orders scenarios by their body's module
    return scenario(
        f"{plain.name}_tls",
        title,
        fixes=fixes,
        codes=plain.codes | {CR_SSL_CONNECTION_ERROR},
        timings=plain.timings,
        not_for=plain.not_for,
        place=_tls_place,
        needs=unavailable,
        shares=_one_tls_server,
    )(body)


IDLE_TLS = _over_tls(
    idle, "idle over TLS: the server's wait_timeout close, read through OpenSSL", list(idle.fixes)
)
#: After a KILL or a restart, ``pool_pre_ping`` does not hold with two drivers: the workaround beside it.
CLOSED_FIXES = [NO_FIX, PRE_PING_TLS, PRE_PING_2026, HARDENED]
RESTART_TLS = _over_tls(restart, "restart over TLS: every pooled TLS connection is dead", CLOSED_FIXES)
KILL_IDLE_TLS = _over_tls(kill_idle, "KILL over TLS, while the connection sits in the pool", CLOSED_FIXES)
