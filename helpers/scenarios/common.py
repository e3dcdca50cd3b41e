"""What several scenarios share: the lab's ``wait_timeout`` and the pool fixes.

One home for them, so that a lesson, a test and a scenario all mean the same 2 seconds.
"""

from __future__ import annotations

import dataclasses

from goneaway_pool.hardened import Hardening

from .fixes import Fix

#: The lab's ``wait_timeout``: short enough to watch, long enough to measure.
WAIT_TIMEOUT = 2

RECYCLE_BELOW = Fix("pool_recycle=1", {"pool_recycle": 1})
PRE_PING = Fix("pool_pre_ping", {"pool_pre_ping": True})
#: The hardened pool (:mod:`goneaway_pool.hardened`) with its defaults, where ``pool_pre_ping`` would go.
HARDENED = Fix("hardened pool", hardening=Hardening())


def does_not_prevent(fix: Fix) -> Fix:
    """``fix`` declared as not preventing the scenario's failure (where no check at checkout can)."""
    return dataclasses.replace(fix, prevents=False)


def whole_seconds(seconds: float) -> int:
    """``wait_timeout`` is whole seconds on the server (at least 1)."""
    return max(1, round(seconds))
