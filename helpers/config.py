"""Lab configuration, read from the environment.

Every knob has a default that works on a laptop; the environment overrides it.

====================  =========================================================
``LAB_BACKEND``       ``auto`` (default: docker if an engine answers, else
                      local), ``docker``, ``local`` or ``external``
``LAB_PORT``          TCP port on 127.0.0.1. Local: a free one is picked when
                      unset. Docker: 3307 when unset.
``LAB_HOME``          state directory (data directory, logs, pid file) of the
                      local backend; default ``~/.local/state/gone-away-lab``
``LAB_URL``           external backend: ``mysql://user:password@host:port/db``
``LAB_ALLOW_CHANGES`` external backend: ``1`` lets the lab change globals and
                      kill connections on that server
``LAB_COMPOSE_FILE``  docker backend: the compose file (default: the repo's)
``LAB_COMPOSE_OVERRIDE`` docker backend: an extra compose file layered on top
====================  =========================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
SERVER_CNF = PACKAGE_DIR / "mariadb" / "lab.cnf"

BACKENDS = ("auto", "docker", "local", "external")


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a port number") from None


def _default_home() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "gone-away-lab"


@dataclass(frozen=True)
class LabConfig:
    """Where and how the lab's MariaDB runs. Build it with :meth:`from_env`."""

    backend: str = "auto"
    port: int | None = None
    home: Path = field(default_factory=_default_home)
    url: str | None = None
    allow_changes: bool = False
    compose_file: Path = REPO_DIR / "compose.yaml"
    compose_override: Path | None = None
    project: str = "gone-away-lab"
    database: str = "lab"
    user: str = "lab"
    password: str = "lab"
    root_password: str = "labroot"
    startup_timeout: float = 60.0
    #: the local backend's server runs with TLS required (certificates made at its first start)
    tls: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"LAB_BACKEND={self.backend!r}: choose one of {', '.join(BACKENDS)}")

    @classmethod
    def from_env(cls, **overrides: object) -> LabConfig:
        """Read ``LAB_*`` variables; keyword arguments win over the environment."""
        env: dict[str, object] = {
            "backend": os.environ.get("LAB_BACKEND", "auto").strip().lower() or "auto",
            "port": _env_int("LAB_PORT"),
            "url": os.environ.get("LAB_URL") or None,
            "allow_changes": _env_bool("LAB_ALLOW_CHANGES"),
        }
        if os.environ.get("LAB_HOME"):
            env["home"] = Path(os.environ["LAB_HOME"]).expanduser()
        if os.environ.get("LAB_COMPOSE_FILE"):
            env["compose_file"] = Path(os.environ["LAB_COMPOSE_FILE"]).expanduser()
        if os.environ.get("LAB_COMPOSE_OVERRIDE"):
            env["compose_override"] = Path(os.environ["LAB_COMPOSE_OVERRIDE"]).expanduser()
        env.update(overrides)
        return cls(**env)  # type: ignore[arg-type]
