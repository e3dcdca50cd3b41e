"""Backends: where the lab's MariaDB comes from. ``choose_backend`` picks one."""

from __future__ import annotations

import logging

from ..config import LabConfig
from ..errors import LabError
from .base import Backend
from .compose import ComposeBackend, docker_problem
from .external import ExternalBackend
from .local import INSTALL_HINT, LocalBackend, server_binaries

log = logging.getLogger(__name__)

__all__ = ["Backend", "ComposeBackend", "ExternalBackend", "LocalBackend", "choose_backend"]


def choose_backend(config: LabConfig) -> Backend:
    """The backend ``config`` asks for; with ``auto``: docker where an engine answers, else local.

    With ``auto``, a local server that is already running (started by
    ``python -m helpers up`` on a machine without Docker) is preferred, so
    that every notebook finds the same server.
    """
    if config.backend == "external" or (config.backend == "auto" and config.url):
        return ExternalBackend(config)
    if config.backend == "local":
        return LocalBackend(config)
    if config.backend == "docker":
        return ComposeBackend(config)
    local = LocalBackend(config)
    if local.running():
        return local
    problem = docker_problem()
    if problem is None:
        return ComposeBackend(config)
    if server_binaries():
        log.info("docker backend unavailable (%s); using the local backend", problem)
        return local
    raise LabError(
        "No MariaDB for the lab. Tried:\n"
        f"  docker: {problem}\n"
        "  local:  mariadbd / mariadb-install-db not found\n"
        f"Fix: {INSTALL_HINT}\n"
        "  or start Docker, or point the lab at a server: LAB_URL=mysql://user:pw@host:port/db"
    )
