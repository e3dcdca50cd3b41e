"""``python -m helpers``: the lab from the shell.

python -m helpers up                 start the lab and leave it running
python -m helpers status [--json]    where it is, whether it runs
python -m helpers down [--volumes]   stop it, leave nothing behind
python -m helpers scenarios [--driver pymysql] [--only idle] [--json]
python -m helpers bench [--fix none] [--latency 1] [--seconds 1] [--repeats 3] [--json]
python -m helpers bench --costs [--driver pymysql] [--json]
                                     checkouts per second per fix, driver and added latency
python -m helpers logs [-n 20]       the server's error log
python -m helpers doctor [URL ...] [--urls-file FILE] [--error TEXT | --error-file FILE | --error -]
                         [--engine-options JSON] [--seconds 5] [--replay] [--json]
                                     several URLs: a fleet, checked at once
python -m helpers lab                JupyterLab on 127.0.0.1 (make lab); Ctrl-C stops it and the lab
python -m helpers playground         the playground page, Voilà on 127.0.0.1 (make playground)
python -m helpers runbook [URL ...] [--urls-file FILE] [--error ... as doctor] [--engine-options JSON]
                         [--out DIR]
                                     the runbook notebook, rendered to DIR/runbook.html
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import LabConfig
from .driverset import ALL_DRIVERS, ASYNC_DRIVERS, DRIVERS
from .errors import LabError
from .runbook.classify import MAX_TEXT, normalize_text

if TYPE_CHECKING:
    from .lab import Lab

# Each command imports what it needs when it runs: the doctor's quick path (an error text, no
# server) loads neither pandas, SQLAlchemy nor a driver.

log = logging.getLogger("helpers")


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _config(args: argparse.Namespace) -> LabConfig:
    return LabConfig.from_env(**({"backend": args.backend} if args.backend else {}))


def cmd_up(args: argparse.Namespace) -> int:
    from .lab import Lab

    lab = Lab.start(_config(args), detach=True)
    facts = lab.describe()
    # The lab's own throwaway accounts may be shown; the password of a server the user brings never.
    external = lab.backend.name == "external"
    _out(f"lab up: {facts['backend']} MariaDB on {facts['host']}:{facts['port']}")
    _out(f"  {lab.url('pymysql').render_as_string(hide_password=external)}")
    _out(f"  {lab.url('mysqldb').render_as_string(hide_password=external)}")
    if external:
        _out("the lab did not start this server; nothing to stop")
    else:
        _out("stop it with: python -m helpers down")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from .backends import choose_backend

    backend = choose_backend(_config(args))
    backend.stop(volumes=args.volumes)
    _out(f"lab down ({backend.name})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .backends import choose_backend

    facts = choose_backend(_config(args)).describe()
    if args.json:
        _out(json.dumps(facts, default=str))
    else:
        for key, value in facts.items():
            _out(f"{key:>10}: {value}")
    return 0 if facts.get("running") else 1


def cmd_cluster(args: argparse.Namespace) -> int:
    """Start the cluster from empty data directories, stop it, start it from the data it left:
    the seconds each start took (to three Synced nodes, and with HAProxy checking them)."""
    import pandas as pd

    from .cluster import start_times

    times = start_times(_config(args))
    if args.json:
        for record in times.to_dict(orient="records"):
            _out(json.dumps(record, default=str))
    else:
        with pd.option_context("display.width", 200):
            _out(times.to_string(index=False))
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    import pandas as pd

    from .lab import Lab
    from .scenarios import SCENARIOS, get, run_all, summarize

    names = args.only or list(SCENARIOS)
    for name in names:
        get(name)  # an unknown name fails here, before the lab starts
    with Lab.start(_config(args)) as lab:  # stopped at the end if this run started it
        rows = run_all(lab, names, drivers=args.driver or tuple(DRIVERS))
    if rows.empty:  # run_all has logged why each one does not run
        raise LabError("none of these scenarios runs with the drivers given")
    summary = summarize(rows)
    views = rows.attrs.get("views", [])  # the server's, the device's or HAProxy's side
    if args.json:
        for record in summary.to_dict(orient="records"):
            _out(json.dumps({k: (None if pd.isna(v) else v) for k, v in record.items()}, default=int))
        for view in views:
            _out(json.dumps({"kind": "view", **view}, default=int))
    else:
        with pd.option_context("display.width", 200, "display.max_colwidth", 50):
            _out(summary.to_string(index=False))
            if views:
                _out(pd.DataFrame(views).to_string(index=False))
    return 0 if summary["as_expected"].all() else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench
    from .lab import Lab

    for name in args.fix or ():
        bench.fix_named(name)  # an unknown fix fails here, before the lab starts
    with Lab.start(_config(args)) as lab:
        if args.costs:
            return _bench_costs(lab, args.driver or tuple(DRIVERS), args.json)
        df = bench.measure(
            lab,
            args.driver or tuple(DRIVERS),
            args.fix or tuple(bench.FIXES),
            args.latency or bench.LATENCIES_MS,
            args.seconds,
            args.repeats,
        )
    table = bench.summary(df)
    if args.json:
        for record in table[["driver", "fix", "rtt_ms", "per_second", "ratio_to_none"]].to_dict("records"):
            _out(json.dumps(record))
    else:
        _out(table.to_string(index=False))
    return 0


def _bench_costs(lab: Lab, drivers: Sequence[str], as_json: bool) -> int:
    """µs per part of a checkout check, and ms per connect, per driver."""
    import pandas as pd

    from . import bench
    from .scenarios.over_tls import unavailable
    from .tls import tls_lab

    parts = pd.concat([bench.part_costs(lab, d) for d in drivers], ignore_index=True)
    if unavailable():  # no local mariadbd for a TLS server: the lab's connects only
        log.warning("no TLS connects measured: %s", unavailable())
        connects = bench.connect_costs(lab, drivers)
    else:
        with tls_lab(lab.backend.config) as tls_server:  # a private TLS server: a TLS connect's cost
            connects = bench.connect_costs(lab, drivers, tls_lab=tls_server)
    for table in (parts, connects):
        if as_json:
            for record in table.to_dict("records"):
                _out(json.dumps(record))
        else:
            _out(table.to_string(index=False) + "\n")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from .backends import choose_backend

    for line in choose_backend(_config(args)).error_log(args.n):
        _out(line)
    return 0


def _error_text(args: argparse.Namespace) -> str:
    if args.error_file:
        try:
            with open(args.error_file, "rb") as f:  # a long log: its end holds the newest lines
                f.seek(max(0, os.fstat(f.fileno()).st_size - 4 * MAX_TEXT))
                return normalize_text(f.read())
        except OSError as exc:
            raise LabError(f"cannot read --error-file {args.error_file}: {exc.strerror}") from None
    if args.error == "-":
        return normalize_text(sys.stdin.buffer.read())
    return args.error or ""


def _urls(args: argparse.Namespace) -> list[str]:
    """The servers named on the command line and in ``--urls-file`` (one per line, # comments)."""
    urls = list(args.url or [])
    if args.urls_file:
        try:
            lines = Path(args.urls_file).read_text().splitlines()
        except OSError as exc:
            raise LabError(f"cannot read --urls-file {args.urls_file}: {exc.strerror}") from None
        urls += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return urls


def cmd_fleet(args: argparse.Namespace, urls: list[str], text: str) -> int:
    """``doctor URL URL ...``: the error text read once, every server checked at once. Exit 2
    where no server could be checked."""
    import pandas as pd

    from . import runbook

    if args.replay:
        raise LabError("--replay replays one server's settings: give one URL")
    fleet = runbook.check_fleet(urls, args.seconds, args.engine_options or None, args.haproxy_socket)
    diagnosis = runbook.diagnose(None, text) if text.strip() else None
    records = (diagnosis.records() if diagnosis else []) + fleet.records()
    if args.json:
        for record in records:
            _out(json.dumps(record, default=str))
        return 0
    if diagnosis is not None:
        _out(diagnosis.verdict + "\n")
    with pd.option_context("display.width", 200, "display.max_colwidth", 100):
        _out(fleet.table[["server", "severity", "check", "detail"]].to_string(index=False))
    return 0 if any(report is not None for report in fleet.reports.values()) else 2


def cmd_doctor(args: argparse.Namespace) -> int:
    text = _error_text(args)
    urls = _urls(args)
    if len(urls) > 1 or args.haproxy_socket:
        return cmd_fleet(args, urls, text)
    args.url = urls[0] if urls else None
    if not args.url and not text.strip() and not args.engine_options:
        raise LabError("give an error text (--error, --error-file, --error -), a server URL, or both")
    if not args.url and args.engine_options:
        raise LabError("--engine-options are checked against a server: give its URL too")
    if not args.url:
        return _doctor_text_only(args, text)
    import pandas as pd

    from . import runbook
    from .lab import Lab
    from .runbook.doctor import plain

    diagnosis = runbook.diagnose(args.url, text, args.engine_options, sample_seconds=args.seconds)
    records = diagnosis.records()
    if args.replay and diagnosis.settings is not None and diagnosis.report is not None:
        with Lab.start(_config(args)) as lab:
            table = runbook.replay(lab, diagnosis.settings, diagnosis.report.wait_timeout or 28800)
        records += [
            {"kind": "replay", **{k: plain(v) for k, v in r.items()}} for r in table.to_dict("records")
        ]
    if args.json:
        for record in records:
            _out(json.dumps(record, default=str))
        return 0
    _out(diagnosis.verdict)
    shown = {
        "cause": ("candidates", ["rank", "scenario", "score", "notebook"]),
        "finding": ("findings", ["severity", "check", "detail"]),
        "replay": ("scaled replay", ["scenario", "driver", "survived", "error_code", "scaled_pool_recycle"]),
    }
    for kind, (title, columns) in shown.items():
        chosen = [r for r in records if r["kind"] == kind]
        if chosen:
            _out(f"\n{title}:")
            with pd.option_context("display.width", 200, "display.max_colwidth", 100):
                _out(pd.DataFrame(chosen)[columns].to_string(index=False))
    return 0


def _doctor_text_only(args: argparse.Namespace, text: str) -> int:
    """An error text and no server: read and ranked from plain records, in a fraction of a
    second (no pandas, no SQLAlchemy, no driver is imported)."""
    from .runbook.classify import CANDIDATE_COLUMNS, rank, read
    from .runbook.verdict import cause_records, reading_records, verdict

    candidates, reading = rank(text), read(text)
    if args.json:
        for record in reading_records(reading) + cause_records(candidates, CANDIDATE_COLUMNS):
            _out(json.dumps(record, default=str))
        return 0
    _out(verdict(candidates, bool(text.strip()), False, reading))
    if candidates:
        _out("\ncandidates:")
        _out(_table(candidates, ["rank", "scenario", "score", "reproduced", "notebook"]))
    return 0


def _table(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> str:
    """Rows as aligned text columns (what a DataFrame's ``to_string`` shows, without pandas)."""
    cells = [[str(c) for c in columns]] + [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in cells)


def cmd_runbook(args: argparse.Namespace) -> int:
    from . import runbook

    urls = _urls(args)
    page = runbook.render(
        args.out,
        urls[0] if urls else "",
        _error_text(args),
        args.engine_options or "",
        args.seconds,
        fleet=urls if len(urls) > 1 else (),
    )
    _out(f"runbook: {page}")
    return 0


def cmd_jupyterlab(args: argparse.Namespace) -> int:
    from . import serve

    return serve.serve(serve.jupyterlab_command(port=args.port), _config(args))


def cmd_playground(args: argparse.Namespace) -> int:
    from . import serve

    return serve.serve(serve.voila_command(port=args.port), _config(args))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers", description="The Gone-Away Lab's MariaDB.")
    p.add_argument("--backend", choices=["auto", "docker", "local", "external"], help="overrides LAB_BACKEND")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the lab does")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the lab and leave it running").set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop the lab")
    down.add_argument("--volumes", action="store_true", help="also remove the server's data")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="where the lab is and whether it runs (exit 1 if not)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    cl = sub.add_parser(
        "cluster", help="start the Galera cluster twice (empty, then existing data): the times"
    )
    cl.add_argument("--json", action="store_true", help="one JSON object per line")
    cl.set_defaults(func=cmd_cluster)
    sc = sub.add_parser("scenarios", help="run the scenarios, print one line per driver and fix")
    sc.add_argument(
        "--driver",
        action="append",
        choices=list(ALL_DRIVERS),
        help=f"repeatable; default: {' and '.join(DRIVERS)}; a scenario that does not run with one says why",
    )
    sc.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="repeatable; a name of helpers.SCENARIOS; default: all",
    )
    sc.add_argument("--json", action="store_true", help="one JSON object per line")
    sc.set_defaults(func=cmd_scenarios)
    be = sub.add_parser("bench", help="checkouts per second per fix, driver and added latency")
    be.add_argument("--driver", action="append", choices=[d for d in ALL_DRIVERS if d not in ASYNC_DRIVERS])
    be.add_argument("--fix", action="append", help="repeatable: none, pre_ping or hardened; default: all")
    be.add_argument(
        "--latency",
        action="append",
        type=float,
        metavar="MS",
        help="ms added each way by the fault proxy; repeatable; default: helpers.bench.LATENCIES_MS",
    )
    be.add_argument("--json", action="store_true", help="one JSON object per line")
    be.add_argument("--seconds", type=float, default=1.0, help="length of one measurement")
    be.add_argument("--repeats", type=int, default=3)
    be.add_argument(
        "--costs", action="store_true", help="instead: µs per peek, ping and stack capture; ms per connect"
    )
    be.set_defaults(func=cmd_bench)
    logs = sub.add_parser("logs", help="the server's error log")
    logs.add_argument("-n", type=int, default=20)
    logs.set_defaults(func=cmd_logs)
    doc = sub.add_parser("doctor", help="the runbook: likely cause, evidence, fix and lesson (read-only)")
    doc.add_argument(
        "url", nargs="*", help="the server(s) to check, mysql://user:password@host:port/db; several: a fleet"
    )
    doc.add_argument("--urls-file", metavar="FILE", help="servers to check, one URL per line (a fleet)")
    source = doc.add_mutually_exclusive_group()
    source.add_argument("--error", metavar="TEXT", help="the error text; - reads it from standard input")
    source.add_argument("--error-file", metavar="FILE", help="a file with the traceback or log excerpt")
    doc.add_argument(
        "--engine-options", metavar="JSON", help="create_engine kwargs, a Flask config, or a URL"
    )
    doc.add_argument("--seconds", type=float, default=5.0, help="the counters' sampling window (default 5)")
    doc.add_argument("--replay", action="store_true", help="also replay the settings in the lab, time scaled")
    doc.add_argument(
        "--haproxy-socket",
        metavar="PATH",
        help="also read HAProxy's view of the servers (show stat, read-only)",
    )
    doc.add_argument("--json", action="store_true", help="one JSON object per line")
    doc.set_defaults(func=cmd_doctor)
    book = sub.add_parser("runbook", help="the runbook notebook, run and rendered to one HTML page")
    book.add_argument("url", nargs="*", help="the server(s) to check; default: the lab; several: a fleet")
    book.add_argument("--urls-file", metavar="FILE", help="servers to check, one URL per line (a fleet)")
    source = book.add_mutually_exclusive_group()
    source.add_argument("--error", metavar="TEXT", help="the error text; - reads standard input")
    source.add_argument("--error-file", metavar="FILE")
    book.add_argument("--engine-options", metavar="JSON")
    book.add_argument("--seconds", type=float, default=5.0)
    book.add_argument("--out", default="runbook", help="directory for runbook.html and runbook.ipynb")
    book.set_defaults(func=cmd_runbook)
    lab = sub.add_parser("lab", help="JupyterLab on 127.0.0.1 with the lab up; Ctrl-C stops both")
    lab.add_argument("--port", type=int, help="default: JUPYTER_PORT or 8888")
    lab.set_defaults(func=cmd_jupyterlab)
    play = sub.add_parser("playground", help="the playground as a web page (Voilà) on 127.0.0.1")
    play.add_argument("--port", type=int, default=8866)
    play.set_defaults(func=cmd_playground)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return int(args.func(args))
    except LabError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except ValueError as exc:  # bad LAB_* values
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except BrokenPipeError:  # `... | head`: the reader left
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
