"""Every scenario with both default drivers (``LAB_TEST_REPEATS`` times, once by default): the
failure happens with a disconnect code, the fixes hold. Then once with each other driver a
scenario runs with (``LAB_TEST_ALL_DRIVERS=0``: not)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from helpers import DISCONNECT_CODES, DRIVERS, SCENARIOS, Lab, run, summarize
from helpers.drivers import ALL_DRIVERS, driver_codes
from helpers.findings import FINDINGS as MEASURED
from helpers.runbook.classify import classify
from helpers.scenarios import cancel, failover
from helpers.scenarios import over_tls as over_tls_scenarios

from .test_runbook_classify import GENERIC, best_rank

#: Each scenario runs this many times per default driver (``LAB_TEST_REPEATS=3`` hunts flakiness).
#: Once here and once in the docker pass, and each other driver adds a run of the scenarios it
#: runs with: that keeps the whole CI near 30 minutes.
REPEATS = int(os.environ.get("LAB_TEST_REPEATS", "1"))


#: Where SQLAlchemy does not invalidate the dead connection (the lab's finding, with
#: mysql-connector-python 26 and SQLAlchemy 2.1): on the first statement of a checkout,
#: ``cursor()`` refuses the dead connection with "MySQL Connection not available"; SQLAlchemy's
#: dialect looks for "MySQL Connection not available." (with a full stop), so it is not a
#: disconnect; the rollback that follows fails with 2055, and that error, raised while the
#: first was handled, reaches the caller with ``connection_invalidated`` False. The next
#: checkout works all the same. (A statement later in a request is recognised.)
NOT_INVALIDATED = {
    ("mysqlconnector", name)
    for name in (
        "idle",
        "recycle_margin",
        "restart",
        "kill_idle",
        "lb_reset",
        "conntrack_reset",
        "haproxy_idle",
        "keepalive",
        "interactive_timeout",
        "node_loss",
    )
}

#: Trials whose connection dies during the failing statement, not before its checkout: recognised.
DIED_IN_THE_STEP = {("node_loss", failover.IN_FLIGHT.name)}


def mysqlconnector_read_timeout(rows: pd.DataFrame) -> None:
    """mysql-connector-python 26's ``read_timeout`` ends the query with a 3024 ReadTimeoutError,
    which SQLAlchemy does not see as a disconnect; the driver has closed the connection, the pool
    hands it out again, and the next checkout fails too. A longer timeout lets the query finish."""
    trial = rows[rows["fix"] == "read_timeout=1"]
    first = trial[trial["outcome"] == "error"].iloc[0]
    assert (first["error_code"], first["invalidated"]) == (3024, False), trial.to_string()
    assert trial.iloc[-1]["outcome"] == "error", "the closed connection came back from the pool"
    assert (rows[rows["fix"] == "read_timeout=5"]["outcome"] == "ok").all()


def mariadbconnector_packet(rows: pd.DataFrame) -> None:
    """MariaDB Connector/Python: the oversized INSERT fails with "Write error: Connection reset by
    peer"; SQLAlchemy's rollback then fails with an empty InterfaceError, and that error, raised
    while the first was handled, reaches the caller: no code, no text, not invalidated. Where the
    server's close wins the race (seen with a CPU burner beside the suite), the caller gets 2006
    instead, invalidated. Either way one request fails, the next checkout works, the fixes hold."""
    trial = rows[rows["fix"] == "one 2 MiB INSERT"]
    error = trial[trial["outcome"] == "error"]
    assert len(error) == 1 and error.iloc[0]["error_class"] == "mariadb.InterfaceError", trial.to_string()
    first = error.iloc[0]
    empty = pd.isna(first["error_code"]) and not first["invalidated"]
    assert empty or (first["error_code"] == 2006 and first["invalidated"]), trial.to_string()
    assert trial.iloc[-1]["outcome"] == "ok"
    assert (rows[rows["fix"] != "one 2 MiB INSERT"]["outcome"] == "ok").all()


def aiomysql_read_timeout(rows: pd.DataFrame) -> None:
    """aiomysql has no read timeout: the trial bounds the await with ``asyncio.wait_for(..., 1)``. The
    app gets a bare ``TimeoutError`` (no code, no text) after 1 s; SQLAlchemy invalidates the
    connection whose await was cancelled (the row reads it off the connection), and the next
    checkout works. A longer bound lets the query finish."""
    trial = rows[rows["fix"] == "read_timeout=1"]
    error = trial[trial["outcome"] == "error"]
    assert len(error) == 1, trial.to_string()
    first = error.iloc[0]
    assert first["error_class"] == "TimeoutError" and pd.isna(first["error_code"]), trial.to_string()
    assert first["invalidated"] and 0.9 < first["latency"] < 10, trial.to_string()  # slack for load
    assert trial.iloc[-1]["outcome"] == "ok"
    assert (rows[rows["fix"] == "read_timeout=5"]["outcome"] == "ok").all()
    assert classify(first["error_text"], {}).iloc[0]["scenario"] == "read_timeout"


def never_waits_on_the_reader(rows: pd.DataFrame) -> None:
    """net_write_timeout never passes: SQLAlchemy's mysql-connector-python dialect always asks
    for a buffered cursor (no server-side cursor), and asyncmy's protocol reads the socket into
    memory as data comes. The paused reader's "stream" reads the rest from client memory."""
    assert (rows["outcome"] == "ok").all(), rows.to_string()


