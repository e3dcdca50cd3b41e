"""The measurements notebooks 01-03 show, checked against what they claim."""

from __future__ import annotations

import helpers
from helpers import Lab
from helpers.scenarios import WAIT_TIMEOUT


def test_global_change_reaches_new_connections_only(lab: Lab) -> None:
    scopes = helpers.timeout_scopes(lab).set_index("connection")
    assert scopes.loc["opened before SET GLOBAL", "global"] == WAIT_TIMEOUT
    assert scopes.loc["opened before SET GLOBAL", "session"] == 28800
    assert scopes.loc["opened after SET GLOBAL", "session"] == WAIT_TIMEOUT
    assert lab.get_global("wait_timeout") == 28800, "the global is put back afterwards"


def test_idle_connection_sleeps_then_vanishes_at_wait_timeout(lab: Lab) -> None:
    samples = helpers.watch_idle(lab)
    seen, gone = samples[samples["present"]], samples[~samples["present"]]
    # the server marks the thread Killed for the instant it closes it at wait_timeout
    assert (seen["command"] == "Sleep").iloc[:-1].all(), seen.to_string()
    last = seen.iloc[-1]
    assert last["command"] == "Sleep" or (
        last["command"] == "Killed" and last["time_ms"] >= WAIT_TIMEOUT * 1000
    )
    assert seen["time_ms"].is_monotonic_increasing
    # the server closes it at wait_timeout, not a whole second later (slack for a loaded machine)
    assert seen["time_ms"].max() < WAIT_TIMEOUT * 1000 + 1000
    assert WAIT_TIMEOUT - 0.3 <= gone["t"].min() <= WAIT_TIMEOUT + 2
    assert gone["t"].min() > seen["t"].max(), "once gone, it stays gone"


def test_idle_failure_leaves_server_side_evidence(lab: Lab) -> None:
    before = lab.status()
    helpers.run("idle", lab, fixes=["none"])
    delta = lab.status() - before
    assert delta.loc[0, "Aborted_clients"] >= 2  # one per driver
    assert len(lab.error_log(2, contains="Got timeout reading communication packets")) == 2


def test_recycle_counts_age_not_idle_time(lab: Lab) -> None:
    uses, pool_log = helpers.recycle_by_age(lab, recycle=1.2, every=0.5, seconds=4.0)
    assert uses["t"].diff().max() < 1.2, "the connection is never idle for a recycle period"
    assert uses["connection_id"].nunique() >= 3, uses.to_string()
    assert pool_log["message"].str.contains("exceeded timeout; recycling").sum() >= 2


def test_pre_ping_cost_is_measured_per_driver(lab: Lab) -> None:
    cost = helpers.bench.pre_ping_cost(lab, seconds=0.2, repeats=1)
    assert len(cost) == 4 and (cost["checkouts"] > 0).all()
    table = helpers.bench.cost_table(cost)
    assert set(table["driver"]) == set(helpers.DRIVERS)
    assert {"per_second_without", "per_second_with_pre_ping", "slowdown_percent"} <= set(table.columns)


def test_pre_ping_sends_com_ping_or_select_1_per_driver(lab: Lab) -> None:
    """Counted on the server: MariaDB's dialect has no native ping, so its pre-ping is a SELECT 1."""
    table = helpers.bench.ping_mechanisms(lab, ["pymysql", "mariadbconnector", "asyncmy"], n=20, repeats=1)
    sends = dict(zip(table["driver"], table["pre_ping_sends"], strict=True))
    assert sends == {"pymysql": "COM_PING", "mariadbconnector": "SELECT 1", "asyncmy": "COM_PING"}
    row = table.set_index("driver").loc["mariadbconnector"]
    assert row["select_per_checkout"] >= 0.9 and row["com_ping_per_checkout"] < 0.5  # (a stray command aside)
    assert (table["us_per_checkout"] > 0).all() and table["driver_version"].notna().all()
