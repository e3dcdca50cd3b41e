"""A hardened pool: liveness checked only as much as needed, recycle calibrated from the
server, long checkouts reported. Built only on SQLAlchemy's pool events (``connect``,
``checkout``, ``checkin``; ``DisconnectionError`` from ``checkout`` for a fresh connection),
so it works on any engine and driver. Copy this module, or import it:

>>> engine = create_engine(url, pool_size=10)
>>> watch = harden(engine)                        # or harden(engine, Hardening(leak_after=30))
>>> watch.long_checkouts()                        # a DataFrame, also logged as they happen

For an ``AsyncEngine``, harden its ``sync_engine``.

What a checkout costs, by how long the connection sat idle in the pool (since its last
return; a ping also counts as use) and by its age:

==========================  ====================================================  ==========
when                        what happens                                          cost
==========================  ====================================================  ==========
age >= its lifetime         retired before the server's ``wait_timeout`` can      a connect
                            close it: a fresh connection instead
idle < ``bypass``           nothing                                               none
otherwise                   *peek*: ``poll()`` the socket without reading. A      a syscall
                            readable socket between requests means the server     (2-3 µs)
                            closed it (end of file) or sent what nobody asked
                            for: a fresh connection instead
idle >= ``ping_after``      also the dialect's ping (COM_PING); a failed ping:    a round
                            a fresh connection                                    trip
==========================  ====================================================  ==========

Each connection reads its session's ``wait_timeout`` when it connects (one round trip per
connect). It sets both defaults:

- ``ping_after`` = half of ``wait_timeout``. A ping resets the server's idle clock, so a
  request that checks out gets at least half of ``wait_timeout`` before its first
  statement (``recycle_margin`` shows the failure this prevents).
- the lifetime = ``wait_timeout × (1 − margin)``, drawn per connection from
  ``[lifetime × (1 − jitter), lifetime]``, so a pool's connections are not all replaced
  in the same second.

What it cannot see: a flow that a network device dropped without telling anyone (the
peek sees nothing; set ``ping_after`` below the device's idle limit, and give the driver a
read timeout, or the ping hangs), and a connection lost while the request holds it (no
check at checkout can help; ``leak_after`` at least names the code that holds it).

``bypass`` is 0 by default: HikariCP skips validation for 500 ms because its check is a
round trip, but the peek costs a few µs (``helpers.bench.part_costs``: the checkout and
checkin listeners together, against tens of µs for a ping even on loopback), and a bypass
window hides a KILL or a restart that lands inside it. ``leak_after`` is off by default: it
walks the checkout's stack (a few µs in a script, more under Jupyter's deep stack) and runs
one watcher thread.

Connect cost: PyMySQL builds a TLS context on every connect in its default "preferred"
mode, even when the server offers no TLS: tens of ms per connect on the lab's machine,
against under 1 ms with ``connect_args={"ssl_disabled": True}``
(``helpers.bench.connect_costs``). Where
connections are recycled, pass that (only where TLS is not wanted), or an
``ssl.SSLContext`` built once (``connect_args={"ssl": ctx}``).
"""

from __future__ import annotations

import linecache
import logging
import os
import random
import select
import socket
import sys
import threading
import time
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import event, exc

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

#: ``poll()`` events that mean "not a quiet socket between requests".
_READABLE = select.POLLIN | select.POLLPRI | getattr(select, "POLLRDHUP", 0)
#: How many connects, retirements and long checkouts a watch remembers (the newest).
KEEP = 1000
#: Frames from SQLAlchemy's files are not the application's.
_SQLALCHEMY = os.sep + "sqlalchemy" + os.sep
_KEY = "hardened"


def _env_float(name: str, default: float | None, can_be_off: bool = True) -> float | None:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"none", "off"} and can_be_off:
        return None
    try:
        return float(raw)
    except ValueError:
        hint = "a number, or 'off'" if can_be_off else "a number"
        raise ValueError(f"{name}={raw!r}: give {hint}") from None


