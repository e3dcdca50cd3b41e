"""The measurements notebooks 04-11 show, checked against what they claim."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import helpers
from goneaway_pool.keepalive import KeepAlive
from helpers import Lab
from helpers.scenarios import WAIT_TIMEOUT, interactive, keepalive_vs_timeout, packets, server_side


def test_cli_in_a_terminal_is_interactive_and_drivers_are_not(lab: Lab) -> None:
    seen = interactive.timeout_by_client(lab).set_index("client")["session wait_timeout"]
    assert seen["mariadb command line, in a terminal"] == interactive.INTERACTIVE_TIMEOUT
    assert seen["mariadb command line, with -e"] == WAIT_TIMEOUT
    for driver in helpers.DRIVERS:
        assert seen[driver] == WAIT_TIMEOUT
        assert seen[f"{driver}, client_flag=INTERACTIVE"] == interactive.INTERACTIVE_TIMEOUT


def test_client_flag_in_connect_args_drops_found_rows(lab: Lab) -> None:
    counts = interactive.found_rows_trap(lab).set_index(["driver", "client_flag"])["rowcount"]
    for driver in helpers.DRIVERS:
        assert counts[(driver, "default")] == 1
        assert counts[(driver, "connect_args client_flag=INTERACTIVE")] == 0
        assert counts[(driver, "connect_args client_flag=INTERACTIVE|FOUND_ROWS")] == 1


@pytest.mark.parametrize("driver", list(helpers.DRIVERS))
def test_session_needs_rollback_after_losing_its_connection(lab: Lab, driver: str) -> None:
    steps = server_side.session_after_disconnect(lab, driver).set_index("step")
    lost = steps.loc["SELECT in the same transaction"]
    assert (lost["exception"], lost["error_code"]) == ("OperationalError", 2013)
    assert steps.loc["SELECT again, no rollback", "exception"] == "PendingRollbackError"
    assert steps.loc["SELECT after rollback", "outcome"] == "ok"
    assert steps.loc["rows the INSERT left", "message"] == "0", "the uncommitted INSERT is gone"


def test_pymysql_sends_bytes_as_hex_so_its_headroom_is_half(lab: Lab) -> None:
    table = packets.packet_headroom(lab)
    assert (table["mysqldb"] == "ok").all(), "mysqlclient: ~1 byte per byte, 1,000,000 fits in 1 MiB"
    assert table.loc[512_000, "pymysql"] == "ok" and table.loc[700_000, "pymysql"] == "error"


def test_oversized_packet_is_named_in_the_error_log(lab: Lab) -> None:
    helpers.run("max_allowed_packet", lab, drivers=["pymysql"], fixes=["one 2 MiB INSERT"])
    assert lab.error_log(1, contains="Got a packet bigger than 'max_allowed_packet' bytes")


def test_keepalive_holds_connections_raised_timeout_only_postpones(lab: Lab) -> None:
    samples = keepalive_vs_timeout.connections_over_time(lab, pool_size=3, seconds=5.5)
    at = samples.pivot(index="t", columns="strategy", values="connections")
    early, middle, late = (
        at.loc[at.index < 1.5],
        at.loc[(at.index >= 2.6) & (at.index < 3.9)],
        at.loc[at.index >= 4.6],
    )
    assert (early.drop(columns="Threads_connected (server)") == 3).all().all()
    assert (middle["none"] == 0).all() and (middle[keepalive_vs_timeout.RAISED_TIMEOUT.name] == 3).all()
    assert (late[keepalive_vs_timeout.RAISED_TIMEOUT.name] == 0).all()
    assert (at[keepalive_vs_timeout.KEEPALIVE_JOB.name] == 3).all(), (
        "the keep-alive job holds them the whole time"
    )


def test_keepalive_job_pings_on_schedule(lab: Lab) -> None:
    engine = lab.engine("pymysql", pool_size=2)
    try:
        before = lab.status(["Com_select"]).loc[0, "Com_select"]
        with KeepAlive(engine, every=0.2, size=2) as job:
            helpers.progress.wait(1.1)
        sent = lab.status(["Com_select"]).loc[0, "Com_select"] - before
        # rounds of 2, each a SELECT 1 the server counted; a busy machine can only delay rounds
        # (the job waits `every` between them), so at most 5 fit in 1.1 s and at least one ran
        assert job.pings % 2 == 0 and 2 <= job.pings <= 10 and sent >= job.pings, (job.pings, sent)
    finally:
        engine.dispose()


def test_cli_scenarios_json_lines(lab_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "helpers", "scenarios", "--only", "kill_idle", "--json"],
        env={**lab_env, "LAB_PROGRESS": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len(helpers.DRIVERS) * len(helpers.SCENARIOS["kill_idle"].fixes)
    required = {"scenario", "driver", "fix", "ok", "error_code", "error_message", "seconds"}
    assert all(required <= set(record) for record in records)
    failed = [r for r in records if not r["ok"]]
    assert {(r["driver"], r["fix"], r["error_code"]) for r in failed} == {
        ("pymysql", "none", 2013),
        ("mysqldb", "none", 2013),
    }
