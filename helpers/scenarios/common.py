"""What several scenarios share: the lab's ``wait_timeout`` and the two pool fixes.

One home for them, so that a lesson, a test and a scenario all mean the same 2 seconds.
"""

from __future__ import annotations

from .core import Fix

#: The lab's ``wait_timeout``: short enough to watch, long enough to measure.
WAIT_TIMEOUT = 2

RECYCLE_BELOW = Fix("pool_recycle=1", {"pool_recycle": 1})
PRE_PING = Fix("pool_pre_ping", {"pool_pre_ping": True})


def whole_seconds(seconds: float) -> int:
    """``wait_timeout`` is whole seconds on the server (at least 1)."""
    return max(1, round(seconds))
