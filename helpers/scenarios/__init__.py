"""Reproductions of 2006/2013 as data. ``run(name, lab)`` returns one row per step.

One module per cause; importing them registers their scenarios in ``SCENARIOS``.
"""

from __future__ import annotations

from . import (
    cancel,
    failover,
    firewall,
    fork,
    held,
    idle,
    interactive,
    keepalive_vs_timeout,
    loadbalancer,
    mysql8,
    network,
    over_tls,
    packets,
    paused,
    retry,
    server_side,
    web,
)
from .common import HARDENED, PRE_PING, RECYCLE_BELOW, WAIT_TIMEOUT
from .fixes import NO_FIX, Fix
from .held import long_checkout_report
from .idle import recycle_by_age, replacements, timeout_scopes, watch_idle
from .registry import SCENARIOS, Scenario, coverage, get, run, run_all, scenario
from .tables import first_errors, summarize
from .trial import COLUMNS, Trial, each

#: The lessons' order (notebooks 01-12); the registry follows it.
MODULES = (
    idle,
    held,
    interactive,
    server_side,
    packets,
    paused,
    web,
    keepalive_vs_timeout,
    fork,
    retry,
    network,
    firewall,
    loadbalancer,
    failover,
    cancel,
    over_tls,
    mysql8,
)
_lesson = {module.__name__: index for index, module in enumerate(MODULES)}
for _entry in sorted(SCENARIOS.values(), key=lambda entry: _lesson[entry.body.__module__]):
    SCENARIOS[_entry.name] = SCENARIOS.pop(_entry.name)

__all__ = [
    "COLUMNS",
    "HARDENED",
    "MODULES",
    "NO_FIX",
    "PRE_PING",
    "RECYCLE_BELOW",
    "SCENARIOS",
    "WAIT_TIMEOUT",
    "Fix",
    "Scenario",
    "Trial",
    "coverage",
    "each",
    "first_errors",
    "get",
    "long_checkout_report",
    "recycle_by_age",
    "replacements",
    "run",
    "run_all",
    "scenario",
    "summarize",
    "timeout_scopes",
    "watch_idle",
]
