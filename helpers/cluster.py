"""A replicated cluster on demand: three MariaDB Galera nodes on 127.0.0.1 behind a real HAProxy.

Debian's ``galera-4`` and ``mariadb-server``; each node a private server of its own (the local
backend's, run as the ``mysql`` user: as root, rsync's state transfer maps to ``nobody`` and
the joiner cannot write its files), with its own data directory and ports. Node 1 bootstraps
the cluster, nodes 2 and 3 join it (rsync state transfer, or an incremental one from existing
data). In front, HAProxy (:mod:`helpers.haproxy`) with

- ``writer``: node 1, then node 2 (a backup) once node 1 fails its check; sessions stay on a
  server marked down (HAProxy's default);
- ``writer_shutdown``: the same, with ``on-marked-down shutdown-sessions``;
- ``writer_tcp``: the same servers, checked only by a TCP connect to their port (as many
  configurations in the field): a node outside the quorum, or read-only, passes;
- ``reader``: the three nodes in turn.

Each node's health check asks a small HTTP checker in this process (as Galera's
``clustercheck`` does): ``/reader`` answers 200 while the node is Synced and ready,
``/writer`` also needs ``read_only`` off.

>>> with Cluster.start(config) as cluster:       # about 7 s from empty, 4 s from existing data
...     cluster.port("writer")                     # where the application connects
...     cluster.node(1).isolate()                  # out of the quorum: non-Primary
...     cluster.states()                           # one row per node

Its files live in the system's temporary directory (pytest's and the lab home's directories are
root's, mode 0700, where ``mysql`` cannot enter), one directory per lab home. Every node and
HAProxy die with the process that started them; a start first stops what an earlier detached
or interrupted run left, and marks the node it bootstraps from safe to bootstrap.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import pymysql

from . import haproxy, runlock
from .backends.local import LocalBackend, free_port, port_is_free, server_binaries
from .config import SERVER_CNF, LabConfig
from .errors import LabError
from .haproxy import HAProxy, Listener, Upstream
from .lab import Lab
from .progress import wait_until

log = logging.getLogger(__name__)

PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
INSTALL_HINT = "apt-get install galera-4 rsync mariadb-server   (Debian's; the lab leaves any service alone)"
RUN_AS = "mysql"
NODES = (1, 2, 3)
#: The ``wsrep_%`` status the lab reads, and what ``wsrep_local_state`` 4 means.
NODE_STATUS = (
    "wsrep_cluster_size",
    "wsrep_cluster_status",
    "wsrep_local_state",
    "wsrep_local_state_comment",
    "wsrep_ready",
    "wsrep_connected",
    "wsrep_flow_control_paused",
    "wsrep_local_recv_queue",
)
SYNCED = 4
#: Group communication's timers for loopback (defaults: keepalive 1 s, suspect 5 s, inactive
#: 15 s): nodes join in a fraction of a second, and the others notice a killed one in 1.5 s.
EVS_TIMINGS = (
    "evs.keepalive_period=PT0.2S;evs.inactive_check_period=PT0.2S;evs.join_retrans_period=PT0.2S;"
    "evs.suspect_timeout=PT1.5S;evs.inactive_timeout=PT3S;evs.install_timeout=PT3S;"
    "pc.announce_timeout=PT0.5S"
)


def unavailable() -> str | None:
    """Why a cluster cannot start here (one line), or None."""
    missing = [what for what, ok in (
        ("mariadbd and mariadb-install-db", server_binaries()),
        ("galera-4", PROVIDER.exists()),
        ("rsync", shutil.which("rsync")),
        ("wsrep_sst_rsync (mariadb-server)", shutil.which("wsrep_sst_rsync")),
    ) if not ok]  # fmt: skip
    if missing:
        return f"{', '.join(missing)} not found: {INSTALL_HINT}"
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        return f"no {RUN_AS!r} user (mariadb-server creates it): {INSTALL_HINT}"
    if os.geteuid() != 0:
        return f"the cluster's nodes run as {RUN_AS!r}: start it as root"
    return haproxy.unavailable()


def cluster_dir(config: LabConfig) -> Path:
    """Where a lab home's cluster keeps its files: the same place every time, one per lab home."""
    digest = hashlib.sha256(str(config.home.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"gone-away-lab-cluster-{digest}"


@dataclass(frozen=True)
class Ports:
    """One node's ports: clients, group communication, incremental and full state transfer."""

    mysql: int
    gmcast: int
    ist: int
    sst: int

    @classmethod
    def free(cls) -> Ports:
        return cls(*(free_port() for _ in range(4)))

    def all_free(self) -> bool:
        return all(port_is_free(p) for p in (self.mysql, self.gmcast, self.ist, self.sst))


class GaleraNode(LocalBackend):
    """One node: a private mariadbd with the Galera provider, run as ``mysql``."""

    name = "galera"
    run_as = RUN_AS

    def __init__(self, config: LabConfig, number: int, ports: Ports, peers: list[int]) -> None:
        super().__init__(replace(config, port=ports.mysql))
        self.number = number
        self.ports = ports
        self.peers = peers  # every node's gmcast port
        self.dir = cluster_dir(config) / f"node{number}"
        self.bootstrap = False
        self.make_accounts = False
        #: the node a joiner takes its state from (None: any)
        self.donor: str | None = None

    @property
    def grastate(self) -> Path:
        return self.datadir / "grastate.dat"

    def _write_config(self, port: int) -> None:
        p = self.ports
        peers = ",".join(f"127.0.0.1:{g}" for g in self.peers)
        lines = [
            "# Generated by helpers.cluster: do not edit, it is rewritten at every start.",
            SERVER_CNF.read_text(),  # inline: mysql may not enter the directory it lives in
            *self._server_section(port),
            "binlog_format=ROW",
            "innodb_autoinc_lock_mode=2",
            "innodb_flush_log_at_trx_commit=0",
            "wsrep_on=ON",
            f"wsrep_provider={PROVIDER}",
            "wsrep_cluster_name=gone-away-lab",
            f"wsrep_cluster_address=gcomm://{peers}",
            f"wsrep_node_name=node{self.number}",
            f"wsrep_node_address=127.0.0.1:{p.gmcast}",
            f'wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:{p.gmcast};'
            f'ist.recv_addr=127.0.0.1:{p.ist};gcache.size=32M;{EVS_TIMINGS}"',
            "wsrep_sst_method=rsync",
            *([f"wsrep_sst_donor={self.donor}"] if self.donor else []),
            f"wsrep_sst_receive_address=127.0.0.1:{p.sst}",
        ]
        self.cnf_path.write_text("\n".join(lines) + "\n")

    def _command(self, mariadbd: str) -> list[str]:
        command = [mariadbd, f"--defaults-file={self.cnf_path}"]
        facts = self.grastate_facts()
        if facts.get("seqno", -1) >= 0 and facts.get("uuid"):  # a clean stop: where it left off
            # (the service's galera_recovery passes it; without it a joiner asks for a transfer)
            command.append(f"--wsrep-start-position={facts['uuid']}:{facts['seqno']}")
        if self.bootstrap:
            command.append("--wsrep-new-cluster")
        if self.make_accounts:  # once, on the new cluster's first node: the others copy them
            command.append(f"--init-file={self.dir / 'init.sql'}")
        return command

    def start(self, *, detach: bool = False) -> bool:
        if self.running():
            return False
        self._await_ready(self.ports.mysql, self.spawn(detach))
        return True

    def spawn(self, detach: bool = False) -> int:
        """Start mariadbd without waiting for it (:meth:`_await_ready` waits); a joiner's data
        comes from its donor (rsync), so only the bootstrap node needs a data directory made."""
        binaries = server_binaries()
        assert binaries is not None  # unavailable() says otherwise
        mariadbd, install_db = binaries
        self.dir.mkdir(parents=True, exist_ok=True)
        self.datadir.mkdir(exist_ok=True)
        self._write_config(self.ports.mysql)
        self.make_accounts = self.bootstrap and not (self.datadir / "mysql").is_dir()
        if self.make_accounts:
            shutil.chown(self.datadir, RUN_AS, RUN_AS)
            self._install_db(install_db)
        self.log_path.touch()
        self._write_init_sql().chmod(0o600)  # the lab's passwords: for mysql's eyes only
        user = pwd.getpwnam(RUN_AS)
        for path in (self.dir, *self.dir.iterdir()):
            if path.name != "state.json":
                os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
        self.dir.chmod(0o700)
        return self._spawn(mariadbd, self.ports.mysql, detach)

    def mark_safe_to_bootstrap(self) -> None:
        """Let this node start a new cluster from its data (Galera refuses after an unclean stop)."""
        with suppress(OSError):
            text = self.grastate.read_text()
            self.grastate.write_text(re.sub(r"safe_to_bootstrap:\s*\d", "safe_to_bootstrap: 1", text))

    def grastate_facts(self) -> dict[str, Any]:
        """``uuid``, ``seqno`` and ``safe_to_bootstrap`` from ``grastate.dat`` (absent: empty)."""
        try:
            text = self.grastate.read_text()
        except OSError:
            return {}
        facts: dict[str, Any] = {
            k: int(v) for k, v in re.findall(r"^(seqno|safe_to_bootstrap):\s*(-?\d+)", text, re.M)
        }
        uuid = re.search(r"^uuid:\s*([0-9a-f-]{36})", text, re.M)
        if uuid and set(uuid.group(1)) != {"0", "-"}:
            facts["uuid"] = uuid.group(1)
        return facts


@dataclass
class Node:
    """A handle on one node for the scenarios: its state, and what may happen to it."""

    number: int
    backend: GaleraNode

    @property
    def name(self) -> str:
        return f"node{self.number}"

    @property
    def port(self) -> int:
        return self.backend.ports.mysql

    def running(self) -> bool:
        return self.backend.running()

    def connect(self, timeout: float = 2.0) -> pymysql.connections.Connection:
        """A new admin connection to this node (autocommit)."""
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            password=self.backend.admin_password,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            autocommit=True,
        )

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall())

    def state(self) -> dict[str, Any]:
        """Its ``wsrep_%`` status and ``read_only``; ``{"node": name, "running": False}`` if down."""
        facts: dict[str, Any] = {"node": self.name, "port": self.port, "running": self.running()}
        if not facts["running"]:
            return facts
        try:
            with self.connect(timeout=1.0) as conn, conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep%'")
                status = dict(cur.fetchall())
                cur.execute("SELECT @@global.read_only")
                read_only = bool(cur.fetchone()[0])
        except pymysql.MySQLError as exc:
            return {**facts, "error": str(exc)}
        facts.update({key: status.get(key) for key in NODE_STATUS})
        facts["wsrep_local_state"] = int(facts["wsrep_local_state"] or 0)
        facts["wsrep_cluster_size"] = int(facts["wsrep_cluster_size"] or 0)
        facts["read_only"] = read_only
        return facts

    def kill(self) -> None:
        """SIGKILL: the node dies at once; its clients' connections are reset."""
        self.backend.crash()

    def stop(self) -> None:
        """An orderly shutdown: the node leaves the cluster."""
        self.backend.stop()

    def restart(self) -> None:
        """Start it again (after :meth:`kill` or :meth:`stop`): it rejoins the others."""
        self.backend.bootstrap = False
        self.backend.stop()
        self.backend.start()

    def isolate(self) -> None:
        """Cut it off from the others (Galera's ``gmcast.isolate``): alone, it is non-Primary,
        and it answers ``1047 WSREP has not yet prepared node for application use``."""
        self.sql("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'")

    def rejoin(self) -> None:
        self.sql("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'")

    def demote(self) -> None:
        """``read_only`` on: writes from an account without ``READ_ONLY ADMIN`` get 1290."""
        self.sql("SET GLOBAL read_only = 1")

    def promote(self) -> None:
        self.sql("SET GLOBAL read_only = 0")