def aiomysql_silent_drop(rows: pd.DataFrame) -> None:
    """The lab's ``asyncio.wait_for()`` bounds the statement, not the checkout: aiomysql's
    pre-ping on the forgotten flow waits with no bound (a driver's read timeout ends it, and
    the pool reconnects). The statement alone gets ``TimeoutError`` after 1 s; only a recycle
    below the device's limit avoids both."""

    def trial(fix: str) -> pd.DataFrame:
        return rows[rows["fix"] == fix]

    timed_out = trial("read_timeout=1")
    error = timed_out[timed_out["outcome"] == "error"].iloc[0]
    assert error["error_class"] == "TimeoutError" and error["invalidated"], timed_out.to_string()
    for fix in ("pool_pre_ping + read_timeout=1", "hardened pool, ping_after=1 + read_timeout=1"):
        assert "no answer" in set(trial(fix)["error_class"]), trial(fix).to_string()
    assert (trial("pool_recycle=1 (below the device's idle limit)")["outcome"] == "ok").all()
    assert (rows.groupby("fix")["outcome"].last() == "ok").all(), "every trial recovers"


#: Where a driver departs from the rest, the test asserts what the lab found instead.
FINDINGS = {
    ("net_write_timeout", "mysqlconnector"): never_waits_on_the_reader,
    ("net_write_timeout", "asyncmy"): never_waits_on_the_reader,
    ("lb_silent_drop", "aiomysql"): aiomysql_silent_drop,
    ("read_timeout", "aiomysql"): aiomysql_read_timeout,
    ("read_timeout", "mysqlconnector"): mysqlconnector_read_timeout,
    ("max_allowed_packet", "mariadbconnector"): mariadbconnector_packet,
}
#: The version of each driver the findings above were measured with (``helpers.findings``).
MEASURED_WITH = {
    driver: version
    for finding in MEASURED
    for driver, package in ALL_DRIVERS.items()
    for dist, version in finding.measured_with.items()
    if dist.lower() == package.lower()
}
#: The other drivers run each scenario that runs with them once (the docker pass leaves them out).
OTHERS = (
    [d for d in ALL_DRIVERS if d not in DRIVERS] if os.environ.get("LAB_TEST_ALL_DRIVERS", "1") != "0" else []
)
#: Scenarios whose trials wait once for all of them (a kernel's retransmissions, HAProxy's
#: timeouts) run once with every driver together, rather than once per driver.
TOGETHER = {name for name, entry in SCENARIOS.items() if entry.place is not None}
#: The TLS scenarios run with the two default drivers here; lesson 18 runs all six.
DEFAULT_DRIVERS_ONLY = {"idle_tls", "restart_tls", "kill_idle_tls"}
CASES = [
    (name, driver, repeat)
    for name in SCENARIOS
    if name not in TOGETHER
    for driver in DRIVERS
    if driver in SCENARIOS[name].drivers
    for repeat in range(REPEATS)
] + [
    (name, driver, 0)
    for name in SCENARIOS
    if name not in TOGETHER
    for driver in OTHERS
    if driver in SCENARIOS[name].drivers
] + [(name, "together", 0) for name in TOGETHER]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "driver", "repeat"), CASES, ids=["-".join(map(str, case)) for case in CASES]
)
def test_scenario(lab: Lab, name: str, driver: str, repeat: int) -> None:
    entry = SCENARIOS[name]
    if entry.unavailable():
        pytest.skip(f"{name}: {entry.unavailable()}")
    together = [d for d in [*DRIVERS, *OTHERS] if d in entry.drivers]
    if name in DEFAULT_DRIVERS_ONLY:
        together = [d for d in together if d in DRIVERS]
    drivers = together if driver == "together" else [driver]
    rows = run(name, lab, drivers=drivers)
    for each_driver in drivers:
        check_scenario(name, each_driver, rows[rows["driver"] == each_driver])
        if name in CLAIMS:
            CLAIMS[name](rows[rows["driver"] == each_driver], rows.attrs["views"])


