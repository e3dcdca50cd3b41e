"""JupyterLab and the Voilà playground, served on 127.0.0.1 with the lab behind them.

``python -m helpers lab`` (what ``make lab`` runs) and ``python -m helpers playground``
(``make playground``) start the lab's MariaDB if none is running, start the web server
in the foreground, and on Ctrl-C or SIGTERM stop the server, its kernels, and the
MariaDB if they started it: nothing is left running.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from .config import REPO_DIR, LabConfig
from .errors import LabError
from .lab import Lab

log = logging.getLogger(__name__)

NOTEBOOKS = REPO_DIR / "notebooks"


def paired(notebook: str) -> str:
    """``notebooks/NAME.ipynb`` from its percent script if it is missing or its code is not the
    script's (what ``make notebooks`` does), with a kernelspec so JupyterLab opens it without
    asking for a kernel. (Voilà reads the ``.ipynb``: a stale one would serve an old page; one that
    only has outputs besides the script's code is kept.)"""
    import jupytext

    target = NOTEBOOKS / notebook
    script = target.with_suffix(".py")
    if not target.exists() or _sources(jupytext.read(target)) != _sources(jupytext.read(script)):
        nb = jupytext.read(script)
        nb.metadata["kernelspec"] = KERNELSPEC
        jupytext.write(nb, target)
    return notebook


def _sources(nb: Any) -> list[str]:
    """A notebook's cells as text: whether a paired ``.ipynb`` still holds its script's code
    (its outputs, which the script has not, do not count)."""
    return [str(cell.source).strip() for cell in nb.cells]


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _bin(name: str) -> str:
    """A console script of this Python's environment (the venv's jupyter, voila)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def jupyterlab_command(notebook: str = "00_start_here.ipynb", port: int | None = None) -> list[str]:
    """JupyterLab on 127.0.0.1, allowed to run as root (containers, fresh machines)."""
    cmd = [_bin("jupyter"), "lab", paired(notebook), "--ServerApp.ip=127.0.0.1", "--allow-root"]
    # (the "Jupyter news" prompt is switched off by the overrides.json `make setup` installs)
    cmd.append("--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
    return cmd + ([f"--ServerApp.port={port}"] if port else [])


def voila_command(notebook: str = "playground.ipynb", port: int | None = None) -> list[str]:
    """Voilà serving one notebook as a page on 127.0.0.1 (one kernel per browser tab)."""
    cmd = [_bin("voila"), paired(notebook), "--Voila.ip=127.0.0.1", "--no-browser"]
    cmd.append(
        "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext"
    )  # its page script fails in Voilà
    return cmd + ([f"--port={port}"] if port else [])


def serve(command: Sequence[str], config: LabConfig | None = None) -> int:
    """Run ``command`` in ``notebooks/`` with the lab up; stop everything it started on exit."""

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    lab: Lab | None = None
    process: subprocess.Popen[bytes] | None = None
    try:
        lab = Lab.start(config or LabConfig.from_env(), detach=True)  # kernels find it by LAB_HOME
        b = lab.backend
        log.warning(
            "lab: %s MariaDB on %s:%s (%s)", b.name, b.host, b.port, "started" if lab.started else "found"
        )
        process = subprocess.Popen(list(command), cwd=NOTEBOOKS, start_new_session=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    except FileNotFoundError as exc:
        raise LabError(f"cannot start {command[0]}: {exc.strerror}; run `make setup` first") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process is not None:
            _stop(process)
        if lab is not None and lab.started:
            lab.stop()
            log.warning("lab stopped")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server (it shuts its kernels down); then SIGKILL to whatever of its own
    process tree is left (kernels run in sessions of their own)."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log.warning("server did not stop in 15 s; killing it")
            process.kill()
            process.wait()
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
