"""Every lesson runs headless against the session's lab, without error output, and what its text
claims, its own recorded results show (``helpers.record``)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jupytext
import nbclient
import nbformat
import pytest

from helpers import DRIVERS, Lab
from helpers.record import recorded

from .browser import CHROMIUM
from .conftest import LESSONS_IN_BROWSER, REPO
from .test_scenarios import MYSQL8_SEEN

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py"))
#: On the local backend, each lesson runs once: in the browser pass, which asserts the same claims
#: from the notebook as JupyterLab holds it. Headless here under Docker, where chromium is missing,
#: or with LAB_HEADLESS_NOTEBOOKS=1.
BROWSER_RUNS_LESSONS = (
    Path(CHROMIUM).exists()
    and importlib.util.find_spec("playwright") is not None
    and os.environ.get("LAB_HEADLESS_NOTEBOOKS") != "1"
)
#: Parameters that shrink a lesson where that does not change it: the matrix on three scenarios
#: (test_scenarios runs every one; the browser pass runs the matrix shrunk too).
SHRUNK = {
    "13_beyond_pre_ping": {
        "scenarios": ["recycle_margin", "kill_idle", "kill_mid_query"],
        "bench_seconds": 0.2,
    },
    "14_matrix": {"scenarios": ["idle", "restart", "fork"]},
    "15_drivers": {"scenarios": ["idle", "kill_mid_query"]},
}


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


def with_parameters(nb: Any, parameters: dict[str, Any]) -> None:
    """What papermill does: a cell after the one tagged ``parameters`` sets the new values."""
    index = next(i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))


def outcome(values: dict[str, Any], group: str, scenario: str, driver: str, fix: str) -> dict[str, Any]:
    return values[group][scenario][driver][fix]  # type: ignore[no-any-return]


def claims_01(v: dict[str, Any]) -> None:
    for d in DRIVERS:  # both fail once with 2006, and the next checkout recovers; a restart gives 2013
        idle = outcome(v, "idle", "idle", d, "none")
        assert (idle["errors"], idle["code"], idle["recovered"]) == (1, 2006, True), (d, idle)
        assert outcome(v, "restart", "restart", d, "none")["code"] == 2013
    assert v["aborted_clients"] >= len(DRIVERS) and v["timeout_line"]


def claims_02(v: dict[str, Any]) -> None:
    for d in DRIVERS:  # below and at wait_timeout idling works; at it, a request that works first fails
        assert [
            outcome(v, "idle", "idle", d, f)["ok"] for f in ("none", "pool_recycle=1", "pool_recycle=4")
        ] == [
            False,
            True,
            False,
        ]
        assert outcome(v, "idle", "idle", d, "pool_recycle=2 (=wait_timeout)")["ok"]
        assert not outcome(v, "margin", "recycle_margin", d, "pool_recycle=2 (=wait_timeout)")["ok"]
        assert outcome(v, "margin", "recycle_margin", d, "pool_pre_ping")["ok"]


def claims_03(v: dict[str, Any]) -> None:
    for d in DRIVERS:  # pre-ping survives idling and a restart, and costs something per checkout
        assert outcome(v, "outcomes", "idle", d, "pool_pre_ping")["ok"]
        assert outcome(v, "outcomes", "restart", d, "pool_pre_ping")["ok"]
        assert outcome(v, "outcomes", "restart", d, "none")["code"] == 2013
        # one round trip per checkout, counted on the server (the µs are a figure: noise can flip them)
        trips = v["round_trips"][d]
        assert 0.9 <= trips["with"] <= 1.1 and trips["without"] <= 0.1, (d, trips)
        assert v["sends"][d] == ("SELECT 1" if d == "mariadbconnector" else "COM_PING"), v["sends"]


def _view(views: list[dict[str, Any]], which: str) -> dict[str, Any]:
    return next(view for view in views if view["view"] == which)


def claims_12(v: dict[str, Any]) -> None:
    from helpers.scenarios import firewall, loadbalancer

    keepalive, recycle = firewall.TCP_KEEPALIVE.name, firewall.RECYCLE.name
    stay, stay_ping, shut, shut_ping, shut_hard = (f.name for f in loadbalancer.DOWN_FIXES)
    bound = v["lab"]  # the kernel's bound for tcp_retries2=3: 3.0 s
    assert (v["default"], bound) == (924.6, 3.0)
    for d in DRIVERS:
        seconds = v["seconds"]
        unfixed = outcome(v, "dropped", "conntrack_drop", d, "none")
        assert not unfixed["ok"] and unfixed["code"] == 2013, (d, unfixed)
        assert seconds[d]["none"] >= bound  # the kernel's own retransmissions ended it
        assert outcome(v, "dropped", "conntrack_drop", d, keepalive)["ok"] and seconds[d][keepalive] < 1
        assert outcome(v, "dropped", "conntrack_drop", d, recycle)["ok"]
        for bounded in (
            firewall.TCP_USER_TIMEOUT.name,
            firewall.READ_TIMEOUT.name,
        ):  # they bound it, seconds sooner
            assert not outcome(v, "dropped", "conntrack_drop", d, bounded)["ok"]
            assert seconds[d][bounded] < seconds[d]["none"] - 2
        for waits in (
            firewall.PRE_PING_HANGS.name,
            firewall.HARDENED_PING.name,
        ):  # no error, but the kernel's wait
            assert outcome(v, "dropped", "conntrack_drop", d, waits)["ok"] and seconds[d][waits] >= bound
        assert outcome(v, "reset", "conntrack_reset", d, "none")["code"] == 2013
        assert outcome(v, "reset", "conntrack_reset", d, "pool_pre_ping")["ok"]
        assert not outcome(v, "idle", "haproxy_idle", d, "none")["ok"]
        for fix in (loadbalancer.RECYCLE.name, "pool_pre_ping", "hardened pool"):
            assert outcome(v, "idle", "haproxy_idle", d, fix)["ok"]
        assert not outcome(v, "down", "haproxy_backend_down", d, stay)["ok"]
        down = v["down_seconds"]
        assert down[d][stay] >= loadbalancer.READ_TIMEOUT  # stuck until the read timeout
        assert outcome(v, "down", "haproxy_backend_down", d, stay_ping)["ok"]
        assert not outcome(v, "down", "haproxy_backend_down", d, shut)["ok"] and down[d][shut] < 1
        for fix in (shut_ping, shut_hard):  # closed by HAProxy: the request goes to the backup at once
            assert outcome(v, "down", "haproxy_backend_down", d, fix)["ok"] and down[d][fix] < 1
        costs = v["cost_us"][d]  # one round trip more per checkout, growing with the latency
        assert costs["10"] > costs["2"] > costs["0"]  # (on loopback alone it is lost in the noise)
    device, server = _view(v["views"], "device"), _view(v["views"], "server")
    assert device["flows_after_idle"] < device["flows_before_idle"] and device["packets_dropped"] > 0
    assert server["aborted_clients_delta"] == 0  # the server never heard of it
    assert _view(v["reset_views"], "device")["packets_rejected"] > 0
    haproxy = _view(v["idle_views"], "haproxy")
    assert haproxy["sessions_after_idle"] == 0 < haproxy["sessions_before_idle"]
    assert _view(v["idle_views"], "server")["aborted_clients_delta"] >= 1  # HAProxy closed its side
    marked = _view(v["down_views"], "haproxy")
    assert marked["sessions_stay_sessions_on_primary"] > 0 == marked["shutdown_sessions_sessions_on_primary"]
    # the timeline: forgotten without keepalive, kept with it; the kernel retransmitted, then errno 110
    assert v["forgotten"] == {"without": True, "with": False} and v["kept_answered"] == 2
    assert v["retransmissions"] >= 3 and "Errno 110" in v["error"] and v["hang_seconds"] >= bound


def claims_13(v: dict[str, Any]) -> None:
    scenarios = set(v["outcomes"])
    drivers = {driver for by_driver in v["outcomes"].values() for driver in by_driver}
    for s in scenarios:  # wherever pre-ping prevents the error, the hardened pool does too
        for d in drivers:
            pre_ping, hardened = (outcome(v, "outcomes", s, d, f) for f in ("pool_pre_ping", "hardened pool"))
            assert hardened["ok"] == pre_ping["ok"] == (s != "kill_mid_query"), (s, d)
            assert hardened["as_expected"] and not outcome(v, "outcomes", s, d, "none")["ok"]
            if s == "recycle_margin":  # nothing was dead: the ping at checkout kept it alive
                assert d not in v["caught"].get(s, {}), v["caught"]
            elif s != "kill_mid_query":  # its trial says which part caught the dead connection
                part = "recycle" if s == "idle" else "peek"
                assert v["caught"][s][d] == part, (s, d, v["caught"])
    for d in drivers:
        # Behind 10 ms of round trip a checkout with no check costs two round trips (the query, the
        # reset on return), pre-ping three: its rate falls to about 2/3; the peek sends nothing, so the
        # hardened pool stays near no check. Each is 20 ms a round trip from the other, far above the
        # machine's noise; at 2 ms the noise can reach the gap, so only the counts below are asserted.
        ratio = v["ratio"][d]
        assert ratio["pre_ping"]["10"] < 0.9 and ratio["hardened"]["10"] > 0.8, ratio
        # the peek sends nothing, a ping one round trip: counted on the server (the µs are a figure)
        trips = v["part_round_trips"]
        assert trips[d]["peek (hardened pool, defaults)"] == 0, trips
        assert trips[d]["ping (pool_pre_ping's check)"] == 1, trips
    if "pymysql" in drivers:  # PyMySQL's TLS context on every connect, and without it
        assert v["connect_ms"]["pymysql"]["defaults"] > 2 * v["connect_ms"]["pymysql"]["ssl_disabled=True"]
    # all at once (or split by one round boundary that fell among the 8 connects), against spread out
    assert v["rounds"]["pool_recycle=5.4"] <= 2, v
    for pool in ("hardened pool", "hardened pool, jitter=0.3"):
        assert v["most_in_one_round"][pool] < 8 and v["spread_seconds"][pool] > 0.1, pool
    assert v["held_seconds"] >= 2 and v["returned"] and v["names_the_code"] and v["warnings"] == 1


def claims_15(v: dict[str, Any]) -> None:
    drivers = set(v["versions"])
    assert all(v["versions"].values()), v["versions"]
    assert all(v["recovered"].values()), v["recovered"]  # every driver: the next checkout works
    for d in drivers:  # a KILL mid-query is 2013 everywhere, and SQLAlchemy sees it
        assert v["codes"]["kill_mid_query"][d] == 2013 and v["invalidated"]["kill_mid_query"][d]
        assert v["sends"][d] == ("SELECT 1" if d == "mariadbconnector" else "COM_PING"), v["sends"]
    if "mysqlconnector" in drivers:  # the finding: 2055, not seen as a disconnect
        assert v["codes"]["idle"]["mysqlconnector"] == 2055 and not v["invalidated"]["idle"]["mysqlconnector"]
    if "pymysql" in drivers:
        assert v["connect_ms"]["pymysql"]["defaults"] > 2 * v["connect_ms"]["pymysql"]["ssl_disabled=True"]
    # a read timeout: 2013 and recovery, but mysql-connector-python's 3024 and aiomysql's bare TimeoutError
    findings = {"mysqlconnector": (3024, False), "aiomysql": (None, True)}
    for d, code in v["timeout_codes"].items():
        assert (code, v["next_checkout_ok"][d]) == findings.get(d, (2013, True)), d
        seconds = v["timeout_seconds"][d]  # not before 1 s (the error proves it fired); mysql-connector later
        assert seconds > 1.5 if d == "mysqlconnector" else 0.9 < seconds < 10, (d, seconds)
    assert set(v["timeout_codes"]) == drivers  # every driver ran, aiomysql through asyncio.wait_for()
    assert set(v["connect_ms"]) == drivers  # the async ones too


def holds(v: dict[str, Any], group: str, scenario: str, fixes: list[str], ok: bool) -> None:
    """Each of ``fixes`` ran clean (``ok``) or failed (not ``ok``) with every default driver."""
    for d in DRIVERS:
        for fix in fixes:
            assert outcome(v, group, scenario, d, fix)["ok"] == ok, (scenario, d, fix, ok)


def claims_04(v: dict[str, Any]) -> None:
    # nothing checks the connection out in between: pre-ping and recycle fail mid-request
    holds(v, "outcomes", "long_work", ["none", "pool_pre_ping", "pool_recycle=1"], ok=False)
    for d in DRIVERS:
        assert outcome(v, "outcomes", "long_work", d, "pool_pre_ping")["code"] in (2006, 2013)
    fixes = ["release during work", "keep-alive during work", "session wait_timeout=10 (connect event)"]
    holds(v, "outcomes", "long_work", [*fixes, "init_command wait_timeout=10"], ok=True)


def claims_05(v: dict[str, Any]) -> None:
    holds(v, "outcomes", "interactive_timeout", ["default client flags"], ok=False)
    fixes = ["connect_args client_flag=INTERACTIVE", "connect_args client_flag=INTERACTIVE|FOUND_ROWS"]
    holds(v, "outcomes", "interactive_timeout", fixes, ok=True)


def claims_06(v: dict[str, Any]) -> None:
    holds(v, "outcomes", "kill_idle", ["pool_pre_ping"], ok=True)  # pre-ping covers a KILL while idle
    holds(v, "outcomes", "restart", ["pool_pre_ping"], ok=True)  # ... and a restart
    holds(v, "outcomes", "kill_mid_query", ["pool_pre_ping"], ok=False)  # not a KILL mid-query
    holds(v, "outcomes", "idle_transaction", ["pool_pre_ping"], ok=False)
    holds(v, "outcomes", "idle_transaction", ["commit before idling"], ok=True)
    for d in DRIVERS:
        assert outcome(v, "outcomes", "kill_mid_query", d, "none")["code"] == 2013


def claims_07(v: dict[str, Any]) -> None:
    holds(v, "outcomes", "max_allowed_packet", ["one 2 MiB INSERT"], ok=False)
    fixes = ["max_allowed_packet raised to 16 MiB (server)", "256 KiB chunks, one row each"]
    holds(v, "outcomes", "max_allowed_packet", fixes, ok=True)
    holds(v, "outcomes", "read_timeout", ["read_timeout=1"], ok=False)
    holds(v, "outcomes", "read_timeout", ["read_timeout=5"], ok=True)
    holds(v, "outcomes", "net_write_timeout", ["stream_results, pause"], ok=False)
    holds(v, "outcomes", "net_write_timeout", ["buffered result (no streaming)"], ok=True)
    for d in DRIVERS:  # frozen 3 s: without a read timeout it waits it out, with 1 s it fails 2013
        waited, timed_out = (v["frozen"][d][fix] for fix in ("no read_timeout", "read_timeout=1"))
        assert waited["code"] is None and waited["waited"] >= 3, waited
        assert timed_out["code"] == 2013 and timed_out["waited"] >= 0.9, timed_out


def claims_08(v: dict[str, Any]) -> None:
    holds(v, "outcomes", "flask_scoped_session", ["no remove(), pool_pre_ping"], ok=False)
    holds(v, "outcomes", "flask_scoped_session", ["remove() at teardown + pool_pre_ping"], ok=True)
    holds(v, "outcomes", "flask_sqlalchemy", ["SQLALCHEMY_ENGINE_OPTIONS = {}"], ok=False)
    options = ("pool_pre_ping: True", "pool_recycle: 1")
    fixes = [f"SQLALCHEMY_ENGINE_OPTIONS = {{{option}}}" for option in options]
    holds(v, "outcomes", "flask_sqlalchemy", fixes, ok=True)
    holds(v, "outcomes", "fastapi_session", ["one shared Session, pool_pre_ping"], ok=False)
    holds(v, "outcomes", "fastapi_session", ["Session per request (yield, close), pool_pre_ping"], ok=True)
    for d in DRIVERS:  # without remove() the third worker waits and gets the QueuePool limit
        assert v["limit_reached"][d]["scoped_session, no remove()"]
        assert not v["limit_reached"][d]["scoped_session, remove() at teardown"]
        assert outcome(v, "exhaustion", "pool_exhaustion", d, "scoped_session, remove() at teardown")["ok"]


def claims_09(v: dict[str, Any]) -> None:
    holds(v, "outcomes", "keepalive", ["none", "wait_timeout raised to 4s (session)"], ok=False)
    holds(v, "outcomes", "keepalive", ["keep-alive job every 1s"], ok=True)  # only the job holds


def claims_11(v: dict[str, Any]) -> None:
    holds(v, "outcomes", "commit_in_doubt", ["no retry", "naive retry (tenacity, on disconnect)"], ok=False)
    holds(v, "outcomes", "commit_in_doubt", ["retry + idempotency key", "read, retried"], ok=True)


def claims_10(v: dict[str, Any]) -> None:
    for d in DRIVERS:  # unfixed, the processes tangle; NullPool and a frozen heap hold with both
        assert not outcome(v, "outcomes", "fork", d, "none")["ok"]
        for fix in ("NullPool", "gc.freeze() before fork + dispose(close=False) in the child"):
            assert outcome(v, "outcomes", "fork", d, fix)["ok"], (d, fix)
    dispose = "engine.dispose(close=False) in the child"
    assert outcome(v, "outcomes", "fork", "pymysql", dispose)["ok"]  # PyMySQL quits nothing when freed
    freed = outcome(v, "outcomes", "fork", "mysqldb", dispose)  # mysqlclient sends COM_QUIT when freed
    assert not freed["ok"] and freed["code"] in (2006, 2013) and freed["recovered"], freed


def claims_14(v: dict[str, Any]) -> None:
    assert v["all_as_expected"] and v["cells"] >= 6


def claims_16(v: dict[str, Any]) -> None:
    from helpers.scenarios import failover

    none_tcp, ping_tcp, none_state, listener, shutdown, recycle = (f.name for f in failover.NON_PRIMARY_FIXES)
    for d in {driver for by_driver in v["outcomes"].values() for driver in by_driver}:
        loss = v["outcomes"]["node_loss"][d]
        assert loss["none"]["code"] in (2006, 2013) and loss["none"]["recovered"], loss  # one failure
        assert v["codes"]["node_loss"][d][failover.IN_FLIGHT.name] == 2013  # nothing saves it
        assert loss["pool_pre_ping"]["ok"] and loss["hardened pool"]["ok"]
        quorum = v["outcomes"]["non_primary"][d]
        for stuck in (none_tcp, ping_tcp):  # a TCP check passes the node: every request fails
            assert quorum[stuck]["errors"] == failover.REQUESTS and quorum[stuck]["code"] == 1047, quorum
            assert not v["invalidated"]["non_primary"][d][stuck]
        assert quorum[none_state]["errors"] == 1 and quorum[none_state]["recovered"]  # the rollback failed
        assert quorum[listener]["errors"] == 1 and v["invalidated"]["non_primary"][d][listener]
        assert quorum[shutdown]["ok"] and quorum[recycle]["ok"]
        switch = v["outcomes"]["writer_switchover"][d]
        for stuck in ("none", "pool_pre_ping"):  # ROLLBACK works on a read-only node: nothing resets it
            assert switch[stuck]["errors"] == failover.REQUESTS and switch[stuck]["code"] == 1290, switch
        assert switch[failover.SWITCHOVER_FIXES[2].name]["errors"] == 1
        assert switch[shutdown]["ok"] and switch[recycle]["ok"]
        conflict = v["outcomes"]["certification_conflict"][d]
        assert conflict["no retry"]["code"] == 1213 and conflict["pool_pre_ping, no retry"]["code"] == 1213
        retried = failover.RETRY.name
        assert conflict[retried]["ok"]
        assert v["rows"][d] == {"no retry": 10, "pool_pre_ping, no retry": 10, retried: 11}
    clusters = [view for view in v["views"] if view["view"] == "cluster"]
    assert {c["scenario"]: c["node"] for c in clusters} == {
        "node_loss": "node2",
        "non_primary": "node1",
        "writer_switchover": "node1",
    }
    by = {c["scenario"]: c for c in clusters}
    assert by["node_loss"]["wsrep_cluster_size"] == 2
    assert (
        by["non_primary"]["wsrep_cluster_status"] == "non-Primary"
        and by["non_primary"]["wsrep_ready"] == "OFF"
    )
    assert by["writer_switchover"]["read_only"] and by["non_primary"]["port_check_status"].startswith("UP")


#: The blogs' claims and the verdict each run must reach, with the causes it holds for (lesson 17).
BLOG_VERDICTS = {
    "recycle_below": ("true only for some causes", "idle"),
    "recycle_idle": ("false", "none"),
    "ping_select_1": ("true only for some causes", "mariadbconnector"),
    "pre_ping_for_good": ("true only for some causes", "idle, restart, kill_idle, lb_reset"),
    "raise_wait_timeout": ("false", "none"),
    "keepalive_job": ("true", "keepalive"),
    "new_session": ("false", "none"),
    "remove_session": ("false", "none"),
    "recycle_twice_timeout": ("false", "none"),
    "driver_codes": ("false", "none"),
    "flask_pool_recycle": ("true", "none"),
    "eight_hours": ("false", "none"),
    "pre_ping_expensive": ("true only for some causes", "one-statement requests behind a slow network"),
}


def claims_17(v: dict[str, Any]) -> None:
    assert set(v["verdicts"]) == set(BLOG_VERDICTS), "one verdict per claim"
    for claim, expected in BLOG_VERDICTS.items():
        got = (v["verdicts"][claim], v["covers"][claim])
        assert got == expected, f"claim {claim!r}: the run says {got}, the lesson says {expected}"
    m = v["measured"]
    assert m["recycle_twice_timeout"]["severity"] == "critical"  # the runbook agrees
    assert m["new_session"]["same_scoped"] and m["new_session"]["new_session_code"] == 2006
    assert m["flask_pool_recycle"]["ignored"] and m["eight_hours"]["default"] == 28800
    assert 0.9 <= m["pre_ping_expensive"]["round_trips"] <= 1.1  # counted on the server
    assert m["driver_codes"]["codes"] == {
        s: dict.fromkeys(DRIVERS, code) for s, code in (("idle", 2006), ("restart", 2013))
    }


def claims_18(v: dict[str, Any]) -> None:
    from helpers.scenarios import cancel, over_tls

    out = v["outcomes"]
    for d, by_fix in out.get("async_cancel", {}).items():  # the locked versions: nothing to fix
        assert all(result["ok"] for result in by_fix.values()), by_fix
        for fix, steps in v["cancelled"][d].items():
            for way in cancel.WAYS:
                assert steps[f"request cancelled: {way}"]["invalidated"], (d, fix, way)
                assert "still runs the statement" in steps[f"request cancelled: {way}"]["message"]
                assert steps[f"next request, after {way}"]["message"].startswith("a new connection")
    drivers = set(out["idle_tls"])
    for d in drivers:
        for name in ("idle_tls", "restart_tls", "kill_idle_tls"):
            assert not out[name][d]["none"]["ok"] and out[name][d]["none"]["recovered"], (name, d)
            assert out[name][d]["hardened pool"]["ok"], (name, d)
        for name in ("restart_tls", "kill_idle_tls"):
            ping = out[name][d][over_tls.PRE_PING_TLS.name]
            if d in over_tls.PING_SAYS_2026:  # the ping says 2026: not a disconnect to SQLAlchemy
                assert ping["code"] == 2026 and not v["tls_invalidated"][name][d][over_tls.PRE_PING_TLS.name]
            else:
                assert ping["ok"], (name, d, ping)
            assert out[name][d][over_tls.PRE_PING_2026.name]["ok"], (name, d)
    if "pymysql" in drivers:
        assert "SSLEOFError" in v["tls_texts"]["idle_tls"]["pymysql"]["none"]
    assert v["server"]["require_secure_transport"] == "ON" and v["server"]["Ssl_version"].startswith("TLSv1")
    for d, by_fix in v["codes_4031"].items():  # what 4031 became, as the scenario test has it
        assert (by_fix["none"], v["invalidated_4031"][d]["none"]) == MYSQL8_SEEN[d], (d, by_fix)
        for fix in ("pool_pre_ping", "hardened pool"):
            assert out["mysql8_inactivity"][d][fix]["ok"], (d, fix)
    ms = v["ms"]
    if "pymysql" in ms:  # an SSL context per connect: tens of ms against well under one (far above noise)
        assert ms["pymysql"]["defaults"] >= 3 * ms["pymysql"]["ssl_disabled=True"], ms["pymysql"]
    for d, by in ms.items():  # the TLS handshake: several times the cheapest connect without TLS
        plain = min(value for name, value in by.items() if not name.startswith("TLS"))
        assert by["TLS, certificate verified"] >= 2 * plain, (d, by)


#: What each lesson's text claims, asserted from its own recorded results. Every lesson but
#: 00_start_here (which only shows the lab) has one; test_every_lesson_has_claims says so.
CLAIMS: dict[str, Callable[[dict[str, Any]], None]] = {
    "01_reproduce": claims_01,
    "02_pool_recycle": claims_02,
    "03_pool_pre_ping": claims_03,
    "04_long_work": claims_04,
    "05_interactive_timeout": claims_05,
    "06_server_kills": claims_06,
    "07_packets_and_timeouts": claims_07,
    "08_web_apps": claims_08,
    "09_keepalive_vs_timeout": claims_09,
    "10_fork": claims_10,
    "11_retry": claims_11,
    "12_network_faults": claims_12,
    "13_beyond_pre_ping": claims_13,
    "14_matrix": claims_14,
    "15_drivers": claims_15,
    "16_failover": claims_16,
    "17_what_the_blogs_say": claims_17,
    "18_modern_stacks": claims_18,
}


def test_notebooks_found() -> None:
    assert [p.name[:2] for p in NOTEBOOKS][:4] == ["00", "01", "02", "03"]


def test_every_lesson_has_claims() -> None:
    assert set(CLAIMS) == {p.stem for p in NOTEBOOKS} - {"00_start_here"}


def shows_what_it_says(lesson: str, nb: Any) -> None:
    """An executed lesson (an nbformat node, run headless or in the browser): no error or
    stderr output, a plot, its recorded values, every fix as promised, and its claims."""
    assert problems(nb) == []
    figures = sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))
    assert figures >= (0 if lesson.startswith("00") else 1), "every lesson shows at least one plot"
    values = recorded(nb)
    assert values or lesson == "00_start_here", "the lesson records what it shows"
    for group in values.values():  # every fix did what it promises
        if isinstance(group, dict):
            for name, result in group.items():
                if isinstance(result, dict) and "as_expected" in result:
                    assert result["as_expected"] is not False, (name, result)
    if lesson != "00_start_here":
        CLAIMS[lesson](values)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_clean_and_shows_what_it_says(
    path: Path, lab: Lab, lab_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    in_browser = path.stem in request.config.stash.get(LESSONS_IN_BROWSER, set())  # selected in this run
    if lab.backend.name == "local" and BROWSER_RUNS_LESSONS and in_browser:
        pytest.skip("the browser pass runs this lesson and asserts its claims (test_lessons_browser)")
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if path.stem in SHRUNK:
        with_parameters(nb, SHRUNK[path.stem])
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    shows_what_it_says(path.stem, nb)
