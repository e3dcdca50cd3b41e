# %% [markdown]
# # 00 · Start here: the Gone-Away Lab
#
# **The question.** Your service runs on SQLAlchemy and MySQL/MariaDB. Every morning the first request
# fails with `MySQL server has gone away` (2006) or `Lost connection to MySQL server during query` (2013),
# once, and then all is well. Why, and which setting stops it?
#
# These notebooks let you *watch* it happen against a real MariaDB, in seconds instead of a night:
#
# | notebook | what you see |
# |---|---|
# | `00_start_here` | the lab: a private MariaDB and what is in it |
# | `01_reproduce` | an idle pooled connection dies; 2006 and 2013 with both drivers; the server's evidence |
# | `02_pool_recycle` | recycle connections before the server drops them, and why the margin matters |
# | `03_pool_pre_ping` | test each connection at checkout; survive a restart; what it costs |
# | `04_long_work` | a 2006/2013 in the *middle* of a request: work while holding a connection |
# | `05_interactive_timeout` | why the `mysql` CLI shows another timeout; the `client_flag` trap |
# | `06_server_kills` | KILL, restart, `idle_transaction_timeout`; the Session that needs a rollback |
# | `07_packets_and_timeouts` | `max_allowed_packet`, `read_timeout`, `net_write_timeout`, a frozen server |
# | `08_web_apps` | Flask `scoped_session`, Flask-SQLAlchemy options, FastAPI sessions, pool exhaustion |
# | `09_keepalive_vs_timeout` | a keep-alive job or a higher `wait_timeout`? |
# | `10_fork` | a pool inherited across `fork()` |
# | `11_retry` | when a retry is safe: a COMMIT in doubt |
# | `12_network_faults` | a load balancer forgets idle flows: silent drops, resets, latency |
# | `13_beyond_pre_ping` | a hardened pool: peek instead of ping, jittered recycle, long-checkout reports |
# | `14_matrix` | every cause × fix × driver on one page |
# | `15_drivers` | six drivers (async too) on the same causes: codes, disconnect recognition, pre-ping, connect |
# | `17_what_the_blogs_say` | thirteen common claims about "gone away", each tested by a run, with its verdict |
# | `runbook` | for an incident: your error text and server in, the likely cause and its fix out |
# | `playground` | any setting against any cause, with controls (also `make playground`) |
#
# **Prerequisites.** `make setup` (or `make lab`) has installed everything. The lab starts MariaDB
# with `docker compose` where a Docker engine answers, and otherwise a private `mariadbd` from the
# installed server binaries, on its own port and data directory. It never touches another server.

# %% [markdown]
# **Before you start:** nothing: start here.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** a few seconds, measured in the lab's browser tests.

# %% tags=["parameters"]
variables = "%timeout%"  # which server variables to show (a LIKE pattern)

# %%
import pandas as pd

import helpers

lab = helpers.start_lab()
lab

# %% [markdown]
# `start_lab()` found a running lab (started with `python -m helpers up`) or started one. A lab started
# here stops when this kernel shuts down; one started with `python -m helpers up` runs until
# `python -m helpers down`.
#
# ## What is in it
#
# Where the server runs, and the two SQLAlchemy URLs the notebooks use, one per driver:
# **PyMySQL** (pure Python) and **mysqlclient** (`MySQLdb`, C, on MariaDB Connector/C).

# %%
pd.Series(lab.describe(), name="lab").to_frame()

# %%
pd.DataFrame({driver: [str(lab.url(driver))] for driver in helpers.DRIVERS}, index=["URL"]).T

# %% [markdown]
# The timeouts that matter for this story, as the server has them now. `wait_timeout` is how long
# the server lets a connection sit idle before closing it: 28800 s (8 hours) by default, the "quiet
# night". The notebooks lower it to 2 s.

# %%
lab.variables(variables)

# %% [markdown]
# The status counters the notebooks watch: `Aborted_clients` counts connections the server closed
# because the client went quiet (or vanished); `Threads_connected` is how many are open.

# %%
lab.status()

# %% [markdown]
# ## Pointing the lab at your own server
#
# Set `LAB_URL=mysql://user:password@host:port/db` (and `LAB_BACKEND=external`) before starting
# Jupyter. The lab then only *reads* from that server; the notebooks that change globals or kill
# connections refuse unless you also set `LAB_ALLOW_CHANGES=1`. Other knobs: `LAB_BACKEND`
# (`docker`, `local`), `LAB_PORT`, `LAB_HOME`: see the README.
#
# ## In production
# - Know your server's `wait_timeout` (and `interactive_timeout`): `SHOW GLOBAL VARIABLES LIKE '%timeout%'`.
# - Watch `Aborted_clients`: it rises each time the server drops a connection its client left idle.
# - Next: `01_reproduce`.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `01_reproduce`.
#
# - [MariaDB server system variables](https://mariadb.com/kb/en/server-system-variables/)
# - [SQLAlchemy: Dealing with Disconnects](https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects)
