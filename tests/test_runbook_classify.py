"""The classifier: every cause is a registered scenario; real texts from public sources and
from the lab's own runs classify back to their cause. (The lab's own recorded errors are
checked inside ``test_scenarios.py``, on every scenario run, with both drivers.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from helpers import SCENARIOS
from helpers.runbook import CAUSES, FACT_RULES, SIGNATURES, classify
from helpers.runbook.classify import MAX_TEXT

DATA = Path(__file__).parent / "data" / "public_errors.jsonl"

#: The answer to each cause's deciding question (``CAUSES[name].decide``), as facts an on-call
#: engineer can give. With it, a scenario whose error text alone is ambiguous must come out on top.
DECIDING: dict[str, dict[str, Any]] = {
    "idle": {"idle_seconds": 3, "wait_timeout": 2},
    "recycle_margin": {"wait_timeout": 2},  # plus the trial's own pool_recycle, below
    "restart": {},
    "kill_idle": {"killed": True},
    "kill_mid_query": {"killed": True},
    "long_work": {"request_seconds": 3, "wait_timeout": 2},
    "idle_transaction": {"idle_transaction_timeout": 1, "in_transaction": True},
    "interactive_timeout": {"timeout_from_cli": True},
    # mysqlclient sometimes reports the oversized INSERT only at COMMIT: a bare 2006, no statement
    "max_allowed_packet": {"large_statement": True},
    "read_timeout": {"hit_read_timeout": True},
    "net_write_timeout": {"streaming": True},
    "paused_server": {"hung": True},
    "flask_scoped_session": {"framework": "flask"},
    "flask_sqlalchemy": {"framework": "flask_sqlalchemy"},
    "fastapi_session": {"framework": "fastapi"},
    "pool_exhaustion": {},
    "keepalive": {"raised_wait_timeout": True},
    "fork": {"forked": True},
    "commit_in_doubt": {"during_commit": True},
    "lb_silent_drop": {"hung": True, "aborted_clients_delta": 0, "network_device": True},
    "lb_reset": {"network_device": True, "idle_seconds": 2, "wait_timeout": 28800},
}
#: Scenarios whose error is generic: the same text, even with the deciding fact, fits a
#: sibling as well (KILL mid-query vs idle KILL; a Session stuck after idle_transaction).
GENERIC = {"kill_mid_query", "kill_idle", "recycle_margin", "idle", "idle_transaction"}


def facts_for(scenario: str, fix_name: str) -> dict[str, Any]:
    """The deciding facts, plus the pool settings of the trial that failed."""
    fix = next((f for f in SCENARIOS[scenario].fixes if f.name == fix_name), None)
    options = fix.options if fix else {}
    facts: dict[str, Any] = {"pool_pre_ping": bool(options.get("pool_pre_ping", False))}
    if "pool_recycle" in options:
        facts["pool_recycle"] = options["pool_recycle"]
    return {**facts, **DECIDING[scenario]}


def best_rank(rows: pd.DataFrame, scenario: str) -> int | None:
    """The best rank ``scenario`` gets over the error texts the trials recorded."""
    ranks = []
    for _, row in rows[(rows["outcome"] == "error") & rows["error_text"].fillna("").ne("")].iterrows():
        ranked = list(classify(row["error_text"], facts_for(scenario, row["fix"]))["scenario"])
        if scenario in ranked:
            ranks.append(ranked.index(scenario) + 1)
    return min(ranks) if ranks else None


def test_every_cause_is_a_registered_scenario() -> None:
    assert set(CAUSES) == set(SCENARIOS), "the runbook names every scenario, and only scenarios"
    named = {name for table in (SIGNATURES, FACT_RULES) for entry in table for name in entry.weights}
    assert named <= set(SCENARIOS), named - set(SCENARIOS)
    assert set(DECIDING) == set(SCENARIOS)


#: One real line per signature (the wording of the driver, server or library named in its source).
EXAMPLES = {
    "2006 server has gone away": "(2006, 'MySQL server has gone away')",
    "4031 disconnected for inactivity": "(4031, 'The client was disconnected by the server because of inactivity. "
    "See wait_timeout and interactive_timeout for configuring this behavior.')",
    "2013 lost connection during query": "(2013, 'Lost connection to MySQL server during query')",
    "client timed out": "(2013, 'Lost connection to MySQL server during query (timed out)')",
    "async app's own timeout": "builtins.TimeoutError: ",
    "garbled reply, mysql-connector-python": "(mysql.connector.errors.InternalError) Unread result found",
    "socket closed under a write or read": "MySQL server has gone away (BrokenPipeError(32, 'Broken pipe'))",
    "stream ended early": "asyncio.exceptions.IncompleteReadError: 0 bytes read on a total of 4 expected bytes",
    "the network stopped answering": "TimeoutError: [Errno 110] Connection timed out",
    "lost during connect": "(2013, \"Lost connection to MySQL server at 'reading initial communication packet', "
    'system error: 0")',
    "2055 lost connection, system error": "2055: Lost connection to MySQL server at '127.0.0.1:3306', "
    "system error: 32 Broken pipe",
    "connection not available": "mysql.connector.errors.OperationalError: MySQL Connection not available.",
    "2003 cannot connect": "(2003, \"Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)\")",
    "2014 commands out of sync": '(2014, "Commands out of sync; you can\'t run this command now")',
    "packet sequence number wrong": "pymysql.err.InternalError: Packet sequence number wrong - got 102 expected 1",
    "result closed under the reader": "sqlalchemy.exc.ResourceClosedError: This result object does not return rows.",
    "interface error on a closed connection": "pymysql.err.InterfaceError: (0, '')",
    "1153 packet too large": "(1153, \"Got a packet bigger than 'max_allowed_packet' bytes\")",
    "a large value in the statement": "[parameters: (b'xxxx ... (2096855 characters truncated) ... xxxx',)]",
    "1927 connection was killed": "(1927, 'Connection was killed')",
    "1317 query interrupted": "(1317, 'Query execution was interrupted')",
    "1040 too many connections": "(1040, 'Too many connections')",
    "Session needs a rollback": "sqlalchemy.exc.PendingRollbackError: Can't reconnect until invalid transaction "
    "is rolled back.",
    "pool exhausted": "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00",
    "error during COMMIT": '  File "app.py", line 12, in save\n    session.commit()',
    "streamed result": "connect(cursorclass=pymysql.cursors.SSCursor)",
    "server log: timeout reading": "Aborted connection 42 to db: 'app' user: 'app' host: '10.0.0.5' "
    "(Got timeout reading communication packets)",
    "server log: error reading": "Aborted connection 7 to db: 'app' user: 'app' host: 'localhost' "
    "(Got an error reading communication packets)",
    "server log: writing": "Aborted connection 9 to db: 'app' user: 'app' host: 'localhost' "
    "(Got an error writing communication packets)",
    "server log: killed": "KILL CONNECTION 42",
    "Flask": 'File "/srv/venv/lib/python3.11/site-packages/flask/app.py", line 1455, in wsgi_app',
    "Flask-SQLAlchemy": 'File "/srv/venv/lib/python3.11/site-packages/flask_sqlalchemy/session.py"',
    "FastAPI": 'File "/srv/venv/lib/python3.11/site-packages/starlette/routing.py", line 74, in app',
    "scoped_session": "db_session = scoped_session(sessionmaker(bind=engine))",
    "a forking worker": "[2026-11-23 03:14:15,926: ERROR/ForkPoolWorker-3] Task app.tasks.sync failed",
    "interactive_timeout": "connect_args={'client_flag': CLIENT.INTERACTIVE}",
    "idle transaction timeout": "SET GLOBAL idle_transaction_timeout = 60",
}


def test_each_signature_matches_its_own_example() -> None:
    assert set(EXAMPLES) == {sig.label for sig in SIGNATURES}, "one example per signature, labels unique"
    assert len({sig.label for sig in SIGNATURES}) == len(SIGNATURES)
    for sig in SIGNATURES:
        assert sig.compiled().search(EXAMPLES[sig.label]), sig.label


def _public() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def test_public_texts_have_sources_and_known_labels() -> None:
    entries = _public()
    assert len(entries) >= 30
    for e in entries:
        assert e["source"].strip(), e
        assert e["scenario"] in SCENARIOS, e
        assert set(e.get("acceptable", [])) <= set(SCENARIOS), e


def public_hits() -> tuple[int, int, list[str]]:
    """(top-1 hits, accepted hits, misses): accepted = rank 1, or the label or an acceptable
    alternative in the top 3 where the text is generic."""
    top1, accepted, misses = 0, 0, []
    for e in _public():
        ranked = list(classify(e["text"])["scenario"])
        ok_names = {e["scenario"], *e.get("acceptable", [])}
        top1 += bool(ranked) and ranked[0] == e["scenario"]
        hit = bool(ranked) and (
            ranked[0] in ok_names or (bool(e.get("acceptable")) and e["scenario"] in ranked[:3])
        )
        accepted += hit
        if not hit:
            misses.append(f"{e['scenario']}: got {ranked[:3]} for {e['text'][:80]!r} ({e['source']})")
    return top1, accepted, misses


def test_public_texts_classify_back() -> None:
    top1, accepted, misses = public_hits()
    total = len(_public())
    print(f"public texts: {top1}/{total} rank 1, {accepted}/{total} accepted")
    assert top1 / total >= 0.75, f"rank 1 for only {top1}/{total}"
    assert accepted / total >= 0.9, "\n".join(misses)


@pytest.mark.parametrize(
    "junk",
    ["", "   \n", b"\x00\xff\xfe garbage \x89PNG\r\n", "hello world", "x" * (MAX_TEXT + 10)],
    ids=["empty", "blank", "binary", "unrelated", "huge"],
)
def test_junk_gives_no_candidates_and_no_error(junk: str | bytes) -> None:
    assert classify(junk).empty


def test_a_large_log_is_read_to_its_end() -> None:
    log = ("2026-11-23 03:00:00 0 [Note] nothing to see\n" * 120_000) + (
        "2026-11-23 03:14:15 42 [Warning] Aborted connection 42 to db: 'app' user: 'app' host: '10.0.0.5' "
        "(Got timeout reading communication packets)\n"
    )
    assert len(log) > 5_000_000
    ranked = classify(log)
    assert ranked["scenario"].iloc[0] == "idle"


@pytest.mark.parametrize(
    "text",
    [
        "TimeoutError",  # what a 3.11 traceback ends with after asyncio.wait_for() or asyncio.timeout()
        'Traceback (most recent call last):\n  File "/usr/lib/python3.11/asyncio/tasks.py", line 500,'
        " in wait_for\n    return fut.result()\nTimeoutError",
        "builtins.TimeoutError: ",  # the lab's own row text
    ],
)
def test_a_bare_timeout_error_is_an_async_apps_own_timeout(text: str) -> None:
    ranked = classify(text, {})
    assert ranked.iloc[0]["scenario"] == "read_timeout"
    assert ranked.iloc[0]["evidence"].startswith("async app's own timeout")


def test_a_timeout_error_with_a_text_is_not_the_async_apps_own() -> None:
    for text in ("builtins.TimeoutError: [Errno 110] Connection timed out",
                 "sqlalchemy.exc.TimeoutError: QueuePool limit of size 2 overflow 0 reached"):  # fmt: skip
        assert not classify(text, {})["evidence"].str.contains("async app's own timeout").any(), text