class _Checker(http.server.BaseHTTPRequestHandler):
    """HAProxy's health check of one node, as ``clustercheck``: ``/reader`` 200 while the node
    is Synced and ready, ``/writer`` also needs ``read_only`` off; 503 otherwise."""

    checker: HealthChecker

    def do_GET(self) -> None:
        state = self.checker.state()
        ready = state.get("wsrep_local_state") == SYNCED and state.get("wsrep_ready") == "ON"
        ok = ready and (self.path != "/writer" or not state.get("read_only"))
        body = json.dumps(state, default=str).encode()
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _CheckServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """HAProxy hangs up once it has the status line: a broken pipe there is normal."""
        log.debug("health check from %s ended early", client_address)


class HealthChecker:
    """One node's HTTP check, served from a thread of this process on a port of its own.
    HAProxy's listeners check each node several times a second: they share one reading of
    its state per :data:`FRESH` seconds (one admin connection, not one per check)."""

    #: how long one reading of the node's state answers its checks (well under a check interval)
    FRESH = 0.1

    def __init__(self, node: Node) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._read: tuple[float, dict[str, Any]] | None = None
        handler = type(f"Check{node.name}", (_Checker,), {"checker": self})
        self.server = _CheckServer(("127.0.0.1", 0), handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, name=f"check-{node.name}", daemon=True
        )
        self._thread.start()

    def state(self) -> dict[str, Any]:
        """The node's state, read at most once per :data:`FRESH` seconds."""
        with self._lock:
            if self._read is None or time.monotonic() - self._read[0] > self.FRESH:
                self._read = (time.monotonic(), self.node.state())
            return self._read[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


#: The HAProxy listeners in front of the cluster, by name.
WRITER, WRITER_SHUTDOWN, WRITER_TCP, READER = "writer", "writer_shutdown", "writer_tcp", "reader"


def _own_directory(path: Path) -> None:
    """Make ``path`` (in the shared temporary directory) ours: a real directory owned by this
    user, mode 0711 (``mysql`` may pass through to its node's directory, nobody may list it);
    :class:`LabError` if someone else made it or it is a link."""
    path.mkdir(mode=0o711, exist_ok=True)
    facts = path.lstat()
    if not stat.S_ISDIR(facts.st_mode) or facts.st_uid != os.geteuid():
        raise LabError(f"{path} is not a directory of this user's: remove it, then start the cluster again")
    path.chmod(0o711)


#: The clusters this process runs, by directory: a second start in it stops the first.
_RUNNING: dict[Path, Cluster] = {}


@dataclass
class Cluster:
    """Three Galera nodes, their health checks and HAProxy; a context manager that stops all.

    ``timings`` (seconds) after :meth:`start`: how long the nodes took (``nodes``), and whether
    they started from empty data directories (``from_empty``)."""

    config: LabConfig
    nodes: list[Node] = field(default_factory=list)
    proxy: HAProxy | None = None
    checkers: list[HealthChecker] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    #: the lab home's cluster lock, held from the start to the stop: a second start elsewhere waits
    _held: ExitStack = field(default_factory=ExitStack)

    @property
    def dir(self) -> Path:
        return cluster_dir(self.config)

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def start(cls, config: LabConfig | None = None, *, fresh: bool = False, timeout: float = 30.0) -> Cluster:
        """Bring the cluster and HAProxy up; ``fresh`` starts from empty data directories.
        :class:`LabError` with one line where this machine cannot, or a node does not join."""
        why = unavailable()
        if why:
            raise LabError(f"the cluster cannot start here: {why}")
        cluster = cls(config or LabConfig.from_env())
        try:
            cluster._start(fresh, timeout)
        except BaseException:  # a failed or interrupted start (Ctrl-C) leaves nothing behind
            cluster.stop()
            raise
        return cluster

    def _start(self, fresh: bool, timeout: float) -> None:
        _own_directory(self.dir)
        self._held.enter_context(runlock.exclusive(f"cluster{self.dir}", 0, "the cluster"))
        earlier = _RUNNING.pop(self.dir, None)
        if earlier is not None:  # this process's own, started again (a notebook cell run twice)
            earlier.stop()
        _RUNNING[self.dir] = self
        self._leftovers_stopped()
        if fresh:
            for number in NODES:
                shutil.rmtree(self.dir / f"node{number}", ignore_errors=True)
        ports = self._ports()
        peers = [p.gmcast for p in ports]
        self.nodes = [Node(n, GaleraNode(self.config, n, ports[n - 1], peers)) for n in NODES]
        from_empty = not any((node.backend.datadir / "mysql").is_dir() for node in self.nodes)
        t0 = time.monotonic()
        first = self._bootstrap_node()
        first.backend.bootstrap = True
        first.backend.mark_safe_to_bootstrap()
        first.backend.start()
        first.backend.bootstrap = False  # a restart of it later joins the others
        self._start_joiners(first, timeout)
        nodes_seconds = round(time.monotonic() - t0, 2)
        for node in self.nodes:  # one at a time: a failure leaves those made so far to stop()
            self.checkers.append(HealthChecker(node))
        self.proxy = HAProxy(self._listeners(), workdir=self.dir / "haproxy").start()
        if not wait_until(self._all_checked, 10, "HAProxy checking the nodes"):
            raise LabError(f"HAProxy's checks did not pass within 10 s: {' | '.join(self.proxy.log(3))}")
        self.timings = {
            "from_empty": from_empty,
            "nodes": nodes_seconds,
            "with_haproxy": round(time.monotonic() - t0, 2),
            "bootstrapped_from": first.name,
        }
        log.info("cluster up in %.1f s (%s)", nodes_seconds, "from empty" if from_empty else "existing data")

    def _start_joiners(self, first: Node, timeout: float) -> None:
        """The joiners from this thread (a node dies with the thread that starts it), each into
        the group before the next starts (two joining at once make the membership churn for
        seconds), their state transfers overlapping, each from the bootstrap node
        (``wsrep_sst_donor``): a donor that has only just joined may serve an incremental
        transfer that misses the last write set ("IST didn't contain all write sets")."""
        offsets = []
        for size, node in enumerate((n for n in self.nodes if n is not first), start=2):
            node.backend.donor = first.name
            offsets.append((node, node.backend.spawn()))
            self._wait_in_group(first, node, size, timeout)
        for node, offset in offsets:
            node.backend._await_ready(node.port, offset)
        if not wait_until(self._all_synced, timeout, "the nodes joining the cluster"):
            raise LabError(f"the cluster did not reach 3 Synced nodes within {timeout:g} s: {self.summary()}")

    def _wait_in_group(self, first: Node, node: Node, size: int, timeout: float) -> None:
        """Until ``first`` counts ``size`` members; a joiner that exits meanwhile says so at once."""

        def members() -> bool:
            if not node.running():
                raise LabError(f"{node.name} exited while joining: {' | '.join(node.backend.error_log(3))}")
            return (first.state().get("wsrep_cluster_size") or 0) >= size

        if not wait_until(members, timeout, f"{node.name} joining the group"):
            raise LabError(f"{node.name} did not join the group within {timeout:g} s: {self.summary()}")

    def _all_checked(self) -> bool:
        """Has every server of every listener passed a check? (HAProxy counts one UP before its first.)"""
        assert self.proxy is not None
        stats = self.proxy.stats()
        servers = stats[stats["server"].str.startswith("node")]
        return bool(len(servers)) and bool(servers["check_status"].isin(["L4OK", "L7OK"]).all())

    def _all_synced(self) -> bool:
        states = [node.state() for node in self.nodes]
        return all(s.get("wsrep_local_state") == SYNCED and s.get("wsrep_cluster_size") == 3 for s in states)

    def summary(self) -> str:
        return "; ".join(
            f"{s['node']} {s.get('wsrep_local_state_comment') or s.get('error') or 'down'}"
            for s in (node.state() for node in self.nodes)
        )

    def _ports(self) -> list[Ports]:
        """Each node's ports: those of the last start where they are still free, else new ones."""
        path = self.dir / "ports.json"
        with suppress(OSError, ValueError, TypeError):
            saved = [Ports(**p) for p in json.loads(path.read_text())]
            if len(saved) == len(NODES) and all(p.all_free() for p in saved):
                return saved
        chosen = [Ports.free() for _ in NODES]
        path.write_text(json.dumps([p.__dict__ for p in chosen]))
        return chosen

    def _bootstrap_node(self) -> Node:
        """The node to start the cluster from: one Galera marked safe to bootstrap (the last to
        leave), else the one with the highest seqno, else node 1."""
        facts = [(node, node.backend.grastate_facts()) for node in self.nodes]
        safe = [node for node, f in facts if f.get("safe_to_bootstrap") == 1]
        if safe:
            return safe[0]
        return max(facts, key=lambda nf: nf[1].get("seqno", -1))[0]

    def _leftovers_stopped(self) -> None:
        """Stop the nodes an earlier detached or killed run left (their pids are on record)."""
        for number in NODES:
            node = GaleraNode(self.config, number, Ports(0, 0, 0, 0), [])
            if node.running():
                log.warning("stopping node%s (pid %s), left by an earlier run", number, node.pid)
                node.crash()
            node.state_path.unlink(missing_ok=True)

    def _listeners(self) -> list[Listener]:
        writers = [
            Upstream(n.name, "127.0.0.1", n.port, check_port=c.port, backup=n.number != 1)
            for n, c in zip(self.nodes, self.checkers, strict=True)
        ]
        readers = [replace(w, backup=False) for w in writers]
        port_only = [replace(w, check_port=None) for w in writers]
        return [
            Listener(WRITER, writers, http_check="/writer"),
            Listener(WRITER_SHUTDOWN, writers, http_check="/writer", shutdown_sessions=True),
            Listener(WRITER_TCP, port_only),
            Listener(READER, readers, http_check="/reader"),
        ]

    def stop(self) -> None:
        """Stop HAProxy, the checks and every node; nothing the cluster started is left running."""
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        for checker in self.checkers:
            checker.close()
        self.checkers = []
        # all at once: they leave at one position, so the next start needs no state transfer
        for node in self.nodes:
            pid = node.backend.pid
            if pid is not None and node.running():
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        for node in self.nodes:
            node.backend.stop()
        if _RUNNING.get(self.dir) is self:
            del _RUNNING[self.dir]
        self._held.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what the scenarios use ------------------------------------------------------------
    def node(self, number: int) -> Node:
        return self.nodes[number - 1]

    def port(self, listener: str) -> int:
        assert self.proxy is not None
        return self.proxy.port(listener)

    def lab(self, number: int = 1) -> Lab:
        """A :class:`Lab` on one node (the lab's accounts exist on every node)."""
        return Lab(self.node(number).backend)

    def states(self) -> pd.DataFrame:
        """One row per node: running, its cluster's size and status, its state, ready, read_only."""
        return pd.DataFrame([node.state() for node in self.nodes])

    def wait_state(self, number: int, check: Any, desc: str, timeout: float = 15.0) -> float:
        """Wait until ``check(state)`` holds for node ``number``; the seconds it took."""
        start = time.monotonic()
        node = self.node(number)
        if not wait_until(lambda: bool(check(node.state())), timeout, desc):
            raise LabError(f"{node.name}: {desc} did not happen within {timeout:g} s: {node.state()}")
        return round(time.monotonic() - start, 2)


def remove_data(config: LabConfig) -> None:
    """Remove a lab home's cluster files (data directories, logs); stop a node left running first."""
    with runlock.exclusive(f"cluster{cluster_dir(config)}", 0, "the cluster"):
        Cluster(config)._leftovers_stopped()
        shutil.rmtree(cluster_dir(config), ignore_errors=True)


def start_times(config: LabConfig) -> pd.DataFrame:
    """Start the cluster from empty data directories, stop it, start it from the data it left:
    one row per start (seconds to 3 Synced nodes, and with HAProxy checking them)."""
    rows = []
    for fresh in (True, False):
        with Cluster.start(config, fresh=fresh) as cluster:
            rows.append({"start": "from empty" if fresh else "existing data", **cluster.timings})
    return pd.DataFrame(rows)
