# %% [markdown]
# # Playground · any setting against any cause, live
#
# Pick a scenario, the drivers, the server's `wait_timeout` and the scenario's own timings, and
# either one of the scenario's fixes or your own engine options; press **Run**. The scenario runs
# against the lab's real MariaDB; the timeline, the outcome, the server's view and a one-line
# verdict follow, and every run stays in the history (export it as CSV) to compare settings.
# Runs against one lab are serialized: a run started from another tab waits and says so.

# %%
from helpers.playground import Playground

Playground()
