"""The application's engine settings, read as data and checked against the server.

Accepted forms (a dict, or text that is a JSON object or a Python literal; never
evaluated as code):

* ``create_engine`` keyword arguments: ``{"pool_recycle": 3600, "pool_pre_ping": true,
  "pool_size": 5, "max_overflow": 10, "connect_args": {"read_timeout": 30}}``
* a Flask-SQLAlchemy config: ``{"SQLALCHEMY_DATABASE_URI": "...",
  "SQLALCHEMY_ENGINE_OPTIONS": {...}}`` (the 2.x keys such as
  ``SQLALCHEMY_POOL_RECYCLE`` are read, and reported as ignored by 3.x)
* a URL with query arguments: ``mysql+pymysql://u@h/db?read_timeout=30``

Facts about the deployment that no engine option holds may sit beside them:
``workers`` (processes, each with its own pool), ``slowest_query_seconds``,
``stream_results``, and the device between the app and the server: ``device`` (a key of
``DEVICE_IDLE_LIMITS``), ``device_idle_seconds``, ``tcp_keepalive_seconds``.

:func:`check_settings` gives findings with a severity and the lesson that
proves each; :func:`replay` runs the settings through the lab's scenarios with
every timeout scaled down by one factor.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..errors import LabError
from .causes import RECYCLE_MARGIN
from .finding import Finding, table

#: Engine options the check understands; any other is reported, not used.
KNOWN_OPTIONS = {
    "pool_recycle",
    "pool_pre_ping",
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "poolclass",
    "connect_args",
    "execution_options",
    "echo",
    "echo_pool",
    "isolation_level",
    "pool_use_lifo",
    "pool_reset_on_return",
}
#: Facts beside the options.
DEPLOYMENT = {
    "workers",
    "slowest_query_seconds",
    "stream_results",
    "device",
    "device_idle_seconds",
    "tcp_keepalive_seconds",
}
#: The idle limit of devices often found between an application and its database, in seconds
#: (their documented defaults). HAProxy's is its own ``timeout client``/``timeout server``: give
#: ``device_idle_seconds``.
DEVICE_IDLE_LIMITS = {
    "aws_nlb": 350.0,  # AWS Network Load Balancer, TCP idle timeout
    "azure_lb": 240.0,  # Azure Load Balancer, 4 minutes by default
    "gcp_cloud_nat": 1200.0,  # GCP Cloud NAT, established TCP connections: 20 minutes
    "aws_nat_gateway": 350.0,  # AWS NAT gateway drops idle connections after 350 s
    "haproxy": None,
    "firewall": None,
}
#: Linux's own ``net.ipv4.tcp_keepalive_time``: the first probe after two hours idle.
LINUX_KEEPALIVE_TIME = 7200.0
#: Flask-SQLAlchemy 2.x keys that 3.x ignores, and the option each meant.
FLASK_LEGACY = {
    "SQLALCHEMY_POOL_RECYCLE": "pool_recycle",
    "SQLALCHEMY_POOL_SIZE": "pool_size",
    "SQLALCHEMY_MAX_OVERFLOW": "max_overflow",
    "SQLALCHEMY_POOL_TIMEOUT": "pool_timeout",
}
#: Driver timeouts as URL query arguments or connect_args, by driver spelling.
TIMEOUT_ARGS = {
    "read_timeout": "read_timeout",
    "write_timeout": "write_timeout",
    "connect_timeout": "connect_timeout",
    "connection_timeout": "connect_timeout",  # mysql-connector-python
}
SQLALCHEMY_POOL_DEFAULTS = {"pool_size": 5, "max_overflow": 10}


@dataclass
class AppSettings:
    """The engine settings that matter for 2006/2013, whatever form they came in."""

    form: str
    options: dict[str, Any] = field(default_factory=dict)
    timeouts: dict[str, float] = field(default_factory=dict)
    workers: int = 1
    slowest_query_seconds: float | None = None
    streaming: bool = False
    #: the device between the app and the server (a key of ``DEVICE_IDLE_LIMITS``), its idle limit
    #: in seconds, and the TCP keepalive idle time the app's sockets use
    device: str | None = None
    device_idle_seconds: float | None = None
    tcp_keepalive_seconds: float | None = None
    ignored: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def pool_recycle(self) -> float | None:
        value = self.options.get("pool_recycle")
        return None if value is None or float(value) < 0 else float(value)

    @property
    def pool_pre_ping(self) -> bool:
        return bool(self.options.get("pool_pre_ping", False))

    def engine_options(self) -> dict[str, Any]:
        """The options as ``create_engine`` keywords (driver timeouts in ``connect_args``)."""
        out = {k: v for k, v in self.options.items() if k in KNOWN_OPTIONS and k != "poolclass"}
        if self.timeouts:
            out["connect_args"] = {**out.get("connect_args", {}), **self.timeouts}
        return out

    def facts(self) -> dict[str, Any]:
        """What the classifier's fact rules read from the settings."""
        return {
            "pool_recycle": self.pool_recycle,
            "pool_pre_ping": self.pool_pre_ping,
            "framework": "flask_sqlalchemy" if self.form == "flask-sqlalchemy config" else None,
            "streaming": self.streaming,
            "device": "haproxy" if self.device == "haproxy" else "firewall" if self.device else None,
        }


