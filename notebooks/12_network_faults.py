# %% [markdown]
# # 12 · The network forgot the connection
#
# **The question.** The server's `wait_timeout` is 8 hours, nobody killed anything, and still the
# first request after a quiet spell hangs for minutes, or fails at once. What is between the
# application and the server?
#
# **The mechanism.** A NAT gateway, firewall or load balancer keeps a table of the TCP flows it
# passes and forgets a flow idle longer than its own limit, often long before `wait_timeout`:
# AWS Network Load Balancer after 350 s, Azure Load Balancer after 4 minutes, GCP Cloud NAT after
# 20 minutes for established TCP, HAProxy at its `timeout client` / `timeout server`. A firewall
# then **drops** the flow's packets silently, or answers them with a **reset**; HAProxy **closes**
# the session on both sides.
#
# **Which device plays which part here.** Everything below is real:
# - **A kernel firewall.** The lab starts a second MariaDB in a network namespace of its own, and
#   the trials' sockets are inside it too. The namespace's firewall is nftables with conntrack,
#   the machinery NAT gateways run on, and it forgets a flow idle 2 s
#   (`nf_conntrack_tcp_timeout_established`, set in that namespace only). A packet of a forgotten
#   flow is *invalid*: the rule drops it (`conntrack_drop`) or resets it (`conntrack_reset`).
# - **HAProxy.** Debian's `haproxy`, started by the lab on 127.0.0.1 in TCP mode in front of the
#   usual server (`haproxy_idle`, `haproxy_backend_down`).
# - **The lab's user-space fault proxy** adds latency at the end of this lesson (this kernel has no
#   `netem`), and it makes HAProxy's backend stop answering.

# %% [markdown]
# **Before you start:** `01_reproduce`, `03_pool_pre_ping`, `07_packets_and_timeouts` (`read_timeout`).
# **Needs:** root (a network namespace and its firewall), with nftables and HAProxy installed
# (`make setup`); Docker is not needed. **Time to run:** about 70 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one
latencies_ms = [0.0, 1.0, 5.0]  # added each way by the proxy

# %%
import pandas as pd

import helpers
from helpers import netpath, plots
from helpers.record import nested, outcomes, record

lab = helpers.start_lab()
dropped = helpers.run("conntrack_drop", lab, drivers=drivers)
after_idle = dropped[dropped["step"] == "query after the idle"]
record(
    "the firewall drops a forgotten flow: each fix, per driver",
    dropped=outcomes(helpers.summarize(dropped)),
    seconds=nested(after_idle, ["driver", "fix"], "latency"),
    views=dropped.attrs["views"],
)
after_idle[["driver", "fix", "outcome", "error_code", "message", "latency"]]

# %% [markdown]
# The query after the idle waits, and nothing in user space ends the wait: the *client's kernel*
# retransmits the query, the firewall drops every copy, and after `tcp_retries2` retransmissions
# the kernel fails the socket with `ETIMEDOUT`, `[Errno 110] Connection timed out`, which the
# driver reports as `2013`. The namespace has `tcp_retries2=3`, so that takes seconds (`latency`).
#
# - **TCP keepalive below the firewall's limit** (`TCP_KEEPIDLE` 1 s, set on each new socket by
#   `goneaway_pool.tcp.tcp_keepalive`): the probes are packets of the flow, so the firewall never
#   forgets it, and the query is answered at once.
# - **`pool_recycle` below the limit** never sends anything on a forgotten flow.
# - **`TCP_USER_TIMEOUT` and `read_timeout`** do not prevent the failure: they bound it.
# - **`pool_pre_ping` and the hardened pool's ping** send their ping on the forgotten flow, so
#   they wait for the kernel exactly as the query would; then they reconnect and the request works,
#   seconds late. Here a few seconds; in production, a quarter of an hour.

# %%
record(
    "the kernel's bound for tcp_retries2=15 and 3, seconds",
    default=netpath.retransmission_timeout(15),
    lab=netpath.retransmission_timeout(3),
)