#: Where the pool stays on a node that refuses (1047, 1290): every request fails, none invalidated.
STUCK = {
    "non_primary": failover.NON_PRIMARY_FIXES[:2],
    "writer_switchover": failover.SWITCHOVER_FIXES[:2],
}


def stays_stuck(rows: pd.DataFrame, views: list[dict[str, object]]) -> None:
    """A live socket that refuses: the unfixed trials fail every request after the failover and
    SQLAlchemy invalidates nothing; with the code counted as a disconnect, one request fails
    (invalidated) and the next lands on another node; HAProxy's port check still says UP."""
    name = rows["scenario"].iloc[0]
    for fix in STUCK[name]:
        after = rows[(rows["fix"] == fix.name) & rows["step"].str.startswith("request ")]
        assert len(after) == failover.REQUESTS and (after["outcome"] == "error").all(), after.to_string()
        assert not after["invalidated"].any(), after.to_string()
    listener = rows[rows["fix"].str.endswith("as a disconnect (handle_error)")]
    errors = listener[listener["outcome"] == "error"]
    assert len(errors) == 1 and errors["invalidated"].all(), listener.to_string()
    cluster = next(v for v in views if v["view"] == "cluster")
    assert cluster["port_check_status"].startswith("UP"), cluster  # a TCP check passes the node


def conflict_rolled_back(rows: pd.DataFrame, views: list[dict[str, object]]) -> None:
    """1213 at COMMIT: the trial's update was rolled back (only node2's +10 is in the row);
    the retried transaction committed once (+10 +1)."""
    driver = rows["driver"].iloc[0]
    values = {v["fix"]: v["v"] for v in views if v.get("view") == "row" and v["driver"] == driver}
    assert len(values) == len(SCENARIOS["certification_conflict"].fixes), views
    retried = [f.name for f in SCENARIOS["certification_conflict"].fixes if f.code_change == "retry"]
    for fix, value in values.items():
        assert value == (11 if fix in retried else 10), (driver, values)


def node_loss_noticed(rows: pd.DataFrame, views: list[dict[str, object]]) -> None:
    """The query in flight gets 2013; HAProxy and the cluster both notice the dead node."""
    flying = rows[rows["step"].str.startswith("query in flight")]
    assert len(flying) == 1 and flying.iloc[0]["error_code"] == 2013, flying.to_string()
    cluster = next(v for v in views if v["view"] == "cluster")
    assert cluster["wsrep_cluster_size"] == 2 and cluster["wsrep_cluster_status"] == "Primary", cluster


