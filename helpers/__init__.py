"""The Gone-Away Lab: reproduce and fix MySQL/MariaDB 2006/2013 errors against a real server.

>>> import helpers
>>> lab = helpers.start_lab()
>>> rows = helpers.run("idle", lab)        # one row per step, failures included
>>> helpers.summarize(rows)

Every name below is imported on first use, so that ``import helpers`` (and the CLI's quick
paths, ``python -m helpers doctor --error TEXT``) pays for pandas, the drivers and the web
frameworks only when it needs them; it changes no other library's global option.
``helpers.hardened`` and ``helpers.keepalive`` are :mod:`goneaway_pool`'s, which an
application imports without the lab.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names are, for type checkers; at run time each loads on first use
    from goneaway_pool import hardened, keepalive

    from . import advice, bench, findings, plots, progress, runbook, scenarios
    from .config import LabConfig
    from .drivers import DISCONNECT_CODES, DRIVERS, describe_error
    from .errors import LabError
    from .lab import Lab, server_id, start_lab
    from .scenarios import SCENARIOS, Fix, recycle_by_age, run, run_all, summarize, timeout_scopes, watch_idle

#: name -> (module, attribute); attribute None: the module itself.
_LAZY: dict[str, tuple[str, str | None]] = {
    "DISCONNECT_CODES": (".drivers", "DISCONNECT_CODES"),
    "DRIVERS": (".drivers", "DRIVERS"),
    "describe_error": (".drivers", "describe_error"),
    "LabConfig": (".config", "LabConfig"),
    "LabError": (".errors", "LabError"),
    "Lab": (".lab", "Lab"),
    "server_id": (".lab", "server_id"),
    "start_lab": (".lab", "start_lab"),
    "SCENARIOS": (".scenarios", "SCENARIOS"),
    "Fix": (".scenarios", "Fix"),
    "recycle_by_age": (".scenarios", "recycle_by_age"),
    "run": (".scenarios", "run"),
    "run_all": (".scenarios", "run_all"),
    "summarize": (".scenarios", "summarize"),
    "timeout_scopes": (".scenarios", "timeout_scopes"),
    "watch_idle": (".scenarios", "watch_idle"),
    "bench": (".bench", None),
    "plots": (".plots", None),
    "progress": (".progress", None),
    "findings": (".findings", None),
    "advice": (".advice", None),
    "runbook": (".runbook", None),
    "scenarios": (".scenarios", None),
    "hardened": ("goneaway_pool.hardened", None),
    "keepalive": ("goneaway_pool.keepalive", None),
}

__all__ = [
    "DISCONNECT_CODES",
    "DRIVERS",
    "SCENARIOS",
    "Fix",
    "Lab",
    "LabConfig",
    "LabError",
    "advice",
    "bench",
    "describe_error",
    "findings",
    "hardened",
    "keepalive",
    "plots",
    "progress",
    "recycle_by_age",
    "run",
    "run_all",
    "runbook",
    "scenarios",
    "server_id",
    "start_lab",
    "summarize",
    "timeout_scopes",
    "watch_idle",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'helpers' has no attribute {name!r}") from None
    loaded = importlib.import_module(module, __name__)
    value = loaded if attribute is None else getattr(loaded, attribute)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
