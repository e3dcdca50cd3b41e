"""One real MariaDB for the whole test session (local backend unless LAB_BACKEND says otherwise)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import Lab, LabConfig
from helpers.backends.local import free_port
from helpers.cluster import remove_data

from . import dockerlab

REPO = Path(__file__).resolve().parents[1]

#: Fixtures that bring a server up: a test that asks for one is marked ``server``.
SERVER_FIXTURES = {"lab", "lab_env", "docker_engine"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by what it needs (``make test-fast`` runs those that need none of it)."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The lessons this run's browser pass runs (the headless pass leaves those to it)."""
    prefix = "tests/test_lessons_browser.py::test_lesson_reads_well_in_jupyterlab["
    session.config.stash[LESSONS_IN_BROWSER] = {
        item.nodeid[len(prefix) : -1] for item in session.items if item.nodeid.startswith(prefix)
    }


LESSONS_IN_BROWSER = pytest.StashKey[set[str]]()


@pytest.fixture(scope="session", autouse=True)
def no_server_in_the_fast_lane() -> Iterator[None]:
    """Under ``LAB_FORBID_SERVER=1`` (``make test-fast``) starting a server is an error."""
    if os.environ.get("LAB_FORBID_SERVER") != "1":
        yield
        return
    from helpers.backends import ComposeBackend, LocalBackend

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fast lane must start no server: mark this test `server`")

    with pytest.MonkeyPatch.context() as patch:
        for backend in (LocalBackend, ComposeBackend):
            patch.setattr(backend, "start", refuse)
        yield


def _backend() -> str:
    backend = os.environ.get("LAB_BACKEND", "local")
    return "local" if backend == "auto" else backend


@pytest.fixture(scope="session")
def lab_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[dict[str, str]]:
    """A private Docker engine for the session (LAB_BACKEND=docker), or one clear skip line."""
    engine = dockerlab.Engine()
    try:
        env = engine.start()
    except dockerlab.DockerUnavailable as exc:
        pytest.skip(f"docker tests skipped: {exc}")
    env = {**env, "LAB_COMPOSE_OVERRIDE": str(dockerlab.OVERRIDE)}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # for the lab, `docker compose` and the notebooks' kernels
    try:
        yield env
    finally:
        engine.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def lab(lab_home: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """Started detached so notebooks (in their own kernels) can attach and even restart it;
    stopped at the end of the session (docker: container, network and volume removed)."""
    backend = _backend()
    port = None
    if backend == "docker":
        request.getfixturevalue("docker_engine")
        port = free_port()
    config = LabConfig.from_env(backend=backend, home=lab_home, port=port)
    lab = Lab.start(config, detach=True)
    try:
        yield lab
    finally:
        lab.stop(volumes=True)
        remove_data(config)  # the cluster's, in the system's temporary directory


@pytest.fixture
def lab_env(lab: Lab, lab_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment under which a child process (a kernel, the CLI) finds the session's lab."""
    monkeypatch.setenv("LAB_HOME", str(lab_home))
    monkeypatch.setenv("LAB_BACKEND", lab.backend.name)
    if lab.backend.name == "docker":
        monkeypatch.setenv("LAB_PORT", str(lab.backend.port))
    else:
        monkeypatch.delenv("LAB_PORT", raising=False)
    monkeypatch.delenv("LAB_URL", raising=False)
    return dict(os.environ)
