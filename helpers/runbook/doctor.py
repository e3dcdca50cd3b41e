"""The runbook in one call: error text + server + settings -> cause, evidence, fix, lesson.

>>> from helpers.runbook import diagnose
>>> d = diagnose("mysql://doctor:pw@db:3306/app", error_text=traceback, engine_options={"pool_recycle": 3600})
>>> d.verdict          # one paragraph
>>> d.candidates       # ranked causes (DataFrame)
>>> d.findings         # the settings and server checks (DataFrame)

Read-only on the server, and the password never appears in anything it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.engine import URL

from .classify import CANDIDATE_COLUMNS, classify, normalize_text, read
from .finding import COLUMNS as FINDING_COLUMNS
from .finding import Finding, table
from .server import NEAR, ServerReport, check_server
from .settings import AppSettings, ServerFacts, parse_settings, settings_findings
from .taxonomy import Reading
from .verdict import cause_records, reading_records, verdict

log = logging.getLogger(__name__)


@dataclass
class Diagnosis:
    """What the runbook concluded, and everything it concluded it from."""

    verdict: str
    candidates: pd.DataFrame
    findings: pd.DataFrame
    report: ServerReport | None
    settings: AppSettings | None
    reading: Reading | None = None

    @property
    def likely(self) -> str | None:
        """The rank-1 scenario, or None when no cause stands out."""
        return None if self.candidates.empty else str(self.candidates["scenario"].iloc[0])

    def records(self) -> list[dict[str, Any]]:
        """One dict per candidate cause and per finding (the CLI's JSON lines)."""
        rows = [{k: plain(v) for k, v in row.items()} for row in self.candidates.to_dict(orient="records")]
        out = reading_records(self.reading) + cause_records(rows, CANDIDATE_COLUMNS)
        for row in self.findings.to_dict(orient="records"):
            out.append({"kind": "finding", **{k: plain(row[k]) for k in FINDING_COLUMNS}})
        return out


def plain(value: Any) -> Any:
    """A value as JSON has it: numpy scalars as Python ones, NaN and NA as None."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def server_findings(report: ServerReport) -> list[Finding]:
    """What the server itself shows, as findings."""
    found: list[Finding] = []

    def add(severity: str, check: str, detail: str, notebook: str = "") -> None:
        found.append(Finding(severity, check, detail, notebook))

    wait, interactive = report.wait_timeout, report.variable("interactive_timeout")
    if wait is not None:
        add(
            "info",
            "wait_timeout",
            f"global wait_timeout={wait:g}s, interactive_timeout={interactive}",
            "01_reproduce",
        )
        if isinstance(interactive, float) and interactive != wait:
            add(
                "info",
                "interactive_timeout differs",
                f"the mysql CLI in a terminal gets {interactive:g}s; applications get wait_timeout={wait:g}s",
                "05_interactive_timeout",
            )
    deltas = report.deltas().set_index("counter")["delta"] if not report.samples.empty else pd.Series()
    aborted = int(deltas.get("Aborted_clients", 0))
    if aborted:
        add(
            "warning",
            "Aborted_clients rising",
            f"+{aborted} in the window: connections are being dropped without a goodbye",
            "01_reproduce",
        )
    errors = {k: int(v) for k, v in deltas.items() if str(k).startswith("Connection_errors") and v}
    if errors:
        add("warning", "connection errors", ", ".join(f"{k} +{v}" for k, v in errors.items()))
    near = int(report.sleeping["near_timeout"].sum()) if len(report.sleeping) else 0
    if near:
        add(
            "warning",
            "sleeping near wait_timeout",
            f"{near} sleeping connection(s) past {NEAR:.0%} of wait_timeout: dropped unless used soon",
            "01_reproduce",
        )
    warnings, verbosity = report.variable("log_warnings"), report.variable("log_error_verbosity")
    if isinstance(warnings, float) and warnings < 2:  # MariaDB, MySQL 5.7
        add(
            "info",
            "log_warnings",
            f"log_warnings={warnings:g}: aborted connections are not logged (2 logs them)",
        )
    if isinstance(verbosity, float) and verbosity < 3:  # MySQL 8
        add("info", "log_error_verbosity", f"log_error_verbosity={verbosity:g}: aborted connections need 3")
    found += cluster_findings(report)
    for item in report.unseen:
        add("info", "not visible", item)
    return found


def cluster_findings(report: ServerReport) -> list[Finding]:
    """A Galera node's state: quorum, readiness, sync, flow control, and whether it takes writes."""
    w = report.wsrep
    if not w:
        return []
    size, status = w.get("wsrep_cluster_size", "?"), w.get("wsrep_cluster_status", "?")
    state, ready = w.get("wsrep_local_state_comment", "?"), w.get("wsrep_ready", "?")
    found = [
        Finding(
            "info",
            "Galera node",
            f"cluster of {size}, {status}, {state}, ready {ready}, flow control paused "
            f"{float(w.get('wsrep_flow_control_paused') or 0):.0%} of the time, receive queue "
            f"{w.get('wsrep_local_recv_queue', '?')}",
            "16_failover",
        )
    ]
    if status != "Primary" or ready != "ON":
        found.append(
            Finding(
                "critical",
                "node outside the quorum",
                f"wsrep_cluster_status={status}, wsrep_ready={ready}: statements on tables get 1047 on "
                "live sockets that pool_pre_ping passes; the proxy's health check must take it out",
                "16_failover",
            )
        )
    elif state != "Synced":
        found.append(
            Finding("warning", "node not synced", f"wsrep_local_state_comment={state}", "16_failover")
        )
    if float(w.get("wsrep_flow_control_paused") or 0) > 0.1:
        found.append(
            Finding(
                "warning",
                "flow control",
                "replication paused writers more than 10% of the time: a slow node holds the cluster back",
            )
        )
    if report.variable("read_only") in ("ON", 1.0):
        found.append(
            Finding(
                "warning",
                "read-only node",
                "read_only=ON: writes get 1290; a pool that stays on this node after a switchover fails "
                "every write (treat 1290 as a disconnect, and recycle)",
                "16_failover",
            )
        )
    return found


def diagnose(
    url: str | URL | None = None,
    error_text: str | bytes | None = "",
    engine_options: str | Mapping[str, Any] | None = None,
    sample_seconds: float = 5.0,
    error_log: Callable[[int], list[str]] | None = None,
    facts: Mapping[str, Any] | None = None,
) -> Diagnosis:
    """Classify ``error_text``; with ``url``, check that server read-only for ``sample_seconds``;
    with ``engine_options``, check them against it. ``facts`` adds what you know (see
    :func:`~helpers.runbook.classify.classify`), e.g. ``{"request_seconds": 900}``."""
    text = normalize_text(error_text)
    settings = parse_settings(engine_options) if engine_options not in (None, "", {}) else None
    report = check_server(url, sample_seconds, error_log=error_log) if url else None
    known: dict[str, Any] = {}
    if report is not None:
        server_facts = report.facts()
        if not text.strip():
            server_facts.pop("uptime")  # a recent restart is a cause only of an error someone saw
        known.update({k: v for k, v in server_facts.items() if v is not None})
    if settings is not None:
        known.update({k: v for k, v in settings.facts().items() if v is not None})
    known.update(facts or {})
    evidence_text = text + "\n" + "\n".join(report.error_log if report else [])
    # Settings alone name risks (findings), not a cause: a cause needs an error someone saw, or
    # the server dropping connections now.
    seen = evidence_text.strip() or known.get("aborted_clients_delta") or known.get("sleeping_near_timeout")
    candidates = classify(evidence_text, known) if seen else classify("")
    found: list[Finding] = []
    if settings is not None:
        server = (
            ServerFacts.of(report)
            if report is not None
            else ServerFacts(float(known.get("wait_timeout") or 28800))
        )
        found += settings_findings(settings, server)
    if report is not None:
        found += server_findings(report)
    reading = read(evidence_text)
    summary = verdict(candidates.to_dict(orient="records"), bool(text.strip()), report is not None, reading)
    return Diagnosis(summary, candidates, table(found), report, settings, reading)
