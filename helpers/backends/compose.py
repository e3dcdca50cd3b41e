"""MariaDB in Docker, from the repository's ``compose.yaml``.

``docker compose up -d --wait`` / ``down`` bring it up and down (the command
users would type); restart, pause, unpause and logs go through the Docker SDK.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from typing import Any

from ..errors import LabError
from .base import Backend

log = logging.getLogger(__name__)

DEFAULT_PORT = 3307
SERVICE = "mariadb"


def docker_problem() -> str | None:
    """None if a Docker engine answers and ``docker compose`` works, else why not."""
    try:
        import docker
    except ImportError:  # pragma: no cover - docker is a requirement
        return "the Python package `docker` is not installed"
    if not shutil.which("docker"):
        return "no `docker` command on PATH"
    try:
        docker.from_env(timeout=3).ping()
    except Exception as exc:  # the SDK raises several kinds; all mean "no engine"
        return f"no Docker engine answers ({type(exc).__name__})"
    if not _compose_v2(os.environ.get("DOCKER_CONFIG")):
        return "`docker compose` (Compose v2) is not installed"
    return None


@functools.cache
def _compose_v2(docker_config: str | None) -> bool:
    """Does ``docker compose`` run? (Asked once per DOCKER_CONFIG, where CLI plugins live.)"""
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


class ComposeBackend(Backend):
    name = "docker"

    @property
    def port(self) -> int:
        return self.config.port or DEFAULT_PORT

    def _compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        files = ["-f", str(self.config.compose_file)]
        if self.config.compose_override:
            files += ["-f", str(self.config.compose_override)]
        cmd = ["docker", "compose", *files, "-p", self.config.project, *args]
        env = {**os.environ, "LAB_PORT": str(self.port)}
        log.info("%s", " ".join(cmd))
        return subprocess.run(cmd, capture_output=True, text=True, env=env)

    def container(self) -> Any:
        """The lab's container (a ``docker.models.containers.Container``), or None."""
        import docker

        found = docker.from_env().containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={self.config.project}",
                    f"com.docker.compose.service={SERVICE}",
                ]
            },
        )
        return found[0] if found else None

    def running(self) -> bool:
        if docker_problem():
            return False
        box = self.container()
        return box is not None and box.status == "running"

    def start(self, *, detach: bool = False) -> bool:
        problem = docker_problem()
        if problem:
            raise LabError(f"the docker backend cannot start: {problem}")
        if not self.config.compose_file.is_file():
            raise LabError(f"no compose file at {self.config.compose_file} (set LAB_COMPOSE_FILE)")
        if self.running():
            return False
        result = self._compose("up", "-d", "--wait")
        if result.returncode != 0:
            tail = "\n  ".join(result.stderr.strip().splitlines()[-8:])
            self._compose("down")
            if "address already in use" in result.stderr.lower():
                raise LabError(
                    f"port {self.port} on 127.0.0.1 is already in use by another program: "
                    "set LAB_PORT to a free port."
                )
            raise LabError(f"`docker compose up` failed:\n  {tail}")
        self.wait_ready(self.config.startup_timeout)
        return True

    def stop(self, volumes: bool = False) -> None:
        if docker_problem():
            return
        args = ["down", "--remove-orphans"] + (["--volumes"] if volumes else [])
        result = self._compose(*args)
        if result.returncode != 0:
            raise LabError(f"`docker compose down` failed: {result.stderr.strip()}")

    def restart(self) -> None:
        box = self._require_container()
        box.restart(timeout=10)
        self.wait_ready(self.config.startup_timeout)

    def pause(self) -> None:
        """Freeze the container (cgroup freezer): connections stay open, nothing answers."""
        self._require_container().pause()

    def unpause(self) -> None:
        self._require_container().unpause()

    def crash(self) -> None:
        """SIGKILL the container's server; the container stays, exited, until the next start."""
        box = self._require_container()
        box.kill(signal="SIGKILL")
        box.wait(timeout=30)

    def error_log(self, lines: int = 20) -> list[str]:
        box = self.container() if not docker_problem() else None
        if box is None:
            return []
        return box.logs(tail=lines).decode(errors="replace").splitlines()

    def _require_container(self) -> Any:
        box = self.container()
        if box is None:
            raise LabError("the lab's container is not there: start it with `python -m helpers up`")
        return box

    def describe(self) -> dict[str, Any]:
        facts = super().describe()
        box = self.container() if not docker_problem() else None
        facts["container"] = box.name if box is not None else None
        return facts
