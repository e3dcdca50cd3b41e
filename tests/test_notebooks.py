"""Every notebook runs headless, top to bottom, against the session's lab, without error output."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbclient
import pytest

from .browser import CHROMIUM
from .conftest import REPO, _backend

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))


def problems(nb) -> list[str]:  # type: ignore[no-untyped-def]
    """Error outputs and anything written to stderr (warnings, stray logs), cell by cell."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                found.append(f"{cell.source[:60]!r}: {out['ename']}: {out['evalue']}")
            elif out["output_type"] == "stream" and out["name"] == "stderr":
                found.append(f"{cell.source[:60]!r}: stderr: {out['text'][:300]}")
    return found


def test_notebooks_found() -> None:
    assert [p.name[:2] for p in NOTEBOOKS][:4] == ["00", "01", "02", "03"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_clean(path: Path, lab_env: dict[str, str]) -> None:
    if _backend() == "local" and Path(CHROMIUM).exists():
        pytest.skip("the local pass runs every lesson in the browser instead (test_lessons_browser.py)")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    assert problems(nb) == []
    figures = sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))
    assert figures >= (0 if path.name.startswith("00") else 1), "every lesson shows at least one plot"
