"""The lab's lifecycle and its messages: up, restart, down, and nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import Lab, LabConfig, LabError
from helpers.backends import choose_backend, local

PY = sys.executable


def servers_under(home: Path) -> list[int]:
    """PIDs of mariadbd processes whose command line names a file under ``home``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"mariadbd" in cmd and str(home).encode() in cmd and local.pid_alive(int(proc.name)):
                pids.append(int(proc.name))
    return pids


def wait_gone(home: Path, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := servers_under(home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "helpers", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def local_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    return {**env, "LAB_HOME": str(home), "LAB_BACKEND": "local", "LAB_PROGRESS": "0", **extra}


@pytest.mark.server
def test_up_restart_down_leaves_no_process(tmp_path: Path) -> None:
    lab = Lab.start(LabConfig(backend="local", home=tmp_path))
    assert lab.owned and lab.backend.running()
    pid, port = lab.backend.pid, lab.backend.port
    lab.set_global(wait_timeout=5)
    lab.restart()
    assert lab.backend.pid != pid and lab.backend.port == port, "restart keeps the port"
    assert lab.get_global("wait_timeout") == 28800, "a restart forgets SET GLOBAL"
    lab.stop()
    assert not lab.backend.running() and wait_gone(tmp_path) == []


@pytest.mark.server
def test_second_start_attaches_and_does_not_own(tmp_path: Path) -> None:
    first = Lab.start(LabConfig(backend="local", home=tmp_path))
    try:
        second = Lab.start(LabConfig(backend="local", home=tmp_path))
        assert not second.owned and second.backend.port == first.backend.port
    finally:
        first.stop()
    assert wait_gone(tmp_path) == []


OWNER = """
import os, sys, time, helpers
lab = helpers.start_lab()
print(lab.backend.pid, flush=True)
{after}
"""


@pytest.mark.server
@pytest.mark.parametrize(
    "how",
    ["exit", "ctrl-c", "sigkill"],
)
def test_server_dies_with_the_process_that_started_it(tmp_path: Path, how: str) -> None:
    """A kernel shutdown (normal exit), Ctrl-C (KeyboardInterrupt) or a hard kill of the
    process that started the lab leave no server behind."""
    after = "" if how == "exit" else "time.sleep(60)"
    proc = subprocess.Popen(
        [PY, "-c", OWNER.format(after=after)], env=local_env(tmp_path), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    assert local.pid_alive(pid)
    if how == "ctrl-c":
        proc.send_signal(signal.SIGINT)
    elif how == "sigkill":
        proc.kill()
    proc.wait(timeout=60)
    assert wait_gone(tmp_path) == [], f"mariadbd left running after {how}"


@pytest.mark.server
def test_cli_up_status_down(tmp_path: Path) -> None:
    env = local_env(tmp_path)
    up = cli("up", env=env)
    assert up.returncode == 0, up.stderr
    assert "mysql+pymysql://lab:lab@127.0.0.1:" in up.stdout and "mysql+mysqldb://" in up.stdout
    assert servers_under(tmp_path), "`up` leaves the server running after the CLI exits"
    assert cli("status", env=env).returncode == 0
    down = cli("down", env=env)
    assert down.returncode == 0, down.stderr
    assert wait_gone(tmp_path) == []
    assert cli("status", env=env).returncode == 1


def test_busy_port_gives_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("up", env=local_env(tmp_path, LAB_PORT=str(port)))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert "Traceback" not in result.stderr and "LAB_PORT" in result.stderr
    assert servers_under(tmp_path) == []


def test_unreachable_external_url_gives_one_clear_line(tmp_path: Path) -> None:
    port = local.free_port()  # nothing listens there
    env = local_env(tmp_path, LAB_BACKEND="external", LAB_URL=f"mysql://someone:pw@127.0.0.1:{port}/db")
    result = cli("scenarios", "--only", "idle", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot reach the external server someone@127.0.0.1:{port}")
    assert "Traceback" not in result.stderr


def test_external_server_is_read_only_unless_allowed(lab: Lab) -> None:
    b = lab.backend
    url = f"mysql://{b.admin_user}:{b.admin_password}@{b.host}:{b.port}/{b.database}"
    readonly = Lab.start(LabConfig(backend="external", url=url))
    assert not readonly.owned
    assert int(readonly.get_global("wait_timeout")) > 0
    with pytest.raises(LabError, match="LAB_ALLOW_CHANGES=1"):
        readonly.set_global(wait_timeout=5)
    with pytest.raises(LabError, match="cannot restart an external server"):
        Lab.start(LabConfig(backend="external", url=url, allow_changes=True)).restart()


def test_no_backend_at_all_says_what_was_tried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's binaries are hidden from the lookup; nothing else is faked.
    monkeypatch.setattr("helpers.backends.server_binaries", lambda: None)
    monkeypatch.setattr("helpers.backends.docker_problem", lambda: "no Docker engine answers")
    with pytest.raises(LabError) as info:
        choose_backend(LabConfig(backend="auto", home=tmp_path))
    message = str(info.value)
    assert "docker: no Docker engine answers" in message
    assert "apt-get install mariadb-server" in message


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="LAB_BACKEND='kubernetes'"):
        LabConfig(backend="kubernetes")
    with pytest.raises(LabError, match="needs LAB_URL"):
        choose_backend(LabConfig(backend="external"))


def test_every_backend_stops_the_same_way() -> None:
    import inspect

    from helpers.backends import ComposeBackend, ExternalBackend, LocalBackend

    for backend in (LocalBackend, ComposeBackend, ExternalBackend):
        params = inspect.signature(backend.stop).parameters
        assert list(params) == ["self", "volumes"], backend


def test_the_pool_resets_a_scenario_causes_print_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """A scenario breaks connections on purpose, so the pool's rollback on return fails and
    SQLAlchemy logs "Exception during reset or similar" with a traceback at ERROR (41 of them
    for the cluster scenarios). Inside a run the pool's record is dropped, whatever handler is
    configured, and one line is logged at INFO; a pool error the lab did not cause still shows."""
    import logging

    import sqlalchemy.pool.impl

    from helpers.drivers import driver_noise_logged

    pool_log = logging.getLogger(f"{sqlalchemy.pool.impl.QueuePool.__module__}.QueuePool")
    caplog.set_level(logging.DEBUG)
    with driver_noise_logged():
        try:
            raise OSError("the node left the quorum")
        except OSError:
            pool_log.error("Exception during reset or similar", exc_info=True)
    pool_log.error("a pool error the lab did not cause")
    pool_records = [
        (r.name, r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("sqlalchemy")
    ]
    assert pool_records == [(pool_log.name, "ERROR", "a pool error the lab did not cause")]
    lowered = [r for r in caplog.records if r.name == "helpers.drivers"]
    assert [(r.levelname, r.exc_info) for r in lowered] == [("INFO", None)]
    assert "the node left the quorum" in lowered[0].getMessage()
