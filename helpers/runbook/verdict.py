"""What the doctor says, from plain records: the paragraph and the JSON lines. Light on
purpose (no pandas, no driver): ``python -m helpers doctor --error TEXT`` uses it directly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .taxonomy import CANNOT_CONNECT, NOT_DISCONNECT, REFUSED, Reading


def verdict(
    candidates: Sequence[Mapping[str, Any]],
    had_text: bool,
    server_checked: bool,
    reading: Reading | None = None,
) -> str:
    """One paragraph: what kind of error it is, the likely cause, its evidence, the fix, the
    lesson (or that the lab does not reproduce it yet), and what would decide."""
    said = reading.line() + " " if reading is not None and reading.kind is not None else ""
    if not candidates:
        return said + (
            "No disconnect cause stands out: "
            + ("nothing in the text matched a known error." if had_text else "no error text was given.")
            + (" The server shows no connections being dropped in the window." if server_checked else "")
        )
    top = candidates[0]
    if reading is not None and reading.kind in (REFUSED, NOT_DISCONNECT, CANNOT_CONNECT):
        said += "This is not 'MySQL server has gone away': reconnecting or pre-ping will not fix it. "
    where = (
        f"scenario `{top['scenario']}`"
        if top["reproduced"]
        else f"`{top['scenario']}`; known, but the lab does not reproduce it yet"
    )
    text = said + (
        f"Likely cause: {top['summary']} ({where}). Evidence: {top['evidence']}. "
        f"Fix: {top['fix']}. Read: {top['notebook']}."
    )
    if len(candidates) > 1:
        text += f" Next candidate: `{candidates[1]['scenario']}`; to tell them apart: {top['decide']}"
    return text


def reading_records(reading: Reading | None) -> list[dict[str, Any]]:
    """The reading as the first JSON line (none where no known error was read)."""
    if reading is None or reading.kind is None:
        return []
    return [
        {
            "kind": "reading",
            "class": reading.kind,
            "decided_by": reading.decided_by,
            "what": reading.what,
            "transport": [{"fact": f, "reason": why} for f, why in reading.transport],
            "follow_ons": [{"error": e, "look_for": first} for e, first in reading.follow_ons],
        }
    ]


def cause_records(candidates: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """One JSON line per candidate cause."""
    return [{"kind": "cause", **{k: c[k] for k in columns}} for c in candidates]
