# %% [markdown]
# # 12 · The network forgot the connection
#
# **The question.** The server's `wait_timeout` is 8 hours, nobody killed anything, and still the
# first request after a quiet spell hangs, or fails at once. What is between the application and
# the server?
#
# **The mechanism.** A load balancer, NAT gateway or firewall keeps a table of the TCP flows it
# passes and forgets a flow idle longer than its own limit, often long before `wait_timeout`:
# AWS Network Load Balancer after 350 s, Azure Load Balancer after 4 minutes, GCP Cloud NAT after
# 20 minutes for established TCP. Most devices then drop the flow's packets **silently**; some
# (Azure with "TCP reset on idle", many firewalls) send a **reset** to both sides.
#
# The lab plays that device with its loopback fault proxy (`helpers.faultproxy`): it forgets, or
# resets, a flow idle for 1.5 s. The server's `wait_timeout` stays at its default of 8 hours.

# %% [markdown]
# **Before you start:** `01_reproduce`, `03_pool_pre_ping`, `07_packets_and_timeouts` (`read_timeout`).
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** about 40 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one
latencies_ms = [0.0, 1.0, 5.0]  # added each way by the proxy

# %%
import helpers
from helpers import plots
from helpers.record import outcomes, record
from helpers.scenarios import network

lab = helpers.start_lab()
silent = helpers.run("lb_silent_drop", lab, drivers=drivers)
plots.timeline(silent, title="The device forgets flows idle 1.5 s; the next query waits")

# %%
record("silent drop, each fix, per driver", silent=outcomes(helpers.summarize(silent)))
silent[silent["step"] != "first query"][
    ["driver", "fix", "step", "outcome", "error_code", "message", "latency"]
]

# %% [markdown]
# - **No timeout**: the query waits, and nothing tells it the flow is gone. The lab gives up after
#   2 s and has the proxy close the client's side (the `2013` row that follows). On a real network
#   the client's kernel retransmits the unanswered query and gives up only after
#   `net.ipv4.tcp_retries2` (15 retries, about 15 minutes) with `ETIMEDOUT` (`[Errno 110]`).
# - **`read_timeout=1`** turns the hang into `2013` after one second: an error, but a bounded one.
# - **`pool_pre_ping` hangs too.** The ping is a round trip like any other, and it has no timeout
#   of its own. The blogs' universal fix does not help here, alone.
# - **`pool_pre_ping` with `read_timeout=1`**: the ping times out after a second, SQLAlchemy sees a
#   disconnect and connects again. No error, but the request waited a second (`latency`).
# - **`pool_recycle` below the device's limit** never lets a pooled connection get that old: the
#   quiet connection is replaced at checkout, before anything is sent on the forgotten flow.

# %%
reset = helpers.run("lb_reset", lab, drivers=drivers)
record("reset, each fix, per driver", reset=outcomes(helpers.summarize(reset)))
plots.outcome_grid(helpers.summarize(reset), title="The device resets flows idle 1.5 s")

# %% [markdown]
# A reset is the kind failure: the next query fails **at once** with `2006` (PyMySQL's text
# carries `ConnectionResetError(104, 'Connection reset by peer')`), and `pool_pre_ping` catches it
# at checkout like a `wait_timeout` close. Raising `wait_timeout` helps with neither fault.
#
# ## The evidence: who closed it?
#
# An on-call engineer can tell the two apart on the server. When **the server** closes an idle
# connection, `Aborted_clients` rises and the error log says `Got timeout reading communication
# packets` at that moment, *before* the client's error. When **the network** dropped it, the
# server sees nothing: its side of the connection still sleeps, and it counts the abort only at its
# own `wait_timeout`, long *after* the client's error. Here `wait_timeout` is 4 s; the device
# forgets after 1 s.

# %%
client, server = network.server_view(lab)
plots.server_view(client, server)

# %%
record(
    "the server's Aborted_clients when each client got its error, and at the end",
    at_error=dict(zip(client["which"], client["aborted_clients_then"], strict=True)),
    at_end=server["aborted_clients"].iloc[-1],
    codes=dict(zip(client["which"], client["error_code"], strict=True)),
)
client

# %% [markdown]
# The client whose flow the network dropped got `2013 ... (timed out)` at about 2.5 s, and at that
# moment the server had counted nothing. Both aborts appear at 4 s, the server's `wait_timeout` for
# both connections: the server never heard the dropped client's query.
#
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
# - Find the idle limit of every device between the application and the database (load balancer,
#   NAT gateway, firewall, service mesh) and set `pool_recycle` **below the smallest**, not below
#   `wait_timeout` alone.
# - Always set a `read_timeout` (and `write_timeout`): without one, a silent drop hangs a worker for
#   as long as the kernel retransmits. With one, `pool_pre_ping` can recover from a silent drop.
# - TCP keepalive probes shorter than the device's limit (`net.ipv4.tcp_keepalive_time`, or the
#   socket options `TCP_KEEPIDLE`/`TCP_KEEPINTVL`/`TCP_KEEPCNT` on the driver's socket) keep the flow
#   alive on a real network, because the device sees them. The lab cannot show it: through a
#   user-space proxy the probes end at the proxy's own socket.
# - Evidence: a hang, then `2013` with `(timed out)` or `[Errno 110]`, and **no** `Aborted_clients`
#   change on the server at that time. The runbook (`python -m helpers doctor`) knows these as
#   `lb_silent_drop` and `lb_reset`.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `13_beyond_pre_ping`.
#
# - [AWS: Network Load Balancer idle timeout](https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html#connection-idle-timeout)
# - [Azure Load Balancer: TCP reset and idle timeout](https://learn.microsoft.com/en-us/azure/load-balancer/load-balancer-tcp-reset)
# - [GCP Cloud NAT timeouts](https://cloud.google.com/nat/docs/overview#specs-timeouts)
# - [Linux `tcp(7)`: tcp_retries2, tcp_keepalive_time](https://man7.org/linux/man-pages/man7/tcp.7.html)
# - [SQLAlchemy: Dealing with Disconnects](https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects)
# - [MariaDB: Aborted connections](https://mariadb.com/kb/en/server-status-variables/#aborted_clients)
