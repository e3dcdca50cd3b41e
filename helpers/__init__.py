"""The Gone-Away Lab: reproduce and fix MySQL/MariaDB 2006/2013 errors against a real server.

>>> import helpers
>>> lab = helpers.start_lab()
>>> rows = helpers.run("idle", lab)        # one row per step, failures included
>>> helpers.summarize(rows)
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pandas as pd

from . import bench
from .config import LabConfig
from .drivers import DISCONNECT_CODES, DRIVERS, describe_error
from .errors import LabError
from .lab import Lab, server_id, start_lab
from .scenarios import SCENARIOS, Fix, recycle_by_age, run, run_all, summarize, timeout_scopes, watch_idle

# The lessons quote the texts in their tables (error messages, error-log lines): show them whole.
pd.set_option("display.max_colwidth", None)

__all__ = [
    "DISCONNECT_CODES",
    "DRIVERS",
    "SCENARIOS",
    "Fix",
    "Lab",
    "LabConfig",
    "LabError",
    "bench",
    "describe_error",
    "plots",
    "recycle_by_age",
    "run",
    "run_all",
    "server_id",
    "start_lab",
    "summarize",
    "timeout_scopes",
    "watch_idle",
]


def __getattr__(name: str) -> ModuleType:
    """``helpers.plots`` is imported on first use: matplotlib is slow to load and the CLI needs none of it."""
    if name == "plots":
        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")
