"""The playground and the lab in a real browser (Debian's chromium, driven by Playwright),
started as a user starts them: ``python -m helpers playground`` (``make playground``) and
``make lab``. Screenshots go to ``artifacts/``."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

from helpers import Lab

from .browser import READY, free_port, http_ok, kernel_idle, launch, local_only, served, shot, wait_for_port

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: playwright not installed"
)

pytestmark = [pytest.mark.browser, pytest.mark.server]

RUN = 90_000


def run_button(scope):  # type: ignore[no-untyped-def]
    return scope.locator("button.widget-button", has_text="Run")


def set_number(scope, label: str, value: float) -> None:  # type: ignore[no-untyped-def]
    box = scope.locator(".widget-text").filter(has_text=label).locator("input")
    box.fill(str(value))
    box.press("Enter")  # numbers sync on change, not on every key


def verdict_after_run(scope) -> str:  # type: ignore[no-untyped-def]
    """The verdict, which the page shows last; then the plot has loaded and the run has ended."""
    scope.locator(".verdict").wait_for(timeout=RUN)
    scope.locator("img.widget-image").wait_for(state="visible", timeout=RUN)
    scope.locator("button.widget-button.mod-primary:enabled").wait_for(timeout=RUN)  # Run, again
    return str(scope.locator(".verdict").text_content())


@pytest.fixture
def voila(lab: Lab, lab_env: dict[str, str]):  # type: ignore[no-untyped-def]
    port = free_port()
    with served([sys.executable, "-m", "helpers", "playground", "--port", str(port)], lab_env) as process:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    with sync_api.sync_playwright() as playwright:
        chromium = launch(playwright)
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        local_only(context)
        yield context
        context.close()
        chromium.close()


def test_voila_playground_runs_a_scenario(voila: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(voila, timeout=READY)
    run_button(page).wait_for(timeout=READY)
    set_number(page, "idle (s)", 2.5)
    run_button(page).click()
    text = verdict_after_run(page)
    assert "pymysql: failed once with 2006 on “after idle”; the next checkout recovered" in text, text
    page.get_by_text("Aborted_clients", exact=False).first.wait_for(timeout=RUN)  # the server's view follows
    shot(page, "voila-playground")


def test_two_tabs_queue_instead_of_spoiling_each_other(voila: str, browser) -> None:  # type: ignore[no-untyped-def]
    first, second = browser.new_page(), browser.new_page()
    for page in (first, second):
        page.goto(voila, timeout=READY)
        run_button(page).wait_for(timeout=READY)
    run_button(first).click()
    first.get_by_text("idle 3s", exact=False).first.wait_for(timeout=RUN)  # the first holds the lab
    run_button(second).click()
    second.get_by_text("queued behind", exact=False).wait_for(timeout=RUN)  # it says it waits
    for page in (first, second):
        text = verdict_after_run(page)
        assert "failed once with 2006" in text and "2013" not in text, text
    shot(second, "voila-second-tab")


def test_make_lab_serves_the_lessons_and_the_playground(
    lab: Lab, lab_env: dict[str, str], browser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **lab_env,
        "JUPYTER_PORT": str(port),
        "JUPYTER_TOKEN": token,
        "BROWSER": "true",  # the user's browser would open here; ours is Playwright's
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    base = f"http://127.0.0.1:{port}"
    with served(["make", "lab"], env) as process:
        wait_for_port(port, process, timeout=300)  # make checks the setup first
        assert b"00_start_here" in http_ok(f"{base}/api/contents?token={token}")
        page = browser.new_page()
        page.goto(f"{base}/lab/tree/00_start_here.ipynb?token={token}", timeout=READY)
        kernel_idle(base, token, "00_start_here.ipynb", page)
        page.locator(".jp-RenderedMarkdown h1", has_text="Start here").wait_for(timeout=READY)
        assert page.locator(".jp-Dialog").count() == 0, "a dialog (Select Kernel?) opened"
        assert "Jupyter news" not in str(page.locator("body").text_content())
        shot(page, "lab-00_start_here")

        page.goto(f"{base}/lab/tree/playground.ipynb?token={token}", timeout=READY)
        kernel_idle(base, token, "playground.ipynb", page)
        assert page.locator(".jp-Dialog").count() == 0
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        output = page.locator(".jp-OutputArea-output")
        run_button(output).wait_for(timeout=READY)
        setting_a = output.locator(".lab-group", has_text="Setting A")
        setting_a.locator(".widget-checkbox", has_text="pool_pre_ping").locator("input").check()
        run_button(output).click()
        text = verdict_after_run(output)
        assert "pymysql: ran clean" in text, text
        shot(page, "lab-playground")


def pick(scope, label: str, value: str) -> None:  # type: ignore[no-untyped-def]
    scope.locator(".widget-dropdown").filter(has_text=label).locator("select").select_option(value)


def test_voila_offers_every_driver_and_runs_a_against_b(voila: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(voila, timeout=READY)
    run_button(page).wait_for(timeout=READY)
    offered = [t.strip() for t in page.locator(".widget-checkbox label").all_text_contents()]
    assert {"pymysql", "mysqldb", "mysqlconnector", "mariadbconnector", "aiomysql", "asyncmy"} <= set(offered)
    page.locator(".widget-toggle-button", has_text="A/B").click()
    pick(page.locator(".lab-group", has_text="Setting A"), "fix", "none")
    pick(page.locator(".lab-group", has_text="Setting B"), "fix", "pool_pre_ping")
    page.locator("button.widget-button", has_text="Run A, then B").click()
    text = verdict_after_run(page)
    assert "A failed once with 2006 on “after idle”; B ran clean" in text, text
    page.get_by_text("B · pool_pre_ping", exact=False).first.wait_for(timeout=RUN)  # the outcome table
    shot(page, "playground-ab")


def test_voila_sweep_marks_where_the_fix_stops_holding(voila: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(voila, timeout=READY)
    run_button(page).wait_for(timeout=READY)
    page.locator(".widget-toggle-button", has_text="sweep").click()
    pick(page, "cause", "recycle_margin")
    pick(page, "number", "pool_recycle")
    set_number(page, "from (s)", 0.4)
    set_number(page, "to (s)", 2.8)
    set_number(page, "points", 4)  # 0.4, 1.2, 2, 2.8: none close to the 1.3 s where it flips
    page.get_by_text("4 runs (0.4, 1.2, 2, 2.8 s): about", exact=False).wait_for(timeout=READY)  # said before
    page.locator("button.widget-button", has_text="Run the sweep").click()
    text = verdict_after_run(page)
    assert "holds for pool_recycle ≤ 1.2; the boundary lies between 1.2 and 2" in text, text
    shot(page, "playground-sweep")


def test_a_link_opens_the_page_with_its_settings_and_runs_nothing(voila: str, browser) -> None:  # type: ignore[no-untyped-def]
    query = "mode=sweep&scenario=recycle_margin&drivers=pymysql,mysqldb&t.hold=1.1&knob=wait_timeout&points=5"
    page = browser.new_page()
    page.goto(f"{voila}?{query}", timeout=READY)
    run_button(page).wait_for(timeout=READY)
    assert (
        page.locator(".widget-dropdown").filter(has_text="cause").locator("select").input_value()
        == "recycle_margin"
    )
    assert (
        page.locator(".widget-dropdown").filter(has_text="number").locator("select").input_value()
        == "wait_timeout"
    )
    assert page.locator(".widget-text").filter(has_text="hold (s)").locator("input").input_value() == "1.1"
    assert page.locator(".widget-toggle-button.mod-active").text_content().strip() == "sweep one number"
    page.locator("button.widget-button", has_text="copy link").click()
    link = page.locator(".widget-text").filter(has_text="link").locator("input")
    link.wait_for(timeout=READY)
    url = link.input_value()
    assert url.startswith(voila) and "scenario=recycle_margin" in url and "points=5" in url, url
    assert page.locator(".verdict").count() == 0, "opening a link ran something"
    shot(page, "playground-link")