# %% [markdown]
# **How long in production.** The kernel retransmits first after its minimum retransmission
# timeout, 200 ms, and doubles the wait each time, up to 120 s. `tcp_retries2` (15 by default)
# stands for the sum of those waits, 0.2 + 0.4 + … + 102.4 + 6 × 120 = **924.6 s, about 15
# minutes** (`Documentation/networking/ip-sysctl.rst`, and `tcp_model_timeout()` in
# `net/ipv4/tcp_timer.c`). That is a lower bound: the socket fails at the first retransmission
# timeout that expires past it. Here, with `tcp_retries2=3`, the bound is 3.0 s and the kernel
# gave up after about 6.7 s, as the timeline shows.
#
# One PyMySQL connection with TCP keepalive and one without, on one time axis; the green band is
# the time conntrack remembers each flow:

# %%
flows = netpath.flow_timeline(lab.backend.config)
plots.flow_timeline(flows, idle_limit=2)

# %%
record("the flow's life without and with TCP keepalive", **netpath.flow_facts(flows))

# %% [markdown]
# Without keepalive the flow is forgotten 2 s after its last packet; the query, 1.5 s later, is
# retransmitted with a doubling wait until the kernel gives up. With keepalive the flow stays in
# the table, and the same query is answered at once.
#
# **A reset** instead of a drop is the kind failure: the next query fails at once with
# `[Errno 104] Connection reset by peer`, and `pool_pre_ping` catches it at checkout.

# %%
reset = helpers.run("conntrack_reset", lab, drivers=drivers)
record(
    "the firewall resets a forgotten flow",
    reset=outcomes(helpers.summarize(reset)),
    reset_views=reset.attrs["views"],
)
plots.outcome_grid(helpers.summarize(reset), title="The firewall resets flows idle 2 s")

# %% [markdown]
# In both cases **the server saw nothing**: its `Aborted_clients` did not move (`views`), and the
# sessions the clients gave up on still sleep there until its own `wait_timeout`. That is the
# evidence an on-call engineer looks for: an error on the client, and no abort on the server at
# that moment.
#
# ## HAProxy
#
# HAProxy in TCP mode closes a session idle past `timeout client` / `timeout server` (2 s here),
# on both sides: the server counts an aborted client, and the application's next query on that
# connection finds it closed.

# %%
idle = helpers.run("haproxy_idle", lab, drivers=drivers)
record("HAProxy closes idle sessions", idle=outcomes(helpers.summarize(idle)), idle_views=idle.attrs["views"])
plots.outcome_grid(helpers.summarize(idle), title="HAProxy's timeouts are 2 s; the pool idles 3 s")

# %% [markdown]
# A recycle below HAProxy's timeouts, pre-ping and the hardened pool (its peek sees HAProxy's
# FIN) all hold. Raising HAProxy's timeouts (`timeout tunnel`, in TCP mode) is the other side of
# the same fix.
#
# **A server marked down.** The pool's server stops answering: its health check fails, and its
# open sessions get no answers (the fault proxy forgets them). HAProxy marks it down within a
# second and sends new sessions to the backup. Two listeners, the same two servers: one with
# `on-marked-down shutdown-sessions` on its server lines, one without.

# %%
down = helpers.run("haproxy_backend_down", lab, drivers=drivers)
after_down = down[down["step"] == "query after the primary is marked down"]
record(
    "HAProxy marks the server down",
    down=outcomes(helpers.summarize(down)),
    down_seconds=nested(after_down, ["driver", "fix"], "latency"),
    down_views=down.attrs["views"],
)
after_down[["driver", "fix", "outcome", "error_code", "message", "latency"]]

# %% [markdown]
# Without `shutdown-sessions` the sessions stay open to the server that no longer answers
# (`sessions_stay_sessions_on_primary` in `views`): the next query waits for its read timeout, and
# pre-ping's ping waits as long before it reconnects to the backup. With it, HAProxy closes them
# when it marks the server down: without a check, the next query fails at once; with pre-ping or
# the hardened pool, the request goes to the backup at once.
#
# ## What each driver said, without a fix

