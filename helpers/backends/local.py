"""A private MariaDB from the installed server binaries.

Everything it owns lives under ``$LAB_HOME/local``: data directory, socket,
pid file, error log, the generated ``my.cnf`` (which includes the shared
``helpers/mariadb/lab.cnf``) and ``state.json`` (pid and port, so that a later
``python -m helpers status|down`` or a notebook finds the running server).
It listens on 127.0.0.1 only and never reads the system's MariaDB config.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from .. import tls
from ..config import SERVER_CNF
from ..errors import LabError
from .base import Backend

log = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install mariadb-server   (Debian/Ubuntu: it provides mariadbd and mariadb-install-db)"
_PR_SET_PDEATHSIG = 1


def find_binary(name: str) -> str | None:
    """``name`` on PATH or in the sbin directories Debian installs servers to."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def server_binaries() -> tuple[str, str] | None:
    """``mariadbd`` and ``mariadb-install-db``, or None where either is missing."""
    mariadbd, install_db = find_binary("mariadbd"), find_binary("mariadb-install-db")
    return (mariadbd, install_db) if mariadbd and install_db else None


def no_server_binaries(who: str) -> str | None:
    """None where the server binaries are here; else one line: ``who`` needs them, and how to get them."""
    return None if server_binaries() else f"{who} needs the MariaDB server binaries: {INSTALL_HINT}"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Can a server listen on ``port``? (SO_REUSEADDR, as mariadbd: TIME_WAIT is no obstacle.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a live mariadbd (not a recycled pid of something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return b"mariadbd" in cmdline and "State:\tZ" not in status


def _all_threads_stopped(pid: int | None) -> bool:
    """Is every thread of ``pid`` in the stopped state (``T``)?"""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        states = [(task / "stat").read_text().rsplit(")", 1)[1].split()[0] for task in tasks]
    except OSError:
        return False
    return bool(states) and all(state == "T" for state in states)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In the child before exec: get SIGTERM when the process that started us dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


#: Seconds mariadbd gets to shut down on SIGTERM before SIGKILL.
STOP_TIMEOUT = 30.0


class LocalBackend(Backend):
    name = "local"
    #: the user the server runs as from its start (None: this process's; root adds ``user=root``)
    run_as: str | None = None

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.dir: Path = config.home / "local"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- files ---------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self.dir / "data"

    @property
    def socket_path(self) -> Path:
        return self.dir / "mariadb.sock"

    @property
    def log_path(self) -> Path:
        return self.dir / "error.log"

    @property
    def cnf_path(self) -> Path:
        return self.dir / "my.cnf"

    @property
    def state_path(self) -> Path:
        return self.dir / "state.json"

    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_path.read_text()))
        except (OSError, ValueError):
            return {}

    @property
    def pid(self) -> int | None:
        pid = self._state().get("pid")
        return int(pid) if pid else None

    @property
    def port(self) -> int:
        port = self._state().get("port") or self.config.port
        if not port:
            raise LabError("the local lab is not running: start it with `python -m helpers up`")
        return int(port)

    # -- lifecycle -----------------------------------------------------------
    def running(self) -> bool:
        pid = self.pid
        return pid is not None and pid_alive(pid)

    def start(self, *, detach: bool = False) -> bool:
        if self.running():
            return False
        binaries = server_binaries()
        if binaries is None:
            raise LabError(str(no_server_binaries("the local backend")))
        mariadbd, install_db = binaries
        port = self._choose_port()
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.config.tls:
            tls.make_certificates(self.dir / "tls")
        self._write_config(port)
        if not (self.datadir / "mysql").is_dir():
            self._install_db(install_db)
        self._launch(mariadbd, port, detach)
        return True

    def _choose_port(self) -> int:
        wanted = self.config.port or self._state().get("port")
        if wanted and port_is_free(int(wanted)):
            return int(wanted)
        if self.config.port:
            raise LabError(
                f"port {self.config.port} on 127.0.0.1 is already in use by another program. "
                "Unset LAB_PORT to let the lab pick a free port, or set LAB_PORT to a free one."
            )
        return free_port()

    def _write_config(self, port: int) -> None:
        lines = [
            "# Generated by helpers.backends.local: do not edit, it is rewritten at every start.",
            f"!include {SERVER_CNF}",
            *self._server_section(port),
        ]
        self.cnf_path.write_text("\n".join(lines) + "\n")

    def _server_section(self, port: int) -> list[str]:
        """The ``[mariadbd]`` lines that make this server the lab's own: its files and its port."""
        lines = [
            "[mariadbd]",
            f"datadir={self.datadir}",
            f"socket={self.socket_path}",
            f"pid-file={self.dir / 'mariadbd.pid'}",
            f"log-error={self.log_path}",
            f"port={port}",
            "bind-address=127.0.0.1",
        ]
        if os.geteuid() == 0 and self.run_as is None:
            lines.append("user=root")  # mariadbd refuses to run as root unless told to
        if self.config.tls:
            lines += tls.server_options(tls.tls_files(self.dir / "tls"))
        return lines

    @property
    def tls_ca(self) -> Path | None:
        return tls.tls_files(self.dir / "tls").ca if self.config.tls else None

    def _write_init_sql(self) -> Path:
        """Accounts the lab needs, the same ones compose.yaml creates; run at every start."""
        c = self.config
        path = self.dir / "init.sql"
        path.write_text(
            f"CREATE DATABASE IF NOT EXISTS `{c.database}`;\n"
            f"CREATE OR REPLACE USER '{c.user}'@'%' IDENTIFIED BY '{c.password}';\n"
            f"GRANT ALL ON `{c.database}`.* TO '{c.user}'@'%';\n"
            f"CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '{c.root_password}';\n"
            "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
        )
        return path

    def _install_db(self, install_db: str) -> None:
        log.info("initialising a new data directory in %s", self.datadir)
        result = subprocess.run(
            [
                install_db,
                f"--defaults-file={self.cnf_path}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            user=self.run_as,
            group=self.run_as,
            extra_groups=[] if self.run_as else None,
        )
        if result.returncode != 0:
            shutil.rmtree(self.datadir, ignore_errors=True)
            tail = "\n  ".join(self.error_log(8) or (result.stdout + result.stderr).strip().splitlines()[-8:])
            raise LabError(f"mariadb-install-db failed in {self.datadir}:\n  {tail}")

    def _launch(self, mariadbd: str, port: int, detach: bool) -> None:
        self._await_ready(port, self._spawn(mariadbd, port, detach))

    def _spawn(self, mariadbd: str, port: int, detach: bool) -> int:
        """Start mariadbd (from this thread: it dies with the thread that started it, unless
        ``detach``); return where its error log stood before, for :meth:`_await_ready`."""
        self.log_path.touch()
        log_offset = self.log_path.stat().st_size
        with open(os.devnull, "rb") as devnull:
            proc = subprocess.Popen(
                self._command(mariadbd),
                stdin=devnull,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal or notebook does not reach it
                # after the switch to run_as (a change of user would clear the parent-death signal)
                preexec_fn=None if detach else _die_with_parent,
                user=self.run_as,
                group=self.run_as,
                extra_groups=[] if self.run_as else None,  # none of root's groups
            )
        self._proc = proc
        owner = None if detach else os.getpid()
        self.state_path.write_text(json.dumps({"pid": proc.pid, "port": port, "owner": owner}))
        return log_offset

    def _await_ready(self, port: int, log_offset: int) -> None:
        proc = self._proc
        assert proc is not None
        try:
            self.wait_ready(self.config.startup_timeout, alive=lambda: proc.poll() is None)
        except BaseException as exc:  # includes KeyboardInterrupt: leave nothing behind
            new_log = self.log_path.read_text(errors="replace")[log_offset:]
            self.stop()
            if isinstance(exc, LabError) and "Address already in use" in new_log:
                raise LabError(
                    f"port {port} on 127.0.0.1 is already in use by another program. "
                    "Unset LAB_PORT to let the lab pick a free port, or set LAB_PORT to a free one."
                ) from None
            raise
        log.info("local MariaDB pid %s ready on 127.0.0.1:%s", proc.pid, port)

    def _command(self, mariadbd: str) -> list[str]:
        """How the server is started (a namespace's backend wraps it)."""
        # --defaults-file must come first; init-file only here, not for the bootstrap
        return [mariadbd, f"--defaults-file={self.cnf_path}", f"--init-file={self._write_init_sql()}"]

    def stop(self, volumes: bool = False) -> None:
        timeout = STOP_TIMEOUT
        pid = self.pid
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                self._reap()
                time.sleep(0.05)
            if pid_alive(pid):
                log.warning("mariadbd pid %s ignored SIGTERM for %.0f s; killing it", pid, timeout)
                os.kill(pid, signal.SIGKILL)
        self._reap()
        self.state_path.unlink(missing_ok=True)
        if volumes:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def _reap(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None

    def restart(self) -> None:
        # Only the process that owns the server ties the new one to itself;
        # anyone else (a notebook restarting a server from `helpers up`) detaches it.
        detached = self._state().get("owner") != os.getpid()
        port = self.port
        self.stop()
        self.state_path.write_text(json.dumps({"port": port}))
        self.start(detach=detached)

    def pause(self) -> None:
        """SIGSTOP: what the docker freezer does to a container, for one process.

        Like ``docker pause``, it returns only once the server is frozen: SIGSTOP is
        delivered asynchronously, and on a busy machine a thread can still answer a
        query for a moment after ``kill()`` returns.
        """
        self._signal(signal.SIGSTOP)
        pid = self.pid
        deadline = time.monotonic() + 10
        while not _all_threads_stopped(pid):
            if time.monotonic() > deadline:
                raise LabError(f"mariadbd pid {pid} did not stop within 10 s of SIGSTOP")
            time.sleep(0.005)

    def unpause(self) -> None:
        self._signal(signal.SIGCONT)

    def crash(self) -> None:
        self._signal(signal.SIGKILL)
        pid = self.pid
        while pid is not None and pid_alive(pid):
            self._reap()
            time.sleep(0.02)

    def _signal(self, sig: signal.Signals) -> None:
        pid = self.pid
        if pid is None or not pid_alive(pid):
            raise LabError("the local lab is not running: start it with `python -m helpers up`")
        os.kill(pid, sig)

    def error_log(self, lines: int = 20) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return text.splitlines()[-lines:]

    def describe(self) -> dict[str, Any]:
        facts = super().describe() if self.running() else {"backend": self.name, "running": False}
        facts.update({"pid": self.pid, "datadir": str(self.datadir), "error_log": str(self.log_path)})
        return facts