@dataclass(frozen=True)
class Hardening:
    """The hardened pool's settings (seconds; fractions for ``margin`` and ``jitter``)."""

    #: no check at all for a connection used less than this ago
    bypass: float = 0.0
    #: ping a connection idle at least this long; None: half its session's wait_timeout
    ping_after: float | None = None
    #: retire a connection at ``wait_timeout × (1 − margin)`` of age ...
    margin: float = 0.1
    #: ... or up to this fraction earlier, drawn per connection
    jitter: float = 0.1
    #: report a connection checked out longer than this (None: off)
    leak_after: float | None = None

    def __post_init__(self) -> None:
        for name in ("bypass", "ping_after", "leak_after"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name}={value!r}: give seconds >= 0")
        for name in ("margin", "jitter"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r}: give a fraction in [0, 1)")

    @classmethod
    def from_env(cls, prefix: str = "HARDEN_") -> Hardening:
        """Read ``HARDEN_BYPASS``, ``HARDEN_PING_AFTER``, ``HARDEN_MARGIN``,
        ``HARDEN_JITTER`` and ``HARDEN_LEAK_AFTER``; unset ones keep their defaults."""
        d = cls()

        def number(name: str, default: float) -> float:
            value = _env_float(prefix + name, default, can_be_off=False)
            assert value is not None
            return value

        return cls(
            bypass=number("BYPASS", d.bypass),
            ping_after=_env_float(prefix + "PING_AFTER", d.ping_after),
            margin=number("MARGIN", d.margin),
            jitter=number("JITTER", d.jitter),
            leak_after=_env_float(prefix + "LEAK_AFTER", d.leak_after),
        )


@dataclass
class _State:
    """What the pool knows about one DBAPI connection (kept in its ``record.info``)."""

    connection_id: int | None
    created: float
    last_used: float
    wait_timeout: int | None
    ping_after: float
    lifetime: float
    fd: int | None
    poller: Any = None
    checked_out: float | None = None
    stack: list[tuple[str, int, str]] = field(default_factory=list)
    reported: dict[str, Any] | None = None


def socket_fd(dbapi_connection: Any) -> int | None:
    """The socket's file descriptor behind a driver's connection; None where the driver
    hides it (then the pool pings instead of peeking); -1 where it is already closed."""
    if hasattr(dbapi_connection, "_sock"):  # PyMySQL: None once closed
        sock = dbapi_connection._sock
        return int(sock.fileno()) if sock is not None else -1
    fileno = getattr(dbapi_connection, "fileno", None)  # mysqlclient
    if callable(fileno):
        try:
            return int(fileno())
        except Exception:  # closed: the driver refuses
            return -1
    return None


def peek_reason(fd: int) -> str:
    """Why a readable socket is not a live one: read a byte without consuming it, on a
    duplicate of the descriptor (the driver's own socket stays untouched)."""
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return "peek: the socket hung up"
    except OSError as e:
        return f"peek: {e.strerror or e}"
    return "peek: end of file (the server closed it)" if not data else f"peek: unexpected bytes {data!r}"