# %%
first = helpers.scenarios.first_errors(pd.concat([dropped, reset, idle, down], ignore_index=True))
unfixed = ["none", "sessions stay (read_timeout=2)", "on-marked-down shutdown-sessions"]
first[first["fix"].isin(unfixed)][["scenario", "driver", "fix", "error_code", "message"]]

# %% [markdown]
# ## What a longer round trip costs `pool_pre_ping`
#
# The device also adds distance. The proxy adds latency each way; we count checkouts per second
# (each runs `SELECT 1`) with no check and with `pool_pre_ping`, three interleaved runs each.

# %%
bench = helpers.bench.measure(
    lab, drivers or list(helpers.DRIVERS), ("none", "pre_ping"), latencies_ms, 0.3, 3
)
plots.rates_by_latency(bench)

# %%
record(
    "what a pre-ping adds per checkout, µs, by added round trip (ms)",
    cost_us=helpers.bench.extra_us(bench, "pre_ping"),
)
helpers.bench.summary(bench)

# %% [markdown]
# The ping costs one round trip per checkout: a tenth of a millisecond on loopback, and a whole
# round trip more with every millisecond the network adds. For a request that runs one quick
# query, that is a large share of its rate (`ratio_to_none`), at any latency.
#
# ## In production
# - Find the idle limit of every device between the application and the database (NAT gateway,
#   firewall, load balancer, HAProxy, service mesh) and set `pool_recycle` **below the smallest**,
#   not below `wait_timeout` alone. `python -m helpers doctor --engine-options '{"device": "aws_nlb"}'`
#   checks the settings against it.
# - Set TCP keepalive on the driver's socket below that limit. No driver here sets `TCP_KEEPIDLE`:
#   PyMySQL, aiomysql, asyncmy and MariaDB Connector/C (mysqlclient, MariaDB Connector/Python)
#   switch `SO_KEEPALIVE` on and leave Linux's 7200 s; mysql-connector-python's pure-Python path
#   (what `mysql.connector.connect()` gives here) sets none at all. None offers a connect argument
#   for it: `goneaway_pool.tcp.tcp_keepalive(engine, TcpKeepalive(idle=60, interval=10, count=3))`
#   sets it at connect, or lower `net.ipv4.tcp_keepalive_time` for the whole host.
# - Always set a `read_timeout` (or `TCP_USER_TIMEOUT`): without one, a silent drop hangs a worker
#   for as long as the kernel retransmits, about 15 minutes.
# - Behind HAProxy, put `on-marked-down shutdown-sessions` on every server line.
# - Evidence: a hang, then `2013` with `[Errno 110]` (a drop) or `[Errno 104]` (a reset), and
#   **no** `Aborted_clients` change on the server at that moment; behind HAProxy, its log's `cD` or
#   `sD` termination states, or `Server ... is DOWN`. The runbook knows these as `conntrack_drop`,
#   `conntrack_reset`, `haproxy_idle` and `haproxy_backend_down`.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `13_beyond_pre_ping`.
#
# - [AWS: Network Load Balancer idle timeout](https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html#connection-idle-timeout)
# - [Azure Load Balancer: TCP reset and idle timeout](https://learn.microsoft.com/en-us/azure/load-balancer/load-balancer-tcp-reset)
# - [GCP Cloud NAT timeouts](https://cloud.google.com/nat/docs/overview#specs-timeouts)
# - [Linux `tcp(7)`: tcp_retries2, tcp_keepalive_time](https://man7.org/linux/man-pages/man7/tcp.7.html)
# - [Linux ip-sysctl: tcp_retries2 and its 924.6 s](https://www.kernel.org/doc/html/latest/networking/ip-sysctl.html)
# - [HAProxy 2.6: on-marked-down, timeout client/server](https://docs.haproxy.org/2.6/configuration.html)
# - [SQLAlchemy: Dealing with Disconnects](https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects)
# - [MariaDB: Aborted connections](https://mariadb.com/kb/en/server-status-variables/#aborted_clients)
