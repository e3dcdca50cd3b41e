"""Every scenario, both drivers, repeated: the failure happens with a disconnect code, the fixes hold."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from helpers import DISCONNECT_CODES, DRIVERS, SCENARIOS, Lab, run, summarize

from .test_runbook_classify import GENERIC, best_rank

#: Each scenario runs this many times per driver, to catch flakiness (the docker pass uses 1).
REPEATS = int(os.environ.get("LAB_TEST_REPEATS", "3"))


@pytest.mark.parametrize("repeat", range(REPEATS))
@pytest.mark.parametrize("driver", list(DRIVERS))
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(lab: Lab, name: str, driver: str, repeat: int) -> None:
    rows = run(name, lab, drivers=[driver])
    assert set(rows["fix"]) == {fix.name for fix in SCENARIOS[name].fixes}
    for fix in SCENARIOS[name].fixes:
        trial = rows[rows["fix"] == fix.name]
        errors = trial[trial["outcome"] == "error"]
        if fix.prevents:
            assert errors.empty, f"{fix.name} should prevent the failure:\n{errors.to_string()}"
        else:
            assert len(errors) >= 1, f"{fix.name}: expected the failure:\n{trial.to_string()}"
            codes = {None if pd.isna(code) else int(code) for code in errors["error_code"]}
            assert codes <= SCENARIOS[name].codes, errors.to_string()
            if SCENARIOS[name].codes == DISCONNECT_CODES:
                assert len(errors) == 1, (
                    f"{fix.name}: one failed request, then recovery:\n{trial.to_string()}"
                )
                assert errors["invalidated"].all(), "SQLAlchemy should have invalidated the dead connection"
        if fix.prevents or SCENARIOS[name].codes == DISCONNECT_CODES:
            # the pool recovers: the trial's last request works. (Where a stuck Session is the
            # lesson, codes include None and the unfixed trial is not expected to recover.)
            assert trial.iloc[-1]["outcome"] == "ok", trial.to_string()
    assert summarize(rows)["as_expected"].all()
    # The runbook reads the error this run really recorded back to this scenario.
    if rows["error_text"].fillna("").ne("").any():
        rank = best_rank(rows, name)
        texts = rows[["fix", "step", "error_text"]].dropna().to_dict("records")
        assert rank is not None and rank <= (3 if name in GENERIC else 1), (name, driver, rank, texts)


# What the notebooks say about the codes and texts each driver gives.
EXPECTED = {
    ("idle", "pymysql"): (2006, "MySQL server has gone away"),
    ("idle", "mysqldb"): (2006, "Server has gone away"),
    ("restart", "pymysql"): (2013, "Lost connection to MySQL server during query"),
    ("restart", "mysqldb"): (2013, "Lost connection to server during query"),
}


@pytest.mark.parametrize("name", ["idle", "restart"])
def test_write_side_2006_read_side_2013(lab: Lab, name: str) -> None:
    """Idle timeout: the write already fails (2006). Restart: the write passes, the read fails (2013)."""
    rows = run(name, lab, fixes=["none"])
    errors = rows[rows["outcome"] == "error"].set_index("driver")
    for driver in DRIVERS:
        code, text = EXPECTED[(name, driver)]
        assert errors.loc[driver, "error_code"] == code
        assert errors.loc[driver, "message"].startswith(text)
    assert set(errors["error_class"]) == {"pymysql.err.OperationalError", "MySQLdb.OperationalError"}


def test_unknown_names_are_clear(lab: Lab) -> None:
    with pytest.raises(ValueError, match="no scenario 'nope'"):
        run("nope", lab)
    with pytest.raises(ValueError, match="has no fix 'nope'"):
        run("idle", lab, fixes=["nope"])
    with pytest.raises(ValueError, match="unknown driver"):
        run("idle", lab, drivers=["psycopg"])


def test_a_fix_naming_an_unknown_pattern_is_refused_at_registration() -> None:
    from helpers.scenarios import Fix, scenario

    with pytest.raises(ValueError, match="names pattern 'relase'; known: release"):
        scenario("typo", "a typo", [Fix("release", pattern="relase")], patterns={"release"})(
            lambda lab, t: None
        )
    assert "typo" not in SCENARIOS


def test_summarize_judges_a_callers_fix_by_its_own_prevents(lab: Lab) -> None:
    from helpers.scenarios import Fix

    mine = Fix("mine: pre-ping, claimed not to help", {"pool_pre_ping": True}, prevents=False)
    tried = Fix("mine: just trying", {"pool_pre_ping": True}, prevents=None)
    summary = summarize(run("idle", lab, drivers=["pymysql"], fixes=[mine, tried])).set_index("fix")
    assert summary.loc[mine.name, "ok"] and summary.loc[mine.name, "as_expected"] is False
    assert summary.loc[tried.name, "as_expected"] is None