def _literal(text: str) -> Any:
    text = text.strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise LabError(
            "engine options are not a JSON object or a Python literal dict "
            '(e.g. {"pool_recycle": 3600, "pool_pre_ping": true}); they are read as data, never run'
        ) from None


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise LabError(f"{name}={value!r}: expected a number")
    try:
        number = float(value)
    except ValueError:
        raise LabError(f"{name}={value!r}: expected a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise LabError(f"{name}={value!r}: expected a finite number")
    return number


def parse_settings(source: str | Mapping[str, Any] | None) -> AppSettings:
    """Read engine settings in any accepted form (see the module's docstring)."""
    if source is None:
        return AppSettings("none given")
    if isinstance(source, str) and "://" in source and not source.lstrip().startswith(("{", "[")):
        return _from_url(source)
    data = _literal(source) if isinstance(source, str) else source
    if not isinstance(data, Mapping):
        raise LabError(f"engine options must be a dict of options, not {type(data).__name__}")
    data = dict(data)
    if any(str(k).startswith("SQLALCHEMY_") for k in data):
        return _from_flask(data)
    return _from_kwargs(data, "create_engine keywords")


def _from_kwargs(data: dict[str, Any], form: str) -> AppSettings:
    settings = AppSettings(form)
    for key, value in data.items():
        key = str(key)
        if key in DEPLOYMENT:
            _deployment(settings, key, value)
        elif key == "connect_args":
            if not isinstance(value, Mapping):
                raise LabError("connect_args must be a dict")
            for arg, v in value.items():
                if arg in TIMEOUT_ARGS:
                    settings.timeouts[TIMEOUT_ARGS[arg]] = _number(f"connect_args.{arg}", v)
            settings.options["connect_args"] = {k: v for k, v in value.items() if k not in TIMEOUT_ARGS}
        elif key in KNOWN_OPTIONS:
            if key in ("pool_recycle", "pool_size", "max_overflow", "pool_timeout"):
                value = _number(key, value)
            if key == "pool_size" and value < 0:
                raise LabError(f"pool_size={value:g}: must be 0 or more")
            settings.options[key] = value
        else:
            settings.unknown.append(key)
    if not settings.options.get("connect_args"):
        settings.options.pop("connect_args", None)
    return settings


def _deployment(settings: AppSettings, key: str, value: Any) -> None:
    if key == "workers":
        workers = _number("workers", value)
        if workers < 1:
            raise LabError(f"workers={value!r}: at least 1")
        settings.workers = int(workers)
    elif key == "slowest_query_seconds":
        settings.slowest_query_seconds = _number(key, value)
    elif key == "device":
        name = str(value).strip().lower()
        if name not in DEVICE_IDLE_LIMITS:
            raise LabError(f"device={value!r}: choose one of {', '.join(DEVICE_IDLE_LIMITS)}")
        settings.device = name
    elif key == "device_idle_seconds":
        settings.device_idle_seconds = _number(key, value)
    elif key == "tcp_keepalive_seconds":
        settings.tcp_keepalive_seconds = _number(key, value)
    else:
        settings.streaming = bool(value)


def _from_flask(config: dict[str, Any]) -> AppSettings:
    options = config.get("SQLALCHEMY_ENGINE_OPTIONS", {}) or {}
    if not isinstance(options, Mapping):
        raise LabError("SQLALCHEMY_ENGINE_OPTIONS must be a dict")
    settings = _from_kwargs(
        {**dict(options), **{k: v for k, v in config.items() if k in DEPLOYMENT}}, "flask-sqlalchemy config"
    )
    for key, option in FLASK_LEGACY.items():
        if key in config:
            settings.ignored.append(
                f"{key}: Flask-SQLAlchemy 3.x ignores it (2.x read it); "
                f"put {option} in SQLALCHEMY_ENGINE_OPTIONS"
            )
    uri = config.get("SQLALCHEMY_DATABASE_URI")
    if isinstance(uri, str) and "://" in uri:
        settings.timeouts.update(_from_url(uri).timeouts)
    return settings


def _from_url(text: str) -> AppSettings:
    try:
        url = make_url(text.strip())
    except (ArgumentError, ValueError):
        raise LabError("not a URL like mysql+pymysql://user@host/db?read_timeout=30") from None
    settings = AppSettings("URL query")
    for arg, value in url.query.items():
        value = value[-1] if isinstance(value, tuple) else value
        if arg in TIMEOUT_ARGS:
            settings.timeouts[TIMEOUT_ARGS[arg]] = _number(arg, value)
    return settings


# -- the static checks -------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerFacts:
    """The server values the settings are checked against (from the server check, or given)."""

    wait_timeout: float
    max_connections: int | None = None
    net_write_timeout: float | None = None

    @classmethod
    def of(cls, report: Any) -> ServerFacts:
        """From a :class:`~helpers.runbook.server.ServerReport`."""
        mc, nwt = report.variable("max_connections"), report.variable("net_write_timeout")
        return cls(
            wait_timeout=float(report.wait_timeout or 28800),
            max_connections=int(mc) if isinstance(mc, float) else None,
            net_write_timeout=nwt if isinstance(nwt, float) else None,
        )


def _recycle(settings: AppSettings, server: ServerFacts) -> Iterator[Finding]:
    wait, recycle, pinged = server.wait_timeout, settings.pool_recycle, settings.pool_pre_ping
    margin_limit = wait * (1 - RECYCLE_MARGIN)
    check, lesson = "pool_recycle vs wait_timeout", "02_pool_recycle"
    if recycle is None or recycle <= 0:
        yield Finding(
            "ok" if pinged else "critical",
            check,
            f"no pool_recycle; wait_timeout={wait:g}s"
            + ("" if pinged else ": a connection idle longer fails the next request (2006)"),
            lesson,
        )
    elif recycle >= wait:
        yield Finding(
            "ok" if pinged else "critical",
            check,
            f"pool_recycle={recycle:g}s ≥ wait_timeout={wait:g}s: connections die in the pool before recycle"
            " (the advice 'with a 30 s timeout, recycle every 60 s', tested: 17_what_the_blogs_say)",
            lesson,
        )
    elif recycle > margin_limit:
        yield Finding(
            "ok" if pinged else "warning",
            check,
            f"pool_recycle={recycle:g}s is within {RECYCLE_MARGIN:.0%} of wait_timeout={wait:g}s: a request "
            "that works before its first query can still find its connection dropped",
            lesson,
        )
    else:
        yield Finding("ok", check, f"pool_recycle={recycle:g}s < {margin_limit:g}s", lesson)


def _pre_ping(settings: AppSettings, server: ServerFacts) -> Iterator[Finding]:
    yield Finding(
        "ok" if settings.pool_pre_ping else "warning",
        "pool_pre_ping",
        "on: dead pooled connections are replaced at checkout"
        if settings.pool_pre_ping
        else "off: a restart, a KILL or a failover fails one request per pooled connection (2013)",
        "03_pool_pre_ping, 06_server_kills",
    )


def _pool_size(settings: AppSettings, server: ServerFacts) -> Iterator[Finding]:
    size = int(settings.options.get("pool_size", SQLALCHEMY_POOL_DEFAULTS["pool_size"]))
    overflow = int(settings.options.get("max_overflow", SQLALCHEMY_POOL_DEFAULTS["max_overflow"]))
    peak, limit = (size + max(overflow, 0)) * settings.workers, server.max_connections
    check = "pool size × workers vs max_connections"
    if overflow < 0:
        yield Finding(
            "critical" if limit else "warning",
            check,
            f"max_overflow={overflow}: no limit, so {settings.workers} worker(s) can open any number of "
            f"connections; max_connections={limit or 'unknown'}",
            "08_web_apps",
        )
    elif limit:
        yield Finding(
            "critical" if peak > limit else "warning" if peak > 0.8 * limit else "ok",
            check,
            f"({size} + {max(overflow, 0)}) × {settings.workers} workers = {peak} connections at peak; "
            f"max_connections={limit}",
            "08_web_apps",
        )


def _read_timeout(settings: AppSettings, server: ServerFacts) -> Iterator[Finding]:
    read_timeout, slowest = settings.timeouts.get("read_timeout"), settings.slowest_query_seconds
    lesson = "07_packets_and_timeouts"
    if read_timeout is None:
        yield Finding(
            "info",
            "read_timeout",
            "none: a frozen server or a dropped flow hangs requests with no error",
            lesson,
        )
    elif slowest is not None and read_timeout <= slowest:
        yield Finding(
            "critical",
            "read_timeout vs slowest query",
            f"read_timeout={read_timeout:g}s ≤ slowest query {slowest:g}s: "
            "that query fails with 2013 (timed out)",
            lesson,
        )
    else:
        above = f" > slowest query {slowest:g}s" if slowest is not None else ""
        yield Finding("ok", "read_timeout vs slowest query", f"read_timeout={read_timeout:g}s{above}", lesson)


def _streaming(settings: AppSettings, server: ServerFacts) -> Iterator[Finding]:
    if settings.streaming:
        nwt = f"={server.net_write_timeout:g}s" if server.net_write_timeout else ""
        yield Finding(
            "warning",
            "streaming vs net_write_timeout",
            f"streamed results must be read within net_write_timeout{nwt} between fetches",
            "07_packets_and_timeouts",
        )


def _device(settings: AppSettings, server: ServerFacts) -> Iterator[Finding]:
    """A device's idle limit: the pool must not keep a connection idle past it, or TCP
    keepalive must probe within it (a ping at checkout waits on a silently dropped flow)."""
    if settings.device is None and settings.device_idle_seconds is None:
        return
    limit = settings.device_idle_seconds or DEVICE_IDLE_LIMITS.get(settings.device or "")
    name = settings.device or "the device"
    lesson = "12_network_faults"
    if limit is None:
        yield Finding(
            "info", "device idle limit", f"{name}: give device_idle_seconds (its idle timeout)", lesson
        )
        return
    keepalive = settings.tcp_keepalive_seconds or LINUX_KEEPALIVE_TIME
    # HAProxy's timeouts count idle time between data: the kernel's probes never reach it
    probes = keepalive < limit and settings.device != "haproxy"
    recycle = settings.pool_recycle
    if recycle is not None and 0 < recycle < limit:
        yield Finding(
            "ok",
            "pool_recycle vs device idle limit",
            f"pool_recycle={recycle:g}s < {name}'s {limit:g}s",
            lesson,
        )
    else:
        said = f"pool_recycle={recycle:g}s" if recycle else "no pool_recycle"
        risk = (
            f"TCP keepalive every {keepalive:g}s keeps the flows {name} would forget after {limit:g}s idle"
            if probes
            else f"{name} forgets or closes flows idle {limit:g}s: a connection idle longer fails its next "
            "query, or hangs it until the kernel gives up (about 15 minutes); pool_pre_ping waits too"
        )
        yield Finding(
            "ok" if probes else "critical", "pool_recycle vs device idle limit", f"{said}: {risk}", lesson
        )
    if settings.device == "haproxy":
        return  # its timeouts are not kept by probes: the recycle above is the check
    yield Finding(
        "ok" if probes else "warning",
        "TCP keepalive vs device idle limit",
        f"TCP keepalive idle {keepalive:g}s {'<' if probes else '≥'} {name}'s {limit:g}s"
        + (
            ""
            if settings.tcp_keepalive_seconds
            else " (Linux's tcp_keepalive_time; the drivers set no TCP_KEEPIDLE)"
        )
        + ("" if probes else ": the probes come too late to keep the flow"),
        lesson,
    )


def _unused(settings: AppSettings, server: ServerFacts) -> Iterator[Finding]:
    for item in settings.ignored:
        yield Finding("warning", "ignored setting", f"{item} (tested: 17_what_the_blogs_say)", "08_web_apps")
    for item in settings.unknown:
        yield Finding("info", "unknown option", f"{item!r} is not an engine option the check knows; not used")


#: The static checks, in the order they are shown within a severity.
CHECKS: tuple[Callable[[AppSettings, ServerFacts], Iterable[Finding]], ...] = (
    _recycle,
    _pre_ping,
    _pool_size,
    _read_timeout,
    _streaming,
    _device,
    _unused,
)


def settings_findings(settings: AppSettings, server: ServerFacts) -> list[Finding]:
    """What each of :data:`CHECKS` finds in ``settings`` against ``server``."""
    return [finding for check in CHECKS for finding in check(settings, server)]


def check_settings(settings: AppSettings, server: ServerFacts) -> pd.DataFrame:
    """Findings: one row per check, worst first."""
    return table(settings_findings(settings, server))
