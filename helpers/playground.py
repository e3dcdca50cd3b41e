"""The playground: any scenario, any driver, any pool setting, run live against the lab.

>>> from helpers.playground import Playground
>>> Playground()          # in a notebook (or a Voilà page): controls, a Run button, the results

Three modes: one setting; two settings side by side (A/B, :func:`helpers.experiments.compare`);
a sweep of one number that marks where the fix stops holding (:func:`helpers.experiments.sweep`).
The Run button runs in a background thread, so the page stays live: progress shows while it
runs, the button is disabled, and a second click is refused. Runs against one lab from other
kernels queue behind it (:mod:`helpers.runlock`). A bad engine option or sweep range is marked
at its control; every bad value gets a message, and nothing runs. The page's settings are a URL
query (:meth:`Playground.query`): Voilà passes the page's query to the kernel, so a link restores
the settings; it runs on **Run** only. Every run is kept in a history table, exportable to CSV.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import pandas as pd

from . import experiments, progress
from .drivers import ALL_DRIVERS
from .errors import LabError
from .experiments import MAX_POINTS
from .failures import error_codes, failure_phrase
from .lab import Lab, start_lab
from .runbook.settings import parse_settings
from .scenarios import SCENARIOS, Fix, get, summarize
from .scenarios.registry import MAX_SECONDS, check_timings

log = logging.getLogger(__name__)

#: The trial's pool unless the user says otherwise: one connection, no overflow, as in the lessons.
DEFAULT_POOL = {"pool_size": 1, "max_overflow": 0}
YOURS = "your engine options (below)"
HISTORY_COLUMNS = [
    "run",
    "mode",
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
        who = driver if rows["fix"].nunique() == 1 else f"{driver} · {fix}"
        if (trial["outcome"] != "error").all():
            lines.append(f"{who}: ran clean: {len(trial)} steps, no error")
            continue
        recovered = trial.iloc[-1]["outcome"] == "ok"
        after = "the next checkout recovered" if recovered else "it did not recover"
        lines.append(f"{who}: {failure_phrase(trial)}; {after}")
    return "\n".join(lines)


class BadSetting(ValueError):
    """A value the playground refuses; ``field`` names the control that holds it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def your_fix(
    pool_recycle: float,
    pool_pre_ping: bool,
    pool_size: int,
    max_overflow: int,
    read_timeout: float,
    extra: str,
) -> Fix:
    """The controls as a fix: ``create_engine`` keywords, and the read timeout, which each
    driver gets under its own name (``Fix.read_timeout``); :class:`BadSetting` (which field, and
    why) for a bad value.

    ``extra`` is a literal dict (JSON or Python), parsed as data and never evaluated,
    checked against the engine options the lab knows.
    """
    if pool_recycle < 0 and pool_recycle != -1:
        raise BadSetting(
            "pool_recycle", f"pool_recycle={pool_recycle:g}: use a positive number of seconds, or -1 for off"
        )
    if pool_size < 1:
        raise BadSetting("pool_size", f"pool_size={pool_size}: at least 1")
    if max_overflow < -1:
        raise BadSetting("max_overflow", f"max_overflow={max_overflow}: -1 (no limit) or more")
    if read_timeout < 0:
        raise BadSetting(
            "read_timeout", f"read_timeout={read_timeout:g}: 0 for none, or a positive number of seconds"
        )
    options: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow}
    if pool_recycle != -1:
        options["pool_recycle"] = pool_recycle
    if pool_pre_ping:
        options["pool_pre_ping"] = True
    if extra.strip():
        try:
            settings = parse_settings(extra)
        except LabError as exc:
            raise BadSetting("extra", f"engine options: {exc}") from None
        if settings.unknown:
            raise BadSetting("extra", f"unknown engine option(s): {', '.join(settings.unknown)}")
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


