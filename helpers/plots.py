"""Plots: each takes data (the DataFrames the helpers return) and returns a Figure.

Each figure is closed in pyplot as soon as it is made, so a notebook shows it
exactly once (as the cell's value) and no figure piles up in pyplot's state.
"""

from __future__ import annotations

import itertools
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from .failures import error_label

OK = "#2a9d55"
ERROR = "#d1495b"
NEUTRAL = "#8d99ae"


def _figure(**kwargs: Any) -> Figure:
    fig = plt.figure(layout="constrained", **kwargs)
    plt.close(fig)
    return fig


def timeline(rows: pd.DataFrame, wait_timeout: float | None = None, title: str | None = None) -> Figure:
    """Each trial (driver × fix) is a lane; each server connection a line from its
    first to its last use; each step a dot (ok) or a cross (error, labelled with
    its code). With ``wait_timeout``, a bar marks when the server drops each
    connection after its last successful use."""
    lanes = list(dict.fromkeys(zip(rows["driver"], rows["fix"], strict=True)))
    fig = _figure(figsize=(10, 0.6 * len(lanes) + 1.4))
    ax = fig.subplots()
    for y, (driver, fix) in enumerate(lanes):
        lane = rows[(rows["driver"] == driver) & (rows["fix"] == fix)]
        for cid, uses in lane.dropna(subset=["connection_id"]).groupby("connection_id"):
            ok_uses = uses[uses["outcome"] == "ok"]
            start, end = uses["time"].min(), uses["time"].max()
            ax.plot([start, end], [y, y], color=NEUTRAL, lw=3, alpha=0.5, solid_capstyle="round")
            ax.annotate(f"#{cid}", (start, y), xytext=(0, 7), textcoords="offset points", fontsize=7)
            closed = ok_uses["time"].max() + wait_timeout if wait_timeout and not ok_uses.empty else None
            if closed is not None and closed <= lane["time"].max():  # only drops inside the scenario
                ax.plot([ok_uses["time"].max(), closed], [y, y], color=NEUTRAL, lw=1, ls=":")
                ax.plot([closed], [y], marker="|", ms=14, color=ERROR, alpha=0.6)
        ok = lane[lane["outcome"] == "ok"]
        bad = lane[lane["outcome"] == "error"]
        ax.scatter(ok["time"], [y] * len(ok), color=OK, zorder=3, s=30)
        ax.scatter(bad["time"], [y] * len(bad), color=ERROR, marker="X", zorder=3, s=80)
        for _, row in bad.iterrows():
            ax.annotate(
                str(row["error_code"]),
                (row["time"], y),
                xytext=(6, -11),
                textcoords="offset points",
                color=ERROR,
                fontsize=8,
                fontweight="bold",
            )
    ax.set_yticks(range(len(lanes)), [f"{d} · {f}" for d, f in lanes])
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    ax.set_xlabel("seconds since the scenario started")
    ax.grid(axis="x", alpha=0.3)
    legend = "● ok   ✖ error (code)   ▬ one server connection"
    if wait_timeout is not None:
        legend += f"   | server drops it (last use + wait_timeout={wait_timeout:g}s)"
    ax.set_title(title or legend, fontsize=9 if title is None else 11)
    return fig


def outcome_grid(summary: pd.DataFrame, title: str = "Outcome per driver and fix") -> Figure:
    """A cell per (scenario · fix) × driver: green with 'ok', or red with the error code."""
    summary = summary.assign(row=summary["scenario"] + " · " + summary["fix"])
    cells = [
        (
            s["driver"],
            s["row"],
            OK if s["ok"] else ERROR,
            "ok" if s["ok"] else f"{error_label(s)} ×{s['errors']}",
        )
        for _, s in summary.iterrows()
    ]
    return _grid(cells, (2.2, 3.5, 0.45, 1.2), 9, title, 11)


def _grid(
    cells: list[tuple[str, str, str, str]],
    size: tuple[float, float, float, float],
    fontsize: int,
    title: str,
    title_size: int,
) -> Figure:
    """A table of coloured cells, columns and rows in order of appearance: ``cells`` are
    (column, row, colour, label); ``size`` is inches per column, plus, per row, plus."""
    columns = list(dict.fromkeys(c for c, _r, _k, _l in cells))
    rows = list(dict.fromkeys(r for _c, r, _k, _l in cells))
    fig = _figure(figsize=(size[0] * len(columns) + size[1], size[2] * len(rows) + size[3]))
    ax = fig.subplots()
    for column, row, color, label in cells:
        x, y = columns.index(column), rows.index(row)
        ax.add_patch(_cell(x, y, color))
        ax.text(x, y, label, ha="center", va="center", color="white", fontsize=fontsize, fontweight="bold")
    ax.set_xlim(-0.5, len(columns) - 0.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xticks(range(len(columns)), columns, fontsize=8 if fontsize < 9 else None)
    ax.set_yticks(range(len(rows)), rows)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=title_size)
    return fig


