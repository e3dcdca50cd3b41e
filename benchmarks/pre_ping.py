"""What pool_pre_ping costs: checkouts per second with and without it, both drivers.

    python benchmarks/pre_ping.py [--seconds 2] [--repeats 5]

Prints one table (median of the repeats). Starts the lab if it is not running
and stops it afterwards.
"""

from __future__ import annotations

import argparse
import sys

from helpers import bench
from helpers.lab import start_lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    lab = start_lab()
    try:
        df = bench.pre_ping_cost(lab, seconds=args.seconds, repeats=args.repeats)
    finally:
        if lab.owned:
            lab.stop()
    sys.stdout.write(f"{lab!r}, {args.repeats} x {args.seconds:g} s per variant\n")
    sys.stdout.write(bench.cost_table(df).to_string(index=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