#: The page's look: grouped controls, styled tables, a bad value marked at its control.
CSS = """<style>
.lab-pg { font-size: 13px; max-width: 1240px; }
.lab-pg .lab-group { border: 1px solid #d8dee9; border-radius: 6px; padding: 4px 10px 8px;
  margin: 4px 4px 4px 0; background: #fafbfc; }
.lab-pg .lab-group h4 { margin: 4px 0; color: #3b4252; }
.lab-pg table.lab-table { border-collapse: collapse; margin: 4px 0 10px; font-size: 12px; }
.lab-pg table.lab-table th { background: #eef1f5; text-align: left; padding: 3px 10px;
  border-bottom: 1px solid #c8ced8; }
.lab-pg table.lab-table td { padding: 3px 10px; border-bottom: 1px solid #eceff3; }
.lab-pg table.lab-table tr:nth-child(even) td { background: #f6f8fa; }
.lab-pg .verdict { background: #eef6ee; border-left: 4px solid #2a9d55; padding: 6px 10px; margin: 6px 0; }
.lab-pg .lab-bad input, .lab-pg .lab-bad textarea { border: 2px solid #d1495b !important;
  background: #fff3f4; }
.lab-pg .lab-why { color: #6b7280; font-size: 12px; }
</style>"""
MODES = {"single": "one setting", "ab": "A/B: two settings", "sweep": "sweep one number"}
STYLE = {"description_width": "initial"}


def table(frame: pd.DataFrame) -> str:
    """``frame`` as a styled HTML table (no bare borders)."""
    return frame.to_html(index=False, border=0, classes="lab-table", na_rep="")


