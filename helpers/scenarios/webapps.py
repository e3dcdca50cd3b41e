"""Small web applications wired the ways real ones are, for the web scenarios.

Each has one endpoint, ``GET /whoami``, answering ``{"connection_id": ...}``:
the server connection the request's session used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import sqlalchemy
from fastapi import Depends, FastAPI
from flask import Flask
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, scoped_session, sessionmaker

WHOAMI = text("SELECT CONNECTION_ID()")


def flask_scoped_session_app(engine: sqlalchemy.Engine, remove_at_teardown: bool) -> Flask:
    """Flask with a thread-local ``scoped_session``; ``Session.remove()`` at app-context
    teardown if asked (what Flask-SQLAlchemy does for you)."""
    registry = scoped_session(sessionmaker(bind=engine))
    app = Flask("scoped_session_app")
    app.testing = True  # errors reach the test client as exceptions: the lab records them
    app.extensions["session_registry"] = registry

    @app.get("/whoami")
    def whoami() -> dict[str, Any]:
        return {"connection_id": registry.execute(WHOAMI).scalar()}

    if remove_at_teardown:

        @app.teardown_appcontext
        def remove_session(exc: BaseException | None) -> None:
            registry.remove()

    return app


def flask_sqlalchemy_app(url: str, engine_options: dict[str, Any]) -> tuple[Flask, Any]:
    """Flask-SQLAlchemy, configured through ``SQLALCHEMY_ENGINE_OPTIONS``. Returns (app, db)."""
    from flask_sqlalchemy import SQLAlchemy

    app = Flask("flask_sqlalchemy_app")
    app.testing = True
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
    db = SQLAlchemy(app)

    @app.get("/whoami")
    def whoami() -> dict[str, Any]:
        return {"connection_id": db.session.execute(WHOAMI).scalar()}

    return app, db


def fastapi_app(engine: sqlalchemy.Engine, per_request: bool) -> FastAPI:
    """FastAPI with a Session dependency: a new one per request (yield, then close), or
    one Session shared by every request (the mistake)."""
    factory = sessionmaker(bind=engine)
    shared = factory()

    def get_session() -> Iterator[Session]:
        if per_request:
            with factory() as session:
                yield session
        else:
            yield shared

    app = FastAPI()

    @app.get("/whoami")
    def whoami(session: Session = Depends(get_session)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        return {"connection_id": session.execute(WHOAMI).scalar()}

    app.state.shared_session = shared
    return app


def fastapi_async_app(engine: AsyncEngine, per_request: bool) -> FastAPI:
    """:func:`fastapi_app` for an async driver: async endpoints, an ``AsyncSession`` per
    request (``async with``, then closed), or one shared by every request (the mistake)."""
    factory = async_sessionmaker(engine)
    shared = factory()

    async def get_session() -> AsyncIterator[AsyncSession]:
        if per_request:
            async with factory() as session:
                yield session
        else:
            yield shared

    app = FastAPI()

    @app.get("/whoami")
    async def whoami(session: AsyncSession = Depends(get_session)) -> dict[str, Any]:  # noqa: B008
        return {"connection_id": (await session.execute(WHOAMI)).scalar()}

    app.state.shared_session = shared
    return app
