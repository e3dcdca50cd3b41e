"""The read-only server check and the doctor, against the lab: least privilege, general log,
bad input, and no password in anything shown."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import URL, text

from helpers import Lab, LabError
from helpers.backends.local import free_port
from helpers.runbook import check_server, diagnose, parse_settings
from helpers.runbook.causes import CAUSES

from .conftest import REPO

SECRET = "Doctor-Pw-7qZ!x"  # a password that must never be shown


def leaks(text: str) -> bool:
    """Whether ``text`` shows the password, as typed or as a URL encodes it."""
    return any(form in text for form in (SECRET, quote(SECRET, safe=""), quote_plus(SECRET)))


#: What a read-only check may send: reads, and the session-only statements a driver sends at connect.
READ_ONLY = re.compile(r"^\s*(SELECT|SHOW)\b|^SET NAMES \w+$", re.IGNORECASE)


def account(lab: Lab, user: str, grant: str | None) -> URL:
    lab.sql(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
    lab.sql(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY %s", (SECRET,))
    if grant:
        lab.sql(f"GRANT {grant} ON *.* TO '{user}'@'127.0.0.1'")
    b = lab.backend
    return URL.create("mysql", username=user, password=SECRET, host=b.host, port=b.port)


@pytest.fixture
def doctor_url(lab: Lab) -> Iterator[URL]:
    """The least-privilege account the README documents: PROCESS, nothing else."""
    yield account(lab, "doctor", "PROCESS")
    lab.sql("DROP USER IF EXISTS 'doctor'@'127.0.0.1'")


@pytest.fixture
def sleeping_app_connection(lab: Lab) -> Iterator[int]:
    engine = lab.engine("pymysql", pool_size=1)
    with engine.connect() as conn:
        cid = conn.execute(text("SELECT CONNECTION_ID()")).scalar_one()
    yield cid
    engine.dispose()


def test_check_issues_only_reads_with_least_privilege(
    lab: Lab, doctor_url: URL, sleeping_app_connection: int
) -> None:
    lab.sql("TRUNCATE TABLE mysql.general_log")
    with lab.globals(log_output="TABLE", general_log=1):
        report = check_server(doctor_url, sample_seconds=1.0)
    logged = lab.sql(
        "SELECT command_type, CONVERT(argument USING utf8mb4) AS argument FROM mysql.general_log "
        "WHERE user_host LIKE 'doctor[%'"
    )
    queries = logged[logged["command_type"] == "Query"]["argument"].tolist()
    assert len(queries) >= 5, logged.to_string()  # the log did see the check
    writes = [q for q in queries if not READ_ONLY.match(q)]
    assert writes == [], writes
    assert set(logged["command_type"]) <= {"Connect", "Query", "Quit", "Init DB"}
    # what PROCESS shows: another account's sleeping connection, and nothing reported unseen about it
    assert sleeping_app_connection in set(report.sleeping["id"])
    assert not any("PROCESS" in item for item in report.unseen)
    assert {"wait_timeout", "max_allowed_packet", "net_write_timeout"} <= set(report.variables["name"])
    assert "Aborted_clients" in set(report.deltas()["counter"])
    assert any("error log" in item for item in report.unseen)  # MariaDB: no SQL view of it


def test_without_process_the_check_says_what_it_cannot_see(lab: Lab, sleeping_app_connection: int) -> None:
    url = account(lab, "doctor_np", None)
    try:
        report = check_server(url, sample_seconds=0)
    finally:
        lab.sql("DROP USER IF EXISTS 'doctor_np'@'127.0.0.1'")
    assert sleeping_app_connection not in set(report.sleeping["id"])
    assert any("GRANT PROCESS" in item for item in report.unseen)


def test_sleeping_connections_near_wait_timeout_are_counted(lab: Lab, doctor_url: URL) -> None:
    # near: idle 6.1 s of 8 (at least 6 = 0.75 x 8); 1.9 s to spare before the server closes it
    with lab.globals(wait_timeout=8):
        engine = lab.engine("pymysql", pool_size=1)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        time.sleep(6.1)
        report = check_server(doctor_url, sample_seconds=0)
        engine.dispose()
    near = report.sleeping[report.sleeping["user"] == lab.backend.user]
    assert near["near_timeout"].any(), report.sleeping.to_string()
    assert report.facts()["sleeping_near_timeout"] >= 1


@pytest.mark.parametrize(
    "url, expected",
    [
        ("mysql://doctor:{pw}@127.0.0.1:1/x", "cannot connect"),
        ("mysql://doctor:wrong-{pw}@127.0.0.1:{port}/", "Access denied"),
        ("not a url {pw}", "not a server URL"),
        ("postgresql://u:{pw}@127.0.0.1/db", "not a MySQL/MariaDB URL"),
    ],
    ids=["unreachable", "wrong-password", "garbage", "other-database"],
)
def test_bad_servers_give_one_clear_line_without_the_password(
    lab: Lab, doctor_url: URL, url: str, expected: str
) -> None:
    with pytest.raises(LabError, match=expected) as caught:
        check_server(url.format(pw=SECRET, port=lab.backend.port), sample_seconds=0)
    assert not leaks(str(caught.value))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "options, expected",
    [
        ("{'pool_recycle': __import__('os').getpid()}", "never run"),
        ("[1, 2]", "must be a dict"),
        ('{"pool_recycle": "soon"}', "expected a number"),
        ('{"pool_size": -3}', "must be 0 or more"),
        ('{"connect_args": 5}', "connect_args must be a dict"),
        ('{"workers": 0}', "at least 1"),
    ],
)
def test_malformed_engine_options_are_data_errors(options: str, expected: str) -> None:
    with pytest.raises(LabError, match=expected):
        parse_settings(options)


def test_engine_options_in_every_form() -> None:
    kwargs = parse_settings(
        '{"pool_recycle": 3600, "pool_pre_ping": true, "connect_args": {"read_timeout": 30}}'
    )
    assert (kwargs.pool_recycle, kwargs.pool_pre_ping, kwargs.timeouts) == (3600, True, {"read_timeout": 30})
    flask = parse_settings(
        "{'SQLALCHEMY_DATABASE_URI': 'mysql+pymysql://u:p@db/app?read_timeout=20',"
        " 'SQLALCHEMY_POOL_RECYCLE': 280, 'SQLALCHEMY_ENGINE_OPTIONS': {'pool_size': 10}}"
    )
    assert flask.form == "flask-sqlalchemy config" and flask.pool_recycle is None
    assert flask.timeouts == {"read_timeout": 20} and "SQLALCHEMY_POOL_RECYCLE" in flask.ignored[0]
    url = parse_settings("mysql+pymysql://app@db/app?read_timeout=15&connect_timeout=5")
    assert url.timeouts == {"read_timeout": 15, "connect_timeout": 5}
    assert parse_settings('{"pool_recycel": 5}').unknown == ["pool_recycel"]


def run_cli(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "helpers", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        timeout=60,
        env=env,
    )


def test_doctor_against_the_lab_answers_in_under_10_s(
    lab: Lab, doctor_url: URL, lab_env: dict[str, str]
) -> None:
    url = doctor_url.render_as_string(hide_password=False)
    start = time.monotonic()
    result = run_cli(
        "doctor",
        url,
        "--json",
        "--error",
        "(2006, 'MySQL server has gone away')",
        "--engine-options",
        '{"pool_recycle": 28800}',
        "--seconds=5",
    )
    elapsed = time.monotonic() - start
    out = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, out
    assert elapsed < 30, f"doctor took {elapsed:.1f} s"  # bounded by its 5 s window, slack for load
    print(f"doctor against the lab: {elapsed:.2f} s (5 s window)")
    assert not leaks(out)
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    causes = [r for r in records if r["kind"] == "cause"]
    assert causes[0]["rank"] == 1 and causes[0]["scenario"] in {"idle", "recycle_margin"}
    assert {"scenario", "evidence", "fix", "notebook"} <= set(causes[0])
    findings = [r for r in records if r["kind"] == "finding"]
    assert {"severity", "check", "detail", "notebook"} <= set(findings[0])


@pytest.mark.parametrize(
    "args, stdin",
    [
        (["--error", ""], None),
        (["--error", "-"], b"\x00\xff\xfe\x89PNG\r\n\x1a binary"),
        (["--error-file", "/nonexistent/log"], None),
        (["--engine-options", "{'a': 1}"], None),
    ],
    ids=["empty", "binary", "missing-file", "options-without-server"],
)
def test_doctor_bad_input_is_one_line(args: list[str], stdin: bytes | None) -> None:
    result = run_cli("doctor", *args, stdin=stdin)
    err = result.stderr.decode()
    assert "Traceback" not in err
    if result.returncode:
        assert result.returncode == 2 and err.count("\n") == 1, err
    else:  # binary garbage: read, nothing matched, said so
        assert "No disconnect cause stands out" in result.stdout.decode()


def test_doctor_reads_a_5_mb_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "error.log"
    line = (
        "2026-11-23  3:14:15 42 [Warning] Aborted connection 42 to db: 'app' user: 'app' host: '127.0.0.1' "
    )
    log.write_text((line + "(Got timeout reading communication packets)\n") * 50_000)
    assert log.stat().st_size > 5_000_000
    start = time.monotonic()
    result = run_cli("doctor", "--error-file", str(log), "--json")
    assert result.returncode == 0, result.stderr.decode()
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert records[0]["kind"] == "reading" and records[0]["decided_by"] == "server log: timeout reading"
    assert next(r for r in records if r["kind"] == "cause")["scenario"] == "idle"
    assert time.monotonic() - start < 30  # it reads the log once (about 2 s here); slack for load


def test_up_with_an_external_server_shows_no_password(lab: Lab, doctor_url: URL) -> None:
    env = {
        **os.environ,
        "LAB_BACKEND": "external",
        "LAB_URL": doctor_url.render_as_string(hide_password=False),
    }
    env.pop("LAB_PORT", None)
    result = run_cli("up", env=env)
    out = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, out
    assert not leaks(out) and "***" in out
    assert "helpers down" not in out  # the lab did not start it: nothing to stop
    bad = run_cli("status", env={**env, "LAB_URL": f"mysql://doctor:{SECRET}@:bad"})
    said = bad.stdout.decode() + bad.stderr.decode()
    assert bad.returncode == 2 and said.count("\n") == 1 and not leaks(said), said


def test_a_healthy_lab_has_no_likely_cause(lab: Lab, doctor_url: URL) -> None:
    healthy = diagnose(doctor_url, sample_seconds=1)
    assert healthy.likely is None, healthy.verdict
    # MariaDB built with Galera reports wsrep_ready OFF with no provider: no cluster, no finding
    assert healthy.report is not None and healthy.report.wsrep == {}
    assert not healthy.findings["check"].isin(["Galera node", "node outside the quorum"]).any()
    assert not leaks(healthy.verdict + healthy.findings.to_string() + repr(healthy.report))


def test_the_password_can_come_from_the_environment(
    lab: Lab, doctor_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = doctor_url._replace(password=None).render_as_string(hide_password=False)
    with pytest.raises(LabError, match="Access denied"):
        check_server(bare, sample_seconds=0)
    monkeypatch.setenv("LAB_DOCTOR_PASSWORD", SECRET)
    assert check_server(bare, sample_seconds=0).version


@pytest.fixture
def second_lab(tmp_path) -> Iterator[Lab]:  # type: ignore[no-untyped-def]
    """A second server of the lab's own, for the fleet (stopped at the end)."""
    from helpers import LabConfig

    other = Lab.start(LabConfig(backend="local", home=tmp_path / "second"))
    try:
        yield other
    finally:
        other.stop(volumes=True)


