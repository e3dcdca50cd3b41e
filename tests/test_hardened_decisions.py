"""The hardened pool's checkout decisions (bypass, peek, ping, lifetime) against a fake
PyMySQL connection: no server. Its socket is one end of a socketpair; the test plays the
server on the other end, answers the connect-time query, and moves a fake clock."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from goneaway_pool import hardened
from goneaway_pool.hardened import Hardening, PoolWatch, harden


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.row: tuple[int] | None = None

    def execute(self, statement: str, *args: Any) -> None:
        assert statement == "SELECT @@session.wait_timeout", statement
        self.row = (self.conn.wait_timeout,)

    def fetchone(self) -> tuple[int] | None:
        return self.row

    def close(self) -> None: ...


class FakeConnection:
    """What hardened.py and the pymysql dialect touch of a PyMySQL connection."""

    def __init__(self, thread_id: int, wait_timeout: int) -> None:
        self._sock: socket.socket | None
        self._sock, self.peer = socket.socketpair()  # PyMySQL's attribute name: socket_fd() reads it
        self.id, self.wait_timeout = thread_id, wait_timeout
        self.pings, self.fail_ping = 0, False

    def thread_id(self) -> int:
        return self.id

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def ping(self, reconnect: bool = True) -> None:
        self.pings += 1
        if self.fail_ping:
            raise pymysql.err.OperationalError(2006, "MySQL server has gone away")

    def rollback(self) -> None: ...  # the pool's reset on return

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self.peer.close()


class Clock:
    """Stands in for the ``time`` module inside goneaway_pool.hardened only."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


Rig = tuple[list[FakeConnection], PoolWatch, Engine]  # the connections made, the watch, the engine
Make = Callable[..., Rig]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(hardened, "time", fake)
    return fake


@pytest.fixture
def rig(clock: Clock) -> Iterator[Make]:
    engines: list[Engine] = []
    made: list[FakeConnection] = []  # by every creator: closed at the end

    def make(settings: Hardening, wait_timeout: int = 100, pool_size: int = 1, closed: int = 0) -> Rig:
        """``closed``: that many first connections arrive with their socket already closed."""

        def creator() -> FakeConnection:
            made.append(FakeConnection(len(made) + 1, wait_timeout))
            if len(made) <= closed:
                assert made[-1]._sock is not None
                made[-1]._sock.close()
                made[-1]._sock = None
            return made[-1]

        # _initialize=False, as sqlalchemy.create_pool_from_url does: no dialect first-connect
        # queries (they need a server); the pool, its events and the dialect's do_ping are real.
        engine = create_engine(
            "mysql+pymysql://", creator=creator, pool_size=pool_size, max_overflow=0, _initialize=False
        )
        engines.append(engine)
        return made, harden(engine, settings), engine

    yield make
    for engine in engines:
        engine.dispose()
    for conn in made:
        conn.close()


def checkout(engine: Engine) -> FakeConnection:
    """One checkout and its return, as a request does: the DBAPI connection it was given."""
    proxied = engine.raw_connection()
    conn = proxied.dbapi_connection
    proxied.close()
    assert isinstance(conn, FakeConnection)
    return conn


def test_bypass_window_hides_a_readable_socket_until_it_ends(rig: Make, clock: Clock) -> None:
    made, watch, engine = rig(Hardening(bypass=5))
    first = checkout(engine)
    first.peer.sendall(b"x")
    clock.now += 4.75  # binary fractions: exact sums, exact boundaries
    assert checkout(engine) is first
    assert watch.counts["peeked"] == 0 and watch.counts["bypassed"] == 2 and len(made) == 1
    clock.now += 5
    assert checkout(engine) is not first
    assert watch.counts["peeked"] == 1 and watch.counts["dead_on_peek"] == 1 and len(made) == 2
    assert watch.take_caught() == [("peek", "peek: unexpected bytes b'x'")]


