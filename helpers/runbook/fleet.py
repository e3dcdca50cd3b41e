"""The runbook for a fleet: every server checked at once, read-only, under one time bound.

>>> fleet = check_fleet(["mysql://doctor@db1/app", "mysql://doctor@db2/app"], sample_seconds=5)
>>> fleet.table        # one row per server and finding, worst first
>>> fleet.differences  # the variables that differ between the servers (themselves findings)

A server that does not answer, refuses the login or is not a MySQL URL costs its own row,
not the call. Passwords never appear in what it returns (``safe_url``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import LabError
from .doctor import server_findings
from .server import ServerReport, check_server, redact, safe_url
from .settings import FINDING_COLUMNS, SEVERITY_ORDER, ServerFacts, check_settings, parse_settings

log = logging.getLogger(__name__)

#: What a fleet's servers should agree on; a difference is a finding of its own.
COMPARED = (
    "wait_timeout",
    "interactive_timeout",
    "max_allowed_packet",
    "net_read_timeout",
    "net_write_timeout",
    "max_connections",
    "idle_transaction_timeout",
    "max_statement_time",
)
#: Beyond the sampling window, how long the slowest server may take (connect, queries).
SLACK_SECONDS = 5.0
FLEET_COLUMNS = ["server", *FINDING_COLUMNS]


@dataclass
class Fleet:
    """Every server's report (None where it failed), the findings of all, and the differences."""

    reports: dict[str, ServerReport | None]
    table: pd.DataFrame
    differences: pd.DataFrame = field(default_factory=pd.DataFrame)

    def records(self) -> list[dict[str, Any]]:
        """One dict per row (the CLI's JSON lines)."""
        return [{"kind": "fleet", **row} for row in self.table.to_dict(orient="records")]


def check_fleet(
    urls: Sequence[str],
    sample_seconds: float = 5.0,
    engine_options: str | Mapping[str, Any] | None = None,
) -> Fleet:
    """Check every server in ``urls`` concurrently (``check_server``, read-only) within
    ``sample_seconds`` + :data:`SLACK_SECONDS`; with ``engine_options``, check them against each."""
    if not urls:
        raise LabError("give at least one server URL")
    settings = parse_settings(engine_options) if engine_options not in (None, "", {}) else None
    names: list[str] = []
    for url in urls:  # the same server twice (two accounts) gets a row of its own each
        name = safe_url(url)
        names.append(name if name not in names else f"{name} (#{names.count(name) + 1})")
    pool = ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="doctor")
    futures = {
        pool.submit(check_server, url, sample_seconds): name for url, name in zip(urls, names, strict=True)
    }
    _, late = wait_for(futures, timeout=sample_seconds + SLACK_SECONDS)
    pool.shutdown(wait=False, cancel_futures=True)  # a hung server's thread ends at its read timeout
    reports: dict[str, ServerReport | None] = {}
    frames = []
    for future, name in futures.items():
        if future in late:
            reports[name] = None
            frames.append(
                _row(name, "critical", "no answer", f"no report within {sample_seconds + SLACK_SECONDS:g} s")
            )
            continue
        try:
            report = future.result()
        except LabError as exc:  # a server that does not answer, a wrong password: its own row
            reports[name] = None
            frames.append(_row(name, "critical", "cannot check", redact(str(exc))))
            continue
        reports[name] = report
        found = [server_findings(report)]
        if settings is not None:
            found.append(check_settings(settings, ServerFacts.of(report)))
        for frame in found:
            frames.append(frame.assign(server=name))
    differences = compare(reports)
    for row in differences.itertuples():
        detail = ", ".join(f"{server}: {value}" for server, value in row.values.items())
        frames.append(_row("all", "warning", f"{row.name} differs between servers", detail))
    table = pd.concat(frames, ignore_index=True)[FLEET_COLUMNS]
    table = table.sort_values("severity", key=lambda s: s.map(SEVERITY_ORDER), kind="stable").reset_index(
        drop=True
    )
    return Fleet(reports, table, differences)


def compare(reports: Mapping[str, ServerReport | None]) -> pd.DataFrame:
    """The :data:`COMPARED` variables whose global values differ between the servers that answered."""
    seen = {name: r for name, r in reports.items() if r is not None}
    rows = []
    for variable in COMPARED:
        values = {name: r.variable(variable) for name, r in seen.items()}
        values = {name: v for name, v in values.items() if v is not None}
        if len(values) > 1 and len(set(values.values())) > 1:
            rows.append({"name": variable, "values": values})
    return pd.DataFrame(rows, columns=["name", "values"])


def _row(server: str, severity: str, check: str, detail: str, notebook: str = "") -> pd.DataFrame:
    return pd.DataFrame([{"server": server, "severity": severity, "check": check, "detail": detail,
                          "notebook": notebook}])  # fmt: skip
