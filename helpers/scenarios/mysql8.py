"""MySQL 8.0.24+'s goodbye at ``wait_timeout``, replayed in front of MariaDB.

``mysql8_inactivity``: MySQL 8.0.24 and later send an ERR packet before closing a connection idle
past ``wait_timeout``: ``4031 The client was disconnected by the server because of inactivity``,
numbered 0 (:data:`helpers.faultproxy.MYSQL8_INACTIVITY`). MariaDB closes without a word, and no
MySQL 8 can be installed here, so the lab's fault proxy sends those exact bytes to a flow idle for
:data:`LIMIT` seconds and closes it, in front of the real MariaDB: *MySQL 8's bytes replayed in
front of MariaDB*. What reaches SQLAlchemy depends on how each driver reads a packet numbered 0
where it expects 1: PyMySQL's and aiomysql's ``_read_packet`` turn it into 2013 "Lost connection";
mysqlclient and MariaDB Connector/Python report the 4031; asyncmy sees the closed stream first
(2006), and mysql-connector-python's write fails first (2055). Whether SQLAlchemy then
invalidates depends on the dialect's list: mysql-connector-python's does not list 4031.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..faultproxy import ER_CLIENT_INTERACTION_TIMEOUT, FaultProxy
from ..lab import Lab
from ..progress import wait
from .common import HARDENED, PRE_PING
from .fixes import NO_FIX, Fix
from .registry import Place, scenario
from .trial import Trial, each

#: Seconds of idle after which the replayed MySQL 8 closes a flow (its ``wait_timeout`` here).
LIMIT = 1.0
#: 4031 counted as a disconnect: SQLAlchemy's ``handle_error`` listener, for the dialect that lacks it.
AS_DISCONNECT = Fix(
    "4031 as a disconnect (handle_error)",
    prevents=False,
    disconnect_codes=frozenset({ER_CLIENT_INTERACTION_TIMEOUT}),
)


@contextmanager
def _replayed(lab: Lab, timings: dict[str, float]) -> Iterator[Place]:
    b = lab.backend
    with FaultProxy(b.host, b.port) as proxy:
        proxy.farewell_after_idle(timings["wait_timeout"])
        yield Place(lab, device=proxy)


@scenario(
    "mysql8_inactivity",
    "MySQL 8's 4031 inactivity error, replayed in front of MariaDB: what reaches SQLAlchemy",
    fixes=[NO_FIX, AS_DISCONNECT, PRE_PING, HARDENED],
    codes=frozenset({2006, 2013, ER_CLIENT_INTERACTION_TIMEOUT}),
    timings={"wait_timeout": LIMIT, "idle": LIMIT + 0.5},
    place=_replayed,
)
def mysql8_inactivity(lab: Lab, trials: list[Trial], place: Place, wait_timeout: float, idle: float) -> None:
    proxy: FaultProxy = place.device
    for trial in trials:
        trial.route_via(proxy.port)
    each(trials, "first query")
    wait(idle, f"idle {idle:g}s: the replayed MySQL 8 says goodbye at {wait_timeout:g}s")
    each(trials, "after idle")
    each(trials, "next checkout")
    # one idle connection per trial: the goodbyes the proxy sent, against those it should have
    place.views.append(
        {"view": "device", "farewells_sent": proxy.counts["farewell"], "idle_flows": len(trials)}
    )
