"""Memory of a render process: peak resident set size of `strum render` on the demo song and on a
five-minute song, with its private (unshared) part, against peers rendering comparable work.

Resident size counts the pages of shared libraries the process has touched; the largest is LLVM (used by
Numba to load the compiled kernels), read-only and shared with every other Numba process, which the
render gives back once its kernels are loaded (engine/memory.py). The note gives the anonymous (heap)
part beside it, which is what grows with the work.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# runs the render in-process, then reports peak RSS and the anonymous memory at the end;
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec, so a child
# of a big benchmark process would report its parent's peak
PROBE = r"""
import sys
from bridge.cli import main
code = main(sys.argv[1:])
rss = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) / 1024
private = 0
for line in open('/proc/self/smaps_rollup'):
    if line.startswith('Anonymous:'):
        private += int(line.split()[1]) / 1024
print(f'MEM {rss:.1f} {private:.1f}', file=sys.stderr)
sys.exit(code)
"""

LONG_SONG_BARS = 75  # 300 beats at 60 bpm = 5 minutes


def _long_song(path: Path) -> Path:
    lines = ["schema_version: 1", "tempo: 60", "tracks:"]
    for name, wave, base in (("keys", 0, 60), ("bass", 1, 36), ("pluck", 2, 72)):
        lines += [
            f"  - name: {name}",
            f"    instrument: {{type: synth, params: {{waveform: {wave}}}}}",
            "    clips:",
            "      - start_beats: 0",
            "        notes:",
        ]
        for beat in range(LONG_SONG_BARS * 4):
            lines.append(f"          - [{base + (beat * 5) % 12}, {beat}, 0.9, 90]")
    path.write_text("\n".join(lines) + "\n")
    return path


def _measure(song: Path, out: Path, stems: Path | None, keep_pages: bool = False) -> tuple[float, float]:
    env = dict(os.environ)
    if keep_pages:
        env["STRUM_KEEP_COMPILER_PAGES"] = "1"
    argv = [sys.executable, "-c", PROBE, "render", str(song), "-o", str(out), "--no-progress"]
    if stems is not None:
        argv += ["--stems", str(stems)]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-400:])
    line = next(x for x in r.stderr.splitlines() if x.startswith("MEM "))
    _, rss, private = line.split()
    return float(rss), float(private)


def _baseline(code: str) -> float:
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            code + "\nprint(next(int(x.split()[1]) for x in open('/proc/self/status')"
            " if x.startswith('VmHWM:')) / 1024)",
        ],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-300:])
    return float(r.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        demo = ROOT / "examples" / "songs" / "demo.yaml"
        rss, private = _measure(demo, t / "demo.wav", None)
        rows.append(
            {
                "name": "strum render demo (36 s)",
                "value": rss,
                "unit": "MB peak RSS",
                "note": f"anonymous {private:.0f} MB; budget 200 MB",
            }
        )
        rss, private = _measure(demo, t / "demo1.wav", None, keep_pages=True)
        rows.append(
            {
                "name": "  ... keeping LLVM's pages",
                "value": rss,
                "unit": "MB peak RSS",
                "note": f"anonymous {private:.0f} MB; STRUM_KEEP_COMPILER_PAGES=1",
            }
        )
        rss, private = _measure(demo, t / "demo2.wav", t / "stems")
        rows.append(
            {
                "name": "  ... with 5 stems",
                "value": rss,
                "unit": "MB peak RSS",
                "note": f"anonymous {private:.0f} MB",
            }
        )
        if not quick:
            song = _long_song(t / "long.yaml")
            rss, private = _measure(song, t / "long.wav", t / "stems_long")
            size = os.path.getsize(t / "long.wav") / 2**20
            rows.append(
                {
                    "name": "strum render 5 min + stems",
                    "value": rss,
                    "unit": "MB peak RSS",
                    "note": f"anonymous {private:.0f} MB; WAV {size:.0f} MB streamed to disk",
                }
            )
    for name, code in (
        ("python + numpy", "import numpy"),
        ("python + numba", "import numba"),
        ("python + pyo", "import pyo"),
        ("python + dawdreamer", "import dawdreamer"),
    ):
        try:
            rows.append(
                {"name": name, "value": _baseline(code), "unit": "MB peak RSS", "note": "import only"}
            )
        except Exception as exc:
            rows.append(
                {"name": name, "value": float("nan"), "unit": "", "note": f"not run: {exc}", "ratio": False}
            )
    return rows