def general_log(lab: Lab, user: str) -> list[str]:
    logged = lab.sql(
        "SELECT command_type, CONVERT(argument USING utf8mb4) AS argument FROM mysql.general_log "
        f"WHERE user_host LIKE '{user}[%'"
    )
    return logged[logged["command_type"] == "Query"]["argument"].tolist()


@pytest.mark.server
def test_a_fleet_is_checked_at_once_read_only_and_says_what_differs(lab: Lab, second_lab: Lab) -> None:
    from helpers.runbook import check_fleet

    urls = [account(server, "doctor", "PROCESS") for server in (lab, second_lab)]
    dead = URL.create("mysql", username="doctor", password=SECRET, host="127.0.0.1", port=free_port())
    wrong = urls[1].set(password="not-the-password")
    silent = socket.socket()  # accepts, and never says a word: its connect times out
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    mute = URL.create(
        "mysql", username="doctor", password=SECRET, host="127.0.0.1", port=silent.getsockname()[1]
    )
    for server in (lab, second_lab):
        server.sql("TRUNCATE TABLE mysql.general_log")
    try:
        with (
            lab.globals(log_output="TABLE", general_log=1),
            second_lab.globals(log_output="TABLE", general_log=1, wait_timeout=600),
        ):
            start = time.monotonic()
            given = [u.render_as_string(hide_password=False) for u in (*urls, dead, wrong, mute)]
            fleet = check_fleet(given, 1.0)
            took = time.monotonic() - start
            silent.close()
            logged = [general_log(server, "doctor") for server in (lab, second_lab)]
    finally:
        for server in (lab, second_lab):
            server.sql("DROP USER IF EXISTS 'doctor'@'127.0.0.1'")
    assert took <= 1.0 + 5, took  # the window plus 5 s, though one server never answers
    table = fleet.table
    servers = [str(u.render_as_string(hide_password=True)) for u in urls]
    for name in servers:  # both servers' own findings
        assert (table[table["server"] == name]["check"] == "wait_timeout").any(), table.to_string()
    differs = table[table["check"] == "wait_timeout differs between servers"]
    assert len(differs) == 1 and "600" in differs["detail"].iloc[0], table.to_string()
    bad = table[table["check"].isin(["cannot check", "no answer"])]  # dead, wrong password, mute: a row each
    assert len(bad) == 3 and set(bad["severity"]) == {"critical"}, bad.to_string()
    assert f"127.0.0.1:{mute.port}" in " ".join(bad["server"]), bad.to_string()
    for queries in logged:  # read-only on both, as the general log saw it
        assert queries and [q for q in queries if not READ_ONLY.match(q)] == [], queries
    assert not leaks(table.to_string()) and not leaks(json.dumps(fleet.records(), default=str))


