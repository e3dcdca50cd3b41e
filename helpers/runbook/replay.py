"""The scaled replay: the application's pool settings run through the lab's own scenarios,
every duration scaled so that the server's ``wait_timeout`` becomes the lab's. Measured, not
argued (``python -m helpers doctor URL --engine-options ... --replay``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..errors import LabError
from ..scenarios import Fix, run, summarize
from ..scenarios.common import WAIT_TIMEOUT
from .settings import AppSettings

#: The scenarios whose outcome the pool settings decide, replayed with the user's settings.
REPLAYED = ("idle", "recycle_margin", "restart", "kill_idle")


def scaled_options(
    settings: AppSettings, server_wait_timeout: float, lab_wait_timeout: float
) -> dict[str, Any]:
    """The settings' engine options with every duration scaled by lab_wait / server_wait."""
    factor = lab_wait_timeout / server_wait_timeout
    options = {k: v for k, v in settings.engine_options().items() if k in {"pool_recycle", "pool_pre_ping"}}
    if settings.pool_recycle is not None and settings.pool_recycle > 0:
        options["pool_recycle"] = round(settings.pool_recycle * factor, 3)
    return options


def replay(
    lab: Any,
    settings: AppSettings,
    server_wait_timeout: float,
    drivers: Sequence[str] = ("pymysql",),
    names: Sequence[str] = REPLAYED,
) -> pd.DataFrame:
    """Run ``settings`` through the lab's scenarios, time scaled so the server's
    ``wait_timeout`` becomes the lab's: measured, not argued.

    One row per scenario × driver: whether the settings survived it, the first
    error code, and the scaled ``pool_recycle`` that ran.
    """
    if server_wait_timeout <= 0:
        raise LabError(f"wait_timeout={server_wait_timeout}: must be positive")
    options = scaled_options(settings, server_wait_timeout, WAIT_TIMEOUT)
    label = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
    fix = Fix(f"your settings ({label})", options, prevents=None)
    rows = pd.concat([run(name, lab, drivers=drivers, fixes=[fix]) for name in names], ignore_index=True)
    summary = summarize(rows)
    factor = WAIT_TIMEOUT / server_wait_timeout
    summary["survived"] = summary["ok"]
    summary["scale"] = f"1 lab s = {1 / factor:g} s"
    return summary[["scenario", "driver", "survived", "errors", "error_code", "scale"]].assign(
        pool_recycle=settings.pool_recycle,
        scaled_pool_recycle=options.get("pool_recycle"),
        pool_pre_ping=settings.pool_pre_ping,
        wait_timeout=server_wait_timeout,
    )
