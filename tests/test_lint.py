"""ruff (lint and format, everything) and mypy (the helpers package)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def test_ruff_check() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_helpers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "helpers", "--ignore-missing-imports"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
