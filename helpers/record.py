"""What a lesson claims, recorded in its own output, so that its test can assert it.

>>> from helpers.record import record
>>> record("the error code per driver", codes={"pymysql": 2006, "mysqldb": 2006})

In the notebook this shows one line a reader can check ("Recorded: the error code per
driver: codes = {...}"); the values travel in the output's metadata under
:data:`KEY`, and :func:`recorded` reads them back from an executed notebook.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
from IPython.display import Markdown, display

#: The metadata key of a recorded output.
KEY = "gone-away-lab"


def _plain(value: Any) -> Any:
    """Values as JSON keeps them: numpy and pandas scalars become Python ones."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


#: How much of a recorded value the line shows (the metadata keeps all of it; the lesson's
#: table or plot shows the same values whole).
SHOWN = 240


def record(what: str, **values: Any) -> None:
    """Show ``what`` and ``values`` as one line, and keep ``values`` in the output's metadata.

    Returns nothing, so that a cell ending with it shows the line only."""
    kept = {name: _plain(value) for name, value in values.items()}
    shown = ", ".join(
        f"{name} = `{_short(json.dumps(value, ensure_ascii=False))}`" for name, value in kept.items()
    )
    display(Markdown(f"*Recorded: {what}: {shown}*"), metadata={KEY: kept})


def _short(text: str) -> str:
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def nested(frame: pd.DataFrame, keys: list[str], value: str | Callable[[Any], Any]) -> dict[str, Any]:
    """``frame`` as nested dicts, one level per column of ``keys`` (``{"pymysql": {"none": 6.7}}``),
    holding the ``value`` column, or what ``value(row)`` gives for each row (a ``namedtuple``).
    The keys stay data: a test reads ``v["seconds"]["pymysql"]["none"]``, never splits a label."""
    out: dict[str, Any] = {}
    for row in frame.itertuples(index=False):
        level = out
        for key in keys[:-1]:
            level = level.setdefault(str(getattr(row, key)), {})
        level[str(getattr(row, keys[-1]))] = value(row) if callable(value) else getattr(row, value)
    return out


def code(value: Any) -> int | None:
    """An error code as JSON keeps it (None where there is none)."""
    return None if pd.isna(value) else int(value)


def outcomes(summary: pd.DataFrame) -> dict[str, Any]:
    """A :func:`~helpers.summarize` table as recordable values, nested scenario -> driver -> fix:
    whether it ran clean, how many steps failed, the first code, whether the last step worked,
    and whether that is what the fix promises."""
    return nested(
        summary,
        ["scenario", "driver", "fix"],
        lambda row: {
            "ok": bool(row.ok),
            "errors": int(row.errors),
            "code": code(row.error_code),
            "recovered": bool(row.recovered),
            "as_expected": None if pd.isna(row.as_expected) else bool(row.as_expected),
        },
    )


def recorded(notebook: Any) -> dict[str, Any]:
    """Every value an executed notebook (an nbformat node) recorded, by name."""
    values: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            values.update(output.get("metadata", {}).get(KEY, {}))
    return values
