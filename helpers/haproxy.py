"""A real HAProxy in front of the lab's servers: its config, start, stop and stats.

Debian's ``haproxy`` in TCP mode, started by the lab on 127.0.0.1 (in the foreground, tied to
this process: it gets SIGTERM when the process that started it dies), with its stats socket
in a directory of its own. One listener per :class:`Listener`, each on a port of its own,
with its own servers. Used by the HAProxy scenarios (``scenarios/loadbalancer.py``).

>>> with HAProxy([Listener("db", [Upstream("s1", "127.0.0.1", 3306)])], workdir) as proxy:
...     proxy.port("db")            # where the application connects
...     proxy.stats()               # sessions now, sessions in all, each server's status
"""

from __future__ import annotations

import csv
import io
import logging
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pandas as pd

from .backends.local import _die_with_parent, find_binary, free_port
from .errors import LabError
from .progress import wait_until

log = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install haproxy   (the lab starts its own on 127.0.0.1, beside any haproxy.service)"


def unavailable() -> str | None:
    """Why HAProxy cannot run here (one line), or None."""
    return None if find_binary("haproxy") else f"haproxy not found: {INSTALL_HINT}"


@dataclass(frozen=True)
class Upstream:
    """A server behind a listener; ``check_port``: where its health check connects instead of
    ``port`` (a plain TCP check there, as with an agent or Galera's clustercheck); ``backup``:
    used only when every other server is down."""

    name: str
    host: str
    port: int
    check_port: int | None = None
    backup: bool = False


@dataclass(frozen=True)
class Listener:
    """One frontend and its servers. Timeouts in seconds: HAProxy closes a session idle longer
    than ``timeout_client`` (the client's side) or ``timeout_server`` (the server's).
    ``shutdown_sessions``: a server marked down has its sessions closed
    (``on-marked-down shutdown-sessions``); else they stay. ``mysql_check_user``: the account,
    with no password, that HAProxy logs in with to check each server (``option mysql-check``);
    ``http_check``: a path that HAProxy GETs on each server's ``check_port`` instead, the server
    up while it answers 2xx (``option httpchk``, as with Galera's ``clustercheck``);
    neither: a TCP connect check. ``check_interval`` seconds between checks; ``fall`` failed checks
    mark a server down, ``rise`` good ones up again. ``check_timeout``: how long an HTTP or MySQL
    check may wait for its answer once connected (``timeout check``; without it HAProxy allows
    ``inter`` for the whole check, so a slow answer on a busy machine counts as a failure)."""

    name: str
    servers: Sequence[Upstream]
    timeout_client: float = 30.0
    timeout_server: float = 30.0
    shutdown_sessions: bool = False
    mysql_check_user: str | None = None
    http_check: str | None = None
    check_interval: float = 0.3
    check_timeout: float = 2.0
    fall: int = 2
    rise: int = 1

    def config(self, port: int) -> str:
        lines = [
            f"listen {self.name}",
            f"    bind 127.0.0.1:{port}",
            "    mode tcp",
            f"    timeout client {_ms(self.timeout_client)}",
            f"    timeout server {_ms(self.timeout_server)}",
        ]
        if self.mysql_check_user:
            lines.append(f"    option mysql-check user {self.mysql_check_user} post-41")
        elif self.http_check:
            lines.append(f"    option httpchk GET {self.http_check}")
        if self.mysql_check_user or self.http_check:
            lines.append(f"    timeout check {_ms(self.check_timeout)}")
        for up in self.servers:
            check = f"check inter {_ms(self.check_interval)} fall {self.fall} rise {self.rise}"
            if up.check_port is not None:
                check += f" port {up.check_port}"
            extra = " on-marked-down shutdown-sessions" if self.shutdown_sessions else ""
            lines.append(
                f"    server {up.name} {up.host}:{up.port} {check}{extra}{' backup' if up.backup else ''}"
            )
        return "\n".join(lines) + "\n"


#: The columns of :func:`show_stat`.
STAT_COLUMNS = ["listener", "server", "scur", "stot", "status", "check_status"]


