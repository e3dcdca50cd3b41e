"""The playground in Python (no browser): controls, Run, verdicts, bad values, one run at a
time; and scenario runs from two processes against one lab, serialized."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import helpers
from helpers import Lab, runlock
from helpers.drivers import ALL_DRIVERS
from helpers.playground import Playground, verdict

from .conftest import REPO


@pytest.fixture
def playground(lab: Lab) -> Playground:
    pg = Playground(lab)
    pg.scenario.value = "idle"
    for driver, box in pg.drivers.items():
        box.value = driver in helpers.DRIVERS  # the two default drivers
    return pg


def test_idle_without_a_fix_fails_once_then_recovers(playground: Playground) -> None:
    playground.button.click()
    assert playground.running and playground.button.disabled
    playground.button.click()  # a second click cannot start a second run
    assert "already in progress" in playground.message.value
    playground.wait()
    assert not playground.button.disabled
    text = playground.verdict.value
    for driver in ("pymysql", "mysqldb"):
        assert f"{driver}: failed once with 2006 on “after idle”; the next checkout recovered" in text, text
    assert "error_code" in playground.outcome.value and "2006" in playground.outcome.value
    assert "Aborted_clients: <b>+2</b>" in playground.server.value
    assert bytes(playground.plot.value).startswith(b"\x89PNG")
    assert playground.history_frame()["errors"].tolist() == [2]


def test_pre_ping_runs_clean_and_history_compares(playground: Playground) -> None:
    playground.button.click()
    playground.wait()
    playground.pool_pre_ping.value = True
    playground.button.click()
    playground.wait()
    assert (
        "pymysql: ran clean" in playground.verdict.value and "mysqldb: ran clean" in playground.verdict.value
    )
    history = playground.history_frame()
    assert history[["fix", "errors"]].values.tolist() == [["defaults", 2], ["pool_pre_ping=True", 0]]
    assert "data:text/csv;base64," in playground.export.value


def test_a_scenario_fix_and_a_timing_can_be_chosen(playground: Playground) -> None:
    playground.scenario.value = "long_work"
    assert set(playground.timing_inputs) == {"wait_timeout", "work"}
    playground.timing_inputs["work"].value = 1.0  # shorter than wait_timeout: nothing to lose
    playground.fix.value = "none"
    assert playground.pool_pre_ping.disabled
    playground.button.click()
    playground.wait()
    assert "ran clean" in playground.verdict.value and "failed" not in playground.verdict.value


@pytest.mark.parametrize(
    "control, value, message",
    [
        ("pool_recycle", -5, "pool_recycle=-5"),
        ("extra", "{'pool_recycle': __import__('os').getpid()}", "never run"),
        ("extra", '{"pool_recycel": 3}', "unknown engine option(s): pool_recycel"),
        ("extra", "[1, 2]", "must be a dict"),
        ("pool_size", 0, "pool_size=0"),
        ("read_timeout", -1, "read_timeout=-1"),
        ("read_timeout", 1.5, "takes whole seconds, not 1.5"),  # mysqlclient's read_timeout
    ],
)
def test_bad_values_give_a_message_and_run_nothing(
    playground: Playground, control: str, value: object, message: str
) -> None:
    getattr(playground, control).value = value
    assert playground.start() is False
    assert message in playground.message.value.replace("&#x27;", "'").replace("&quot;", '"')
    assert "lab-bad" in getattr(playground, control)._dom_classes  # marked where the value is
    marked = [name for name, child in playground.a.inputs.items() if "lab-bad" in child._dom_classes]
    assert marked == [control]
    assert not playground.running and playground.history == [] and playground.last_rows is None


def test_no_drivers_and_long_waits_are_refused(playground: Playground) -> None:
    for box in playground.drivers.values():
        box.value = False
    assert playground.start() is False and "at least one driver" in playground.message.value
    playground.drivers["pymysql"].value = True
    box = playground.timing_inputs["idle"]
    box.value = 10_000  # the widget clamps to its maximum
    assert box.value == 30 and playground.settings()[3]["idle"] == 30
    with pytest.raises(ValueError, match="at most 30"):
        helpers.run("idle", playground.lab, idle=31)


def test_verdict_wording() -> None:
    import pandas as pd

    steps = [("first", "ok", None), ("after idle", "error", 2006), ("next", "ok", None)]
    rows = pd.DataFrame(
        [
            {
                "driver": "pymysql",
                "fix": "none",
                "step": step,
                "outcome": outcome,
                "error_code": code,
                "error_class": None,
            }
            for step, outcome, code in steps
        ]
    )
    assert verdict(rows) == "pymysql: failed once with 2006 on “after idle”; the next checkout recovered"


def cli(*args: str, stderr: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "helpers", "scenarios", "--json", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )  # fmt: skip


def test_two_processes_against_one_lab_are_serialized(
    lab: Lab, lab_env: dict[str, str], tmp_path: Path
) -> None:
    """The new user's report: `--only idle` in one terminal, `--only restart --only idle` in
    another, one lab. Each idle run must see its own 2006, not the other's restart (2013).
    The test holds the lab until both runs have queued, so that they overlap however slowly
    a loaded machine starts them; then each runs alone."""
    b = lab.backend
    logs = [tmp_path / "first.err", tmp_path / "second.err"]
    with runlock.exclusive(b.host, b.port, "the test, until both have queued"):
        with logs[0].open("w") as e1, logs[1].open("w") as e2:
            first = cli("--only", "idle", "--driver", "pymysql", stderr=e1)
            second = cli("--only", "restart", "--only", "idle", "--driver", "pymysql", stderr=e2)
        queued = helpers.progress.wait_until(
            lambda: all("queued" in log.read_text() for log in logs), timeout=120, desc="both runs queue"
        )
        assert queued, [log.read_text() for log in logs]
    out1, _ = first.communicate(timeout=120)
    out2, _ = second.communicate(timeout=120)
    err1, err2 = (log.read_text() for log in logs)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    for out in (out1, out2):
        idle = [
            r for r in map(json.loads, out.splitlines()) if r["scenario"] == "idle" and r["fix"] == "none"
        ]
        assert len(idle) == 1 and idle[0]["error_code"] == 2006, idle


def test_lock_is_held_per_server_and_reentrant(lab: Lab) -> None:
    b = lab.backend
    seen: list[str] = []
    with runlock.exclusive(b.host, b.port, "outer"), runlock.exclusive(b.host, b.port, "inner"):
        seen.append("held twice in one thread")

        def other() -> None:
            with runlock.exclusive(b.host, b.port, "other thread", timeout=5):
                seen.append("other got it")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.5)
        assert seen == ["held twice in one thread"], "the other thread must wait"
    thread.join(10)
    assert seen[-1] == "other got it"


def test_make_playground_starts_a_lab_and_leaves_nothing_running(tmp_path, lab_env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """With no lab running, the page's command starts one, and Ctrl-C stops both."""
    from helpers import LabConfig
    from helpers.backends import LocalBackend

    from .browser import free_port, served, wait_for_port

    port = free_port()
    env = {**lab_env, "LAB_HOME": str(tmp_path), "LAB_BACKEND": "local"}
    own = LocalBackend(LabConfig.from_env(backend="local", home=tmp_path))
    with served([sys.executable, "-m", "helpers", "playground", "--port", str(port)], env) as process:
        wait_for_port(port, process)
        assert own.running(), "the playground started its own lab"
    assert not own.running(), "Ctrl-C stopped the lab it started"