#: A colour for an error SQLAlchemy did not see as a disconnect (``connection_invalidated`` False).
UNRECOGNISED = "#e9a03b"


def error_grid(errors: pd.DataFrame, title: str = "The first error, per cause and driver") -> Figure:
    """A cell per scenario × driver (``scenarios.first_errors`` rows): the code and the
    error class's short name; red where SQLAlchemy invalidated the connection, amber where it
    did not see a disconnect."""
    cells = [
        (
            e["driver"],
            e["scenario"],
            ERROR if e["invalidated"] else UNRECOGNISED,
            ("" if pd.isna(e["error_code"]) else f"{e['error_code']} ")
            + str(e["error_class"]).rsplit(".", 1)[-1],
        )
        for _, e in errors.iterrows()
    ]
    return _grid(cells, (1.9, 2.5, 0.55, 1.4), 8, title + " (amber: not seen as a disconnect)", 10)


def ping_costs(pings: pd.DataFrame) -> Figure:
    """µs that ``pool_pre_ping`` adds to a checkout, per driver (``bench.ping_mechanisms``
    data), labelled with what it sends."""
    fig = _figure(figsize=(8, 3))
    ax = fig.subplots()
    colors = [OK if sends == "COM_PING" else UNRECOGNISED for sends in pings["pre_ping_sends"]]
    ax.bar(pings["driver"], pings["pre_ping_us"], color=colors)
    labels = zip(
        pings["pre_ping_us"], pings["pre_ping_sends"], pings["round_trips_per_checkout"], strict=True
    )
    for x, (us, sends, trips) in enumerate(labels):
        ax.text(x, max(us, 0), f"{us:.0f} µs\n{trips:g} × {sends}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("µs pre-ping adds per checkout")
    # a difference of two timings: on a busy machine it can come out below 0; show it as it is
    ax.set_ylim(min(0.0, pings["pre_ping_us"].min()) * 1.35, max(1.0, pings["pre_ping_us"].max()) * 1.35)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _cell(x: float, y: float, color: str):  # type: ignore[no-untyped-def]
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.47, y - 0.45), 0.94, 0.9, color=color)


