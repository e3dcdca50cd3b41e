"""Reproductions of 2006/2013 as data. ``run(name, lab)`` returns one row per step."""

from __future__ import annotations

from . import held, idle
from .core import COLUMNS, NO_FIX, SCENARIOS, Fix, Scenario, Trial, each, get, run, scenario, summarize
from .idle import recycle_by_age, timeout_scopes, watch_idle

__all__ = [
    "COLUMNS", "NO_FIX", "SCENARIOS", "Fix", "Scenario", "Trial", "each", "get", "held", "idle",
    "recycle_by_age", "run", "scenario", "summarize", "timeout_scopes", "watch_idle",
]  # fmt: skip