def next_request_on_a_new_connection(rows: pd.DataFrame, views: list[dict[str, object]]) -> None:
    """The locked aiomysql and asyncmy close a connection whose read was cancelled, and SQLAlchemy
    invalidates it: with or without a fix, the next request gets a new connection and works. The
    server runs the cancelled statement on (nothing told it)."""
    for way, error in ((cancel.TASK_CANCEL, "CancelledError"), (cancel.TIMEOUT, "TimeoutError")):
        cancelled = rows[rows["step"] == f"request cancelled: {way}"]
        after = rows[rows["step"] == f"next request, after {way}"]
        assert len(cancelled) == len(after) == len(SCENARIOS["async_cancel"].fixes), rows.to_string()
        assert cancelled["invalidated"].all(), cancelled.to_string()
        assert cancelled["message"].str.startswith(f"{error} in the request").all(), cancelled.to_string()
        assert cancelled["message"].str.endswith("still runs the statement").all(), cancelled.to_string()
        assert (after["outcome"] == "ok").all() and after["message"].str.startswith("a new connection").all()
        assert not set(after["connection_id"]) & set(cancelled["connection_id"]), rows.to_string()


def at_most_one_failure_then_recovery(rows: pd.DataFrame) -> None:
    for _, trial in rows.groupby("fix"):
        assert (trial["outcome"] == "error").sum() <= 1, trial.to_string()
        assert trial.iloc[-1]["outcome"] == "ok", trial.to_string()


def over_tls(rows: pd.DataFrame, views: list[dict[str, object]]) -> None:
    """Every trial ran over TLS (the server requires it); each failed request is followed by a
    working one; mysqlclient's and MariaDB Connector/Python's ping says 2026 after a KILL or a
    restart, which SQLAlchemy does not invalidate, and counting 2026 as a disconnect fixes it."""
    server = next(v for v in views if v["view"] == "server")
    assert server["require_secure_transport"] == "ON" and str(server["Ssl_version"]).startswith("TLSv1"), (
        server
    )
    driver, name = rows["driver"].iloc[0], rows["scenario"].iloc[0]
    at_most_one_failure_then_recovery(rows)
    pinged = rows[(rows["fix"] == over_tls_scenarios.PRE_PING_TLS.name) & (rows["outcome"] == "error")]
    if name != "idle_tls" and driver in over_tls_scenarios.PING_SAYS_2026:
        assert list(pinged["error_code"]) == [2026] and not pinged["invalidated"].any(), pinged.to_string()


#: What 4031 becomes on its way to SQLAlchemy, per driver (the locked versions), and whether the
#: connection is invalidated: PyMySQL and aiomysql read a packet numbered 0 as 2013; mysqlclient and
#: MariaDB Connector/Python report 4031; asyncmy sees the closed stream before it writes (2006);
#: mysql-connector-python's write fails first (2055 Broken pipe), not invalidated.
MYSQL8_SEEN = {
    "pymysql": (2013, True),
    "mysqldb": (4031, True),
    "mariadbconnector": (4031, True),
    "aiomysql": (2013, True),
    "asyncmy": (2006, True),
    "mysqlconnector": (2055, False),
}


def mysql8_goodbye(rows: pd.DataFrame, views: list[dict[str, object]]) -> None:
    driver = rows["driver"].iloc[0]
    error = rows[(rows["fix"] == "none") & (rows["outcome"] == "error")]
    assert len(error) == 1, rows.to_string()
    assert (int(error.iloc[0]["error_code"]), bool(error.iloc[0]["invalidated"])) == MYSQL8_SEEN[driver], (
        error
    )
    at_most_one_failure_then_recovery(rows)
    device = next(v for v in views if v["view"] == "device")  # one goodbye per trial's idle connection
    assert device["farewells_sent"] == device["idle_flows"], device


CLUSTER_CLAIMS = {
    "non_primary": stays_stuck,
    "writer_switchover": stays_stuck,
    "certification_conflict": conflict_rolled_back,
    "node_loss": node_loss_noticed,
}
#: What each scenario shows beyond the generic checks, asserted on every run of it.
CLAIMS = {
    **CLUSTER_CLAIMS,
    "async_cancel": next_request_on_a_new_connection,
    "mysql8_inactivity": mysql8_goodbye,
    **dict.fromkeys(DEFAULT_DRIVERS_ONLY, over_tls),
}


