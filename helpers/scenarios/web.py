"""Web applications: sessions that outlive requests, and sessions that are never given back.

The apps (``helpers.scenarios.webapps``) are driven through their own test clients, in
process, against the lab's server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi.testclient import TestClient

from goneaway_pool.hardened import harden

from ..drivers import ASYNC_DRIVERS, DISCONNECT_CODES
from ..lab import Lab
from ..progress import wait
from . import webapps
from .common import HARDENED, PRE_PING, WAIT_TIMEOUT
from .fixes import Fix
from .registry import scenario
from .trial import AsyncTrial, Trial

log = logging.getLogger(__name__)

#: Why the lab's Flask apps do not run with the async drivers.
SYNC_APP = {
    d: "Flask (and Flask-SQLAlchemy) serves each request from a worker thread with a sync "
    "Session: an async driver serves an async framework (fastapi_session runs with it)"
    for d in ASYNC_DRIVERS
}
#: Why Flask-SQLAlchemy does not run with MariaDB Connector/Python (a finding: Flask-SQLAlchemy 3.1).
FLASK_SQLALCHEMY_CHARSET = (
    "Flask-SQLAlchemy adds charset=utf8mb4 to every MySQL URL, and MariaDB Connector/Python's "
    "connect() refuses a charset argument (TypeError): the app cannot connect at all"
)

QUIET = WAIT_TIMEOUT + 1
#: After a failed request, a thread-local Session left in its failed transaction
#: raises PendingRollbackError (no driver code) on every later request of that thread.
STUCK = frozenset({*DISCONNECT_CODES, None})


def _request(trial: Trial, client: Any, name: str) -> None:
    """One ``GET /whoami`` as a recorded step."""
    with trial.step(name) as note:
        response = trial.resolve(client.get("/whoami"))  # an httpx.AsyncClient's is awaited
        if response.status_code != 200:  # pragma: no cover - errors propagate in testing mode
            raise RuntimeError(f"HTTP {response.status_code}")
        body = response.json() if callable(response.json) else response.json  # httpx / Flask
        note["connection_id"] = body["connection_id"]


def _quietly(trial: Trial, close: Callable[[], Any]) -> None:
    """Clean up after a scenario (an async trial awaits what ``close`` returns); a session
    whose connection is dead may fail to close (mysql-connector-python: its rollback gets
    2055). That is logged, not raised."""
    try:
        trial.resolve(close())
    except trial.step_errors as exc:
        log.info("clean-up failed: %r", exc)


def _idle_requests(lab: Lab, clients: dict[Trial, Any]) -> None:
    """Request, idle past wait_timeout, request, request: for every trial's app."""
    with lab.globals(wait_timeout=WAIT_TIMEOUT):
        for trial, client in clients.items():
            _request(trial, client, "request 1")
        wait(QUIET, f"no traffic for {QUIET}s")
        for step in ("request 2 (after the quiet period)", "request 3"):
            for trial, client in clients.items():
                _request(trial, client, step)


@scenario(
    "flask_scoped_session",
    "Flask + scoped_session: is the session removed at teardown?",
    fixes=[
        Fix("no remove(), pool_pre_ping", PRE_PING.options, prevents=False),
        Fix("remove() at teardown, no pre-ping", code_change="remove", prevents=False),
        Fix("remove() at teardown + pool_pre_ping", PRE_PING.options, code_change="remove"),
        Fix("remove() at teardown + hardened pool", code_change="remove", hardening=HARDENED.hardening),
    ],
    codes=STUCK,
    code_changes={"remove"},
    not_for=SYNC_APP,
)
def flask_scoped_session(lab: Lab, trials: list[Trial]) -> None:
    apps = {t: webapps.flask_scoped_session_app(t.engine, t.fix.code_change == "remove") for t in trials}
    try:
        _idle_requests(lab, {t: app.test_client() for t, app in apps.items()})
    finally:
        for trial, app in apps.items():
            _quietly(trial, app.extensions["session_registry"].remove)


