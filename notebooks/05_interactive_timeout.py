# %% [markdown]
# # 05 · `interactive_timeout` versus `wait_timeout`
#
# **The question.** The DBA says `wait_timeout` is long: they checked it in the `mariadb` command
# line. The application still loses idle connections. Who is right?
#
# **The mechanism.** At connect time the server copies one of two globals into the session's
# `wait_timeout`: `interactive_timeout` if the client sets the `CLIENT_INTERACTIVE` flag,
# `wait_timeout` otherwise. Here `wait_timeout` = 2 s and `interactive_timeout` = 60 s.

# %% [markdown]
# **Before you start:** `01_reproduce`.
# **Docker:** not needed (a private `mariadbd` serves where no engine answers). **Time to run:** under 15 s, measured in the lab's browser tests.

# %% tags=["parameters"]
drivers = None  # both drivers; ["pymysql"] runs one

# %%
import helpers
from helpers import plots
from helpers.record import outcomes, record
from helpers.scenarios import interactive

lab = helpers.start_lab()
interactive.timeout_by_client(lab)

# %% [markdown]
# The command line in a terminal says it is interactive and sees 60 s. The same client with `-e`
# (or a pipe) does not, and sees 2 s. The drivers are not interactive unless told to be. So a
# person checking from a terminal sees `SELECT @@wait_timeout` = 60 while the application's
# connections get 2. Check the **global** values, or the session value *from the application*.
#
# ## Telling a driver it is interactive
#
# Both drivers take a `client_flag`. With `CLIENT_INTERACTIVE` the idle connection survives:

# %%
rows = helpers.run("interactive_timeout", lab, drivers=drivers)
plots.outcome_grid(helpers.summarize(rows), title="Idle 3 s; wait_timeout=2, interactive_timeout=60")


# %%
record("each fix, per driver", outcomes=outcomes(helpers.summarize(rows)))

# %% [markdown]
# ## The trap: `connect_args={"client_flag": ...}` replaces SQLAlchemy's flags
#
# SQLAlchemy's MySQL dialects connect with `CLIENT_FOUND_ROWS`, so that an `UPDATE`'s rowcount
# counts *matched* rows; the ORM relies on it to detect rows changed underneath it. A `client_flag`
# in `connect_args` overrides the dialect's own value instead of adding to it. An `UPDATE` that sets
# a row to the value it already has:

# %%
interactive.found_rows_trap(lab)

# %% [markdown]
# With only `INTERACTIVE`, rowcount drops from 1 to 0 for both drivers: an ORM update of an
# unchanged row would now look like a concurrent delete (`StaleDataError` with versioning).
# Include `FOUND_ROWS` yourself when you set `client_flag`.
#
# ## In production
# - Read timeouts from the application's own connection: `SELECT @@session.wait_timeout`.
# - Prefer a session `wait_timeout` (`init_command`, `04`) to the interactive flag.
# - If you do pass `client_flag`, OR in `CLIENT.FOUND_ROWS`.

# %% [markdown]
# ## What's next, and references
#
# **Next:** `06_server_kills`.
#
# - [MariaDB: `interactive_timeout`](https://mariadb.com/kb/en/server-system-variables/#interactive_timeout)
# - [MariaDB: `wait_timeout`](https://mariadb.com/kb/en/server-system-variables/#wait_timeout)
# - [PyMySQL: connections](https://pymysql.readthedocs.io/en/latest/modules/connections.html)
