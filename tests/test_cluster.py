"""The cluster the lab starts on demand (three Galera nodes, HAProxy): it comes up, it leaves
nothing behind (after a normal stop, and after ``kill -9`` of the process that started it), it
comes back from nodes that were all killed (``safe_to_bootstrap``), and the doctor reads every
node and HAProxy in one read-only call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import Lab
from helpers.cluster import READER, WRITER, WRITER_TCP, Cluster, cluster_dir, unavailable
from helpers.runbook import check_fleet

from .conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(unavailable()), reason=f"no cluster here: {unavailable()}"),
]


def _alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie is not)."""
    alive = []
    for pid in pids:
        try:
            if "State:\tZ" not in Path(f"/proc/{pid}/status").read_text():
                alive.append(pid)
        except OSError:
            pass
    return alive


def test_comes_up_synced_behind_haproxy_and_stops_clean(lab: Lab) -> None:
    config = lab.backend.config
    with Cluster.start(config) as cluster:
        states = cluster.states()
        assert (states["wsrep_cluster_size"] == 3).all() and (states["wsrep_local_state"] == 4).all()
        stats = cluster.proxy.stats() if cluster.proxy else None
        assert stats is not None
        for listener in (WRITER, READER, WRITER_TCP):
            servers = stats[(stats["listener"] == listener) & stats["server"].str.startswith("node")]
            assert len(servers) == 3 and servers["status"].str.startswith("UP").all(), stats.to_string()
        checked = stats[(stats["listener"] == WRITER) & (stats["server"] == "node1")]["check_status"]
        assert checked.iloc[0] == "L7OK"  # by node state, over HTTP
        pids = [node.backend.pid for node in cluster.nodes] + [cluster.proxy.pid]
        datadir = cluster.node(1).backend.datadir
        assert datadir.owner() == "mysql" and not datadir.is_relative_to(config.home)
        assert (cluster.dir.stat().st_mode & 0o777) == 0o711  # mysql passes through; nobody lists it
        assert (cluster.node(1).backend.dir / "init.sql").stat().st_mode & 0o077 == 0  # its passwords
        # the handle: a node killed and restarted rejoins; demoted and promoted, it takes writes again
        node3 = cluster.node(3)
        node3.kill()
        node3.restart()
        cluster.wait_state(3, lambda s: s.get("wsrep_local_state") == 4, "node3 Synced again")
        pids[2] = node3.backend.pid
        cluster.node(2).demote()
        assert cluster.node(2).state()["read_only"]
        cluster.node(2).promote()
        assert not cluster.node(2).state()["read_only"]
    assert not _alive([pid for pid in pids if pid])  # every node and HAProxy stopped


def test_a_killed_run_takes_its_nodes_with_it(lab: Lab, tmp_path: Path) -> None:
    """The nodes run as mysql but die with the process that started them (the parent-death
    signal is set after the switch of user), as the local backend's server does."""
    script = textwrap.dedent(
        f"""
        import json, os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from helpers.cluster import Cluster
        from helpers.config import LabConfig
        from pathlib import Path
        cluster = Cluster.start(LabConfig(home=Path({str(lab.backend.config.home)!r})))
        print(json.dumps([n.backend.pid for n in cluster.nodes] + [cluster.proxy.pid]), flush=True)
        time.sleep(120)
        """
    )
    env = {**os.environ, "LAB_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        pids = json.loads(line)
        assert len(_alive(pids)) == 4
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 30
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pids), f"left running after kill -9 of the run: {_alive(pids)}"


def test_comes_back_after_every_node_was_killed(lab: Lab) -> None:
    """kill -9 of all three: no grastate.dat says safe_to_bootstrap; the next start marks the
    node it bootstraps from, and the three are Synced again."""
    config = lab.backend.config
    with Cluster.start(config) as cluster:
        for node in cluster.nodes:
            node.kill()
        grastate = (cluster_dir(config) / "node1" / "data" / "grastate.dat").read_text()
        assert "safe_to_bootstrap: 0" in grastate
    with Cluster.start(config) as again:
        assert (again.states()["wsrep_local_state"] == 4).all()


def test_the_doctor_reads_every_node_and_haproxy_in_one_table(lab: Lab) -> None:
    config = lab.backend.config
    with Cluster.start(config) as cluster:
        cluster.node(1).isolate()
        cluster.wait_state(1, lambda s: s.get("wsrep_cluster_status") == "non-Primary", "non-Primary")
        assert cluster.proxy is not None
        cluster.proxy.wait_status(WRITER, "node1", "DOWN")
        password = config.root_password
        urls = [f"mysql://root:{password}@127.0.0.1:{node.port}/" for node in cluster.nodes]
        fleet = check_fleet(urls, sample_seconds=0.5, haproxy_socket=str(cluster.proxy.stats_socket))
        table = fleet.table
        assert password not in table.to_string()
        node1 = table[table["server"].str.contains(f":{cluster.node(1).port}")]
        assert "node outside the quorum" in set(node1["check"]), table.to_string()
        others = table[table["server"].str.contains(f":{cluster.node(2).port}")]
        assert "node outside the quorum" not in set(others["check"])
        galera = others[others["check"] == "Galera node"]["detail"].iloc[0]
        assert galera.startswith("cluster of 2, Primary, Synced"), galera
        proxy = table[table["server"].str.startswith("haproxy")]
        assert f"{WRITER_TCP}: checked by TCP connect only" in set(proxy["check"]), proxy.to_string()
        writer = proxy[proxy["check"] == f"{WRITER}: servers up"]["detail"].iloc[0]
        assert "node1 DOWN" in writer, writer
        cluster.node(1).rejoin()  # back into the quorum
        cluster.wait_state(1, lambda s: s.get("wsrep_cluster_status") == "Primary", "node1 Primary again")
