"""What every backend provides: a MariaDB reachable on a host and port, and its controls."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pymysql

from ..config import LabConfig
from ..errors import LabError
from ..progress import wait_until


class Backend(ABC):
    """One way of having a MariaDB for the lab.

    ``start(detach=False)`` ties the server's life to this Python process (a
    notebook kernel, a test run); ``detach=True`` leaves it running for later
    sessions (``python -m helpers up``) until ``stop()``.
    """

    name: str
    #: whether the lab may change globals, kill connections and restart
    can_change: bool = True

    def __init__(self, config: LabConfig) -> None:
        self.config = config

    # -- where it is ---------------------------------------------------------
    host: str = "127.0.0.1"

    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    def database(self) -> str:
        return self.config.database

    @property
    def user(self) -> str:
        return self.config.user

    @property
    def password(self) -> str:
        return self.config.password

    @property
    def admin_user(self) -> str:
        return "root"

    @property
    def admin_password(self) -> str:
        return self.config.root_password

    # -- lifecycle -----------------------------------------------------------
    @abstractmethod
    def running(self) -> bool:
        """Is the server up (whoever started it)?"""

    @abstractmethod
    def start(self, *, detach: bool = False) -> bool:
        """Bring the server up; return True if this call started it, False if it was up."""

    @abstractmethod
    def stop(self, volumes: bool = False) -> None:
        """Stop the server and leave no process or container behind; ``volumes`` also
        removes the server's data (the docker volume, the local data directory)."""

    @abstractmethod
    def restart(self) -> None:
        """Stop and start the server, keeping its data and port."""

    @abstractmethod
    def error_log(self, lines: int = 20) -> list[str]:
        """The last ``lines`` lines of the server's error log."""

    def pause(self) -> None:
        """Freeze the server: its connections stay open and nothing answers."""
        raise LabError(f"the {self.name} backend cannot pause the server")

    def unpause(self) -> None:
        raise LabError(f"the {self.name} backend cannot pause the server")

    def crash(self) -> None:
        """Kill the server abruptly (SIGKILL): no orderly close of its connections."""
        raise LabError(f"the {self.name} backend cannot crash the server")

    def describe(self) -> dict[str, Any]:
        """A few facts for ``status``."""
        return {"backend": self.name, "host": self.host, "port": self.port, "running": self.running()}

    # -- shared helpers ------------------------------------------------------
    @property
    def tls_ca(self) -> Path | None:
        """The CA a client must trust where this server requires TLS (None: it does not)."""
        return None

    def admin_connect(self, timeout: float = 3.0) -> pymysql.connections.Connection:
        """A new autocommit PyMySQL connection with the admin account (over TLS where required)."""
        ca = self.tls_ca
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.admin_user,
            password=self.admin_password,
            connect_timeout=timeout,
            autocommit=True,
            **({"ssl": {"ca": str(ca)}} if ca else {}),
        )

    def wait_ready(self, timeout: float, alive: Any = None) -> None:
        """Poll until the admin account can log in; ``alive()`` False aborts early."""
        last: list[BaseException] = []

        def ready() -> bool:
            if alive is not None and not alive():
                raise LabError(self._not_ready_message("the server process exited", last))
            try:
                self.admin_connect(timeout=1.0).close()
                return True
            except pymysql.MySQLError as exc:
                last[:] = [exc]
                return False

        start = time.monotonic()
        if not wait_until(ready, timeout, desc=f"starting MariaDB ({self.name})"):
            raise LabError(self._not_ready_message(f"not ready after {time.monotonic() - start:.0f} s", last))

    def _not_ready_message(self, what: str, last: list[BaseException]) -> str:
        reason = f" (last error: {last[0]})" if last else ""
        log = "\n  ".join(self.error_log(8))
        return f"MariaDB ({self.name}) on {self.host}:{self.port}: {what}{reason}.\n  {log}"
