"""The parts an application uses stand alone: ``goneaway_pool`` in a fresh venv that has only
SQLAlchemy and PyMySQL (the project installed without extras), against the session's server;
and ``import helpers`` loads nothing heavy and changes no other library's option."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import Lab

from .conftest import REPO

#: What an application must not get by importing the pool.
HEAVY = ("pandas", "matplotlib", "flask", "fastapi", "IPython", "jupyter_client", "helpers")

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from sqlalchemy import create_engine, text
    from goneaway_pool import Hardening, KeepAlive, harden
    from goneaway_pool.failover import treat_as_disconnect

    engine = create_engine(sys.argv[1], pool_size=1, max_overflow=0)
    watch = harden(engine, Hardening(jitter=0))
    treat_as_disconnect(engine)
    with engine.connect() as conn:
        first = conn.execute(text("SELECT CONNECTION_ID()")).scalar()
    with engine.connect() as conn:  # checked out again: the peek sees a live socket
        again = conn.execute(text("SELECT CONNECTION_ID()")).scalar()
    with KeepAlive(engine, every=0.1, size=1) as job:
        import time; time.sleep(0.35)
    engine.dispose()
    print(json.dumps({"same": first == again, "counts": dict(watch.counts), "pings": job.pings,
                      "heavy": [m for m in %r if m in sys.modules]}))
    """
)


@pytest.mark.slow
def test_the_pool_runs_with_only_sqlalchemy_and_pymysql(lab: Lab, tmp_path: Path) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (make setup installs it from the lock)")
    venv = tmp_path / "app-venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    # the project without extras (its base dependencies are SQLAlchemy and PyMySQL), built from a
    # copy: setuptools writes build/ beside the sources it builds
    source = tmp_path / "project"
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / part, source / part)
    for part in ("helpers", "goneaway_pool"):
        shutil.copytree(REPO / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(python), str(source)], check=True, timeout=300
    )
    installed = subprocess.run(
        [uv, "pip", "freeze", "--python", str(python)], capture_output=True, text=True, check=True
    ).stdout
    names = {re.split(r"==| @ ", line)[0].lower() for line in installed.splitlines() if line.strip()}
    assert {"sqlalchemy", "pymysql", "gone-away-lab"} <= names and not names & {"pandas", "flask"}, names
    url = lab.url("pymysql").render_as_string(hide_password=False)
    result = subprocess.run(
        [str(python), "-c", SCRIPT % (HEAVY,), url], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["same"] and seen["counts"]["peeked"] >= 1 and seen["pings"] >= 1, seen
    assert seen["heavy"] == [], seen


def test_import_helpers_is_light_and_changes_no_global_option() -> None:
    probe = (
        "import sys, helpers; import pandas as pd; "
        "print(pd.get_option('display.max_colwidth'), sorted(m for m in ('sqlalchemy', 'pymysql', 'MySQLdb', "
        "'fastapi', 'flask', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["50", "[]"], out.stdout


def test_every_lazy_name_of_helpers_resolves() -> None:
    import helpers

    assert set(helpers.__all__) == set(helpers._LAZY)
    for name in helpers.__all__:
        assert getattr(helpers, name) is not None, name
