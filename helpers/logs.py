"""Log records as data: capture what a library logs (SQLAlchemy's pool, say) into a DataFrame."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd


class Records(logging.Handler):
    """A handler that keeps records; ``frame()`` turns them into rows."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def frame(self, t0: float | None = None) -> pd.DataFrame:
        """Rows of (t, logger, level, message); ``t`` is seconds since ``t0`` (a
        ``time.monotonic()`` reading) or since the first record."""
        offset = time.time() - time.monotonic()  # map monotonic t0 onto record.created
        base = (t0 + offset) if t0 is not None else (self.records[0].created if self.records else 0.0)
        return pd.DataFrame(
            [
                {
                    "t": round(r.created - base, 2),
                    "logger": r.name,
                    "level": r.levelname,
                    "message": r.getMessage(),
                }
                for r in self.records
            ],
            columns=["t", "logger", "level", "message"],
        )


@contextmanager
def capture(logger: str = "sqlalchemy.pool", level: int = logging.DEBUG) -> Iterator[Records]:
    """Collect ``logger``'s records at ``level`` for the duration of the block.

    Equivalent to ``echo_pool="debug"`` on an engine, but the records come back
    as data instead of being printed.
    """
    target = logging.getLogger(logger)
    handler = Records()
    old_level = target.level
    target.addHandler(handler)
    target.setLevel(level)
    try:
        yield handler
    finally:
        target.removeHandler(handler)
        target.setLevel(old_level)
