"""How a run's failure reads: an error row's label, a run's codes, one phrase for a run. Only
pandas: the plots and the playground use it without loading the scenarios (and every driver)."""

from __future__ import annotations

import pandas as pd


def error_label(error: pd.Series) -> str:
    """An error row's code (a ``run`` row or a ``summarize`` line), or for an error without one
    its class's short name."""
    if not pd.isna(error["error_code"]):
        return str(int(error["error_code"]))
    return str(error.get("error_class") or "error").rsplit(".", 1)[-1]


def error_codes(errors: pd.DataFrame) -> str:
    """The distinct labels of ``errors``' rows, in order, e.g. ``2006, 2013``."""
    return ", ".join(dict.fromkeys(error_label(e) for _, e in errors.iterrows()))


def failure_phrase(rows: pd.DataFrame) -> str:
    """What a run's rows did, e.g. ``ran clean`` or ``failed once with 2006 on “after idle”``."""
    errors = rows[rows["outcome"] == "error"]
    if errors.empty:
        return "ran clean"
    times = "once" if len(errors) == 1 else f"{len(errors)} times"
    return f"failed {times} with {error_codes(errors)} on “{errors.iloc[0]['step']}”"
