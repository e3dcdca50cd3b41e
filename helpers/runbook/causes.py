"""What the runbook can name: one row per cause, each a registered scenario that reproduces it.

``CAUSES`` is the runbook's vocabulary. Every key is a scenario name that
``python -m helpers scenarios`` lists (a test holds it to that); the row says
what fixes it, which lesson proves it, and the question that tells it apart
from the causes that print the same error.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The margin the runbook asks for (notebook 02 shows why one is needed; this one is chosen):
#: pool_recycle stays this far below wait_timeout, so that a request that works this long
#: before its first query still finds its connection.
RECYCLE_MARGIN = 0.1


@dataclass(frozen=True)
class Cause:
    """A cause of 2006/2013 as the runbook reports it."""

    scenario: str
    summary: str
    fix: str
    notebook: str
    decide: str


CAUSES: dict[str, Cause] = {
    c.scenario: c
    for c in (
        Cause(
            "idle",
            "a pooled connection sat idle longer than the server's wait_timeout",
            "pool_pre_ping=True, or pool_recycle well below wait_timeout",
            "01_reproduce, 02_pool_recycle, 03_pool_pre_ping",
            "did the failing request come after a quiet period longer than wait_timeout?",
        ),
        Cause(
            "recycle_margin",
            "pool_recycle is at (or just under) wait_timeout, and requests work before their first query",
            "pool_recycle = wait_timeout minus the longest request, or pool_pre_ping=True",
            "02_pool_recycle",
            "is pool_recycle within a request's length of wait_timeout?",
        ),
        Cause(
            "restart",
            "the server restarted (or failed over) under the pool",
            "pool_pre_ping=True",
            "01_reproduce, 06_server_kills",
            "did the server's Uptime restart around the time of the error?",
        ),
        Cause(
            "kill_idle",
            "something KILLed the connection while it sat in the pool (a DBA, a query killer, a proxy)",
            "pool_pre_ping=True",
            "06_server_kills",
            "does anything on the server kill idle or long connections (pt-kill, a proxy, a DBA)?",
        ),
        Cause(
            "kill_mid_query",
            "the connection was KILLed while its query ran",
            "nothing at checkout can help: find who kills, retry reads only",
            "06_server_kills",
            "was the statement running when it died (Query execution was interrupted, KILL in the log)?",
        ),
        Cause(
            "long_work",
            "the request held its connection through work longer than wait_timeout",
            "release the connection during long work, or raise the session's wait_timeout",
            "04_long_work",
            "did the request run longer than wait_timeout before the error?",
        ),
        Cause(
            "idle_transaction",
            "a transaction sat open longer than MariaDB's idle_transaction_timeout",
            "commit (or roll back) before idling; roll the Session back after the error",
            "06_server_kills",
            "is idle_transaction_timeout (or idle_write_transaction_timeout) set on the server?",
        ),
        Cause(
            "interactive_timeout",
            "the timeout you read (interactive_timeout, from the CLI) is not the one the application gets",
            "read @@session.wait_timeout from the application's own connection",
            "05_interactive_timeout",
            "did you read the timeout from the mysql CLI rather than from the application's session?",
        ),
        Cause(
            "max_allowed_packet",
            "one statement was larger than max_allowed_packet",
            "raise max_allowed_packet (server and client), or write large values in chunks",
            "07_packets_and_timeouts",
            "did the failing statement carry a large value (a BLOB, a bulk INSERT)?",
        ),
        Cause(
            "read_timeout",
            "a query ran longer than the client's read_timeout",
            "a read_timeout longer than the slowest query (or a faster query)",
            "07_packets_and_timeouts",
            "did the error come exactly read_timeout seconds after the statement started?",
        ),
        Cause(
            "net_write_timeout",
            "a streamed result was not read for longer than net_write_timeout",
            "buffer the result, or raise the session's net_write_timeout while streaming",
            "07_packets_and_timeouts",
            "was the result streamed (stream_results, SSCursor) and paused between fetches?",
        ),
        Cause(
            "paused_server",
            "the server (or the path to it) stopped answering: frozen, overloaded or unreachable",
            "set a read_timeout so a hang becomes an error",
            "07_packets_and_timeouts",
            "did requests hang before the error, with no answer at all?",
        ),
        Cause(
            "flask_scoped_session",
            "a Flask scoped_session was not removed after a failed request, so the worker stays stuck",
            "session.remove() at teardown (Flask-SQLAlchemy does it), plus pool_pre_ping",
            "08_web_apps",
            "does every later request on the same worker fail with PendingRollbackError?",
        ),
        Cause(
            "flask_sqlalchemy",
            "Flask-SQLAlchemy never received the pool options (SQLALCHEMY_ENGINE_OPTIONS)",
            'SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True} (SQLALCHEMY_POOL_RECYCLE is gone in 3.x)',
            "08_web_apps",
            "is the app on Flask-SQLAlchemy, and does its config set SQLALCHEMY_ENGINE_OPTIONS?",
        ),
        Cause(
            "fastapi_session",
            "a FastAPI app shares one Session across requests instead of one per request",
            "a Session per request: a dependency that yields it and closes it",
            "08_web_apps",
            "is the Session created once at import instead of in a dependency?",
        ),
        Cause(
            "pool_exhaustion",
            "sessions are never given back, so the pool runs dry",
            "close or remove() every Session; watch pool.checkedout()",
            "08_web_apps",
            "does the pool's checked-out count only grow?",
        ),
        Cause(
            "keepalive",
            "the pool idles through quiet hours; a raised wait_timeout only moves the cliff",
            "pool_pre_ping=True, or a keep-alive that uses each pooled connection",
            "09_keepalive_vs_timeout",
            "do the failures come after quiet hours even with a raised wait_timeout?",
        ),
        Cause(
            "fork",
            "a pool was inherited across fork() (gunicorn --preload, Celery prefork, multiprocessing)",
            "engines created after the fork; or gc.freeze() before it and engine.dispose(close=False) "
            "in each child (without the freeze, only PyMySQL is safe); or NullPool",
            "10_fork",
            "do the workers fork after the engine was created (gunicorn --preload, Celery prefork)?",
        ),
        Cause(
            "commit_in_doubt",
            "the connection died after COMMIT was sent: the write may or may not have happened",
            "retry writes only with an idempotency key",
            "11_retry",
            "did the error come from COMMIT, and are there duplicates after retries?",
        ),
        Cause(
            "lb_silent_drop",
            "a load balancer, NAT gateway or firewall silently forgot a connection idle past its limit",
            "pool_recycle below the device's idle limit, and a read_timeout so a hang becomes an error "
            "(pool_pre_ping alone hangs too); or a TCP keepalive below the limit",
            "12_network_faults",
            "did the request hang first, and did the server's Aborted_clients stay flat at that moment?",
        ),
        Cause(
            "lb_reset",
            "a load balancer or firewall reset (TCP RST) a connection idle past its limit",
            "pool_pre_ping=True, or pool_recycle below the device's idle limit",
            "12_network_faults",
            "is there a device between the app and the server whose idle limit is below the quiet period?",
        ),
        Cause(
            "conntrack_drop",
            "a stateful firewall or NAT gateway forgot the idle flow and dropped its packets: the query "
            "hung while the kernel retransmitted it, until ETIMEDOUT (about 15 minutes by default)",
            "TCP keepalive below the device's idle limit (TCP_KEEPIDLE/INTVL/CNT at connect), or "
            "pool_recycle below it; a read_timeout or TCP_USER_TIMEOUT turns the hang into a quick error",
            "12_network_faults",
            "did the request hang for minutes and end with errno 110 'Connection timed out'?",
        ),
        Cause(
            "conntrack_reset",
            "a firewall forgot the idle flow and answered its next packet with a TCP reset",
            "TCP keepalive below the device's idle limit, pool_recycle below it, or pool_pre_ping=True",
            "12_network_faults",
            "did the first query after a quiet period fail at once with 'Connection reset by peer'?",
        ),
        Cause(
            "haproxy_idle",
            "HAProxy closed a session idle past its timeout client / timeout server",
            "pool_recycle below HAProxy's timeouts, pool_pre_ping=True or the hardened pool; or raise "
            "HAProxy's timeouts (timeout tunnel in TCP mode)",
            "12_network_faults",
            "is HAProxy's 'timeout client' or 'timeout server' below the quiet period (log: cD or sD)?",
        ),
        Cause(
            "haproxy_backend_down",
            "HAProxy marked the pool's server down; its sessions were closed (shutdown-sessions) or left "
            "stuck on a server that no longer answers",
            "on-marked-down shutdown-sessions on every server line, with pool_pre_ping=True or the "
            "hardened pool, and a read_timeout",
            "12_network_faults",
            "did HAProxy's log say 'Server ... is DOWN' at the moment the errors or hangs began?",
        ),
        Cause(
            "node_loss",
            "the node under the pool died: the query in flight was lost, the pooled connections were dead",
            "pool_pre_ping=True (or the hardened pool) behind a proxy that checks node state; retry reads, "
            "and writes only with an idempotency key",
            "16_failover",
            "did a cluster node crash or restart (wsrep_cluster_size dropped) when the errors began?",
        ),
        Cause(
            "non_primary",
            "the pool's Galera node lost the quorum: 1047 on a live socket, which SQLAlchemy does not count "
            "as a disconnect, so pre-ping passes",
            "a health check by node state (wsrep_local_state, clustercheck) with on-marked-down "
            "shutdown-sessions, and 1047 as a disconnect (goneaway_pool.failover.treat_as_disconnect)",
            "16_failover",
            "does the node report wsrep_cluster_status non-Primary or wsrep_ready OFF?",
        ),
        Cause(
            "writer_switchover",
            "the writer was demoted (read_only) and the pool's connections stayed on it: 1290 on every write",
            "1290 as a disconnect (goneaway_pool.failover.treat_as_disconnect), pool_recycle, and HAProxy's "
            "on-marked-down shutdown-sessions with a check that fails a read-only node",
            "16_failover",
            "is the server the app writes to read_only now, after a failover or switchover?",
        ),
        Cause(
            "certification_conflict",
            "writers on two cluster nodes changed the same row: Galera rolled one back with 1213 at COMMIT",
            "retry the whole transaction (nothing was committed); or write through one node at a time",
            "16_failover",
            "does the app write to more than one node at once (a reader listener, round-robin writes)?",
        ),
        Cause(
            "async_cancel",
            "an asyncio request was cancelled mid-query (a client that went away, a timeout); an older "
            "driver or SQLAlchemy left the connection out of step with its server",
            "SQLAlchemy 2.x with aiomysql 0.3 or asyncmy 0.2.12+ already drop the cancelled connection; on "
            "older ones, invalidate it on CancelledError, or upgrade",
            "18_modern_stacks",
            "was a request cancelled (a client disconnect, asyncio.timeout or wait_for) just before?",
        ),
        Cause(
            "idle_tls",
            "a pooled TLS connection sat idle past wait_timeout: the close arrives through OpenSSL "
            "('EOF occurred in violation of protocol')",
            "pool_pre_ping=True, or pool_recycle well below wait_timeout (as without TLS)",
            "18_modern_stacks",
            "does the app connect over TLS, and did the request come after a quiet period?",
        ),
        Cause(
            "restart_tls",
            "the server restarted under a pool of TLS connections",
            "pool_pre_ping=True, and with mysqlclient or MariaDB Connector/Python 2026 counted as a "
            "disconnect (their ping says 2026, which SQLAlchemy does not list); or the hardened pool",
            "18_modern_stacks",
            "does the app connect over TLS, and did the server's Uptime restart?",
        ),
        Cause(
            "kill_idle_tls",
            "something KILLed a pooled TLS connection",
            "pool_pre_ping=True, and with mysqlclient or MariaDB Connector/Python 2026 counted as a "
            "disconnect",
            "18_modern_stacks",
            "does the app connect over TLS, and does anything kill connections on the server?",
        ),
        Cause(
            "mysql8_inactivity",
            "MySQL 8.0.24+ closed a connection idle past wait_timeout and said so first (4031); drivers "
            "report 4031, or 2013 for a packet numbered 0, or 2006/2055 if they write first",
            "pool_pre_ping=True, or pool_recycle well below wait_timeout",
            "18_modern_stacks",
            "is the server MySQL 8.0.24 or later, and did the request come after a quiet period?",
        ),
    )
}
