"""What the browser tests share: Debian's chromium driven by Playwright, servers started the
way a user starts them, and nothing left running afterwards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from .conftest import REPO

READY = 120_000  # ms: a page with a fresh kernel on a loaded 2-core machine
ARTIFACTS = REPO / "artifacts"  # git-ignored: screenshots for a person to look at
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Pages may ask a CDN for fonts; everything else stays on 127.0.0.1.
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(playwright):  # type: ignore[no-untyped-def]
    """Debian's chromium (never a downloaded browser), or one skip line saying why not."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests skipped: no chromium at {CHROMIUM} (make browser-deps installs it)")
    try:
        return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    except Exception as exc:  # Playwright raises its own Error types
        pytest.skip(f"browser tests skipped: chromium does not start: {str(exc).splitlines()[0]}")


def local_only(context) -> None:  # type: ignore[no-untyped-def]
    """Abort every request that would leave 127.0.0.1 (FontAwesome from a CDN, news feeds)."""
    context.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith(LOCAL) else route.abort()
    )


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 90) -> None:  # type: ignore[type-arg]
    """Until something listens on 127.0.0.1:port (a GET would start a Voilà kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited early with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout:.0f} s")


def http_ok(url: str, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # 127.0.0.1 only
                return response.read()  # type: ignore[no-any-return]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextmanager
def served(command: Sequence[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:  # type: ignore[type-arg]
    """Run a user's command (``make lab``, ``python -m helpers playground``) in its own session;
    at the end send it Ctrl-C (SIGINT to its group) and check that its whole process tree,
    kernels included, is gone."""
    process = subprocess.Popen(list(command), cwd=REPO, env=env, start_new_session=True)
    seen: dict[int, psutil.Process] = {}
    try:
        yield process
    finally:
        try:
            for child in psutil.Process(process.pid).children(recursive=True):
                seen[child.pid] = child
        except psutil.NoSuchProcess:
            pass
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError("the server did not stop on Ctrl-C within 40 s") from None
        _, alive = psutil.wait_procs(list(seen.values()), timeout=10)
        left = [f"{p.pid} {' '.join(p.cmdline()[:3])}" for p in alive]
        for p in alive:
            p.kill()
        assert not left, f"left running after Ctrl-C: {left}"


def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Pages scroll inside their own panels: grow the viewport to the tallest one first.
    tallest = page.evaluate("Math.max(...Array.from(document.querySelectorAll('*'), e => e.scrollHeight))")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": min(int(tallest) + 40, 12000)})
    page.evaluate("document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    page.wait_for_timeout(300)  # let the panel lay out at its new height
    page.screenshot(path=str(path), full_page=True)
    return path


def kernel_idle(base: str, token: str, notebook: str, page) -> None:  # type: ignore[no-untyped-def]
    """Until the notebook's kernel is connected and idle (the toolbar says idle too early)."""
    for _ in range(int(READY / 500)):
        sessions = json.loads(http_ok(f"{base}/api/sessions?token={token}"))
        kernel = next((s["kernel"] for s in sessions if s["path"].endswith(notebook)), None)
        if kernel and kernel["execution_state"] == "idle" and kernel.get("connections", 0) >= 1:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"no idle kernel for {notebook}")
