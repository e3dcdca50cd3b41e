"""Every lesson as a reader sees it: opened in JupyterLab (started as ``make lab`` starts it),
all cells run in Debian's chromium, then judged as a reader would: no error or stderr box, no
dialog, no progress bar left red, every plot there. A full-length screenshot of each goes to
``artifacts/lessons/``."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jupytext
import nbformat
import pytest

from helpers import Lab

from .browser import READY, free_port, http_ok, kernel_idle, launch, local_only, served, shot, wait_for_port
from .conftest import REPO
from .test_notebooks import BROWSER_RUNS_LESSONS, SHRUNK, shows_what_it_says, with_parameters

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: playwright not installed"
)

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

LESSONS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py"))
#: How long a lesson may take to run all its cells (ms): the longest took 76 s in CI; allow for a
#: loaded machine.
RUN_ALL = 300_000
#: Lessons the browser runs with test_notebooks' smaller parameters, from a copy beside them: the
#: matrix runs every scenario (167 s whole here), and test_scenarios runs each of them already.
SHRUNK_HERE = ("14_matrix",)
PROMPT = re.compile(r"^\[\d+\]:$")
#: The notebook on screen (JupyterLab keeps other tabs in the DOM, hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: Render every cell, not only those on screen, so the whole lesson can be checked and shot.
SETTINGS = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"}}
#: JupyterLab sets ``window.jupyterapp``, so the test reads the notebook as the reader's tab holds it
#: (outputs and their metadata: what each lesson recorded) without saving over the lesson's files.
EXPOSE = {"LabApp": {"expose_app_in_browser": True}}
MODEL = "() => window.jupyterapp.shell.currentWidget.content.model.toJSON()"


@pytest.fixture(scope="module")
def jupyterlab(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``python -m helpers lab`` (what ``make lab`` runs), after ``make notebooks``."""
    subprocess.run(["make", "-s", "notebooks"], cwd=REPO, check=True, capture_output=True)
    settings = tmp_path_factory.mktemp("lab-settings")
    config = tmp_path_factory.mktemp("jupyter-config")  # window.jupyterapp: the notebook's model
    (config / "jupyter_server_config.json").write_text(json.dumps(EXPOSE))
    for name, value in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "LAB_BACKEND": lab.backend.name,
        "LAB_HOME": str(lab.backend.config.home),
        "JUPYTER_TOKEN": token,
        "BROWSER": "true",
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTER_CONFIG_PATH": str(config),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path_factory.mktemp("workspaces")),
    }
    if lab.backend.name == "docker":
        env["LAB_PORT"] = str(lab.backend.port)
    with served([sys.executable, "-m", "helpers", "lab", "--port", str(port)], env) as process:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", token


@pytest.fixture(scope="module")
def context(jupyterlab: tuple[str, str]):  # type: ignore[no-untyped-def]
    with sync_api.sync_playwright() as playwright:
        try:
            chromium = launch(playwright)
        except pytest.skip.Exception as skipped:
            if not BROWSER_RUNS_LESSONS:
                raise
            # the headless pass left its lessons to this one: not a silent skip
            pytest.fail(f"{skipped.msg}; LAB_HEADLESS_NOTEBOOKS=1 runs the lessons headless instead")
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        local_only(context)
        yield context
        context.close()
        chromium.close()


@pytest.fixture
def page(jupyterlab: tuple[str, str], context):  # type: ignore[no-untyped-def]
    """A tab per lesson; closed without JupyterLab's "leave the page?" question, then the
    lesson's kernel is shut down so that one kernel runs at a time."""
    base, token = jupyterlab
    tab = context.new_page()
    yield tab
    tab.close(run_before_unload=False)
    for session in json.loads(http_ok(f"{base}/api/sessions?token={token}")):
        context.request.delete(f"{base}/api/sessions/{session['id']}?token={token}")


def run_all_and_wait(base: str, token: str, notebook: str, page, budget: int = RUN_ALL) -> None:  # type: ignore[no-untyped-def]
    # a workspace of its own: JupyterLab would otherwise reopen the earlier lessons beside it
    page.goto(
        f"{base}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}?reset&token={token}", timeout=READY
    )
    kernel_idle(base, token, notebook, page)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    prompts = page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-prompt")
    for _ in range(budget // 1000):
        page.wait_for_timeout(1000)
        texts = [t.strip() for t in prompts.all_text_contents()]  # textContent: off-screen cells too
        if texts and all(PROMPT.match(t) for t in texts):
            kernel_idle(base, token, notebook, page)
            return
    raise AssertionError(f"{notebook}: not every cell ran in {budget // 1000} s: {texts}")


@pytest.fixture
def notebook(lesson: str) -> Iterator[str]:
    """The lesson's notebook in ``notebooks/``; for :data:`SHRUNK_HERE`, a copy with the smaller
    parameters, removed after."""
    if lesson not in SHRUNK_HERE:
        yield f"{lesson}.ipynb"
        return
    nb = jupytext.read(REPO / "notebooks" / f"{lesson}.py")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with_parameters(nb, SHRUNK[lesson])
    copy = REPO / "notebooks" / f"shrunk_{lesson}.ipynb"  # outside the lessons' pattern
    nbformat.write(nb, copy)
    try:
        yield copy.name
    finally:  # and the script jupytext pairs it with, should JupyterLab have saved it
        copy.unlink(missing_ok=True)
        copy.with_suffix(".py").unlink(missing_ok=True)


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_reads_well_in_jupyterlab(
    jupyterlab: tuple[str, str], page, lesson: str, notebook: str
) -> None:  # type: ignore[no-untyped-def]
    base, token = jupyterlab
    run_all_and_wait(base, token, notebook, page)
    outputs = page.locator(f"{PANEL} .jp-OutputArea-output")
    stderr = outputs.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    assert stderr.count() == 0, f"error or stderr output: {stderr.all_text_contents()[:3]}"
    assert page.locator(".jp-Dialog").count() == 0, "a dialog is open"
    red = outputs.locator(".progress-bar-danger, .widget-progress .progress-bar-danger")
    assert red.count() == 0, "a progress bar was left red after a clean run"
    images = outputs.locator("img")
    broken = page.evaluate(
        "() => Array.from(document.querySelectorAll('.jp-OutputArea-output img'))"
        ".filter(img => !(img.complete && img.naturalWidth > 0)).length"
    )
    assert broken == 0, "a plot image did not load"
    assert images.count() >= (0 if lesson.startswith("00") else 1), "every lesson shows at least one plot"
    shot(page, f"lessons/{lesson}")
    # what the lesson claims, its whole run shows (the local pass runs each lesson here only)
    shows_what_it_says(lesson, nbformat.from_dict(page.evaluate(MODEL)))


def test_lessons_found() -> None:
    assert LESSONS[:2] == ["00_start_here", "01_reproduce"] and len(LESSONS) >= 13
    assert Path(REPO / "notebooks" / "playground.py").exists()