def test_every_driver_is_offered_and_one_a_cause_cannot_run_with_says_why(playground: Playground) -> None:
    assert list(playground.drivers) == list(ALL_DRIVERS)
    playground.scenario.value = "async_cancel"
    sync = [d for d in ALL_DRIVERS if d not in ("aiomysql", "asyncmy")]
    for driver in sync:
        box = playground.drivers[driver]
        assert box.disabled and not box.value and box.tooltip.startswith("a sync driver"), driver
    assert playground.settings()[1] == ["aiomysql"]  # a driver it runs with is checked for you
    assert "pymysql</b>: a sync driver" in playground.why_not.value
    playground.scenario.value = "idle"
    assert not any(box.disabled for box in playground.drivers.values())


def test_a_b_runs_both_and_compares_them_in_one_line(playground: Playground) -> None:
    playground.drivers["mysqldb"].value = False
    playground.mode.value = "ab"
    playground.a.fix.value, playground.b.fix.value = "none", "pool_pre_ping"
    assert playground.start()
    playground.wait()
    text = playground.verdict.value
    assert "A failed once with 2006 on “after idle”; B ran clean at +" in text, text
    assert "round trip" in text and "per checkout" in text
    assert set(playground.last_rows["fix"]) == {"A · none", "B · pool_pre_ping"}
    assert playground.server.value.count("Aborted_clients") == 2  # the server's view of each
    assert playground.history_frame()["mode"].tolist() == ["A/B"]


