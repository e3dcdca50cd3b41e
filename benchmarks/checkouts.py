"""Checkouts per second for each fix (none, pool_pre_ping, the hardened pool), driver and added latency.

    python benchmarks/checkouts.py [--latency 1] [--seconds 2] [--repeats 5] [--json]

The same as ``python -m helpers bench``: the repeats are interleaved and the table
gives medians and each fix's ratio to no fix. It starts the lab if
it is not running and stops it afterwards.
"""

from __future__ import annotations

import sys

from helpers.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
