"""A replicated cluster's failovers, for real: three Galera nodes behind HAProxy (:mod:`helpers.cluster`).

The pool connects through HAProxy's writer listener to node 1, and keeps its connection there
whatever happens to node 1:

- ``node_loss``: node 1 is killed. The query in flight gets 2013 and the pooled connections are
  dead; a check at checkout (``pool_pre_ping``, the hardened pool) finds that out, and the new
  connection goes through HAProxy to node 2. Nothing saves the query in flight.
- ``non_primary``: node 1 loses the quorum (cut off from the others). Its socket is alive and
  ``SELECT 1`` answers, but every statement on a table gets ``1047 WSREP has not yet prepared
  node for application use``, which SQLAlchemy does not count as a disconnect. Where HAProxy
  checks only that the port accepts (a TCP check), every new connection lands on node 1 too,
  and every request fails; a check by node state takes it out.
- ``writer_switchover``: node 1 is demoted (``read_only=1``); HAProxy sends new connections to
  node 2, and the pool's old one stays on node 1: ``1290 ... --read-only option`` on every
  write, while ``pool_pre_ping`` passes.
- ``certification_conflict``: two writers on two nodes update the same row; the second to
  commit gets ``1213 Deadlock found`` at COMMIT. Nothing was committed, so retrying the whole
  transaction is safe (unlike lesson 11's lost COMMIT, whose outcome is unknown).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
from sqlalchemy import text
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_fixed

from goneaway_pool.failover import CLUSTER_DISCONNECTS, is_conflict

from ..cluster import WRITER, WRITER_SHUTDOWN, WRITER_TCP, Cluster, Node, unavailable
from ..lab import Lab
from ..progress import wait, wait_until
from .common import HARDENED, PRE_PING, RECYCLE_BELOW, does_not_prevent
from .fixes import NO_FIX, Fix
from .registry import Place, scenario
from .trial import EVENTS, Trial, each, ensure_events_table

#: Each trial's requests after the failover: enough to tell "one failed" from "every one fails".
REQUESTS = 3
#: What a request reads, and what it writes (a table: ``SELECT 1`` answers even on a node outside the quorum).
READ = f"SELECT COUNT(*) FROM {EVENTS}"
WRITE = f"INSERT INTO {EVENTS} (v) VALUES (1)"
#: 1047, 1290 and 1836 counted as a disconnect: one listener for both failovers.
AS_DISCONNECT = Fix(
    "1047/1290/1836 as a disconnect (handle_error)", prevents=False, disconnect_codes=CLUSTER_DISCONNECTS
)


@contextmanager
def _cluster_place(lab: Lab, timings: dict[str, float]) -> Iterator[Place]:
    """A cluster for one scenario (from the data directories of the last: about 4 s), and a lab
    on node 1 for its trials and the accounts."""
    with Cluster.start(lab.backend.config) as cluster:
        inner = cluster.lab(1)
        try:
            ensure_events_table(inner)
            yield Place(inner, device=cluster)
        finally:
            inner.close()


def _route(cluster: Cluster, trials: list[Trial]) -> None:
    """Each trial through its fix's listener: HAProxy's setting is part of the fix."""
    for trial in trials:
        if trial.fix in PORT_CHECK_FIXES:
            listener = WRITER_TCP
        elif trial.fix is SHUTDOWN:
            listener = WRITER_SHUTDOWN
        else:
            listener = WRITER  # checked by node state
        trial.route_via(cluster.port(listener))


def _node_view(cluster: Cluster, number: int, **extra: Any) -> dict[str, Any]:
    state = cluster.node(number).state()
    keep = ("running", "wsrep_cluster_size", "wsrep_cluster_status", "wsrep_local_state_comment")
    facts = {key: state.get(key) for key in (*keep, "wsrep_ready", "read_only")}
    return {"view": "cluster", "node": state["node"], **facts, **extra}


# -- node_loss ------------------------------------------------------------------------------

IN_FLIGHT = Fix("pool_pre_ping, a query in flight", PRE_PING.options, prevents=False)


@scenario(
    "node_loss",
    "The node under the pool is killed: the query in flight is lost, the pooled connections are dead",
    fixes=[NO_FIX, IN_FLIGHT, PRE_PING, HARDENED],
    place=_cluster_place,
    needs=unavailable,
)
def node_loss(lab: Lab, trials: list[Trial], place: Place) -> None:
    cluster: Cluster = place.device
    _route(cluster, trials)
    each(trials, "first query (on node1)")
    flying = [trial for trial in trials if trial.fix is IN_FLIGHT]
    step = ("query in flight (SELECT SLEEP(30))", "SELECT SLEEP(30)")
    threads = [threading.Thread(target=t.query, args=step, daemon=True) for t in flying]
    for thread in threads:
        thread.start()
    node1 = cluster.node(1)
    wait_until(lambda: _sleeping(node1.sql) >= len(flying), 10, "the queries in flight reaching node1")
    node1.kill()
    for thread in threads:
        thread.join(timeout=10)
    assert cluster.proxy is not None
    seconds = cluster.proxy.wait_status(WRITER, "node1", "DOWN")
    each(trials, "next request (HAProxy sends it to node2)")
    each(trials, "another request")
    noticed = cluster.wait_state(2, lambda s: s.get("wsrep_cluster_size") == 2, "the others dropping node1")
    place.views.append(_node_view(cluster, 2, seconds_to_mark_down=seconds, seconds_to_cluster_of_2=noticed))


def _sleeping(sql: Any) -> int:
    rows = sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(30)%'")
    return int(rows[0][0])


# -- non_primary and writer_switchover --------------------------------------------------------

#: The trials on the writer listener whose check only opens the port (HAProxy's setting is the fix) ...
PORT_CHECK_FIXES = [
    Fix("none (HAProxy checks the port only)", prevents=False),
    Fix("pool_pre_ping (HAProxy checks the port only)", PRE_PING.options, prevents=False),
]
#: ... the one on the listener with ``on-marked-down shutdown-sessions``; the others on the writer.
SHUTDOWN = Fix("state check + shutdown-sessions + pool_pre_ping", PRE_PING.options)
NON_PRIMARY_FIXES = [
    *PORT_CHECK_FIXES,
    Fix("none (HAProxy checks node state)", prevents=False),
    AS_DISCONNECT,
    SHUTDOWN,
    RECYCLE_BELOW,
]


def _isolate(cluster: Cluster) -> None:
    cluster.node(1).isolate()
    cluster.wait_state(1, lambda s: s.get("wsrep_cluster_status") == "non-Primary", "node1 non-Primary")


def _demote(cluster: Cluster) -> None:
    cluster.node(1).demote()


def _failover(
    cluster: Cluster, trials: list[Trial], place: Place, sql: str, fault: Callable[[Cluster], None]
) -> None:
    """The common body: a first request on node 1, ``fault`` to node 1, HAProxy's reaction,
    then :data:`REQUESTS` requests from each trial (once the connections are older than the
    longest ``pool_recycle`` of the trials' fixes)."""
    _route(cluster, trials)
    each(trials, "first request (on node1)", sql)
    made = time.monotonic()  # the connections' age, and the fault's moment
    fault(cluster)
    recycle = max(float(t.fix.options.get("pool_recycle", 0)) for t in trials)
    assert cluster.proxy is not None
    for name in (WRITER, WRITER_SHUTDOWN):
        cluster.proxy.wait_status(name, "node1", "DOWN")
    marked_down = round(time.monotonic() - made, 2)  # from the fault to both listeners
    tcp_status = cluster.proxy.status(WRITER_TCP, "node1")
    wait(max(0.0, recycle + 0.3 - (time.monotonic() - made)), "past pool_recycle")
    for number in range(1, REQUESTS + 1):
        each(trials, f"request {number}", sql)
    place.views.append(_node_view(cluster, 1, seconds_to_mark_down=marked_down, port_check_status=tcp_status))


@scenario(
    "non_primary",
    "The pool's node loses the quorum: 1047 on a live socket, which SQLAlchemy does not invalidate",
    fixes=NON_PRIMARY_FIXES,
    codes=frozenset({1047}),
    place=_cluster_place,
    needs=unavailable,
)
def non_primary(lab: Lab, trials: list[Trial], place: Place) -> None:
    _failover(place.device, trials, place, READ, _isolate)


SWITCHOVER_FIXES = [
    NO_FIX,
    does_not_prevent(PRE_PING),
    AS_DISCONNECT,
    SHUTDOWN,
    RECYCLE_BELOW,
]


@scenario(
    "writer_switchover",
    "The writer is demoted (read_only): the pool's old connection gets 1290 on every write, pre-ping passes",
    fixes=SWITCHOVER_FIXES,
    codes=frozenset({1290}),
    place=_cluster_place,
    needs=unavailable,
)
def writer_switchover(lab: Lab, trials: list[Trial], place: Place) -> None:
    _failover(place.device, trials, place, WRITE, _demote)


# -- certification_conflict -------------------------------------------------------------------

#: The retry of the whole transaction: tenacity, on a conflict (1213) only, three attempts.
retrying = retry(
    retry=retry_if_exception(is_conflict), stop=stop_after_attempt(3), wait=wait_fixed(0.05), reraise=True
)


RETRY = Fix("retry the whole transaction (tenacity, on 1213)", code_change="retry")
#: The rows the conflicting writers update, one per trial.
CONFLICT_ROWS = 1_000_000


@scenario(
    "certification_conflict",
    "Two writers on two nodes update one row: the second COMMIT fails with 1213",
    fixes=[
        Fix("no retry", prevents=False),
        Fix("pool_pre_ping, no retry", PRE_PING.options, prevents=False),
        RETRY,
    ],
    codes=frozenset({1213}),
    code_changes={"retry"},
    place=_cluster_place,
    needs=unavailable,
)
def certification_conflict(lab: Lab, trials: list[Trial], place: Place) -> None:
    cluster: Cluster = place.device
    _route(cluster, trials)
    for row, trial in enumerate(trials, start=CONFLICT_ROWS):
        _conflict(lab, trial, row, cluster.node(2), place)


def _conflict(lab: Lab, trial: Trial, row: int, node2: Node, place: Place) -> None:
    """One trial: its request updates ``row`` on node1 while node2 commits the same row first."""
    table = f"`{lab.backend.database}`.{EVENTS}"
    lab.sql(f"REPLACE INTO {table} (id, v) VALUES ({row}, 0)")
    wait_until(lambda: _value(node2, table, row) == 0, 5, "the row reaching node2")
    conflicts: list[int] = []

    def other_writer() -> None:
        """On node2, before the trial's first COMMIT: the same row, committed first."""
        if not conflicts:
            node2.sql(f"UPDATE {table} SET v = v + 10 WHERE id = {row}")
            conflicts.append(1)

    work = _transaction(trial, row, other_writer)
    with trial.step("UPDATE on node1; node2 commits the row first; COMMIT") as note:
        if trial.fix.code_change == "retry":
            retrying(work)()
            note["message"] = "retried after 1213"
        else:
            work()
    place.views.append(
        {"view": "row", "driver": trial.driver, "fix": trial.fix.name, "v": _value(node2, table, row)}
    )
    trial.query("next request")


def _transaction(trial: Trial, row: int, between: Any) -> Any:
    """One request: UPDATE the row (+1), let ``between()`` run, COMMIT."""

    async def body() -> None:
        conn = await trial.settle(trial.engine.connect())
        try:
            update = text(f"UPDATE {EVENTS} SET v = v + 1 WHERE id = :id")
            await trial.settle(conn.execute(update, {"id": row}))
            between()
            await trial.settle(conn.commit())
        finally:
            await trial.settle(conn.close())

    return lambda: trial.run_coroutine(body())


def _value(node: Node, table: str, row: int) -> int | None:
    """The row's value as node2 has it (None: not there, or node2 did not answer)."""
    try:
        rows = node.sql(f"SELECT v FROM {table} WHERE id = {row}")
    except pymysql.MySQLError:
        return None
    return int(rows[0][0]) if rows else None
