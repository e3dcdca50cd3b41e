"""The lab's TLS server (:mod:`helpers.tls`): every driver connects over TLS with the certificate
verified; a connection without TLS is refused; nothing is left running."""

from __future__ import annotations

import asyncio

import pymysql
import pytest
from sqlalchemy import text

import helpers
from helpers import Lab
from helpers.backends.local import pid_alive
from helpers.drivers import ALL_DRIVERS, ASYNC_DRIVERS
from helpers.scenarios.over_tls import unavailable
from helpers.tls import tls_lab

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(bool(unavailable()), reason=f"no TLS server here: {unavailable()}"),
]

STATUS = "SHOW SESSION STATUS LIKE 'Ssl_version'"


def tls_version(server: Lab, driver: str) -> str:
    """The TLS version of a new connection of ``driver``'s, as the server sees it."""
    if driver in ASYNC_DRIVERS:

        async def read() -> str:
            engine = server.async_engine(driver)
            try:
                async with engine.connect() as conn:
                    return str((await conn.execute(text(STATUS))).one()[1])
            finally:
                await engine.dispose()

        return asyncio.run(read())
    engine = server.engine(driver)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text(STATUS)).one()[1])
    finally:
        engine.dispose()


def test_every_driver_connects_over_verified_tls_and_plain_is_refused(lab: Lab) -> None:
    with tls_lab(lab.backend.config) as server:
        ca = server.backend.tls_ca
        assert ca is not None and (ca.parent / "server-key.pem").stat().st_mode & 0o077 == 0
        versions = {driver: tls_version(server, driver) for driver in ALL_DRIVERS}
        assert all(v.startswith("TLSv1") for v in versions.values()), versions
        b = server.backend
        with pytest.raises(pymysql.err.OperationalError) as refused:
            pymysql.connect(host=b.host, port=b.port, user=b.user, password=b.password, ssl_disabled=True)
        assert refused.value.args[0] == 1045  # MariaDB 10.11 says "Access denied" (MySQL: 3159)
        system_cas = {"ca": "/etc/ssl/certs/ca-certificates.crt"}  # not the lab's CA: not trusted
        with pytest.raises(pymysql.err.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
            pymysql.connect(host=b.host, port=b.port, user=b.user, password=b.password, ssl=system_cas)
        pid = b.pid
    assert pid is not None and not pid_alive(pid)


def test_run_all_starts_one_tls_server_for_the_tls_scenarios(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The three TLS scenarios side by side in ``run_all`` share one TLS server (counted at its
    start); each still runs over TLS, and the server is stopped after."""
    started: list[Lab] = []
    start = Lab.start.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Lab], config, *args, **kwargs):  # type: ignore[no-untyped-def]
        server = start(cls, config, *args, **kwargs)
        if config.tls:
            started.append(server)
        return server

    monkeypatch.setattr(Lab, "start", classmethod(counted))
    rows = helpers.run_all(lab, ["idle_tls", "restart_tls", "kill_idle_tls"], drivers=["pymysql"])
    assert set(rows["scenario"]) == {"idle_tls", "restart_tls", "kill_idle_tls"}
    assert len(started) == 1, started
    assert [v["Ssl_version"].startswith("TLSv1") for v in rows.attrs["views"]] == [True] * 3
    assert not started[0].backend.running()
