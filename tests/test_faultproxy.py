"""The fault proxy's modes on their own, against the real server, with both drivers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy import text

import helpers
from helpers import Lab
from helpers.drivers import describe_error
from helpers.faultproxy import MYSQL8_INACTIVITY, FaultProxy

from .test_lab import cli


@pytest.fixture
def proxy(lab: Lab) -> Iterator[FaultProxy]:
    with FaultProxy(lab.backend.host, lab.backend.port) as proxy:
        yield proxy


def engine_via(lab: Lab, proxy: FaultProxy, driver: str, **options: object) -> sqlalchemy.Engine:
    return lab.engine(driver, via=proxy.port, pool_size=1, max_overflow=0, **options)  # type: ignore[arg-type]


def round_trip(conn: sqlalchemy.Connection) -> float:
    start = time.perf_counter()
    conn.execute(text("SELECT 1"))
    return time.perf_counter() - start


def failure(engine: sqlalchemy.Engine, sql: str = "SELECT 1") -> tuple[int | None, float]:
    """Run ``sql`` on a checkout that must fail; return the error code and how long it took."""
    start = time.monotonic()
    with pytest.raises(sqlalchemy.exc.OperationalError) as caught, engine.connect() as conn:
        conn.execute(text(sql)).fetchall()
    return describe_error(caught.value).error_code, time.monotonic() - start


@pytest.mark.parametrize("driver", list(helpers.DRIVERS))
def test_latency_is_added_each_way_and_switches_on_open_connections(
    lab: Lab, proxy: FaultProxy, driver: str
) -> None:
    engine = engine_via(lab, proxy, driver)
    try:
        with engine.connect() as conn:
            base = min(round_trip(conn) for _ in range(5))
            proxy.latency(0.020)
            slow = min(round_trip(conn) for _ in range(5))
            proxy.latency(0.0)
            again = min(round_trip(conn) for _ in range(5))
        # The proxy holds each packet 20 ms each way, so no round trip can be shorter than 40 ms
        # (load only adds); the fastest of five without it is far below (a loopback round trip).
        assert slow >= 0.040, (base, slow)
        assert again < 0.020, (base, again)
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", list(helpers.DRIVERS))
def test_silent_drop_hangs_until_read_timeout_and_the_server_sees_nothing(
    lab: Lab, proxy: FaultProxy, driver: str
) -> None:
    engine = engine_via(lab, proxy, driver, connect_args={"read_timeout": 1})
    try:
        with engine.connect() as conn:
            server_side = conn.execute(text("SELECT CONNECTION_ID()")).scalar()
        before = lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"]
        proxy.drop_after_idle(0.5)
        time.sleep(0.8)
        code, took = failure(engine)
        # the 1 s read timeout ended it (nothing else would: the proxy drops silently); slack for load
        assert code == 2013 and 0.9 <= took < 10, (code, took)
        assert proxy.counts["dropped"] == 1
        assert lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"] == before, "the server heard nothing"
        assert server_side in set(lab.processlist()["ID"]), "its side still sleeps on the server"
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", list(helpers.DRIVERS))
def test_reset_after_idle_fails_the_next_query_at_once(lab: Lab, proxy: FaultProxy, driver: str) -> None:
    engine = engine_via(lab, proxy, driver)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        proxy.reset_after_idle(0.5)
        time.sleep(0.8)
        code, took = failure(engine)
        # at once: no timeout is set, so anything but a reset would hang to the test's timeout
        assert code == 2006 and took < 10, (code, took)
        assert proxy.counts["reset"] == 1
        with engine.connect() as conn:  # the pool connects again; the new flow is not idle
            assert conn.execute(text("SELECT 2")).scalar() == 2
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", list(helpers.DRIVERS))
def test_cut_after_bytes_loses_the_connection_mid_answer(lab: Lab, proxy: FaultProxy, driver: str) -> None:
    engine = engine_via(lab, proxy, driver)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        proxy.cut_after(1000)
        code, _ = failure(engine, "SELECT REPEAT('x', 100000)")
        assert code == 2013 and proxy.counts["cut"] == 1
        with engine.connect() as conn:  # once only
            assert len(conn.execute(text("SELECT REPEAT('x', 100000)")).scalar()) == 100000
    finally:
        engine.dispose()


def test_lose_reply_forwards_until_armed_then_cuts_once(lab: Lab, proxy: FaultProxy) -> None:
    engine = engine_via(lab, proxy, "pymysql")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 41 + 1")).scalar() == 42
        proxy.lose_reply_to(b"SELECT")
        code, _ = failure(engine)
        assert code == 2013
        with engine.connect() as conn:  # disarmed after one cut; the pool reconnects
            assert conn.execute(text("SELECT 2")).scalar() == 2
        assert proxy.counts["lost"] == 1
    finally:
        engine.dispose()


def test_bad_settings_are_refused(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="at least 0"):
        proxy.latency(-1)
    with pytest.raises(ValueError, match="above 0"):
        proxy.drop_after_idle(0)
    with pytest.raises(ValueError, match="above 0"):
        proxy.reset_after_idle(-2)


def test_farewell_sends_mysql8_s_exact_packet_then_closes(lab: Lab, proxy: FaultProxy) -> None:
    """A flow idle past the limit gets MySQL 8.0.24's ERR packet (4031, HY000, numbered 0), then EOF."""
    assert MYSQL8_INACTIVITY[3] == 0 and MYSQL8_INACTIVITY[4] == 0xFF
    assert int.from_bytes(MYSQL8_INACTIVITY[5:7], "little") == 4031 and MYSQL8_INACTIVITY[7:13] == b"#HY000"
    assert int.from_bytes(MYSQL8_INACTIVITY[:3], "little") == len(MYSQL8_INACTIVITY) - 4
    proxy.farewell_after_idle(0.3)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
        greeting = client.recv(65536)  # the server's handshake: the flow is live
        assert greeting and greeting[4] == 10  # protocol version 10
        received = b""
        while chunk := client.recv(65536):
            received += chunk
    assert received == MYSQL8_INACTIVITY and proxy.counts["farewell"] == 1


