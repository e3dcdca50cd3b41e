"""A keep-alive job: ping every pooled connection on a schedule, in a background thread.

What teams add when they cannot change ``wait_timeout``: the server never sees
the connections idle long enough to drop them. The cost: the server keeps a
thread per connection for as long as the application runs.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

import sqlalchemy
import sqlalchemy.exc

log = logging.getLogger(__name__)


class KeepAlive:
    """Every ``every`` seconds, check out ``size`` connections at once and run ``SELECT 1`` on each.

    Checking them out together forces the pool to hand over every connection it
    holds, not the same one ``size`` times. Use as a context manager.
    """

    def __init__(self, engine: sqlalchemy.Engine, every: float, size: int = 1) -> None:
        self.engine = engine
        self.every = every
        self.size = size
        self.pings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keepalive", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            conns = []
            try:
                for _ in range(self.size):
                    conns.append(self.engine.connect())
                for conn in conns:
                    conn.exec_driver_sql("SELECT 1")
                    self.pings += 1
            except sqlalchemy.exc.SQLAlchemyError as exc:
                log.warning("keep-alive ping failed: %s", exc)
            finally:
                for conn in conns:
                    conn.close()

    def __enter__(self) -> KeepAlive:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
