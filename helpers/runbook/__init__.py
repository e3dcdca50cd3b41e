"""The incident runbook: an error text, a server and the application's settings in;
the likely cause, the evidence, the fix and the lesson that proves it out.

``classify``      error text (+ facts) -> ranked causes, each a registered scenario
``check_server``  a read-only look at any MySQL/MariaDB server (variables, counters over a
                  window, sleeping connections, aborted-connection log lines)
``parse_settings``, ``check_settings``, ``replay``
                  the application's engine settings: static findings, and a scaled replay
                  through the lab's scenarios
``diagnose``      all of it at once (``python -m helpers doctor``)
``check_fleet``   several servers at once, with what differs between them (``doctor URL URL``)
"""

from __future__ import annotations

from .causes import CAUSES, Cause
from .classify import FACT_RULES, SIGNATURES, classify
from .doctor import Diagnosis, diagnose
from .fleet import Fleet, check_fleet
from .report import render, verdict_markdown
from .server import ServerReport, check_server, safe_url
from .settings import AppSettings, ServerFacts, check_settings, parse_settings, replay

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
    "render",
    "replay",
    "safe_url",
    "verdict_markdown",
]
