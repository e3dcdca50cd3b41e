"""The docker backend for real: the container's lifecycle through the Docker SDK, and cleanup."""

from __future__ import annotations

import os
import subprocess
import time

import docker
import pymysql
import pytest
from sqlalchemy import text

import helpers
from helpers import Lab, LabConfig
from helpers.backends import ComposeBackend
from helpers.backends.local import free_port

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        os.environ.get("LAB_BACKEND") != "docker",
        reason="docker backend tests run with LAB_BACKEND=docker (make test)",
    ),
]


def uptime(lab: Lab) -> int:
    return int(lab.sql("SHOW GLOBAL STATUS LIKE 'Uptime'").iloc[0, 1])


def test_the_lab_is_the_container(lab: Lab) -> None:
    assert isinstance(lab.backend, ComposeBackend)
    box = lab.backend.container()
    assert box.status == "running" and box.attrs["HostConfig"]["NetworkMode"] == "host"
    assert any("ready for connections" in line for line in lab.error_log(50))  # logs via the SDK


def test_restart_through_the_sdk(lab: Lab) -> None:
    box = lab.backend.container()
    started = box.attrs["State"]["StartedAt"]
    helpers.progress.wait(1.2)
    called = time.monotonic()
    lab.restart()
    box.reload()
    assert box.attrs["State"]["StartedAt"] != started
    assert uptime(lab) <= time.monotonic() - called + 1, "the server started after the restart call"


def test_crash_through_the_sdk_then_start(lab: Lab) -> None:
    called = time.monotonic()
    lab.backend.crash()
    box = lab.backend.container()
    assert box.status == "exited" and box.attrs["State"]["ExitCode"] == 137  # SIGKILL
    lab.backend.start(detach=True)  # compose up --wait: back once healthy
    assert uptime(lab) <= time.monotonic() - called + 1, "a new server, started after the crash"


def test_paused_container_hangs_the_client_until_read_timeout(lab: Lab) -> None:
    rows = helpers.run("paused_server", lab, drivers=["pymysql"])
    frozen = rows[rows["step"].str.startswith(("query while frozen", "no answer"))].set_index(["fix", "step"])
    assert frozen.loc[("read_timeout=1", "query while frozen"), "error_code"] == 2013
    assert 0.9 <= frozen.loc[("read_timeout=1", "query while frozen"), "latency"] < 10  # slack for load
    assert frozen.loc[("no read_timeout", "no answer for 3s"), "outcome"] == "error"
    assert frozen.loc[("no read_timeout", "query while frozen"), "latency"] >= 3, (
        "answered only after unpause"
    )
    assert lab.backend.container().status == "running"


def test_down_leaves_no_container_network_or_volume(lab: Lab) -> None:
    """A second project, brought up and down: nothing of it is left."""
    project = "gone-away-lab-cleanup"
    other = Lab.start(LabConfig.from_env(backend="docker", project=project, port=free_port()))
    with other.engine("pymysql").connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    other.stop(volumes=True)
    client = docker.from_env()
    label = {"label": f"com.docker.compose.project={project}"}
    assert client.containers.list(all=True, filters=label) == []
    assert client.networks.list(filters=label) == []
    assert client.volumes.list(filters=label) == []


def test_the_cluster_profile_runs_three_synced_nodes_behind_haproxy(lab: Lab) -> None:
    """``docker compose --profile cluster``: three Galera nodes and HAProxy on 127.0.0.1 (the
    stand-in image here); the writer listener reaches galera1, which sees a cluster of 3; a
    second project, brought down with its volumes at the end."""
    config = lab.backend.config
    files = ["-f", str(config.compose_file)] + (
        ["-f", str(config.compose_override)] if config.compose_override else []
    )
    compose = ["docker", "compose", *files, "-p", "gone-away-lab-cluster", "--profile", "cluster"]
    up = subprocess.run(
        [*compose, "up", "-d", "--wait", "galera1", "galera2", "galera3", "haproxy"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    try:
        if up.returncode != 0:  # what the nodes said: each one's last lines
            logs = subprocess.run(
                [*compose, "logs", "--no-color", "--tail", "25"], capture_output=True, text=True, timeout=60
            )
            pytest.fail(f"{up.stderr[-800:]}\n{logs.stdout[-6000:]}")
        writer = pymysql.connect(host="127.0.0.1", port=13070, user="lab", password="lab", database="lab")
        with writer, writer.cursor() as cur:
            cur.execute("SELECT @@port")
            assert cur.fetchone()[0] == 13071  # galera1, the writer's first server
            cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'")
            assert int(cur.fetchone()[1]) == 3
            cur.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, v INT)")
            cur.execute("REPLACE INTO t VALUES (1, 7)")
            writer.commit()
        galera3 = pymysql.connect(host="127.0.0.1", port=13073, user="lab", password="lab", database="lab")
        with galera3, galera3.cursor() as cur:  # replicated
            cur.execute("SELECT v FROM t WHERE id = 1")
            assert cur.fetchone()[0] == 7
    finally:
        down = subprocess.run([*compose, "down", "-v"], capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr[-2000:]  # after the body: its own failure comes first
