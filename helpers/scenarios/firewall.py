"""A kernel firewall that forgets idle flows: nftables and conntrack, for real.

The lab's server runs in a network namespace of its own (:mod:`helpers.netpath`), and the
trials run inside it too. The namespace's firewall forgets a TCP flow idle past its limit,
as NAT gateways and cloud firewalls do; a packet of a forgotten flow is *invalid*, and the
firewall drops it (``conntrack_drop``) or answers it with a reset (``conntrack_reset``).

- **Dropped:** the query leaves, nothing comes back, and the *client's kernel* retransmits it
  until ``tcp_retries2`` is spent, then fails the socket with ``ETIMEDOUT`` (errno 110).
  ``tcp_retries2`` is 3 in the namespace: about 6.5 s here, where the default 15 takes about
  15 minutes (:func:`helpers.netpath.retransmission_timeout`). Nothing tells the server.
- **Reset:** the query fails at once with ``ECONNRESET`` (104).

TCP keepalive below the firewall's limit keeps the flow remembered: its probes are packets
of the flow. ``TCP_USER_TIMEOUT`` and a read timeout do not prevent the failure; they bound
how long it takes. Pre-ping and the hardened pool's ping send their ping on the forgotten
flow, so they wait for the kernel like the query would, and then reconnect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from goneaway_pool.hardened import Hardening
from goneaway_pool.tcp import TcpKeepalive

from ..lab import Lab
from ..netpath import Device, call_inside, namespace_lab, unavailable
from ..progress import wait
from .common import PRE_PING, whole_seconds
from .fixes import NO_FIX, Fix
from .network import query_all_at_once
from .registry import Place, scenario
from .trial import Trial, each

#: The firewall's idle limit (whole seconds, as conntrack counts), and the idle past it.
IDLE_LIMIT = 2
IDLE = 3.5
#: What bounds a wait here, far above the kernel's ~6.5 s: a wait this long is a defect.
BOUND = 30.0

TCP_KEEPALIVE = Fix(
    "TCP keepalive 1 s (idle 1, interval 1, count 3)", tcp=TcpKeepalive(idle=1, interval=1, count=3)
)
TCP_USER_TIMEOUT = Fix(
    "TCP_USER_TIMEOUT 1.5 s", prevents=False, tcp=TcpKeepalive(idle=None, user_timeout_ms=1500)
)
READ_TIMEOUT = Fix("read_timeout=1", prevents=False, read_timeout=1)
RECYCLE = Fix("pool_recycle=1 (below the firewall's limit)", {"pool_recycle": 1})
#: Pre-ping and the hardened pool reconnect, but only after the kernel gives up on their ping.
PRE_PING_HANGS = Fix("pool_pre_ping (waits for the kernel)", PRE_PING.options)
HARDENED_PING = Fix("hardened pool, ping_after=1 (waits for the kernel)", hardening=Hardening(ping_after=1))


def _place(forgotten: str):  # type: ignore[no-untyped-def]
    @contextmanager
    def behind_firewall(lab: Lab, timings: dict[str, float]) -> Iterator[Place]:
        device = Device(idle_limit=whole_seconds(timings["idle_limit"]), forgotten=forgotten)  # type: ignore[arg-type]
        with namespace_lab(lab.backend.config, device) as (inner, backend):
            pid = backend.pid
            assert pid is not None
            yield Place(
                inner, lambda fn: call_inside(pid, fn, name=f"in the {forgotten} namespace"), device=backend
            )

    return behind_firewall


def _forgotten(lab: Lab, trials: list[Trial], place: Place, idle_limit: float, idle: float) -> None:
    """A first query on every trial, an idle past the firewall's limit, then every trial's next
    query at once (each in a thread: the kernel's wait is paid once), then one more."""
    backend = place.device
    aborted = int(lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"])
    each(trials, "first query")
    remembered = len(backend.flows())
    wait(idle, f"idle; the firewall forgets flows idle {whole_seconds(idle_limit)}s")
    left = len(backend.flows())
    for thread in query_all_at_once(trials, "query after the idle", BOUND):
        thread.join(timeout=5)
    counters = backend.counters()
    each(trials, "next request")
    sleeping = lab.processlist(lab.backend.user)
    place.views.append(
        {
            "view": "device",
            "flows_before_idle": remembered,
            "flows_after_idle": left,
            "packets_" + ("dropped" if backend.device.forgotten == "drop" else "rejected"): counters[
                "packets"
            ],
        }
    )
    place.views.append(
        {
            "view": "server",
            "aborted_clients_delta": int(lab.status(["Aborted_clients"]).loc[0, "Aborted_clients"]) - aborted,
            "sessions_still_open": int((sleeping["COMMAND"] == "Sleep").sum()) if len(sleeping) else 0,
        }
    )


@scenario(
    "conntrack_drop",
    "A firewall (the kernel's conntrack) forgets an idle flow and drops its packets: the kernel "
    "retransmits the query until tcp_retries2 ends it with ETIMEDOUT",
    fixes=[NO_FIX, TCP_KEEPALIVE, TCP_USER_TIMEOUT, READ_TIMEOUT, RECYCLE, PRE_PING_HANGS, HARDENED_PING],
    codes=frozenset({2013, None}),  # None: aiomysql's asyncio TimeoutError for its read timeout
    timings={"idle_limit": IDLE_LIMIT, "idle": IDLE},
    place=_place("drop"),
    needs=unavailable,
)
def conntrack_drop(lab: Lab, trials: list[Trial], place: Place, idle_limit: float, idle: float) -> None:
    _forgotten(lab, trials, place, idle_limit, idle)


@scenario(
    "conntrack_reset",
    "A firewall (the kernel's conntrack) forgets an idle flow and answers its packets with a TCP reset",
    fixes=[NO_FIX, TCP_KEEPALIVE, RECYCLE, PRE_PING],
    timings={"idle_limit": IDLE_LIMIT, "idle": IDLE},
    place=_place("reset"),
    needs=unavailable,
)
def conntrack_reset(lab: Lab, trials: list[Trial], place: Place, idle_limit: float, idle: float) -> None:
    _forgotten(lab, trials, place, idle_limit, idle)
