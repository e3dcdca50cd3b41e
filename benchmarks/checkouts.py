"""Checkouts per second for each pool (no check, pool_pre_ping, ...), driver and added latency.

    python benchmarks/checkouts.py [--latency 1] [--seconds 2] [--repeats 5] [--json]

The same as ``python -m helpers bench``: the repeats are interleaved and the table
gives medians and each pool's ratio to the pool with no check. It starts the lab if
it is not running and stops it afterwards.
"""

from __future__ import annotations

import sys

from helpers.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
