"""The experiments' logic without a server: where a sweep's outcome flips, the values a sweep
takes, what a knob changes, and how long a sweep says it takes."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import SCENARIOS
from helpers.experiments import MAX_POINTS, boundary, comparison_line, estimate, knobs, spread
from helpers.scenarios import NO_FIX


def points(oks: list[bool]) -> pd.DataFrame:
    return pd.DataFrame({"value": [0.5 * (i + 1) for i in range(len(oks))], "ok": oks})


def test_the_boundary_is_where_the_outcome_first_flips() -> None:
    found = boundary(points([True, True, False, False]))
    assert found is not None and found.between == (1.0, 1.5) and found.holds_below and found.at == 1.25
    assert found.line("pool_recycle") == "holds for pool_recycle ≤ 1; the boundary lies between 1 and 1.5"
    above = boundary(points([False, True, True]))
    assert (
        above is not None
        and not above.holds_below
        and above.line("idle_limit").startswith("holds for idle_limit ≥ 1")
    )
    assert boundary(points([True, True])) is None and boundary(points([False])) is None
    twice = boundary(points([True, False, True]))
    assert twice is not None and twice.flips == 2 and "flips 2 times" in twice.line("pool_recycle")


def test_a_sweep_takes_at_most_twelve_evenly_spread_values() -> None:
    assert spread(0.5, 4.0, 8) == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    assert spread(2, 2, 1) == [2]
    with pytest.raises(ValueError, match=f"choose 1 to {MAX_POINTS}"):
        spread(0, 1, MAX_POINTS + 1)
    with pytest.raises(ValueError, match="must not be below"):
        spread(3, 1, 3)


def test_each_knob_changes_what_it_names() -> None:
    turn = knobs("recycle_margin")
    assert {"pool_recycle", "ping_after", "keepalive_idle", "wait_timeout", "hold"} <= set(turn)
    fix, timings = turn["pool_recycle"].apply(NO_FIX, {"wait_timeout": 2}, 1.5)
    assert fix.options["pool_recycle"] == 1.5 and fix.name == "pool_recycle=1.5" and fix.prevents is None
    fix, _ = turn["ping_after"].apply(NO_FIX, {}, 0.5)
    assert fix.hardening is not None and fix.hardening.ping_after == 0.5
    fix, _ = turn["keepalive_idle"].apply(NO_FIX, {}, 2)
    assert fix.tcp is not None and fix.tcp.idle == 2
    same, timings = turn["wait_timeout"].apply(NO_FIX, {"wait_timeout": 2, "hold": 1.3}, 3)
    assert same is NO_FIX and timings == {"wait_timeout": 3, "hold": 1.3}
    with pytest.raises(ValueError, match="whole seconds"):
        turn["keepalive_idle"].apply(NO_FIX, {}, 1.5)
    with pytest.raises(ValueError, match="whole seconds"):  # the server rounds it: 1.5 would be 2
        turn["wait_timeout"].apply(NO_FIX, {"wait_timeout": 2}, 1.5)
    with pytest.raises(ValueError, match=r"choose from 0\.1 to 30"):
        turn["pool_recycle"].apply(NO_FIX, {}, 0)


def test_the_estimate_counts_the_scenario_s_waits() -> None:
    entry = SCENARIOS["recycle_margin"]  # wait_timeout 2 and hold 1.3: 3.3 s of timings, 1 s more a run
    assert estimate(entry, {}, [0.5] * 8, "pool_recycle") == pytest.approx(8 * 4.3)
    assert estimate(entry, {"hold": 2.3}, [1, 2], "pool_recycle") == pytest.approx(2 * 5.3)
    assert estimate(entry, {}, [1.0, 2.0], "hold") == pytest.approx((3 + 1) + (4 + 1))  # the swept hold


def test_the_comparison_line_names_both_outcomes_and_the_cost() -> None:
    def rows(*outcomes: tuple[str, int | None]) -> pd.DataFrame:
        frame = pd.DataFrame(
            [
                {"step": f"step {i}", "outcome": o, "error_code": c, "error_class": None}
                for i, (o, c) in enumerate(outcomes)
            ]
        )
        return frame

    a, b = rows(("ok", None), ("error", 2006), ("ok", None)), rows(("ok", None), ("ok", None), ("ok", None))
    a.attrs["round_trips"], b.attrs["round_trips"] = 10, 13
    assert (
        comparison_line(a, b)
        == "A failed once with 2006 on “step 1”; B ran clean at +1.0 round trip per checkout"
    )
    b.attrs["round_trips"] = 10
    assert comparison_line(a, b) == "A failed once with 2006 on “step 1”; B ran clean"


def test_both_runs_rows_join_even_where_the_server_saw_the_same() -> None:
    from helpers.experiments import Comparison

    def run(fix: str) -> pd.DataFrame:
        frame = pd.DataFrame({"fix": [fix], "outcome": ["ok"]})
        frame.attrs.update(round_trips=3, aborted_clients=0, processlist=pd.DataFrame({"ID": [1]}))
        return frame

    rows = Comparison(run("A · none"), run("B · none"), "").rows  # equal attrs, a frame among them
    assert rows["fix"].tolist() == ["A · none", "B · none"]
