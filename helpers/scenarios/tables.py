"""What a scenario's rows say: the first error of each trial, and one line per trial."""

from __future__ import annotations

import pandas as pd


def first_errors(rows: pd.DataFrame) -> pd.DataFrame:
    """The first error of each scenario × driver × fix in ``run`` rows: what an application
    would see, whether SQLAlchemy invalidated the connection, how long the failing step took
    (``latency``, seconds), and the versions."""
    columns = [
        *("scenario", "driver", "fix", "step", "error_class", "error_code", "message", "invalidated"),
        "latency",
    ]
    errors = rows[rows["outcome"] == "error"].drop_duplicates(["scenario", "driver", "fix"])
    return errors[[*columns, "driver_version", "sqlalchemy_version"]].reset_index(drop=True)


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per scenario × driver × fix: did it stay clean, and if not, the first error.
    ``as_expected`` compares that with what the trial's fix should do with its driver
    (``Fix.expected``; None where unknown)."""
    out = []
    for (name, driver, fix), group in rows.groupby(["scenario", "driver", "fix"], sort=False):
        errors = group[group["outcome"] == "error"]
        first = errors.iloc[0] if len(errors) else None
        ok = first is None
        declared = group["prevents"].iloc[0]
        prevents = None if declared is None or pd.isna(declared) else bool(declared)
        out.append(
            {
                "scenario": name,
                "driver": driver,
                "fix": fix,
                "ok": ok,
                "errors": len(errors),
                "error_class": None if first is None else first["error_class"],
                "error_code": None if first is None else first["error_code"],
                "error_message": None if first is None else first["message"],
                "recovered": group.iloc[-1]["outcome"] == "ok",
                "seconds": round(float((group["time"] + group["latency"]).max() - group["time"].min()), 2),
                "as_expected": None if prevents is None else ok == prevents,
            }
        )
    return pd.DataFrame(out).astype({"error_code": "Int64"})
