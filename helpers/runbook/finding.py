"""One thing the runbook found, from the settings, a server or a fleet, and the table of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

#: Worst first.
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2, "ok": 3}
COLUMNS = ["severity", "check", "detail", "notebook"]


@dataclass(frozen=True)
class Finding:
    """A severity (``SEVERITY_ORDER``), what was checked, what it showed, the lesson that
    proves it (or ""), and the server it is about (a fleet's; "" for one server)."""

    severity: str
    check: str
    detail: str
    notebook: str = ""
    server: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_ORDER:
            raise ValueError(f"severity {self.severity!r}: choose one of {', '.join(SEVERITY_ORDER)}")


def table(findings: Iterable[Finding], with_server: bool = False) -> pd.DataFrame:
    """The findings as a DataFrame, worst first (the order of the checks kept within a severity);
    ``with_server`` puts the ``server`` column first."""
    columns = ["server", *COLUMNS] if with_server else COLUMNS
    out = pd.DataFrame([asdict(f) for f in findings], columns=[*COLUMNS, "server"])[columns]
    order = out["severity"].map(SEVERITY_ORDER)
    return out.iloc[order.argsort(kind="stable")].reset_index(drop=True)