def test_field_texts_the_doctor_reads() -> None:
    """Texts from the field (tests/data/public_errors.jsonl has their sources): what the doctor
    says of each, from the CLI, with no server: the class, the errno's fact, the rank-1 cause."""
    cases = [
        ("(2013, 'Lost connection to MySQL server during query "
         "([WinError 10054] 远程主机强迫关闭了一个现有的连接。)')", "gone", "ECONNRESET", "restart"),
        ("pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query "
         "([Errno 110] Connection timed out)')", "gone", "ETIMEDOUT", "lb_silent_drop"),
        ("pymysql.err.OperationalError: (1969, "
         "'Query execution was interrupted (max_statement_time exceeded)')", "not_disconnect", None,
         "max_statement_time"),
        ("ERROR 1047 (08S01): WSREP has not yet prepared node for application use", "refused", None,
         "non_primary"),
    ]  # fmt: skip
    for error, kind, fact, cause in cases:
        result = run_cli("doctor", "--json", "--error", error)
        assert result.returncode == 0, result.stderr.decode()
        records = [json.loads(line) for line in result.stdout.decode().splitlines()]
        reading, first = records[0], next(r for r in records if r["kind"] == "cause")
        assert reading["kind"] == "reading" and reading["class"] == kind, records[:2]
        assert fact is None or fact in [t["fact"] for t in reading["transport"]], reading
        assert first["scenario"] == cause and first["reproduced"] == (cause in CAUSES), first
