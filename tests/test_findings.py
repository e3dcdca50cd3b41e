"""Every finding tied to a version is measured with the versions the lock pins and the venv has:
when either moves, this fails and names the finding and both versions (``helpers.findings``)."""

from __future__ import annotations

import re

import pytest

from helpers.findings import FINDINGS, Finding, installed

from .conftest import REPO


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    """``name==version`` pins of requirements.txt (the lock), by canonical name."""
    pins = re.findall(
        r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", (REPO / "requirements.txt").read_text(), re.M
    )
    return {canonical(name): version for name, version in pins}


def test_the_lock_pins_every_package_exactly() -> None:
    lines = [
        line
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    ]
    assert lines and all("==" in line for line in lines), [line for line in lines if "==" not in line]


@pytest.mark.parametrize("finding", FINDINGS, ids=[f.name for f in FINDINGS])
def test_finding_is_measured_with_the_locked_versions(finding: Finding) -> None:
    pins = locked()
    for dist, measured in finding.measured_with.items():
        pinned, present = pins.get(canonical(dist)), installed(dist)
        assert pinned == measured, (
            f"finding {finding.name!r} was measured with {dist} {measured}; the lock pins {pinned}: "
            f"re-run its test ({finding.shown_in}), then update helpers/findings.py"
        )
        assert present == measured, (
            f"finding {finding.name!r} was measured with {dist} {measured}; {present} is installed "
            "(make setup installs the lock)"
        )
