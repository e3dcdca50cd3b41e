"""The incident runbook: an error text, a server and the application's settings in;
the likely cause, the evidence, the fix and the lesson that proves it out.

``classify``      error text (+ facts) -> ranked causes (``rank``: the same as plain records)
``check_server``  a read-only look at any MySQL/MariaDB server (variables, counters over a
                  window, sleeping connections, aborted-connection log lines)
``parse_settings``, ``check_settings``; ``replay`` (its own module)
                  the application's engine settings: static findings, and a scaled replay
                  through the lab's scenarios
``diagnose``      all of it at once (``python -m helpers doctor``)
``check_fleet``   several servers at once, with what differs between them (``doctor URL URL``)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Light (no pandas, no driver), and named like their own modules: imported now, so that the
# functions, not the modules, are what these names mean.
from .causes import CAUSES, Cause
from .classify import FACT_RULES, SIGNATURES, classify, rank, read

if TYPE_CHECKING:
    from .doctor import Diagnosis, diagnose
    from .fleet import Fleet, check_fleet
    from .replay import replay
    from .report import render, verdict_markdown
    from .server import ServerReport, check_server, safe_url
    from .settings import AppSettings, ServerFacts, check_settings, parse_settings

#: name -> the module that defines it, imported on first use (the doctor's quick path reads
#: an error text without pandas, SQLAlchemy or a driver).
_LAZY = {
    "Diagnosis": ".doctor",
    "diagnose": ".doctor",
    "Fleet": ".fleet",
    "check_fleet": ".fleet",
    "render": ".report",
    "verdict_markdown": ".report",
    "ServerReport": ".server",
    "check_server": ".server",
    "safe_url": ".server",
    "AppSettings": ".settings",
    "ServerFacts": ".settings",
    "check_settings": ".settings",
    "parse_settings": ".settings",
    "replay": ".replay",
}

__all__ = [
    "CAUSES",
    "FACT_RULES",
    "SIGNATURES",
    "AppSettings",
    "Cause",
    "Diagnosis",
    "Fleet",
    "ServerFacts",
    "ServerReport",
    "check_fleet",
    "check_server",
    "check_settings",
    "classify",
    "diagnose",
    "parse_settings",
    "rank",
    "read",
    "render",
    "replay",
    "safe_url",
    "verdict_markdown",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'helpers.runbook' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value