def check_scenario(name: str, driver: str, rows: pd.DataFrame) -> None:
    assert set(rows["fix"]) == {fix.name for fix in SCENARIOS[name].fixes}
    assert rows["driver_version"].notna().all() and rows["sqlalchemy_version"].notna().all()
    if (name, driver) in FINDINGS:
        try:
            FINDINGS[name, driver](rows)
        except AssertionError as failed:
            measured = f"measured with {driver} {MEASURED_WITH[driver]}"
            now = rows["driver_version"].iloc[0]
            raise AssertionError(
                f"the finding for {name} x {driver} ({measured}) fails with {now}: {failed}"
            ) from None
        return
    for fix in SCENARIOS[name].fixes:
        trial = rows[rows["fix"] == fix.name]
        errors = trial[trial["outcome"] == "error"]
        if fix.expected(driver):
            assert errors.empty, f"{fix.name} should prevent the failure:\n{errors.to_string()}"
        else:
            assert len(errors) >= 1, f"{fix.name}: expected the failure:\n{trial.to_string()}"
            codes = {None if pd.isna(code) else int(code) for code in errors["error_code"]}
            assert codes <= driver_codes(driver, SCENARIOS[name].codes), errors.to_string()
            if SCENARIOS[name].codes == DISCONNECT_CODES:
                assert len(errors) == 1, (
                    f"{fix.name}: one failed request, then recovery:\n{trial.to_string()}"
                )
                # SQLAlchemy invalidates the dead connection, except where the lab found it does not
                recognised = (driver, name) not in NOT_INVALIDATED or (name, fix.name) in DIED_IN_THE_STEP
                assert (errors["invalidated"] == recognised).all(), errors.to_string()
        if fix.expected(driver) or SCENARIOS[name].codes == DISCONNECT_CODES:
            # the pool recovers: the trial's last request works. (Where a stuck Session is the
            # lesson, codes include None and the unfixed trial is not expected to recover.)
            assert trial.iloc[-1]["outcome"] == "ok", trial.to_string()
    assert summarize(rows)["as_expected"].all()
    # The runbook reads the error this run really recorded back to this scenario.
    if rows["error_text"].fillna("").ne("").any():
        rank = best_rank(rows, name)
        texts = rows[["fix", "step", "error_text"]].dropna().to_dict("records")
        if driver in DRIVERS:
            assert rank is not None and rank <= (3 if name in GENERIC else 1), (name, driver, rank, texts)
        else:  # every wording is one the runbook knows; the cause among the first three, except where
            # the text names none: mysql-connector-python's 2055 "Broken pipe" after an idle timeout and
            # a restart alike, asyncmy's "MySQL server has gone away" after a restart or a KILL
            errors = rows[(rows["outcome"] == "error") & rows["error_text"].fillna("").ne("")]
            known = [len(classify(t, {})) > 0 for t in errors["error_text"]]
            # two processes reading one socket make a driver's parser fail anywhere (mysql-connector-
            # python: IndexError, ValueError, ...): the runbook must know some of a fork's errors
            assert any(known) if name == "fork" else all(known), texts
            generic = errors["error_text"].str.contains("server has gone away|Broken pipe", case=False).all()
            assert generic or (rank is not None and rank <= 3), (name, driver, rank, texts)


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


def test_a_fix_naming_an_unknown_code_change_is_refused_at_registration() -> None:
    from helpers.scenarios import Fix, scenario

    with pytest.raises(ValueError, match="names code change 'relase'; known: release"):
        scenario("typo", "a typo", [Fix("release", code_change="relase")], code_changes={"release"})(
            lambda lab, t: None
        )
    with pytest.raises(ValueError, match="unknown driver 'psycopg'"):
        scenario("typo", "a typo", [Fix("none")], not_for={"psycopg": "not MySQL"})(lambda lab, t: None)
    assert "typo" not in SCENARIOS


def test_summarize_judges_a_callers_fix_by_its_own_prevents(lab: Lab) -> None:
    from helpers.scenarios import Fix

    mine = Fix("mine: pre-ping, claimed not to help", {"pool_pre_ping": True}, prevents=False)
    tried = Fix("mine: just trying", {"pool_pre_ping": True}, prevents=None)
    summary = summarize(run("idle", lab, drivers=["pymysql"], fixes=[mine, tried])).set_index("fix")
    assert summary.loc[mine.name, "ok"] and summary.loc[mine.name, "as_expected"] is False
    assert summary.loc[tried.name, "as_expected"] is None


