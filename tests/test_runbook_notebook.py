"""The runbook notebook, run with papermill against the lab: faulty on purpose, then healthy;
rendered to one self-contained HTML page without the password. And the settings check,
backed by the scaled replay."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import text

from helpers import Lab
from helpers.runbook import AppSettings, ServerFacts, check_settings, parse_settings, render, replay
from helpers.scenarios import WAIT_TIMEOUT

from .test_runbook_server import SECRET, account, leaks

#: The faulty lab: wait_timeout=2 and five pooled connections used in turn every 0.5 s, so each
#: idles 2.5 s: at any moment some sleep close to the cliff and one is being dropped.
ENGINES, EVERY = 5, 0.5


@pytest.fixture
def faulty_lab(lab: Lab) -> Iterator[Lab]:
    stop = threading.Event()
    engines = [lab.engine("pymysql", pool_size=1, pool_pre_ping=True) for _ in range(ENGINES)]

    def churn() -> None:
        k = 0
        while not stop.wait(EVERY):
            with engines[k % ENGINES].connect() as conn:
                conn.execute(text("SELECT 1"))
            k += 1

    with lab.globals(wait_timeout=WAIT_TIMEOUT):
        worker = threading.Thread(target=churn, daemon=True)
        worker.start()
        stop.wait(3)  # every engine has idled once past wait_timeout
        try:
            yield lab
        finally:
            stop.set()
            worker.join()
            for engine in engines:
                engine.dispose()


def verdict_of(executed: Path) -> str:
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text/markdown" in out.get("data", {}):
                return str(out["data"]["text/markdown"])
    raise AssertionError("no verdict in the executed runbook")


def run_runbook(lab: Lab, out: Path, **params: str) -> tuple[str, str]:
    url = account(lab, "doctor", "PROCESS").render_as_string(hide_password=False)
    try:
        # the app's own config names its database with a password too: it must not show either
        options = f"{{'SQLALCHEMY_DATABASE_URI': 'mysql+pymysql://app:{SECRET}@db/app', 'workers': 2}}"
        page = render(out, url=url, sample_seconds=5, engine_options=options, **params)
    finally:
        lab.sql("DROP USER IF EXISTS 'doctor'@'127.0.0.1'")
    html = page.read_text()
    executed = (out / "runbook.ipynb").read_text()
    assert not leaks(html) and not leaks(executed), "the password reached the page"
    assert 'src="http' not in html, "the page is self-contained"
    assert html.count("data:image/png;base64") >= 1, "the plot is embedded"
    nb = nbformat.reads(executed, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []
    return verdict_of(out / "runbook.ipynb"), html


def test_runbook_on_a_faulty_lab_names_the_idle_timeout(faulty_lab: Lab, tmp_path: Path) -> None:
    verdict, html = run_runbook(faulty_lab, tmp_path)
    assert "scenario `idle`" in verdict, verdict
    assert "Aborted_clients" in html


def test_runbook_on_a_healthy_lab_names_no_idle_timeout(lab: Lab, tmp_path: Path) -> None:
    verdict, _ = run_runbook(lab, tmp_path)
    assert "scenario `idle`" not in verdict, verdict
    assert "No disconnect cause stands out" in verdict


def test_runbook_from_the_shell_with_the_lab_default(
    lab: Lab, lab_env: dict[str, str], tmp_path: Path
) -> None:
    import subprocess
    import sys

    from .conftest import REPO

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers",
            "runbook",
            "--error",
            "(2014, 'Command Out of Sync')",
            "--seconds",
            "1",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        # a lab of its own, with no history: the server check reads the error log's last
        # 'Aborted connection' lines, and the session's lab has whatever the tests before left there
        env={**lab_env, "LAB_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0, result.stderr
    assert "scenario `fork`" in verdict_of(tmp_path / "runbook.ipynb")


@pytest.mark.parametrize(
    "recycle, wait, passes",
    [(3600, 28800, True), (28800, 600, False)],
    ids=["3600-vs-28800", "28800-vs-600"],
)
def test_settings_check_backed_by_the_scaled_replay(lab: Lab, recycle: int, wait: int, passes: bool) -> None:
    settings = parse_settings({"pool_recycle": recycle})
    findings = check_settings(settings, ServerFacts(wait_timeout=wait, max_connections=151))
    recycle_row = findings[findings["check"] == "pool_recycle vs wait_timeout"].iloc[0]
    assert (recycle_row["severity"] == "ok") is passes, findings.to_string()
    replayed = replay(lab, settings, wait, names=("idle", "recycle_margin"))
    print(replayed.to_string())
    assert bool(replayed["survived"].all()) == passes


def test_scaled_options_scale_recycle_only() -> None:
    from helpers.runbook.replay import scaled_options

    settings = AppSettings("create_engine keywords", {"pool_recycle": 3600.0, "pool_pre_ping": True})
    assert scaled_options(settings, 28800, 2) == {"pool_recycle": 0.25, "pool_pre_ping": True}


def test_runbook_page_shows_the_fleet(lab: Lab, tmp_path: Path) -> None:
    from helpers.backends.local import free_port

    url = account(lab, "doctor", "PROCESS").render_as_string(hide_password=False)
    dead_port = free_port()
    dead = f"mysql://doctor:{SECRET}@127.0.0.1:{dead_port}/app"
    try:
        page = render(tmp_path, url=url, sample_seconds=1, fleet=[url, dead])
    finally:
        lab.sql("DROP USER IF EXISTS 'doctor'@'127.0.0.1'")
    html, executed = page.read_text(), (tmp_path / "runbook.ipynb").read_text()
    assert not leaks(html) and not leaks(executed), "a fleet password reached the page"
    assert "cannot check" in html and f"127.0.0.1:{dead_port}" in html  # the dead one: a row of its own
    assert f"127.0.0.1:{lab.backend.port}" in html and "wait_timeout" in html
