"""One real MariaDB for the whole test session (local backend unless LAB_BACKEND says otherwise)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import Lab, LabConfig

REPO = Path(__file__).resolve().parents[1]


def _backend() -> str:
    backend = os.environ.get("LAB_BACKEND", "local")
    return "local" if backend == "auto" else backend


@pytest.fixture(scope="session")
def lab_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def lab(lab_home: Path) -> Iterator[Lab]:
    """Started detached so notebooks (in their own kernels) can attach and even restart it;
    stopped at the end of the session."""
    config = LabConfig.from_env(backend=_backend(), home=lab_home, port=None)
    lab = Lab.start(config, detach=True)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def lab_env(lab: Lab, lab_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment under which a child process (a kernel, the CLI) finds the session's lab."""
    monkeypatch.setenv("LAB_HOME", str(lab_home))
    monkeypatch.setenv("LAB_BACKEND", lab.backend.name)
    monkeypatch.delenv("LAB_PORT", raising=False)
    monkeypatch.delenv("LAB_URL", raising=False)
    return dict(os.environ)