class PoolWatch:
    """The hardened pool's listeners on one engine, and what they saw.

    ``counts``: how many checkouts were bypassed, peeked or pinged, and how many
    connections were retired or found dead. :meth:`retired`, :meth:`connections` and
    :meth:`long_checkouts` return DataFrames.
    """

    def __init__(self, engine: Engine, settings: Hardening | None = None) -> None:
        self.settings = settings or Hardening()
        self.t0 = time.monotonic()
        self.counts: Counter[str] = Counter()
        self._events: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._connects: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._leaks: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._held: dict[int, _State] = {}
        self._caught: deque[tuple[str, str]] = deque(maxlen=KEEP)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._ping = engine.dialect.do_ping
        self._random = random.Random()
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "checkin", self._on_checkin)

    # -- listeners -------------------------------------------------------------
    def _on_connect(self, dbapi_connection: Any, record: Any) -> None:
        now = time.monotonic()
        wait_timeout = _session_wait_timeout(dbapi_connection)
        s = self.settings
        if wait_timeout is None:  # unknown: ping past the bypass window, never retire by age
            ping_after, lifetime = s.ping_after or 0.0, float("inf")
        else:
            ping_after = wait_timeout / 2 if s.ping_after is None else s.ping_after
            lifetime = wait_timeout * (1 - s.margin) * (1 - s.jitter * self._random.random())
        fd = socket_fd(dbapi_connection)
        state = _State(_thread_id(dbapi_connection), now, now, wait_timeout, ping_after, lifetime, fd)
        if fd is not None and fd >= 0:
            state.poller = select.poll()
            state.poller.register(fd, _READABLE)
        record.info[_KEY] = state
        connect = {
            "time": round(now - self.t0, 3),
            "connection_id": state.connection_id,
            "wait_timeout": wait_timeout,
            "ping_after": ping_after,
            "lifetime": round(lifetime, 3),
        }
        with self._lock:  # a reader may be copying these from another thread
            self._connects.append(connect)

    def check(self, dbapi_connection: Any, record: Any) -> None:
        """What the pool runs for one checkout and its return, on a connection already checked
        out: the checkout's checks, then the checkin's bookkeeping (the bench times this)."""
        self._on_checkout(dbapi_connection, record, None)
        self._on_checkin(dbapi_connection, record)

    def _on_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        state: _State | None = record.info.get(_KEY)
        if state is None:  # connected before the pool was hardened
            self._on_connect(dbapi_connection, record)
            state = record.info[_KEY]
        now = time.monotonic()
        idle = now - state.last_used
        if now - state.created >= state.lifetime:
            self._dead(
                state, "retired", "recycle", f"recycle: age reached its lifetime {state.lifetime:.3g}s", now
            )
        if idle < self.settings.bypass:
            self.counts["bypassed"] += 1
        else:
            if state.fd is not None:
                self.counts["peeked"] += 1
                if state.fd < 0 or socket_fd(dbapi_connection) != state.fd:  # (-1: closed at connect)
                    self._dead(state, "dead_on_peek", "peek", "peek: the driver closed its socket", now)
                if state.poller.poll(0):
                    self._dead(state, "dead_on_peek", "peek", peek_reason(state.fd), now)
            if idle >= state.ping_after or state.fd is None:
                self.counts["pinged"] += 1
                try:
                    self._ping(dbapi_connection)
                except Exception as e:  # any failure of a ping: this connection is not usable
                    self._dead(state, "dead_on_ping", "ping", f"ping: {type(e).__name__}: {e}", now)
                state.last_used = time.monotonic()
        if self.settings.leak_after is not None:
            state.checked_out = now
            state.stack = _caller_stack()
            state.reported = None
            with self._lock:
                self._held[id(record)] = state
            self._start_watcher()

    def _on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        state: _State | None = record.info.get(_KEY)
        if state is None:
            return
        now = time.monotonic()
        state.last_used = now
        if state.checked_out is not None:
            with self._lock:  # the watcher may be reporting this checkout right now
                self._held.pop(id(record), None)
                if state.reported is not None:
                    state.reported["returned"] = True
                    state.reported["held_seconds"] = round(now - state.checked_out, 3)
                state.checked_out = None

    def _dead(self, state: _State, what: str, part: str, reason: str, now: float) -> NoReturn:
        """Count (``what``) and record why a connection is not handed out and which part of the
        pool caught it (``part``: recycle, peek or ping), then make the pool replace it."""
        self.counts[what] += 1
        event = {
            "time": round(now - self.t0, 3),
            "connection_id": state.connection_id,
            "what": what,
            "reason": reason,
            "idle": round(now - state.last_used, 3),
            "age": round(now - state.created, 3),
            "lifetime": round(state.lifetime, 3),
        }
        with self._lock:
            self._caught.append((part, reason))
            self._events.append(event)
        log.info("connection %s not handed out: %s", state.connection_id, reason)
        raise exc.DisconnectionError(reason)

    # -- long checkouts ----------------------------------------------------------
    def _start_watcher(self) -> None:
        if self._watcher is not None or self.settings.leak_after is None:
            return
        every = min(1.0, max(0.02, self.settings.leak_after / 4))
        ref = weakref.ref(self)
        stop = self._stop

        def watch() -> None:
            while not stop.wait(every):
                watch_ = ref()
                if watch_ is None:
                    return
                watch_.report_long_checkouts()
                del watch_

        self._watcher = threading.Thread(target=watch, name="hardened-pool-leaks", daemon=True)
        self._watcher.start()

    def report_long_checkouts(self) -> None:
        """Log, once each, the connections held longer than ``leak_after`` (the watcher
        thread calls this; a caller may too)."""
        limit = self.settings.leak_after
        if limit is None:
            return
        now = time.monotonic()
        found = []
        with self._lock:  # a checkin in between would leave a report that says "not returned"
            for state in self._held.values():
                since = state.checked_out
                if since is None or state.reported is not None or now - since < limit:
                    continue
                state.reported = {
                    "connection_id": state.connection_id,
                    "checked_out_at": round(since - self.t0, 3),
                    "held_seconds": round(now - since, 3),
                    "returned": False,
                    "where": f"{state.stack[-1][0]}:{state.stack[-1][1]}" if state.stack else None,
                    "stack": format_stack(state.stack),
                }
                self._leaks.append(state.reported)
                found.append((state.connection_id, now - since, state.reported["stack"]))
        for connection_id, held, stack in found:
            log.warning(
                "connection %s checked out for %.1fs (leak_after=%gs) by:\n%s",
                connection_id,
                held,
                limit,
                stack,
            )

    # -- what it saw -----------------------------------------------------------
    def take_caught(self) -> list[tuple[str, str]]:
        """Which part caught each connection replaced since the last call, and why, as
        ``(part, reason)`` (and forget them)."""
        with self._lock:
            caught = list(self._caught)
            self._caught.clear()
        return caught

    def _frame(self, rows: deque[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
        import pandas as pd

        with self._lock:  # another thread may append while we copy
            copied = list(rows)
        return pd.DataFrame(copied, columns=columns)

    def retired(self) -> pd.DataFrame:
        """One row per connection not handed out (the newest :data:`KEEP`): when, which,
        why, its idle time and age."""
        return self._frame(
            self._events, ["time", "connection_id", "what", "reason", "idle", "age", "lifetime"]
        )

    def connections(self) -> pd.DataFrame:
        """One row per connection made (the newest :data:`KEEP`): its session's wait_timeout,
        ping threshold and lifetime."""
        return self._frame(
            self._connects, ["time", "connection_id", "wait_timeout", "ping_after", "lifetime"]
        )

    def long_checkouts(self) -> pd.DataFrame:
        """One row per checkout held longer than ``leak_after`` (the newest :data:`KEEP`): the
        connection, when it was checked out, how long it was held (so far), whether it came
        back, and the stack of the code that checked it out (innermost last; ``where`` is its
        last line)."""
        self.report_long_checkouts()
        columns = ["connection_id", "checked_out_at", "held_seconds", "returned", "where", "stack"]
        return self._frame(self._leaks, columns)

    def close(self) -> None:
        """Stop the watcher thread (the listeners stay with the engine)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)


def harden(engine: Engine, settings: Hardening | None = None) -> PoolWatch:
    """Harden ``engine``'s pool (see the module's doc for what each setting costs) and
    return the :class:`PoolWatch` that reports what it did. Use instead of ``pool_pre_ping``."""
    return PoolWatch(engine, settings)


def _session_wait_timeout(dbapi_connection: Any) -> int | None:
    """The session's ``wait_timeout`` (``interactive_timeout`` already applied by the server
    for an interactive client); None, logged, where it cannot be read."""
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT @@session.wait_timeout")
            row = cursor.fetchone()
        finally:
            cursor.close()
        return int(row[0])
    except Exception as e:  # a server or driver without it: fall back to pinging
        log.warning("cannot read the session's wait_timeout (%s); pinging instead", e)
        return None


def _thread_id(dbapi_connection: Any) -> int | None:
    thread_id = getattr(dbapi_connection, "thread_id", None)
    try:
        return int(thread_id()) if callable(thread_id) else None
    except Exception:
        return None


def _caller_stack(depth: int = 40) -> list[tuple[str, int, str]]:
    """The frames that led to this checkout, SQLAlchemy's left out, innermost last:
    (file, line, function), at most ``depth`` frames up. Cheap: no source is read here."""
    frames = []
    frame: FrameType | None = sys._getframe(2)  # the caller of the checkout listener's caller
    for _ in range(depth):
        if frame is None:
            break
        code = frame.f_code
        if _SQLALCHEMY not in code.co_filename:
            frames.append((code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    frames.reverse()
    return frames


def format_stack(frames: list[tuple[str, int, str]]) -> str:
    """Frames as a traceback reads them, with each line's source."""
    return "".join(
        f'  File "{path}", line {line}, in {name}\n    {linecache.getline(path, line).strip()}\n'
        for path, line, name in frames
    )
