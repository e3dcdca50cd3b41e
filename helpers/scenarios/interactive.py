"""interactive_timeout versus wait_timeout, and the ``client_flag`` trap.

A connection that says it is *interactive* (the ``CLIENT_INTERACTIVE`` flag)
gets ``interactive_timeout`` as its session ``wait_timeout``. The ``mariadb``
command line does so in an interactive session (not with ``-e`` or a pipe), so
a person checking from a terminal sees another timeout than the application.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import time
from typing import Any

import pandas as pd
from mysql.connector.constants import ClientFlag
from pymysql.constants import CLIENT
from sqlalchemy import text

from ..lab import Lab
from ..progress import wait
from .common import WAIT_TIMEOUT
from .fixes import Fix
from .registry import scenario
from .trial import each, ensure_events_table

INTERACTIVE = CLIENT.INTERACTIVE  # 1024, the same bit in libmariadb
FOUND_ROWS = CLIENT.FOUND_ROWS  # 2: SQLAlchemy's dialects always ask for it
#: interactive_timeout for this module: long, and distinct from every other number in sight.
INTERACTIVE_TIMEOUT = 60


@scenario(
    "interactive_timeout",
    f"wait_timeout={WAIT_TIMEOUT}s, interactive_timeout={INTERACTIVE_TIMEOUT}s: the client flag decides",
    fixes=[
        Fix("default client flags", prevents=False),
        Fix(
            "connect_args client_flag=INTERACTIVE",
            {"connect_args": {"client_flag": INTERACTIVE}},
            driver_options={"mysqlconnector": {"connect_args": {"client_flags": [ClientFlag.INTERACTIVE]}}},
        ),
        Fix(
            "connect_args client_flag=INTERACTIVE|FOUND_ROWS",
            {"connect_args": {"client_flag": INTERACTIVE | FOUND_ROWS}},
            driver_options={
                "mysqlconnector": {
                    "connect_args": {"client_flags": [ClientFlag.INTERACTIVE, ClientFlag.FOUND_ROWS]}
                }
            },
        ),
    ],
)
def interactive_timeout(lab: Lab, trials: list[Any]) -> None:
    """mysql-connector-python spells the flag ``client_flags=[ClientFlag.INTERACTIVE]`` (a list
    of flags to add to its defaults); it refuses ``client_flag``."""
    with lab.globals(wait_timeout=WAIT_TIMEOUT, interactive_timeout=INTERACTIVE_TIMEOUT):
        each(trials, "first query")
        wait(WAIT_TIMEOUT + 1, f"idle past wait_timeout={WAIT_TIMEOUT}s")
        each(trials, "after idle")
        each(trials, "next checkout")


def _cli_session_timeout(lab: Lab, interactive: bool) -> int | None:
    """``@@session.wait_timeout`` as the ``mariadb`` command line sees it."""
    exe = shutil.which("mariadb") or shutil.which("mysql")
    if exe is None:
        return None
    b = lab.backend
    args = [exe, "--no-defaults", f"-h{b.host}", f"-P{b.port}", f"-u{b.user}", f"-p{b.password}", "-N"]
    query = "SELECT CONCAT('timeout=', @@session.wait_timeout);"
    if not interactive:
        out = subprocess.run([*args, "-e", query], capture_output=True, text=True, timeout=10).stdout
    else:  # a terminal session: the client only says "interactive" when it talks to a tty
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - the child execs the client
            os.execv(exe, args)
        out = _pty_session(fd, [query, "quit"])
        os.waitpid(pid, 0)
    found = re.search(r"timeout=(\d+)", out)
    return int(found.group(1)) if found else None


def _pty_session(fd: int, lines: list[str], settle: float = 0.6) -> str:
    """Type ``lines`` into a terminal program, return everything it printed."""
    chunks: list[bytes] = []

    def drain(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    chunks.append(os.read(fd, 4096))
                except OSError:
                    return

    drain(settle)
    for line in lines:
        os.write(fd, line.encode() + b"\n")
        drain(settle)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def timeout_by_client(lab: Lab) -> pd.DataFrame:
    """Session ``wait_timeout`` each kind of client gets, with the globals ``wait_timeout``
    = WAIT_TIMEOUT and ``interactive_timeout`` = INTERACTIVE_TIMEOUT."""
    rows = []
    with lab.globals(wait_timeout=WAIT_TIMEOUT, interactive_timeout=INTERACTIVE_TIMEOUT):
        for interactive in (True, False):
            rows.append(
                {
                    "client": "mariadb command line, " + ("in a terminal" if interactive else "with -e"),
                    "CLIENT_INTERACTIVE": interactive,
                    "session wait_timeout": _cli_session_timeout(lab, interactive),
                }
            )
        for driver in ("pymysql", "mysqldb"):
            for flag in (0, INTERACTIVE):
                engine = lab.engine(driver, connect_args={"client_flag": flag} if flag else {})
                try:
                    with engine.connect() as conn:
                        value = conn.execute(text("SELECT @@session.wait_timeout")).scalar()
                finally:
                    engine.dispose()
                rows.append(
                    {
                        "client": f"{driver}" + (", client_flag=INTERACTIVE" if flag else ""),
                        "CLIENT_INTERACTIVE": bool(flag),
                        "session wait_timeout": value,
                    }
                )
    return pd.DataFrame(rows)


def found_rows_trap(lab: Lab) -> pd.DataFrame:
    """``UPDATE`` of a row to the value it already has (1 row matched, 0 changed): what rowcount?

    SQLAlchemy's MySQL dialects set ``CLIENT_FOUND_ROWS`` so that rowcount means
    *matched* rows (the ORM relies on it to detect concurrent changes). Passing
    ``client_flag`` in ``connect_args`` replaces the dialect's flags, so rowcount
    silently becomes *changed* rows.
    """
    table = ensure_events_table(lab)
    lab.sql(
        f"INSERT INTO `{lab.backend.database}`.{table} (request_id, v) VALUES ('found-rows', 1) "
        "ON DUPLICATE KEY UPDATE v = 1"
    )
    variants = {
        "default": {},
        "connect_args client_flag=INTERACTIVE": {"client_flag": INTERACTIVE},
        "connect_args client_flag=INTERACTIVE|FOUND_ROWS": {"client_flag": INTERACTIVE | FOUND_ROWS},
    }
    rows = []
    for driver in ("pymysql", "mysqldb"):
        for label, connect_args in variants.items():
            engine = lab.engine(driver, connect_args=connect_args)
            try:
                with engine.begin() as conn:
                    result = conn.execute(text(f"UPDATE {table} SET v = 1 WHERE request_id = 'found-rows'"))
                    rows.append({"driver": driver, "client_flag": label, "rowcount": result.rowcount})
            finally:
                engine.dispose()
    return pd.DataFrame(rows)