class Settings:
    """One setting: one of the scenario's fixes, or your own engine options (A, and B beside it)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.fix = w.Dropdown(description="fix", style=STYLE, layout=w.Layout(width="95%"))
        self.pool_recycle = w.FloatText(value=-1, description="pool_recycle (-1 off)", style=STYLE)
        self.pool_pre_ping = w.Checkbox(
            value=False, description="pool_pre_ping", indent=False, layout=w.Layout(width="auto")
        )
        self.pool_size = w.IntText(value=1, description="pool_size", style=STYLE)
        self.max_overflow = w.IntText(value=0, description="max_overflow", style=STYLE)
        self.read_timeout = w.FloatText(value=0, description="read_timeout (0 none)", style=STYLE)
        self.extra = w.Textarea(
            placeholder='more engine options, a literal dict: {"pool_use_lifo": true}',
            layout=w.Layout(width="95%", height="3em"),
        )
        self.fix.observe(self._on_fix, names="value")
        self.widget = w.VBox(
            [
                w.HTML(f"<h4>Setting {label}</h4>"),
                self.fix,
                w.HBox([self.pool_recycle, self.pool_pre_ping]),
                w.HBox([self.pool_size, self.max_overflow]),
                self.read_timeout,
                self.extra,
            ]
        )
        self.widget.add_class("lab-group")

    @property
    def inputs(self) -> dict[str, w.ValueWidget]:
        return {
            "fix": self.fix,
            "pool_recycle": self.pool_recycle,
            "pool_pre_ping": self.pool_pre_ping,
            "pool_size": self.pool_size,
            "max_overflow": self.max_overflow,
            "read_timeout": self.read_timeout,
            "extra": self.extra,
        }

    def offer(self, fixes: list[str], value: str = YOURS) -> None:
        self.fix.options = [YOURS, *fixes]
        self.fix.value = value if value in self.fix.options else YOURS

    def _on_fix(self, _: object = None) -> None:
        for name, child in self.inputs.items():
            if name != "fix":
                child.disabled = self.fix.value != YOURS

    def chosen(self, drivers: list[str]) -> Fix | str:
        """The fix this setting says; ``ValueError`` (its control marked) for a bad value."""
        for child in self.inputs.values():
            child.remove_class("lab-bad")
        if self.fix.value != YOURS:
            return str(self.fix.value)
        try:
            fix = your_fix(
                float(self.pool_recycle.value), bool(self.pool_pre_ping.value), int(self.pool_size.value),
                int(self.max_overflow.value), float(self.read_timeout.value), str(self.extra.value),
            )  # fmt: skip
            for driver in drivers:  # e.g. a fraction of a second where a driver takes whole seconds
                try:
                    fix.engine_options(driver)
                except ValueError as exc:
                    raise BadSetting("read_timeout", str(exc)) from None
        except BadSetting as exc:
            self.inputs[exc.field].add_class("lab-bad")
            raise ValueError(f"setting {self.label}: {exc}") from None
        return fix


class Playground:
    """The widgets, the runs, and the history. ``Playground(lab)``; display it as a cell's value.
    ``query`` (a URL query, e.g. Voilà's ``QUERY_STRING``) sets the controls; nothing runs."""

    def __init__(self, lab: Lab | None = None, query: str | None = None) -> None:
        self._lab = lab
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()
        self.history: list[dict[str, Any]] = []
        self.last_rows: pd.DataFrame | None = None
        self.last_sweep: pd.DataFrame | None = None
        self.mode = w.ToggleButtons(options=[(label, key) for key, label in MODES.items()], value="single")
        self.scenario = w.Dropdown(options=list(SCENARIOS), value="idle", description="cause", style=STYLE)
        self.story = w.HTML()
        self.drivers = {
            d: w.Checkbox(value=d == "pymysql", description=d, indent=False, layout=w.Layout(width="auto"))
            for d in ALL_DRIVERS
        }
        self.why_not = w.HTML()
        self.timings = w.HBox()
        self.timing_inputs: dict[str, w.BoundedFloatText] = {}
        self.a, self.b = Settings("A"), Settings("B")
        self.knob = w.Dropdown(description="number", style=STYLE)
        self.sweep_from = w.FloatText(
            value=0.5, description="from (s)", style=STYLE, layout=w.Layout(width="150px")
        )
        self.sweep_to = w.FloatText(
            value=4.0, description="to (s)", style=STYLE, layout=w.Layout(width="150px")
        )
        self.sweep_points = w.BoundedIntText(
            value=8, min=1, max=MAX_POINTS, description="points", style=STYLE, layout=w.Layout(width="130px")
        )
        self.estimate = w.HTML()
        self.button = w.Button(description="Run", button_style="primary", icon="play")
        self.copy = w.Button(description="copy link", icon="link")
        self.link = w.Text(description="link", style=STYLE, layout=w.Layout(width="95%", display="none"))
        self.message = w.HTML()
        self.progress = w.FloatProgress(min=0, max=1, layout=w.Layout(width="40%", visibility="hidden"))
        self.progress_text = w.Label()
        self.verdict = w.HTML()
        self.plot = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.outcome = w.HTML()
        self.server = w.HTML()
        self.history_table = w.HTML()
        self.export = w.HTML()
        self.sweep_box = self._group(
            "Sweep",
            w.HBox([self.knob, self.sweep_from, self.sweep_to, self.sweep_points]),
            self.estimate,
            w.HTML("<span class='lab-why'>on top of setting A, with the drivers checked</span>"),
        )
        self.settings_box = w.HBox([self.a.widget, self.b.widget])
        self.scenario.observe(self._on_scenario, names="value")
        self.mode.observe(self._on_mode, names="value")
        for control in (self.knob, self.sweep_from, self.sweep_to, self.sweep_points):
            control.observe(self._on_sweep, names="value")
        self.button.on_click(lambda _: self.start())
        self.copy.on_click(lambda _: self.show_link())
        self._on_scenario()
        self.widget = w.VBox(
            [
                w.HTML(CSS + "<h3>Gone-Away Lab · playground</h3>"),
                self.mode,
                w.HBox(
                    [
                        self._group("Cause", self.scenario, self.story, self.timings),
                        self._group("Drivers", w.HBox(list(self.drivers.values())), self.why_not),
                    ]
                ),
                self.settings_box,
                self.sweep_box,
                w.HBox([self.button, self.copy, self.progress, self.progress_text]),
                self.link,
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
        self.widget.add_class("lab-pg")
        self._on_mode()
        if query:
            self.apply_query(query)

    @staticmethod
    def _group(title: str, *children: w.Widget) -> w.VBox:
        box = w.VBox([w.HTML(f"<h4>{html.escape(title)}</h4>"), *children])
        box.add_class("lab-group")
        return box

    # -- display -----------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            self._lab = start_lab()
        return self._lab

    # setting A's controls, by their old names (one setting is setting A)
    fix = property(lambda self: self.a.fix)
    pool_recycle = property(lambda self: self.a.pool_recycle)
    pool_pre_ping = property(lambda self: self.a.pool_pre_ping)
    pool_size = property(lambda self: self.a.pool_size)
    max_overflow = property(lambda self: self.a.max_overflow)
    read_timeout = property(lambda self: self.a.read_timeout)
    extra = property(lambda self: self.a.extra)

    # -- controls ----------------------------------------------------------------------------
    def _on_scenario(self, _: object = None) -> None:
        entry = get(self.scenario.value)
        missing = entry.unavailable()
        story = f"<i>{html.escape(entry.title)}</i>"
        if missing:
            story += f"<br><b style='color:#d1495b'>cannot run on this machine: {html.escape(missing)}</b>"
        self.story.value = story
        why = []
        for driver, box in self.drivers.items():
            reason = entry.why_not(driver)
            box.disabled = bool(reason)
            box.tooltip = reason or ""
            if reason:
                box.value = False
                why.append(f"<b>{driver}</b>: {html.escape(reason)}")
        offered = [box for box in self.drivers.values() if not box.disabled]
        if offered and not any(box.value for box in offered):  # a cause the checked drivers lack
            offered[0].value = True
        self.why_not.value = "<span class='lab-why'>" + "<br>".join(why) + "</span>" if why else ""
        fixes = [f.name for f in entry.fixes]
        self.a.offer(fixes)
        self.b.offer(fixes, fixes[-1] if fixes else YOURS)
        self.timing_inputs = {
            name: w.BoundedFloatText(
                value=default,
                min=0.1,
                max=MAX_SECONDS,
                step=0.5,
                description=f"{name} (s)",
                style=STYLE,
                layout=w.Layout(width="180px"),
            )
            for name, default in entry.timings.items()
        }
        self.timings.children = list(self.timing_inputs.values()) or [w.Label("(no timings to set)")]
        for box in self.timing_inputs.values():
            box.observe(self._on_sweep, names="value")
        self.knob.options = list(experiments.knobs(entry.name))
        self._on_sweep()

    def _on_mode(self, _: object = None) -> None:
        mode = self.mode.value
        self.b.widget.layout.display = "flex" if mode == "ab" else "none"
        self.sweep_box.layout.display = "flex" if mode == "sweep" else "none"
        self.button.description = {"single": "Run", "ab": "Run A, then B", "sweep": "Run the sweep"}[mode]

    def _on_sweep(self, _: object = None) -> None:
        try:
            values = self._spread()
            timings = {k: float(box.value) for k, box in self.timing_inputs.items()}
            seconds = experiments.estimate(get(self.scenario.value), timings, values, str(self.knob.value))
        except ValueError as exc:
            self.estimate.value = f"<span style='color:#d1495b'>{html.escape(str(exc))}</span>"
            return
        shown = ", ".join(f"{v:g}" for v in values)
        self.estimate.value = f"{len(values)} runs ({shown} s): about <b>{seconds:.0f} s</b>"

    def _spread(self) -> list[float]:
        """The sweep's values, as its from, to and points say."""
        low, high, points = self.sweep_from.value, self.sweep_to.value, self.sweep_points.value
        return experiments.spread(float(low), float(high), int(points))

    def _checked(self) -> list[str]:
        return [d for d, box in self.drivers.items() if box.value and not box.disabled]

    def settings(self) -> tuple[str, list[str], Fix | str, dict[str, float]]:
        """What the controls say for one setting (A): scenario, drivers, fix, timings;
        ``ValueError`` if they make no sense (the control that holds the value is marked)."""
        name = self.scenario.value
        drivers = self._checked()
        if not drivers:
            raise ValueError("pick at least one driver")
        timings = {k: float(box.value) for k, box in self.timing_inputs.items()}
        check_timings(get(name), timings)
        missing = get(name).unavailable()
        if missing:
            raise ValueError(f"{name} cannot run on this machine: {missing}")
        return name, drivers, self.a.chosen(drivers), timings

    def _sweep_values(self) -> list[float]:
        for box in (self.sweep_from, self.sweep_to, self.sweep_points):
            box.remove_class("lab-bad")
        try:
            values = self._spread()
            knob = experiments.knobs(self.scenario.value)[self.knob.value]
            for value in values:
                knob.check(value)
        except ValueError as exc:
            self.sweep_from.add_class("lab-bad")
            self.sweep_to.add_class("lab-bad")
            raise ValueError(f"sweep: {exc}") from None
        return values

    # -- the link ----------------------------------------------------------------------------
    def query(self) -> str:
        """The controls as a URL query: a link that sets them again (:meth:`apply_query`)."""
        fields: dict[str, Any] = {
            "mode": self.mode.value,
            "scenario": self.scenario.value,
            "drivers": ",".join(self._checked()),
        }
        fields.update({f"t.{k}": f"{box.value:g}" for k, box in self.timing_inputs.items()})
        for setting in (self.a, self.b) if self.mode.value == "ab" else (self.a,):
            for key, child in setting.inputs.items():
                value = child.value
                fields[f"{setting.label.lower()}.{key}"] = int(value) if isinstance(value, bool) else value
        if self.mode.value == "sweep":
            fields.update(knob=self.knob.value, **{"from": self.sweep_from.value}, to=self.sweep_to.value)
            fields["points"] = self.sweep_points.value
        return urllib.parse.urlencode({k: v for k, v in fields.items() if v not in ("", None)})

    def url(self) -> str:
        """The page's address (Voilà's, where it serves the page) with :meth:`query`."""
        base = os.environ.get("VOILA_REQUEST_URL", "").split("?", 1)[0]
        return f"{base}?{self.query()}"

    def show_link(self) -> str:
        """What "copy link" does: show the URL for the current settings in a field to copy from
        (outside Voilà, the query alone: append it to the playground page's address)."""
        self.link.value = self.url()
        self.link.layout.display = "flex"
        return str(self.link.value)

    def apply_query(self, query: str) -> None:
        """Set the controls from a URL query; a bad field is named in the page (nothing runs)."""
        fields = {k: v[-1] for k, v in urllib.parse.parse_qs(query.lstrip("?")).items()}
        problems: list[str] = []

        def each(key: str, set_it: Any) -> None:  # one field: a bad one is named, the others still set
            try:
                set_it()
            except (ValueError, TypeError, KeyError) as exc:
                problems.append(f"{key}: {exc}")

        if fields.get("scenario"):  # first: it rebuilds the timings, the fixes and the knobs
            each("scenario", lambda: setattr(self.scenario, "value", get(fields["scenario"]).name))
        if "mode" in fields:
            each("mode", lambda: self._set(self.mode, fields["mode"]))
        if "drivers" in fields:
            wanted = set(fields["drivers"].split(","))
            for driver in sorted(wanted - set(self.drivers)):
                problems.append(f"drivers: no driver {driver!r}")
            for driver, box in self.drivers.items():
                box.value = driver in wanted and not box.disabled
        for key, value in fields.items():
            prefix, _, name = key.partition(".")
            if prefix == "t":
                each(key, lambda name=name, value=value: self._set(self.timing_inputs[name], value))
            elif prefix in ("a", "b"):
                setting = self.a if prefix == "a" else self.b
                each(
                    key,
                    lambda setting=setting, name=name, value=value: self._set(setting.inputs[name], value),
                )
        if "knob" in fields:
            each("knob", lambda: self._set(self.knob, fields["knob"]))
        for key, box in (("from", self.sweep_from), ("to", self.sweep_to), ("points", self.sweep_points)):
            if key in fields:
                each(key, lambda box=box, key=key: self._set(box, fields[key]))
        if problems:
            self._say("the link's settings: " + "; ".join(problems), error=True)

    @staticmethod
    def _set(control: w.ValueWidget, value: str) -> None:
        """Set ``control`` from a link's text; ``ValueError`` where it does not take it as given
        (a choice it lacks, a number outside its bounds)."""
        if isinstance(control, w.Checkbox):
            control.value = value in ("1", "True", "true")
        elif isinstance(control, (w.Dropdown, w.ToggleButtons)):
            choices = [o[1] if isinstance(o, tuple) else o for o in control.options]
            if value not in choices:
                raise ValueError(f"{value!r} is not one of {', '.join(map(str, choices))}")
            control.value = value
        elif isinstance(control, (w.IntText, w.BoundedIntText)):
            control.value = int(float(value))
        elif isinstance(control, (w.FloatText, w.BoundedFloatText)):
            control.value = float(value)
        else:
            control.value = value
        number = isinstance(control.value, (int, float)) and not isinstance(control.value, bool)
        if number and float(control.value) != float(value):  # a bounded box clamped it
            raise ValueError(f"{value} is out of range: set to {control.value:g}")

    # -- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._busy.locked()

    def start(self) -> bool:
        """What the Run button does: check the controls, then run in the background.
        Returns False (and says why in the page, the bad control marked) if nothing was started."""
        if not self._busy.acquire(blocking=False):
            self._say("a run is already in progress: wait for it to finish", error=True)
            return False
        for control in (*self.a.inputs.values(), *self.b.inputs.values(), self.sweep_from, self.sweep_to):
            control.remove_class("lab-bad")  # marks of an earlier try go; this try marks its own
        try:
            name, drivers, fix, timings = self.settings()
            mode = self.mode.value
            job: tuple[Any, ...]
            if mode == "ab":
                job = (self._run_ab, name, drivers, fix, self.b.chosen(drivers), timings)
            elif mode == "sweep":
                job = (self._run_sweep, name, drivers, fix, self.knob.value, self._sweep_values(), timings)
            else:
                job = (self._run_single, name, drivers, fix, timings)
        except ValueError as exc:
            self._busy.release()
            self._say(str(exc), error=True)
            return False
        self.button.disabled = True
        self._say("")
        self._thread = threading.Thread(target=self._run, args=job, name="playground-run", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float = 120.0) -> None:
        """Block until the current run (if any) has finished (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, job: Any, *args: Any) -> None:
        self.progress.layout.visibility = "visible"
        started = time.monotonic()
        try:
            with progress.report_to(self._show_progress):
                self._show_progress("starting", 0, None)
                job(*args, started=started)
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

    def _run_single(
        self, name: str, drivers: list[str], fix: Fix | str, timings: dict[str, float], started: float
    ) -> None:
        from . import plots

        rows = experiments.measured_run(self.lab, name, drivers, fix, timings)
        self.last_rows = rows
        text = verdict(rows)
        self.plot.value = png(plots.timeline(rows, wait_timeout=timings.get("wait_timeout")))
        self._outcome(rows)
        self.server.value = "<h4>The server's view</h4>" + self._server_view(rows)
        self._remember("single", name, rows, timings, started, text.replace("\n", " | "))
        self._verdict(text.splitlines())  # last: once it shows, the whole result is there

    def _run_ab(
        self,
        name: str,
        drivers: list[str],
        a: Fix | str,
        b: Fix | str,
        timings: dict[str, float],
        started: float,
    ) -> None:
        from . import plots

        ab = experiments.compare(self.lab, name, drivers, a, b, timings)
        rows = ab.rows
        self.last_rows = rows
        title = "A and B on one time axis (each from its own start)"
        self.plot.value = png(plots.timeline(rows, wait_timeout=timings.get("wait_timeout"), title=title))
        self._outcome(rows)
        self.server.value = (
            "<h4>The server's view</h4><table><tr>"
            + "".join(
                f"<td style='vertical-align:top;padding-right:16px'><b>{label}</b>"
                f"{self._server_view(run)}</td>"
                for label, run in (("A", ab.a), ("B", ab.b))
            )
            + "</tr></table>"
        )
        self._remember("A/B", name, rows, timings, started, ab.line)
        self._verdict([ab.line, *verdict(rows).splitlines()])

    def _run_sweep(
        self,
        name: str,
        drivers: list[str],
        base: Fix | str,
        knob: str,
        values: list[float],
        timings: dict[str, float],
        started: float,
    ) -> None:
        from . import plots

        def point(i: int, n: int, value: float) -> None:
            self._say(f"sweep: run {i + 1} of {n}, {knob}={value:g}")

        points = experiments.sweep(self.lab, name, knob, values, drivers, base, timings, on_point=point)
        self.last_sweep = points
        found = experiments.boundary(points)
        took = time.monotonic() - started
        line = (
            found.line(knob)
            if found
            else f"no boundary between {values[0]:g} and {values[-1]:g}: "
            + ("it holds at every value" if points["ok"].all() else "it fails at every value")
        )
        self.plot.value = png(plots.sweep(points, knob, found.at if found else None))
        self.outcome.value = "<h4>Each value</h4>" + table(points)
        self.server.value = ""
        self.last_rows = None
        span = f"{knob} from {values[0]:g} to {values[-1]:g}"
        failed = int((~points["ok"]).sum())
        self._remember("sweep", name, None, timings, started, line, span, drivers, failed)
        self._verdict([f"{name}, {span}: {line}", f"{len(values)} runs in {took:.0f} s"])

    # -- results -----------------------------------------------------------------------------
    def _verdict(self, lines: list[str]) -> None:
        self._say("")
        self.verdict.value = "<div class='verdict'><b>" + "<br>".join(map(html.escape, lines)) + "</b></div>"

    def _outcome(self, rows: pd.DataFrame) -> None:
        summary = summarize(rows)[["driver", "fix", "ok", "errors", "error_code", "error_message", "seconds"]]
        self.outcome.value = "<h4>Outcome</h4>" + table(summary)

    @staticmethod
    def _server_view(rows: pd.DataFrame) -> str:
        processlist = rows.attrs.get("processlist", pd.DataFrame())
        shown = (
            processlist[["ID", "USER", "COMMAND", "TIME", "STATE", "INFO"]]
            if len(processlist)
            else processlist
        )
        return (
            f"<p>Aborted_clients: <b>+{rows.attrs.get('aborted_clients', 0)}</b> during the run. "
            f"Processlist at the end ({len(processlist)} connections):</p>" + table(shown)
        )

    def _remember(
        self,
        mode: str,
        name: str,
        rows: pd.DataFrame | None,
        timings: Mapping[str, float],
        started: float,
        text: str,
        fix: str = "",
        drivers: list[str] | None = None,
        errors: int | None = None,
    ) -> None:
        """One history row: a run's rows, or a sweep's (its ``fix`` the span, ``errors`` the
        values that failed)."""
        failed = rows[rows["outcome"] == "error"] if rows is not None else pd.DataFrame()
        if rows is not None:
            fix = fix or " / ".join(dict.fromkeys(rows["fix"]))
            drivers = list(dict.fromkeys(rows["driver"]))
        self.history.append(
            {
                "run": len(self.history) + 1,
                "mode": mode,
                "scenario": name,
                "drivers": ", ".join(drivers or []),
                "fix": fix,
                "timings": ", ".join(f"{k}={v:g}" for k, v in timings.items()),
                "errors": len(failed) if errors is None else errors,
                "codes": error_codes(failed),
                "aborted_clients": rows.attrs.get("aborted_clients", 0) if rows is not None else None,
                "seconds": round(time.monotonic() - started, 1),
                "verdict": text,
            }
        )
        frame = self.history_frame()
        self.history_table.value = table(frame)
        data = base64.b64encode(frame.to_csv(index=False).encode()).decode()
        self.export.value = (
            f"<a download='playground-history.csv' href='data:text/csv;base64,{data}'>"
            f"⬇ export the history as CSV ({len(frame)} run{'s' if len(frame) != 1 else ''})</a>"
        )

    def history_frame(self) -> pd.DataFrame:
        """Every run so far, one row each (what the History table shows)."""
        return pd.DataFrame(self.history, columns=HISTORY_COLUMNS)

    def _say(self, text: str, error: bool = False) -> None:
        color = "#d1495b" if error else "inherit"
        self.message.value = (
            f"<span class='message' style='color:{color}'>{html.escape(text)}</span>" if text else ""
        )
