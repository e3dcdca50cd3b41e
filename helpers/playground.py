"""The playground: any scenario, any driver, any pool setting, run live against the lab.

>>> from helpers.playground import Playground
>>> Playground()          # in a notebook (or a Voilà page): controls, a Run button, the results

The Run button runs the scenario in a background thread, so the page stays live:
progress shows while it runs, the button is disabled, and a second click is refused.
Runs against one lab from other kernels queue behind it (:mod:`helpers.runlock`).
Bad values give a message in the page and run nothing. Every run is kept in a
history table, exportable to CSV.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import pandas as pd

from . import progress, runlock
from .drivers import DRIVERS
from .errors import LabError
from .lab import Lab, start_lab
from .runbook.settings import parse_settings
from .scenarios import SCENARIOS, Fix, get, run, summarize
from .scenarios.registry import MAX_SECONDS, check_timings

log = logging.getLogger(__name__)

#: The trial's pool unless the user says otherwise: one connection, no overflow, as in the lessons.
DEFAULT_POOL = {"pool_size": 1, "max_overflow": 0}
YOURS = "your engine options (below)"
HISTORY_COLUMNS = [
    "run",
    "scenario",
    "drivers",
    "fix",
    "timings",
    "errors",
    "codes",
    "aborted_clients",
    "seconds",
    "verdict",
]


def verdict(rows: pd.DataFrame) -> str:
    """One line per driver × fix, e.g. ``pymysql: failed once with 2006 on “after idle”;
    the next checkout recovered``."""
    lines = []
    for (driver, fix), trial in rows.groupby(["driver", "fix"], sort=False):
        errors = trial[trial["outcome"] == "error"]
        who = driver if rows["fix"].nunique() == 1 else f"{driver} · {fix}"
        if errors.empty:
            lines.append(f"{who}: ran clean: {len(trial)} steps, no error")
            continue
        codes = ", ".join(dict.fromkeys(_code(e) for _, e in errors.iterrows()))
        times = "once" if len(errors) == 1 else f"{len(errors)} times"
        first = errors.iloc[0]["step"]
        recovered = trial.iloc[-1]["outcome"] == "ok"
        after = "the next checkout recovered" if recovered else "it did not recover"
        lines.append(f"{who}: failed {times} with {codes} on “{first}”; {after}")
    return "\n".join(lines)


def _code(error: pd.Series) -> str:
    if not pd.isna(error["error_code"]):
        return str(int(error["error_code"]))
    return str(error["error_class"] or "error").rsplit(".", 1)[-1]


def your_fix(
    pool_recycle: float,
    pool_pre_ping: bool,
    pool_size: int,
    max_overflow: int,
    read_timeout: float,
    extra: str,
) -> Fix:
    """The controls as a fix: ``create_engine`` keywords, and the read timeout, which each
    driver gets under its own name (``Fix.read_timeout``); ``ValueError`` with a message for
    bad values.

    ``extra`` is a literal dict (JSON or Python), parsed as data and never evaluated,
    checked against the engine options the lab knows.
    """
    if pool_recycle < 0 and pool_recycle != -1:
        raise ValueError(f"pool_recycle={pool_recycle:g}: use a positive number of seconds, or -1 for off")
    if pool_size < 1:
        raise ValueError(f"pool_size={pool_size}: at least 1")
    if max_overflow < -1:
        raise ValueError(f"max_overflow={max_overflow}: -1 (no limit) or more")
    if read_timeout < 0:
        raise ValueError(f"read_timeout={read_timeout:g}: 0 for none, or a positive number of seconds")
    options: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow}
    if pool_recycle != -1:
        options["pool_recycle"] = pool_recycle
    if pool_pre_ping:
        options["pool_pre_ping"] = True
    if extra.strip():
        try:
            settings = parse_settings(extra)
        except LabError as exc:
            raise ValueError(f"engine options: {exc}") from None
        if settings.unknown:
            raise ValueError(f"unknown engine option(s): {', '.join(settings.unknown)}")
        options.update(settings.engine_options())
    shown = {k: v for k, v in options.items() if DEFAULT_POOL.get(k) != v}
    if read_timeout:
        shown["read_timeout"] = read_timeout
    label = ", ".join(f"{k}={v}" for k, v in shown.items()) or "defaults"
    return Fix(label, options, prevents=None, read_timeout=read_timeout or None)


def png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


class Playground:
    """The widgets, the run, and the history. ``Playground(lab)``; display it as a cell's value."""

    def __init__(self, lab: Lab | None = None) -> None:
        self._lab = lab
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()
        self.history: list[dict[str, Any]] = []
        self.last_rows: pd.DataFrame | None = None
        style = {"description_width": "initial"}
        self.scenario = w.Dropdown(options=list(SCENARIOS), value="idle", description="scenario", style=style)
        self.story = w.HTML()
        self.fix = w.Dropdown(description="fix", style=style)
        self.drivers = {
            d: w.Checkbox(value=d == "pymysql", description=d, indent=False, layout=w.Layout(width="auto"))
            for d in DRIVERS
        }
        self.timings = w.HBox()
        self.timing_inputs: dict[str, w.BoundedFloatText] = {}
        self.pool_recycle = w.FloatText(value=-1, description="pool_recycle (-1 off)", style=style)
        self.pool_pre_ping = w.Checkbox(
            value=False, description="pool_pre_ping", indent=False, layout=w.Layout(width="auto")
        )
        self.pool_size = w.IntText(value=1, description="pool_size", style=style)
        self.max_overflow = w.IntText(value=0, description="max_overflow", style=style)
        self.read_timeout = w.FloatText(value=0, description="read_timeout (0 none)", style=style)
        self.extra = w.Textarea(
            placeholder='more engine options, a literal dict: {"pool_use_lifo": true}',
            layout=w.Layout(width="60%", height="3em"),
        )
        self.button = w.Button(description="Run", button_style="primary", icon="play")
        self.message = w.HTML()
        self.progress = w.FloatProgress(min=0, max=1, layout=w.Layout(width="40%", visibility="hidden"))
        self.progress_text = w.Label()
        self.verdict = w.HTML()
        self.plot = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.outcome = w.HTML()
        self.server = w.HTML()
        self.history_table = w.HTML()
        self.export = w.HTML()
        self.engine_box = w.VBox(
            [
                w.HBox([self.pool_recycle, self.pool_pre_ping, self.read_timeout]),
                w.HBox([self.pool_size, self.max_overflow]),
                self.extra,
            ]
        )
        self.scenario.observe(self._on_scenario, names="value")
        self.fix.observe(self._on_fix, names="value")
        self.button.on_click(lambda _: self.start())
        self._on_scenario()
        self.widget = w.VBox(
            [
                w.HTML("<h3>Gone-Away Lab · playground</h3>"),
                w.HBox([self.scenario, w.HBox(list(self.drivers.values()))]),
                self.story,
                self.timings,
                self.fix,
                self.engine_box,
                w.HBox([self.button, self.progress, self.progress_text]),
                self.message,
                self.verdict,
                self.plot,
                self.outcome,
                self.server,
                w.HTML("<h4>History</h4>"),
                self.history_table,
                self.export,
            ]
        )

    # -- display -----------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            self._lab = start_lab()
        return self._lab

    # -- controls ----------------------------------------------------------------------------
    def _on_scenario(self, _: object = None) -> None:
        entry = get(self.scenario.value)
        self.story.value = f"<i>{html.escape(entry.title)}</i>"
        self.fix.options = [YOURS, *[f.name for f in entry.fixes]]
        self.fix.value = YOURS
        self.timing_inputs = {
            name: w.BoundedFloatText(
                value=default,
                min=0.1,
                max=MAX_SECONDS,
                step=0.5,
                description=f"{name} (s)",
                style={"description_width": "initial"},
                layout=w.Layout(width="180px"),
            )
            for name, default in entry.timings.items()
        }
        self.timings.children = list(self.timing_inputs.values()) or [w.Label("(no timings to set)")]

    def _on_fix(self, _: object = None) -> None:
        yours = self.fix.value == YOURS
        for child in (self.pool_recycle, self.pool_pre_ping, self.pool_size, self.max_overflow,
                      self.read_timeout, self.extra):  # fmt: skip
            child.disabled = not yours

    def settings(self) -> tuple[str, list[str], Fix | str, dict[str, float]]:
        """What the controls say: scenario, drivers, fix, timings; ``ValueError`` if they make no sense."""
        name = self.scenario.value
        drivers = [d for d, box in self.drivers.items() if box.value]
        if not drivers:
            raise ValueError("pick at least one driver")
        timings = {k: float(box.value) for k, box in self.timing_inputs.items()}
        check_timings(get(name), timings)
        if self.fix.value != YOURS:
            return name, drivers, str(self.fix.value), timings
        fix = your_fix(
            float(self.pool_recycle.value), bool(self.pool_pre_ping.value), int(self.pool_size.value),
            int(self.max_overflow.value), float(self.read_timeout.value), str(self.extra.value),
        )  # fmt: skip
        for driver in drivers:  # e.g. a fraction of a second where a driver takes whole seconds: say so now
            fix.engine_options(driver)
        return name, drivers, fix, timings

    # -- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._busy.locked()

    def start(self) -> bool:
        """What the Run button does: check the controls, then run in the background.
        Returns False (and says why in the page) if nothing was started."""
        if not self._busy.acquire(blocking=False):
            self._say("a run is already in progress: wait for it to finish", error=True)
            return False
        try:
            chosen = self.settings()
        except ValueError as exc:
            self._busy.release()
            self._say(str(exc), error=True)
            return False
        self.button.disabled = True
        self._say("")
        self._thread = threading.Thread(target=self._run, args=chosen, name="playground-run", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float = 120.0) -> None:
        """Block until the current run (if any) has finished (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, name: str, drivers: list[str], fix: Fix | str, timings: dict[str, float]) -> None:
        self.progress.layout.visibility = "visible"
        started = time.monotonic()
        try:
            with progress.report_to(self._show_progress):
                self._show_progress("starting", 0, None)
                lab = self.lab
                b = lab.backend
                # the counter is read under the run's lock: a queued run counts only its own aborts
                with runlock.exclusive(b.host, b.port, f"playground: scenario {name}"):
                    before = int(lab.status(["Aborted_clients"]).iloc[0, 0])
                    rows = run(name, lab, drivers, fixes=[fix], **timings)
                    aborted = int(lab.status(["Aborted_clients"]).iloc[0, 0]) - before
                    processlist = lab.processlist()
            self._show(name, rows, aborted, processlist, timings, time.monotonic() - started)
        except (LabError, ValueError) as exc:
            self._say(str(exc), error=True)
        except Exception as exc:  # the page must say what happened, not die silently
            log.exception("playground run failed")
            self._say(f"the run stopped: {type(exc).__name__}: {exc}", error=True)
        finally:
            self.progress.layout.visibility = "hidden"
            self.progress_text.value = ""
            self.button.disabled = False
            self._busy.release()

    def _show_progress(self, desc: str, done: float, total: float | None) -> None:
        if total:
            self.progress.bar_style = ""
            self.progress.value = min(done / total, 1.0)
            self.progress_text.value = f"{desc}: {done:.1f}/{total:.1f} s"
        else:
            self.progress.bar_style = "info"
            self.progress.value = 1.0
            self.progress_text.value = f"{desc}: {done:.1f} s"

    def _show(
        self,
        name: str,
        rows: pd.DataFrame,
        aborted: int,
        processlist: pd.DataFrame,
        timings: Mapping[str, float],
        seconds: float,
    ) -> None:
        from . import plots

        self.last_rows = rows
        self._say("")
        text = verdict(rows)
        self.verdict.value = (
            "<div class='verdict'><b>" + "<br>".join(map(html.escape, text.splitlines())) + "</b></div>"
        )
        wait_timeout = timings.get("wait_timeout")
        self.plot.value = png(plots.timeline(rows, wait_timeout=wait_timeout))
        summary = summarize(rows)[["driver", "fix", "ok", "errors", "error_code", "error_message", "seconds"]]
        self.outcome.value = "<h4>Outcome</h4>" + summary.to_html(index=False, classes="outcome", na_rep="")
        shown = (
            processlist[["ID", "USER", "COMMAND", "TIME", "STATE", "INFO"]]
            if len(processlist)
            else processlist
        )
        self.server.value = (
            f"<h4>The server's view</h4><p>Aborted_clients: <b>+{aborted}</b> during the run. "
            f"Processlist at the end ({len(processlist)} connections):</p>"
            + shown.to_html(index=False, na_rep="")
        )
        errors = rows[rows["outcome"] == "error"]
        self.history.append(
            {
                "run": len(self.history) + 1,
                "scenario": name,
                "drivers": ", ".join(dict.fromkeys(rows["driver"])),
                "fix": rows["fix"].iloc[0] if len(rows) else "",
                "timings": ", ".join(f"{k}={v:g}" for k, v in timings.items()),
                "errors": len(errors),
                "codes": ", ".join(dict.fromkeys(_code(e) for _, e in errors.iterrows())),
                "aborted_clients": aborted,
                "seconds": round(seconds, 1),
                "verdict": text.replace("\n", " | "),
            }
        )
        table = self.history_frame()
        self.history_table.value = table.to_html(index=False, classes="history")
        data = base64.b64encode(table.to_csv(index=False).encode()).decode()
        self.export.value = (
            f"<a download='playground-history.csv' href='data:text/csv;base64,{data}'>"
            f"⬇ export the history as CSV ({len(table)} run{'s' if len(table) != 1 else ''})</a>"
        )

    def history_frame(self) -> pd.DataFrame:
        """Every run so far, one row each (what the History table shows)."""
        return pd.DataFrame(self.history, columns=HISTORY_COLUMNS)

    def _say(self, text: str, error: bool = False) -> None:
        color = "#d1495b" if error else "inherit"
        self.message.value = (
            f"<span class='message' style='color:{color}'>{html.escape(text)}</span>" if text else ""
        )