def test_a_sweep_marks_the_boundary_and_said_how_long_before(playground: Playground) -> None:
    playground.scenario.value = "recycle_margin"
    playground.drivers["mysqldb"].value = False
    playground.mode.value = "sweep"
    playground.knob.value = "pool_recycle"
    playground.sweep_from.value, playground.sweep_to.value, playground.sweep_points.value = 0.6, 2.4, 2
    assert "2 runs (0.6, 2.4 s): about" in playground.estimate.value
    assert playground.start()
    playground.wait()
    points = playground.last_sweep
    assert points is not None and points["value"].tolist() == [0.6, 2.4]
    # checkout after 1.3 s idle, 1.3 s of work: a connection recycled at checkout survives; the
    # values sit well away from the 1.3 s where it flips, so that a slow machine cannot move it
    assert points["ok"].tolist() == [True, False], points.to_string()
    assert "holds for pool_recycle ≤ 0.6; the boundary lies between 0.6 and 2.4" in playground.verdict.value
    assert bytes(playground.plot.value).startswith(b"\x89PNG")


def test_a_link_restores_the_settings_and_runs_nothing(playground: Playground, lab: Lab) -> None:
    playground.scenario.value = "recycle_margin"
    playground.mode.value = "sweep"
    playground.timing_inputs["hold"].value = 1.1
    playground.a.pool_pre_ping.value = True
    playground.knob.value = "wait_timeout"
    playground.sweep_points.value = 5
    link = playground.show_link()
    assert link.startswith("?") and "scenario=recycle_margin" in link  # no Voilà here: the query alone
    again = Playground(lab, query=link.split("?", 1)[1])
    assert again.query() == playground.query()
    assert (again.mode.value, again.scenario.value, again.knob.value) == (
        "sweep",
        "recycle_margin",
        "wait_timeout",
    )
    assert again.timing_inputs["hold"].value == 1.1 and again.a.pool_pre_ping.value
    assert [d for d, box in again.drivers.items() if box.value] == list(helpers.DRIVERS)
    assert again.history == [] and again.verdict.value == "" and not again.running
    broken = Playground(lab, query="scenario=nope")
    assert "no scenario &#x27;nope&#x27;" in broken.message.value
    partly = Playground(
        lab, query="scenario=recycle_margin&mode=nope&points=99&drivers=mysqldb,psycopg&t.hold=1.2"
    )
    message = partly.message.value
    assert (
        "mode:" in message
        and "points: 99 is out of range" in message
        and "no driver &#x27;psycopg" in message
    )
    assert (
        partly.scenario.value == "recycle_margin" and partly.timing_inputs["hold"].value == 1.2
    )  # the rest is set
    assert [d for d, box in partly.drivers.items() if box.value] == ["mysqldb"]


def test_a_bad_value_is_marked_at_its_control(playground: Playground) -> None:
    playground.pool_size.value = 0
    assert not playground.start()
    assert "lab-bad" in playground.a.pool_size._dom_classes and "pool_size=0" in playground.message.value
    playground.pool_size.value = 1
    playground.mode.value = "sweep"
    playground.sweep_from.value, playground.sweep_to.value = 3.0, 1.0
    assert not playground.start()
    assert "lab-bad" in playground.sweep_from._dom_classes and "sweep:" in playground.message.value
    assert "lab-bad" not in playground.a.pool_size._dom_classes  # the fixed one is unmarked again