def _spoil(conn: FakeConnection, how: str) -> None:
    if how == "eof":
        conn.peer.close()
    elif how == "bytes":
        conn.peer.sendall(b"\xff")
    else:  # the driver closed its socket itself, as PyMySQL does on an error
        assert conn._sock is not None
        conn._sock.close()
        conn._sock = None


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("eof", "peek: end of file (the server closed it)"),
        ("bytes", "peek: unexpected bytes b'\\xff'"),
        ("driver", "peek: the driver closed its socket"),
    ],
)
def test_peek_replaces_a_readable_socket(rig: Make, clock: Clock, how: str, reason: str) -> None:
    made, watch, engine = rig(Hardening())
    first = checkout(engine)
    _spoil(first, how)
    clock.now += 1
    second = checkout(engine)
    assert second is not first and len(made) == 2 and first._sock is None  # the pool closed it
    assert watch.take_caught() == [("peek", reason)] and watch.take_caught() == []
    assert watch.retired()[["connection_id", "what"]].values.tolist() == [[1, "dead_on_peek"]]
    assert watch.connections()["connection_id"].tolist() == [1, 2]
    assert first.pings == second.pings == 0


def test_quiet_socket_keeps_its_connection_without_a_ping(rig: Make, clock: Clock) -> None:
    made, watch, engine = rig(Hardening())
    first = checkout(engine)
    for _ in range(2):  # under ping_after (half of wait_timeout=100), ages under the lifetime (>= 81)
        clock.now += 40
        assert checkout(engine) is first
    assert watch.counts["peeked"] == 3 and watch.counts["pinged"] == 0 and first.pings == 0
    assert len(made) == 1 and watch.retired().empty and watch.take_caught() == []


@pytest.mark.parametrize(("ping_after", "wait_timeout", "threshold"), [(None, 20, 10.0), (3.0, 100, 3.0)])
def test_ping_only_once_idle_reaches_ping_after(
    rig: Make, clock: Clock, ping_after: float | None, wait_timeout: int, threshold: float
) -> None:
    made, watch, engine = rig(Hardening(ping_after=ping_after, margin=0, jitter=0), wait_timeout=wait_timeout)
    first = checkout(engine)
    assert watch.connections()["ping_after"].tolist() == [threshold]
    clock.now += threshold - 0.25
    assert checkout(engine) is first and first.pings == 0 and watch.counts["pinged"] == 0
    clock.now += threshold  # age 2 × threshold − 0.25: under the lifetime (wait_timeout)
    assert checkout(engine) is first and first.pings == 1 and watch.counts["pinged"] == 1
    assert len(made) == 1 and watch.retired().empty


def test_failed_ping_replaces_the_connection(rig: Make, clock: Clock) -> None:
    made, watch, engine = rig(Hardening(ping_after=3))
    first = checkout(engine)
    first.fail_ping = True
    clock.now += 3
    second = checkout(engine)
    assert second is not first and len(made) == 2 and first.pings == 1 and second.pings == 0
    assert watch.take_caught() == [("ping", "ping: OperationalError: (2006, 'MySQL server has gone away')")]
    assert watch.retired()["what"].tolist() == ["dead_on_ping"]


@pytest.mark.parametrize("jitter", [0.0, 0.5])
def test_lifetimes_drawn_within_the_jitter_band(rig: Make, jitter: float) -> None:
    made, watch, engine = rig(Hardening(margin=0.1, jitter=jitter), wait_timeout=3600, pool_size=4)
    held = [engine.raw_connection() for _ in range(4)]
    for proxied in held:
        proxied.close()
    lifetimes = watch.connections()["lifetime"].tolist()
    assert len(made) == len(lifetimes) == 4
    assert all(3240 * (1 - jitter) <= lifetime <= 3240 for lifetime in lifetimes)
    assert len(set(lifetimes)) == (4 if jitter else 1)


def test_connection_retired_at_its_lifetime_even_inside_the_bypass(rig: Make, clock: Clock) -> None:
    made, watch, engine = rig(Hardening(bypass=1000, jitter=0), wait_timeout=100)
    first = checkout(engine)
    for step in (30, 30, 29.5):  # age 89.5 < lifetime 90: kept
        clock.now += step
        assert checkout(engine) is first
    clock.now += 0.5
    assert checkout(engine) is not first and len(made) == 2
    assert watch.counts["retired"] == 1 and watch.counts["peeked"] == 0 and first.pings == 0
    row = watch.retired().iloc[0]
    assert (row["connection_id"], row["what"], row["age"]) == (1, "retired", 90.0)
    assert watch.take_caught() == [("recycle", "recycle: age reached its lifetime 90s")]


def test_a_socket_closed_at_connect_is_replaced(rig: Make, clock: Clock) -> None:
    made, watch, engine = rig(Hardening(), closed=1)
    clock.now += 0.25
    assert checkout(engine) is made[1] and len(made) == 2  # not an AttributeError from the peek
    assert watch.take_caught() == [("peek", "peek: the driver closed its socket")]