@scenario(
    "flask_sqlalchemy",
    "Flask-SQLAlchemy: what SQLALCHEMY_ENGINE_OPTIONS holds",
    fixes=[
        Fix("SQLALCHEMY_ENGINE_OPTIONS = {}", prevents=False),
        Fix("SQLALCHEMY_ENGINE_OPTIONS = {pool_pre_ping: True}", PRE_PING.options),
        Fix("SQLALCHEMY_ENGINE_OPTIONS = {pool_recycle: 1}", {"pool_recycle": 1}),
        Fix("harden(db.engine) in the app context", hardening=HARDENED.hardening),
    ],
    not_for={**SYNC_APP, "mariadbconnector": FLASK_SQLALCHEMY_CHARSET},
)
def flask_sqlalchemy(lab: Lab, trials: list[Trial]) -> None:
    apps = {}
    for trial in trials:
        url = lab.url(trial.driver).render_as_string(hide_password=False)
        apps[trial] = app, db = webapps.flask_sqlalchemy_app(url, trial.fix.options)
        if trial.fix.hardening is not None:
            if trial.watch is not None:  # the trial's own engine is not the one the app uses
                trial.watch.close()
            with app.app_context():
                trial.watch = harden(db.engine, trial.fix.hardening)
    try:
        _idle_requests(lab, {t: app.test_client() for t, (app, _db) in apps.items()})
    finally:
        for app, db in apps.values():
            with app.app_context():
                db.engine.dispose()


@scenario(
    "fastapi_session",
    "FastAPI: a Session per request, or one shared Session",
    fixes=[
        Fix("one shared Session, pool_pre_ping", PRE_PING.options, code_change="shared", prevents=False),
        Fix("Session per request (yield, close), pool_pre_ping", PRE_PING.options),
        Fix("Session per request (yield, close), hardened pool", hardening=HARDENED.hardening),
    ],
    codes=STUCK,
    code_changes={"shared"},
)
def fastapi_session(lab: Lab, trials: list[Trial]) -> None:
    """An async driver gets :func:`~helpers.scenarios.webapps.fastapi_async_app` (async endpoints, an
    ``AsyncSession``), called through ``httpx.ASGITransport`` on the trial's own loop, where
    its pooled connections live."""
    apps: dict[Trial, Any] = {}
    clients: dict[Trial, Any] = {}
    for t in trials:
        per_request = t.fix.code_change != "shared"
        if isinstance(t, AsyncTrial):
            apps[t] = webapps.fastapi_async_app(t.engine, per_request)
            clients[t] = httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[t]), base_url="http://app")
        else:
            apps[t] = webapps.fastapi_app(t.engine, per_request)
            clients[t] = TestClient(apps[t])
    try:
        _idle_requests(lab, clients)
    finally:
        for trial, client in clients.items():
            _quietly(trial, client.aclose if isinstance(trial, AsyncTrial) else client.close)
        for trial, app in apps.items():
            _quietly(trial, app.state.shared_session.close)


#: Pool for the exhaustion scenario: 2 connections, no overflow, 1 s wait for a free one.
POOL = {"pool_size": 2, "max_overflow": 0, "pool_timeout": 1}
WORKERS = 3


@scenario(
    "pool_exhaustion",
    f"{WORKERS} worker threads, a pool of {POOL['pool_size']}: sessions never given back",
    fixes=[
        Fix("scoped_session, no remove()", POOL, prevents=False),
        Fix("scoped_session, remove() at teardown", POOL, code_change="remove"),
    ],
    codes=frozenset({None}),  # sqlalchemy.exc.TimeoutError: QueuePool limit ... reached
    code_changes={"remove"},
    not_for=SYNC_APP,
)
def pool_exhaustion(lab: Lab, trials: list[Trial]) -> None:
    """Worker threads of a threaded server, each with its thread-local session.

    The threads stay alive (as a server's do) until every worker has served a
    request, so a session that was not removed keeps its connection.
    """
    for trial in trials:
        app = webapps.flask_scoped_session_app(trial.engine, trial.fix.code_change == "remove")
        _serve_from_workers(trial, app.test_client())
        _quietly(trial, app.extensions["session_registry"].remove)


def _serve_from_workers(trial: Trial, client: Any) -> None:
    """Each of WORKERS live threads serves one request, in turn; then the pool's status."""
    served = threading.Barrier(WORKERS)
    turn = threading.Lock()  # one request at a time: the order is the story

    def worker(k: int) -> None:
        with turn:
            _request(trial, client, f"worker {k}: request")
        served.wait()  # stay alive, like a server thread between requests

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(worker, range(WORKERS)))
        with trial.step("pool status, workers still alive") as note:
            note["message"] = trial.engine.pool.status()
