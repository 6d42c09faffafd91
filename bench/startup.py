"""Start-up: wall time of `strum --help` in a fresh process, against a bare Python and the peers' imports.

Each contender runs 10 times in a new interpreter; the table shows the median. The note of our row lists
the heavy modules `strum --help` imported (it should import none: numpy, numba, torch stay unloaded).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

RUNS = 10
PROBE = (
    "import sys; from bridge.cli import main\n"
    "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    "print('HEAVY=' + ','.join(m for m in ('numpy', 'numba', 'torch', 'soundfile') if m in sys.modules),"
    " file=sys.stderr)\n"
)


def _median_seconds(argv: list[str], runs: int) -> tuple[float, str]:
    times = []
    err = ""
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        err = r.stderr
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr else f"exit {r.returncode}")
    return statistics.median(times), err


def run(quick: bool = False) -> list[dict[str, Any]]:
    runs = 3 if quick else RUNS
    ours, err = _median_seconds([sys.executable, "-c", PROBE], runs)
    heavy = next((line.split("=", 1)[1] for line in err.splitlines() if line.startswith("HEAVY=")), "?")
    rows = [
        {"name": "strum --help", "seconds": ours, "note": f"heavy imports: {heavy or 'none'}; budget 0.5 s"}
    ]
    for name, code in (
        ("python -c pass", "pass"),
        ("import pyo", "import pyo"),
        ("import dawdreamer", "import dawdreamer"),
        ("import numba", "import numba"),
    ):
        try:
            t, _ = _median_seconds([sys.executable, "-c", code], runs)
            rows.append({"name": name, "seconds": t})
        except Exception as exc:
            rows.append({"name": name, "seconds": float("nan"), "note": f"not run: {exc}"})
    return rows
