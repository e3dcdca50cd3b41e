"""The runbook for a fleet: every server checked at once, read-only, under one time bound.

>>> fleet = check_fleet(["mysql://doctor@db1/app", "mysql://doctor@db2/app"], sample_seconds=5)
>>> fleet.table        # one row per server and finding, worst first
>>> fleet.differences  # the variables that differ between the servers (themselves findings)

A server that does not answer, refuses the login or is not a MySQL URL costs its own row,
not the call. Passwords never appear in what it returns (``safe_url``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import LabError
from ..haproxy import show_stat
from ..progress import report_to, wait_until
from .doctor import server_findings
from .finding import Finding, table
from .server import ServerReport, check_server, redact, safe_url
from .settings import ServerFacts, parse_settings, settings_findings

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
#: Each server's connect timeout: well inside the slack, so a slow handshake is a row, not a hang.
CONNECT_SECONDS = 3.0


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
    haproxy_socket: str | None = None,
) -> Fleet:
    """Check every server in ``urls`` at once (``check_server``, read-only) within
    ``sample_seconds`` + :data:`SLACK_SECONDS`; with ``engine_options``, check them against each;
    with ``haproxy_socket``, also read HAProxy's view of them there (``show stat`` only).
    Each check runs in a daemon thread with a connect timeout of :data:`CONNECT_SECONDS`, so a
    server that hangs costs its row and never holds up the call or the process's exit."""
    if not urls and not haproxy_socket:
        raise LabError("give at least one server URL")
    settings = parse_settings(engine_options) if engine_options not in (None, "", {}) else None
    names = _names(urls)
    results: dict[str, ServerReport | Exception] = {}

    def check(url: str, name: str) -> None:
        try:
            with report_to(lambda *_: None):  # one bar for the fleet, not one per server
                results[name] = check_server(url, sample_seconds, connect_timeout=CONNECT_SECONDS)
        except Exception as exc:  # whatever one server does costs its own row
            results[name] = exc

    threads = [
        threading.Thread(target=check, args=(url, name), name=f"doctor {name}", daemon=True)
        for url, name in zip(urls, names, strict=True)
    ]
    for thread in threads:
        thread.start()
    found: list[Finding] = proxy_findings(haproxy_socket) if haproxy_socket else []
    bound = sample_seconds + SLACK_SECONDS
    # the servers get all but half a second of the bound; the table is built in what is left
    wait_until(lambda: len(results) == len(names), bound - 0.5, desc=f"checking {len(names)} servers")
    reports: dict[str, ServerReport | None] = {}
    for name in names:
        result = results.get(name)
        reports[name] = result if isinstance(result, ServerReport) else None
        if result is None:
            found.append(Finding("critical", "no answer", f"no report within {bound:g} s", server=name))
        elif isinstance(result, Exception):
            detail = str(result) if isinstance(result, LabError) else f"{type(result).__name__}: {result}"
            found.append(Finding("critical", "cannot check", redact(detail), server=name))
        else:
            own = server_findings(result)
            if settings is not None:
                own += settings_findings(settings, ServerFacts.of(result))
            found += [dataclasses.replace(finding, server=name) for finding in own]
    differences = compare(reports)
    for row in differences.itertuples():
        detail = ", ".join(f"{server}: {value}" for server, value in row.values.items())
        found.append(Finding("warning", f"{row.name} differs between servers", detail, server="all"))
    return Fleet(reports, table(found, with_server=True), differences)


def proxy_findings(stats_socket: str) -> list[Finding]:
    """HAProxy's view of its servers from its stats socket (``show stat``, which only reads):
    each listener's servers up, and how each is checked."""
    name = f"haproxy {stats_socket}"
    try:
        stats = show_stat(stats_socket)
    except OSError as exc:
        return [
            Finding("critical", "cannot read HAProxy", f"{stats_socket}: {exc.strerror or exc}", server=name)
        ]
    except (KeyError, ValueError) as exc:  # it answered, but not with HAProxy's CSV
        return [
            Finding(
                "critical", "cannot read HAProxy", f"{stats_socket}: not a stats socket ({exc})", server=name
            )
        ]
    found = []
    servers = stats[~stats["server"].isin(["FRONTEND", "BACKEND"])]
    for listener, group in servers.groupby("listener", sort=False):
        up = group[group["status"].str.startswith("UP")]
        each = ", ".join(f"{row.server} {row.status}" for row in group.itertuples())
        found.append(
            Finding(
                "critical" if up.empty else "info",
                f"{listener}: servers up",
                f"{len(up)} of {len(group)} up ({each}); {int(group['scur'].sum())} sessions open",
                "16_failover",
                name,
            )
        )
        port_only = group[group["check_status"] == "L4OK"]["server"].tolist()
        if port_only:
            found.append(
                Finding(
                    "warning",
                    f"{listener}: checked by TCP connect only",
                    f"{', '.join(port_only)}: a Galera node outside the quorum, or a read-only one, passes a "
                    "TCP check; check node state (clustercheck, wsrep_local_state) instead",
                    "16_failover",
                    name,
                )
            )
    return found


def _names(urls: Sequence[str]) -> list[str]:
    """Each server as it may be shown; the same one given twice (two accounts) numbered."""
    seen: Counter[str] = Counter()
    names = []
    for url in urls:
        name = safe_url(url)
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name} (#{seen[name]})")
    return names


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
