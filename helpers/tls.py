"""TLS for the lab's server: certificates (``trustme``), and each driver's way to ask for TLS.

MariaDB 10.11 offers TLS only when it has a certificate; 11.4 makes one itself and offers it
by default, and PyMySQL 1.2 uses TLS whenever the server offers it. The lab's TLS server
(:func:`tls_lab`) is a second private ``mariadbd`` with a certificate made at its first start by
a throwaway CA (and kept, so that a pool's clients keep trusting it across restarts), and
``require_secure_transport`` on: a connection that is not TLS is refused, so a trial that
connects at all is a TLS one.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from .config import LabConfig
from .driverset import ALL_DRIVERS


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a server's TLS: the CA that signed it, its certificate and its key."""

    ca: Path
    cert: Path
    key: Path


def tls_files(directory: Path) -> TlsFiles:
    return TlsFiles(directory / "ca.pem", directory / "server-cert.pem", directory / "server-key.pem")


def make_certificates(directory: Path) -> TlsFiles:
    """A CA of its own and a server certificate for 127.0.0.1 and localhost, written to
    ``directory`` (the key mode 0600) where they are not there yet: made at a data directory's
    first start and kept across restarts, so that a pool's clients keep trusting the server."""
    files = tls_files(directory)
    if all(path.exists() for path in (files.ca, files.cert, files.key)):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="gone-away-lab")
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    files.key.touch(mode=0o600)
    files.key.chmod(0o600)
    server.private_key_pem.write_to_path(str(files.key))
    return files


def server_options(files: TlsFiles, require: bool = True) -> list[str]:
    """The ``[mariadbd]`` lines that turn TLS on (and, with ``require``, make it the only way in)."""
    lines = [f"ssl_ca={files.ca}", f"ssl_cert={files.cert}", f"ssl_key={files.key}"]
    return [*lines, "require_secure_transport=ON"] if require else lines


def client_context(ca: Path) -> ssl.SSLContext:
    """An ``SSLContext`` that trusts ``ca`` and checks the host name (for the async drivers)."""
    return ssl.create_default_context(cafile=str(ca))


def connect_args(driver: str, ca: Path) -> dict[str, Any]:
    """``connect_args`` that make ``driver`` connect over TLS and verify the server against ``ca``:
    each driver spells it its own way (read in their ``connect()`` signatures)."""
    path = str(ca)
    args: dict[str, dict[str, Any]] = {
        "pymysql": {"ssl": {"ca": path}},  # a CA given: CERT_REQUIRED and check_hostname
        "mysqldb": {"ssl": {"ca": path}, "ssl_mode": "VERIFY_IDENTITY"},
        "mysqlconnector": {"ssl_ca": path, "ssl_verify_cert": True, "ssl_verify_identity": True},
        "mariadbconnector": {"ssl_ca": path, "ssl_verify_cert": True},
        "aiomysql": {"ssl": client_context(ca)},
        "asyncmy": {"ssl": client_context(ca)},
    }
    if driver not in ALL_DRIVERS:
        raise ValueError(f"unknown driver {driver!r}: choose one of {', '.join(ALL_DRIVERS)}")
    return args[driver]


def tls_config(config: LabConfig) -> LabConfig:
    """The TLS server's configuration: a local server of its own beside the lab's (its own home
    and a free port), with TLS required."""
    return dataclasses.replace(config, backend="local", port=None, home=config.home / "tls", tls=True)


#: The TLS labs :func:`kept` holds up, by their home: :func:`tls_lab` lends one of them.
_KEPT: dict[Path, Any] = {}


@contextmanager
def kept(config: LabConfig) -> Iterator[Any]:
    """Keep one private TLS server up for the block, and give its :class:`~helpers.lab.Lab`:
    each :func:`tls_lab` in the block gets that one, instead of starting and stopping its own."""
    home = tls_config(config).home
    if home in _KEPT:
        yield _KEPT[home]
        return
    with tls_lab(config) as lab:
        _KEPT[home] = lab
        try:
            yield lab
        finally:
            del _KEPT[home]


@contextmanager
def tls_lab(config: LabConfig) -> Iterator[Any]:
    """A :class:`~helpers.lab.Lab` on a private TLS server, stopped on exit (about 1 s to start
    from an existing data directory), or the one :func:`kept` holds up. Its engines connect
    over TLS (``Lab.engine`` adds :func:`connect_args`)."""
    from . import runlock
    from .lab import Lab  # the lab imports this module for its engines' TLS arguments

    chosen = tls_config(config)
    if chosen.home in _KEPT:
        yield _KEPT[chosen.home]
        return
    with runlock.exclusive(f"tls{chosen.home}", 0, "the TLS server"):  # one user at a time
        lab = Lab.start(chosen)
        try:
            yield lab
        finally:
            lab.stop()