def test_a_scenario_says_why_it_does_not_run_with_a_driver(lab: Lab) -> None:
    from helpers.scenarios import coverage

    with pytest.raises(ValueError, match="does not run with aiomysql: an asyncio event loop"):
        run("fork", lab, drivers=["aiomysql"])
    table = coverage().set_index("scenario")
    assert list(table.columns) == list(ALL_DRIVERS)
    assert (table.loc["idle"] == "runs").all() and (table.loc["fork", list(DRIVERS)] == "runs").all()
    assert table.loc["fork", "asyncmy"].startswith("an asyncio event loop")
    assert table.loc["keepalive", "aiomysql"] == "the lab's keep-alive job is a thread on a sync engine"
    assert table.loc["flask_sqlalchemy", "mariadbconnector"].startswith("Flask-SQLAlchemy adds charset")
    synchronous = table.drop(index="async_cancel")  # a sync driver has no task to cancel
    assert set(synchronous["pymysql"]) == {"runs"} and set(synchronous["mysqlconnector"]) == {"runs"}
    assert table.loc["async_cancel", "pymysql"].startswith("a sync driver's call is not an asyncio task")
    assert table.loc["async_cancel", "aiomysql"] == "runs"


def test_an_async_driver_runs_on_its_own_event_loop(lab: Lab) -> None:
    from helpers.scenarios.trial import AsyncTrial, new_trial

    trial = new_trial(lab, "idle", "asyncmy", SCENARIOS["idle"].fixes[0], 0.0)
    try:
        assert isinstance(trial, AsyncTrial) and type(trial.engine).__name__ == "AsyncEngine"
        conn = trial.checkout()  # held across steps, on the trial's loop
        trial.query("first", conn=conn, keep=True)
        trial.query("second", conn=conn)
    finally:
        trial.close()
    assert [r["outcome"] for r in trial.rows] == ["ok", "ok"]
    assert trial.rows[0]["connection_id"] == trial.rows[1]["connection_id"] is not None
    assert trial.rows[0]["driver_version"] and trial.loop.is_closed()


@pytest.mark.parametrize("driver", list(ALL_DRIVERS))
def test_each_driver_takes_its_own_timeout_names(lab: Lab, driver: str) -> None:
    """Every name in TIMEOUT_OPTIONS is one the driver's connect() accepts (a wrong name raises
    there), and a timeout a driver lacks is refused with the table's note."""
    from helpers.drivers import TIMEOUT_OPTIONS, timeout_args
    from helpers.scenarios import Fix
    from helpers.scenarios.trial import new_trial

    names = TIMEOUT_OPTIONS[driver]
    seconds = {kind: 5 if getattr(names, kind) else None for kind in ("connect", "read", "write")}
    args = timeout_args(driver, **seconds)
    assert len(args) == sum(value is not None for value in seconds.values())
    trial = new_trial(lab, "timeouts", driver, Fix("timeouts", {"connect_args": args}), 0.0)
    try:
        trial.query("connect with every timeout set")
    finally:
        trial.close()
    assert trial.rows[0]["outcome"] == "ok", trial.rows
    for kind in (k for k, value in seconds.items() if value is not None):  # does it take 4.5 s?
        fraction = new_trial(
            lab, "timeouts", driver, Fix("4.5 s", {"connect_args": {getattr(names, kind): 4.5}}), 0.0
        )
        try:
            fraction.query("connect with 4.5 s")
            accepted = fraction.rows[0]["outcome"] == "ok"
        except TypeError:  # mysqlclient and MariaDB Connector/Python refuse it in connect()
            accepted = False
        finally:
            fraction.close()
        assert accepted == (kind not in names.whole_seconds), (kind, fraction.rows)
        if not accepted:
            with pytest.raises(ValueError, match=r"takes whole seconds, not 0\.5"):
                timeout_args(driver, **{kind: 0.5})
    for kind, value in seconds.items():
        if value is None:
            with pytest.raises(ValueError, match=f"{driver} has no {kind} timeout"):
                timeout_args(driver, **{kind: 1})