def test_a_closed_proxy_stops_listening_and_its_threads_end(lab: Lab) -> None:
    """A listening socket closed while a thread waits in ``accept()`` stays open and keeps
    accepting (Linux): the proxy shuts it down first, so that nothing of it is left."""
    with FaultProxy(lab.backend.host, lab.backend.port) as proxy:
        port = proxy.port
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    deadline = time.monotonic() + 5
    while any(t.name.startswith("faultproxy") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("faultproxy")]


LATENCY = ["--latency", "0", "--latency", "1"]


def test_cli_bench_json_lines(lab_env: dict[str, str]) -> None:
    result = cli(
        "bench",
        "--json",
        "--seconds",
        "0.1",
        "--repeats",
        "1",
        *LATENCY,
        env={**lab_env, "LAB_PROGRESS": "0"},
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(x["driver"], x["fix"], x["rtt_ms"]) for x in lines} == {
        (d, p, rtt) for d in helpers.DRIVERS for p in helpers.bench.FIXES for rtt in (0.0, 2.0)
    }
    for x in lines:
        assert set(x) == {"driver", "fix", "rtt_ms", "per_second", "ratio_to_none"}
        assert x["per_second"] > 0
        # the figures only: one short run each cannot rank the pools (the benchmark does, at length)
        assert x["ratio_to_none"] == 1.0 if x["fix"] == "none" else x["ratio_to_none"] > 0


def test_cli_bench_costs(lab_env: dict[str, str]) -> None:
    result = cli("bench", "--costs", "--json", "--driver", "pymysql", env={**lab_env, "LAB_PROGRESS": "0"})
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    parts = {x["part"]: x for x in lines if "part" in x}
    connects = {x["connect_args"]: x["ms_per_connect"] for x in lines if "connect_args" in x}
    assert len(parts) == 4 and all(x["us"] > 0 for x in parts.values())
    # what each part sends, counted on the server: the peek nothing, a ping or a SELECT one round trip
    trips = {part: x["round_trips"] for part, x in parts.items()}
    assert trips == {
        "peek (hardened pool, defaults)": 0,
        "peek + checkout stack (leak_after set)": 0,
        "ping (pool_pre_ping's check)": 1,
        "SELECT 1 (a round trip)": 1,
    }, trips
    assert set(connects) == {"defaults", "ssl_disabled=True", "TLS, certificate verified"}
    assert all(ms > 0 for ms in connects.values())
