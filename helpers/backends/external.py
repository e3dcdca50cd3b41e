"""A server you already have, given by ``LAB_URL``.

The lab only reads from it unless ``LAB_ALLOW_CHANGES=1``: setting globals and
killing connections change a shared server, so they must be asked for.
"""

from __future__ import annotations

from typing import Any

import pymysql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..errors import LabError
from .base import Backend


class ExternalBackend(Backend):
    name = "external"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if not config.url:
            raise LabError("LAB_BACKEND=external needs LAB_URL=mysql://user:password@host:port/database")
        try:
            self.url = make_url(config.url)
        except (ArgumentError, ValueError):  # the raw text may hold a password: never echo it
            raise LabError("LAB_URL is not a URL like mysql://user:password@host:port/db") from None
        if not self.url.host:
            raise LabError(f"LAB_URL={self.url.render_as_string(hide_password=True)} names no host")
        self.host = self.url.host
        self.can_change = config.allow_changes

    @property
    def port(self) -> int:
        return self.url.port or 3306

    @property
    def database(self) -> str:
        return self.url.database or self.config.database

    @property
    def user(self) -> str:
        return self.url.username or self.config.user

    @property
    def password(self) -> str:
        return self.url.password or ""

    # The external server has one account for everything.
    admin_user = user
    admin_password = password

    def running(self) -> bool:
        try:
            self.admin_connect(timeout=3).close()
        except pymysql.MySQLError:
            return False
        return True

    def start(self, *, detach: bool = False) -> bool:
        try:
            self.admin_connect(timeout=3).close()
        except pymysql.MySQLError as exc:
            raise LabError(
                f"cannot reach the external server {self.user}@{self.host}:{self.port} "
                f"from LAB_URL: {exc.args[-1] if exc.args else exc}. Check LAB_URL, or unset "
                "LAB_BACKEND to let the lab start its own MariaDB."
            ) from None
        return False

    def stop(self, volumes: bool = False) -> None:
        """Nothing to stop, and nothing to remove: the lab did not start this server."""

    def restart(self) -> None:
        raise LabError("the lab cannot restart an external server; use the docker or local backend")

    def error_log(self, lines: int = 20) -> list[str]:
        return []
