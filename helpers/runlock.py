"""One scenario at a time per server, across every process on this machine.

Scenarios change the server's globals, kill connections and restart it, so two
runs against one lab spoil each other (an ``idle`` run fails with 2013 instead of
2006 because another run restarted the server while it idled). Every
:func:`~helpers.scenarios.run` holds a file lock named after the server's host
and port; a second run, from another kernel, terminal or browser tab, waits
for it and says so.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import LabError
from .progress import wait_until

log = logging.getLogger(__name__)

#: How long a queued run waits for the one before it.
QUEUE_TIMEOUT = 900.0

_locks: dict[Path, FileLock] = {}


def lock_path(host: str, port: int) -> Path:
    """The lock file for the server at ``host:port`` (in the system's temporary directory)."""
    safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in host)
    return Path(tempfile.gettempdir()) / f"gone-away-lab-{safe_host}-{port}.lock"


def holder(path: Path) -> str:
    """Who holds the lock, as its owner wrote it: ``pid 123: scenario idle``."""
    with suppress(OSError):
        return path.with_suffix(".owner").read_text().strip() or "another run"
    return "another run"


@contextmanager
def exclusive(host: str, port: int, what: str, timeout: float = QUEUE_TIMEOUT) -> Iterator[None]:
    """Hold the server's lock for the ``with`` block; if another run holds it, wait (with
    progress, and a log line saying so) up to ``timeout`` seconds. Re-entrant in one thread."""
    path = lock_path(host, port)
    lock = _locks.setdefault(path, FileLock(path))
    if not _try(lock):
        who = holder(path)
        log.warning("queued: %s waits for %s on %s:%s", what, who, host, port)
        start = time.monotonic()
        if not wait_until(lambda: _try(lock), timeout, desc=f"queued behind {who}", interval=0.2):
            raise LabError(
                f"{what} waited {time.monotonic() - start:.0f} s for {who} on {host}:{port}; try again"
            )
    owner = path.with_suffix(".owner")
    outermost = lock.lock_counter == 1
    if outermost:
        with suppress(OSError):  # the note only names the holder in the queued run's message
            owner.write_text(f"pid {os.getpid()}: {what}\n")
    try:
        yield
    finally:
        if outermost:
            with suppress(OSError):
                owner.write_text("")
        lock.release()


def _try(lock: FileLock) -> bool:
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True