def command(stats_socket: str | Path, line: str, timeout: float = 5.0) -> str:
    """One command on an HAProxy stats socket, and its answer (``show stat`` only reads)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(stats_socket))
        sock.sendall(line.encode() + b"\n")
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def show_stat(stats_socket: str | Path) -> pd.DataFrame:
    """``show stat``: per listener and server, the sessions open now (``scur``), all sessions so
    far (``stot``), the status (UP, DOWN, no check) and the last check's result (``check_status``:
    L4OK a TCP connect, L7OK an HTTP or MySQL check that passed, L7STS one that failed, ...,
    the last result while the next check runs)."""
    text = command(stats_socket, "show stat").lstrip("# ")
    frame = pd.DataFrame(list(csv.DictReader(io.StringIO(text))))
    if frame.empty:
        return pd.DataFrame(columns=STAT_COLUMNS)
    frame = frame.rename(columns={"pxname": "listener", "svname": "server"})
    # a check under way is marked "* L7OK": the result is what counts
    frame["check_status"] = frame["check_status"].str.removeprefix("* ")
    return frame[STAT_COLUMNS].astype({"scur": int, "stot": int})


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


@dataclass
class HAProxy:
    """A running HAProxy with ``listeners``; a context manager that stops it on exit."""

    listeners: Sequence[Listener]
    workdir: Path | None = None
    ports: dict[str, int] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def stats_socket(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "haproxy.sock"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def port(self, listener: str) -> int:
        return self.ports[listener]

    def config(self) -> str:
        head = [
            "global",
            f"    stats socket {self.stats_socket} mode 600 level admin",
            "    log stderr format raw local0 info",
            "defaults",
            "    log global",
            "    timeout connect 1s",
        ]
        return "\n".join(head) + "\n" + "".join(li.config(self.ports[li.name]) for li in self.listeners)

    def start(self) -> HAProxy:
        why = unavailable()
        if why:
            raise LabError(why)
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lab-haproxy-")
            self.workdir = Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ports = {li.name: free_port() for li in self.listeners}
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(self.config())
        binary = find_binary("haproxy")
        assert binary is not None
        try:  # whatever fails or interrupts the start (Ctrl-C included) leaves nothing behind
            check = subprocess.run([binary, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
            if check.returncode != 0:
                said = (check.stderr.strip().splitlines() or ["no reason given"])[-1]
                raise LabError(f"haproxy refused its config: {said}")
            with (self.workdir / "haproxy.log").open("ab") as log_file:
                self._proc = subprocess.Popen(
                    [binary, "-db", "-f", str(cfg)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            proc = self._proc
            ready = wait_until(lambda: proc.poll() is not None or self._answers(), 10, "starting HAProxy")
            if not ready or proc.poll() is not None:
                raise LabError(f"haproxy did not start: {' | '.join(self.log(5)) or 'no log'}")
        except BaseException:
            self.stop()
            raise
        log.info("haproxy pid %s on %s", self._proc.pid, self.ports)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the stats socket ------------------------------------------------------
    def command(self, line: str) -> str:
        """One command on the stats socket (admin level), and its answer."""
        return command(self.stats_socket, line)

    def stats(self) -> pd.DataFrame:
        """:func:`show_stat` of this HAProxy."""
        return show_stat(self.stats_socket)

    def status(self, listener: str, server: str) -> str:
        rows = self.stats()
        row = rows[(rows["listener"] == listener) & (rows["server"] == server)]
        return str(row["status"].iloc[0]) if len(row) else "?"

    def wait_status(self, listener: str, server: str, wanted: str, timeout: float = 10.0) -> float:
        """Wait until HAProxy reports ``server`` as ``wanted`` (e.g. ``DOWN``); the seconds it took."""
        start = time.monotonic()
        if not wait_until(
            lambda: self.status(listener, server).startswith(wanted),
            timeout,
            f"HAProxy marking {server} {wanted}",
        ):
            raise LabError(f"HAProxy did not mark {listener}/{server} {wanted} within {timeout:g} s")
        return round(time.monotonic() - start, 2)

    def _answers(self) -> bool:
        try:
            return "Name: HAProxy" in self.command("show info")
        except OSError:
            return False

    def log(self, lines: int = 20) -> list[str]:
        if self.workdir is None:
            return []
        try:
            return (self.workdir / "haproxy.log").read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []
