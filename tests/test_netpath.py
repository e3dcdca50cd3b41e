"""The network path the lab builds: a namespace with a kernel firewall, and HAProxy. What they
leave behind (nothing), what a killed run leaves (nothing), and one line where they cannot run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import helpers
from helpers import haproxy, netpath
from helpers.errors import LabError
from helpers.scenarios import SCENARIOS, run

NETWORK = ["conntrack_drop", "conntrack_reset", "haproxy_idle", "haproxy_backend_down"]


def _children(names: tuple[str, ...] = ("mariadbd", "haproxy", "unshare")) -> dict[int, str]:
    """This process's child processes with one of ``names`` in their command line."""
    found = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields.get("PPid", "0")) == os.getpid() and any(n in cmdline for n in names):
            found[int(status.parent.name)] = cmdline.strip()
    return found


def _host_tables() -> str:
    """The host's own nftables tables (read only): the lab's table must never appear there."""
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def test_the_kernel_bound_is_the_documented_one() -> None:
    assert netpath.retransmission_timeout(15) == 924.6  # ip-sysctl.rst: "924.6 seconds"
    assert netpath.retransmission_timeout(3) == 3.0


def test_a_missing_tool_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """No nft (or no privilege): run() refuses in one line, before it touches any server."""
    netpath.unavailable.cache_clear()
    monkeypatch.setattr(netpath, "find_binary", lambda name: None if name == "nft" else "/bin/true")
    try:
        with pytest.raises(LabError) as refused:
            run("conntrack_drop", lab=None)  # type: ignore[arg-type]
    finally:
        netpath.unavailable.cache_clear()
    message = str(refused.value)
    assert "\n" not in message and "nft not found" in message and "make setup" in message
    monkeypatch.setattr(haproxy, "find_binary", lambda name: None)
    assert SCENARIOS["haproxy_idle"].unavailable() == f"haproxy not found: {haproxy.INSTALL_HINT}"


@pytest.mark.skipif(netpath.unavailable() is not None, reason=str(netpath.unavailable()))
def test_nothing_is_left_running(lab: helpers.Lab) -> None:
    """Each network scenario, once with one driver: afterwards no mariadbd, haproxy or unshare the
    lab started is left, no namespace of the lab's remains, and the host has no table of the lab's."""
    before = _children()
    for name in NETWORK:
        rows = run(name, lab, drivers=["pymysql"], fixes=["none"] if name != "haproxy_backend_down" else None)
        assert (rows["outcome"] == "error").any(), name  # it really ran
    namespace_dir = lab.backend.config.home / "namespace"
    assert not (namespace_dir / "state.json").exists()
    left = _children().keys() - before.keys()
    assert not left, _children()
    assert netpath.TABLE not in _host_tables()


@pytest.mark.skipif(netpath.unavailable() is not None, reason=str(netpath.unavailable()))
def test_a_killed_run_leaves_no_namespace_server(tmp_path: Path, lab: helpers.Lab) -> None:
    """kill -9 of a process holding a namespace server: the server gets SIGTERM from the kernel
    (PR_SET_PDEATHSIG) and exits, and its namespace ends with it."""
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import dataclasses, pathlib, time
        from helpers.config import LabConfig
        from helpers.netpath import Device, namespace_lab
        config = LabConfig.from_env(backend="local", home=pathlib.Path({str(tmp_path)!r}))
        with namespace_lab(config, Device()) as (lab, backend):
            pathlib.Path({str(ready)!r}).write_text(str(backend.pid))
            time.sleep(120)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "LAB_PROGRESS": "0"})
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists(), "the namespace server did not start"
        server = int(ready.read_text())
        namespace = os.readlink(f"/proc/{server}/ns/net")
        assert namespace != os.readlink("/proc/self/ns/net")  # a namespace of its own
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        deadline = time.monotonic() + 30
        while Path(f"/proc/{server}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{server}").exists(), "the namespace's mariadbd outlived the run"
        holders = []  # no process is left in the namespace either: it ended with its last one
        for ns in Path("/proc").glob("[0-9]*/ns/net"):
            with contextlib.suppress(OSError):
                if os.readlink(ns) == namespace:
                    holders.append(ns.parent.parent.name)
        assert not holders, f"processes still in the lab's namespace: {holders}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_socket_the_driver_hides_is_found_by_its_ports(lab: helpers.Lab) -> None:
    """The way ``goneaway_pool.tcp`` finds a socket where the driver shows none (mysql-connector-
    python's C extension): the ports the server reports for the connection. Checked on PyMySQL,
    whose own socket says which one is right; through a proxy, the server's view matches none."""
    from goneaway_pool import tcp
    from helpers.faultproxy import FaultProxy

    engine = lab.engine("pymysql")
    try:
        raw = engine.raw_connection()
        assert tcp._fd_by_local_port(raw.driver_connection) == raw.driver_connection._sock.fileno()
        raw.close()
        with FaultProxy(lab.backend.host, lab.backend.port) as proxy:
            proxied = lab.engine("pymysql", via=proxy.port)
            try:
                raw = proxied.raw_connection()
                # the server names the proxy's own upstream socket (in this process too): not the driver's
                assert tcp._fd_by_local_port(raw.driver_connection, proxy.port) is None
                raw.close()
            finally:
                proxied.dispose()
    finally:
        engine.dispose()
