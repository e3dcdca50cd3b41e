"""How fast the doctor starts: ``python -m helpers doctor --error TEXT`` (classify only, no
server) against ``python -c "import sqlalchemy"``, wall seconds, medians of 5 runs. Printed, not
asserted (python benchmarks/doctor_start.py)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

ERROR = "(2006, 'MySQL server has gone away')"
COMMANDS = {
    "doctor --error TEXT": [sys.executable, "-m", "helpers", "doctor", "--error", ERROR],
    'python -c "import sqlalchemy"': [sys.executable, "-c", "import sqlalchemy"],
}


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    for name, command in COMMANDS.items():
        runs = [wall(command) for _ in range(5)]
        sys.stdout.write(f"{name:32} median {statistics.median(runs):.3f} s  (runs: "
                         f"{', '.join(f'{r:.3f}' for r in runs)})\n")  # fmt: skip