def idle_watch(samples: pd.DataFrame, wait_timeout: float) -> Figure:
    """``TIME_MS`` of a sleeping connection in the processlist, until it vanishes."""
    fig = _figure(figsize=(8, 3.2))
    ax = fig.subplots()
    seen = samples[samples["present"]]
    gone = samples[~samples["present"]]
    ax.plot(seen["t"], seen["time_ms"] / 1000, marker="o", color=NEUTRAL, label="Time in SHOW PROCESSLIST")
    ax.axhline(wait_timeout, color=ERROR, ls="--", label=f"wait_timeout = {wait_timeout:g} s")
    if not gone.empty:
        ax.axvline(gone["t"].min(), color=ERROR, alpha=0.4, lw=6, label="row gone: server closed it")
    ax.set_xlabel("seconds since the connection went back to the pool")
    ax.set_ylabel("idle seconds (server)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def connection_ids(uses: pd.DataFrame, recycle: float) -> Figure:
    """Which server connection served each use: it changes every ``recycle`` seconds."""
    fig = _figure(figsize=(8, 3))
    ax = fig.subplots()
    from matplotlib.ticker import MaxNLocator

    ax.step(uses["t"], uses["connection_id"], where="post", color=NEUTRAL)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.scatter(uses["t"], uses["connection_id"], color=OK, zorder=3)
    for k in range(1, int(uses["t"].max() // recycle) + 1):
        ax.axvline(k * recycle, color=ERROR, alpha=0.25, ls=":")
    ax.set_xlabel("seconds")
    ax.set_ylabel("server connection id")
    ax.set_title(f"Used every {uses['t'].diff().median():.1f} s, recycled after pool_recycle={recycle:g} s")
    ax.grid(alpha=0.3)
    return fig


#: A colour per fix in the benchmark's plots.
FIX_COLORS = {"none": NEUTRAL, "pre_ping": OK, "hardened": "#1f77b4"}


def checkout_rates(bench: pd.DataFrame) -> Figure:
    """Checkouts per second by driver, one bar per fix, at the smallest round trip measured
    (median, min–max whiskers)."""
    bench = bench[bench["rtt_ms"] == bench["rtt_ms"].min()]
    stats = (
        bench.groupby(["driver", "fix"], sort=False)["per_second"].agg(["median", "min", "max"]).reset_index()
    )
    drivers = list(dict.fromkeys(stats["driver"]))
    fixes = list(dict.fromkeys(stats["fix"]))
    fig = _figure(figsize=(7, 3.5))
    ax = fig.subplots()
    width = 0.8 / len(fixes)
    for k, fix in enumerate(fixes):
        part = stats[stats["fix"] == fix].set_index("driver").loc[drivers]
        xs = [i + (k - (len(fixes) - 1) / 2) * width for i in range(len(drivers))]
        err = [part["median"] - part["min"], part["max"] - part["median"]]
        ax.bar(xs, part["median"], width, yerr=err, color=FIX_COLORS.get(fix, NEUTRAL), label=fix)
        for x, v in zip(xs, part["median"], strict=True):
            ax.text(x, v * 0.05, f"{v:,.0f}/s", ha="center", va="bottom", fontsize=8, color="white")
    ax.set_xticks(range(len(drivers)), drivers)
    ax.set_ylabel("checkouts per second (SELECT 1 each)")
    ax.legend(title="fix", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def rates_by_latency(bench: pd.DataFrame) -> Figure:
    """Median checkouts per second against the added round trip, a line per fix, a panel per driver."""
    med = bench.groupby(["driver", "fix", "rtt_ms"], sort=False)["per_second"].median().reset_index()
    drivers = list(dict.fromkeys(med["driver"]))
    fig = _figure(figsize=(4 * len(drivers), 3.5))
    axes = fig.subplots(1, len(drivers), sharey=True, squeeze=False)[0]
    for ax, driver in zip(axes, drivers, strict=True):
        for fix, line in med[med["driver"] == driver].groupby("fix", sort=False):
            ax.plot(
                line["rtt_ms"],
                line["per_second"],
                marker="o",
                color=FIX_COLORS.get(str(fix), NEUTRAL),
                label=fix,
            )
        ax.set_yscale("log")
        ax.set_title(driver)
        ax.set_xlabel("round trip added by the proxy (ms)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("checkouts per second (log)")
    axes[0].legend(title="fix", fontsize=8)
    return fig


def replacements(replaced: pd.DataFrame, wait_timeout: float) -> Figure:
    """Connections each fix has replaced so far against time (``scenarios.replacements``
    data): one step for all of them at once, or a slope over the jitter."""
    fig = _figure(figsize=(8, 3))
    ax = fig.subplots()
    colors = {"pool_recycle": ERROR, "hardened": FIX_COLORS["hardened"]}
    styles = itertools.cycle(["-", "--", "-.", ":"])
    for fix, rows in replaced.groupby("fix", sort=False):
        color = next((c for key, c in colors.items() if key in str(fix)), NEUTRAL)
        ax.step(
            [0, *rows["t"]],
            [0, *rows["replaced"].cumsum()],
            where="post",
            color=color,
            ls=next(styles),
            label=str(fix),
        )
    ax.axvline(wait_timeout, color=ERROR, ls=":", label=f"wait_timeout={wait_timeout:g}s")
    ax.set_xlabel("seconds since the pool filled")
    ax.set_ylabel("connections replaced")
    ax.set_title("When a pool of connections made together replaces them")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def part_costs(costs: pd.DataFrame) -> Figure:
    """µs per checkout of each part (``bench.part_costs`` data), a bar per part, a panel per driver."""
    drivers = list(dict.fromkeys(costs["driver"]))
    fig = _figure(figsize=(8, 1 + 0.5 * len(costs)))
    axes = fig.subplots(len(drivers), 1, sharex=True, squeeze=False)[:, 0]
    for ax, driver in zip(axes, drivers, strict=True):
        part = costs[costs["driver"] == driver]
        ax.barh(part["part"], part["us"], color=[OK if "peek" in p else NEUTRAL for p in part["part"]])
        for y, us in enumerate(part["us"]):
            ax.text(us, y, f" {us:,.1f} µs", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_title(driver, fontsize=9)
        ax.grid(axis="x", alpha=0.3, which="both")
    axes[-1].set_xscale("log")
    axes[-1].set_xlabel("µs per checkout (log)")
    return fig


def connections_over_time(samples: pd.DataFrame, wait_timeout: float | None = None) -> Figure:
    """Server connections each strategy holds over time (``connections_over_time`` data)."""
    fig = _figure(figsize=(8, 3.5))
    ax = fig.subplots()
    for strategy, group in samples.groupby("strategy", sort=False):
        server = str(strategy).startswith("Threads_connected")
        ax.step(
            group["t"], group["connections"], where="post", label=strategy, ls=":" if server else "-", lw=2
        )
    if wait_timeout is not None:
        ax.axvline(wait_timeout, color=ERROR, alpha=0.3, ls="--", label=f"wait_timeout = {wait_timeout:g} s")
    ax.set_xlabel("seconds of quiet")
    ax.set_ylabel("server connections")
    ax.legend(fontsize=8, loc="center right")
    ax.grid(alpha=0.3)
    return fig


def server_window(sleeping: pd.DataFrame, samples: pd.DataFrame, wait_timeout: float | None) -> Figure:
    """The runbook's picture of a server: each sleeping connection's idle time against
    ``wait_timeout`` (left), and the counters' change over the sampling window (right)."""
    fig = _figure(figsize=(11, 3.6))
    left, right = fig.subplots(1, 2, width_ratios=[1.2, 1])
    if sleeping.empty:
        left.text(
            0.5, 0.5, "no sleeping connections visible", ha="center", va="center", transform=left.transAxes
        )
    else:
        ordered = sleeping.sort_values("idle_s").reset_index(drop=True)
        colors = [ERROR if near else NEUTRAL for near in ordered["near_timeout"]]
        left.barh(range(len(ordered)), ordered["idle_s"], color=colors)
        labels = [
            f"#{i} {u}@{h}" for i, u, h in zip(ordered["id"], ordered["user"], ordered["host"], strict=True)
        ]
        left.set_yticks(range(len(ordered)), labels, fontsize=7)
        if wait_timeout:
            left.axvline(wait_timeout, color=ERROR, ls="--", label=f"wait_timeout = {wait_timeout:g} s")
            left.legend(fontsize=8, loc="lower right")
    left.set_xlabel("idle seconds (SHOW PROCESSLIST)")
    left.set_title("Sleeping connections (red: past 75 % of wait_timeout)", fontsize=10)
    watched = ["Aborted_clients", "Aborted_connects", "Threads_connected", "Threads_created"]
    for counter in watched:
        series = samples[samples["counter"] == counter]
        if not series.empty:
            right.step(series["t"], series["value"] - series["value"].iloc[0], where="post", label=counter)
    right.set_xlabel("seconds into the sampling window")
    right.set_ylabel("change since the window began")
    right.set_title("Server counters over the window", fontsize=10)
    right.legend(fontsize=8, loc="upper left")
    right.grid(alpha=0.3)
    return fig


def server_view(client: pd.DataFrame, server: pd.DataFrame) -> Figure:
    """The server's ``Aborted_clients`` (change since the start) over time, and a marker where
    each client got its error (``network.server_view`` data)."""
    fig = _figure(figsize=(8, 3.2))
    ax = fig.subplots()
    ax.step(
        server["t"],
        server["aborted_clients"],
        where="post",
        color=NEUTRAL,
        lw=2,
        label="server: Aborted_clients",
    )
    for k, event in enumerate(client.itertuples()):
        at = event.t + event.seconds
        color = ERROR if event.outcome == "error" else OK
        code = "" if pd.isna(event.error_code) else f" {event.error_code}"
        ax.axvline(at, color=color, ls="--", alpha=0.7)
        ax.annotate(
            f"client: {event.which}:{code or ' ok'}",
            (at, 0.2 + 0.5 * k),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=8,
            color=color,
        )
    ax.set_xlabel("seconds since both connections went idle")
    ax.set_ylabel("Aborted_clients (change)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def flow_timeline(events: pd.DataFrame, idle_limit: float) -> Figure:
    """One lane per connection (``netpath.flow_timeline`` data): the time the firewall
    remembers its flow (a band), its answers (dots), the query sent after the idle, the
    kernel's retransmissions (ticks) and the error (a cross, with its text)."""
    lanes = list(dict.fromkeys(events["which"]))
    end = float(events["t"].max()) + 0.5
    fig = _figure(figsize=(9, 1.2 + 1.1 * len(lanes)))
    ax = fig.subplots()
    for y, which in enumerate(lanes):
        rows = events[events["which"] == which]
        forgotten = rows[rows["event"] == "forgotten"]["t"]
        until = float(forgotten.iloc[0]) if len(forgotten) else end
        ax.barh(y, until, left=0, height=0.5, color=OK, alpha=0.18, label="conntrack remembers the flow")
        if len(forgotten):
            ax.axvline(until, ymin=(y + 0.2) / len(lanes), ymax=(y + 0.8) / len(lanes), color=ERROR, ls=":")
            ax.text(until, y + 0.32, " forgotten", fontsize=8, color=ERROR, va="bottom")
        marks = {
            "answered": ("o", OK, "answered"),
            "query sent": (">", NEUTRAL, "query sent"),
            "retransmission": ("|", ERROR, "the kernel retransmits"),
            "error": ("X", ERROR, "error"),
        }
        for event, (marker, color, label) in marks.items():
            at = rows[rows["event"] == event]
            if len(at):
                ax.scatter(at["t"], [y] * len(at), marker=marker, s=90, color=color, zorder=3, label=label)
        for row in rows[rows["event"] == "error"].itertuples():
            said = str(row.detail)
            short = said[said.find("[Errno") :].rstrip("')") if "[Errno" in said else said[-42:]
            ax.annotate(short, (row.t, y), xytext=(-6, -18), textcoords="offset points", fontsize=8,
                        color=ERROR, ha="right")  # fmt: skip
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    ax.set_xlim(-0.2, end)
    ax.set_xlabel(f"seconds since the first query (the firewall forgets a flow idle {idle_limit:g} s)")
    handles: dict[str, Any] = {}
    for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
        handles.setdefault(label, handle)  # one entry per kind, not one per lane
    ax.legend(list(handles.values()), list(handles), fontsize=8, loc="upper left", ncols=3)
    ax.grid(axis="x", alpha=0.3)
    return fig


def connect_costs(costs: pd.DataFrame) -> Figure:
    """ms per new connection (``bench.connect_costs`` data): a bar per driver and connect
    arguments, grouped by driver, the TLS server's bars marked."""
    costs = costs.sort_values(["driver", "server", "connect_args"], kind="stable")
    labels = [f"{row.driver}: {row.connect_args}" for row in costs.itertuples()]
    fig = _figure(figsize=(8, 1 + 0.32 * len(costs)))
    ax = fig.subplots()
    colors = [UNRECOGNISED if server == "TLS required" else NEUTRAL for server in costs["server"]]
    ax.barh(labels, costs["ms_per_connect"], color=colors)
    for y, ms in enumerate(costs["ms_per_connect"]):
        ax.text(ms, y, f" {ms:.2f} ms", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ms per new connection (log); orange: over TLS, certificate verified")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3, which="both")
    return fig


def sweep(points: pd.DataFrame, knob: str, boundary: float | None = None) -> Figure:
    """A sweep (``experiments.sweep`` data): each value held (green) or failed (red, its code),
    the connections per request (a recycle's cost) beside it, and the boundary where the
    outcome flips as a dashed line."""
    fig = _figure(figsize=(9, 3.2))
    ax = fig.subplots()
    held = points[points["ok"]]
    failed = points[~points["ok"]]
    ax.scatter(held["value"], [1] * len(held), color=OK, s=80, zorder=3, label="held")
    ax.scatter(failed["value"], [0] * len(failed), color=ERROR, marker="X", s=100, zorder=3, label="failed")
    for row in failed.itertuples():
        ax.annotate(str(row.code), (row.value, 0), xytext=(0, 9), textcoords="offset points", ha="center",
                    color=ERROR, fontsize=8, fontweight="bold")  # fmt: skip
    ax.set_yticks([0, 1], ["failed", "held"])
    ax.set_ylim(-0.5, 1.5)
    ax.set_xlabel(f"{knob} (s)")
    cost = ax.twinx()
    cost.plot(points["value"], points["connections_per_request"], color=NEUTRAL, marker=".", lw=1)
    cost.set_ylabel("server connections per request", color=NEUTRAL, fontsize=8)
    cost.set_ylim(0, max(1.2, float(points["connections_per_request"].max()) * 1.2))
    if boundary is not None:
        ax.axvline(boundary, color="black", ls="--", lw=1)
        ax.annotate(f"boundary ≈ {boundary:g}", (boundary, 1.35), xytext=(4, 0), textcoords="offset points",
                    fontsize=8)  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Where the setting stops holding", fontsize=10)
    return fig
