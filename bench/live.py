"""``python -m bench live``: the live engine on a JACK dummy server (48 kHz, 128 frames) against a one-voice
reference client and pyo, in the same minutes.

This machine's host pauses it now and then, so xruns are never judged against zero: each run sits between
one-voice reference runs of the same length, and the xruns jackd blames on the run's client are compared
with those blamed on the references (:func:`bench.live_sweep.at_reference_level`). What it measures:

1. the GIL: a bare Numba callback (256 voices) with a busy pure-Python thread at the default and at a
   0.5 ms switch interval, and with the busy work in another process;
2. voices held at the reference level: pyo (saw -> low-pass -> envelope per voice) and the engine (the synth,
   same voice) over rising voice counts; the ratio's goal is at least 3;
3. an eight-track session with effects, looped, while 1,000 MIDI messages a second arrive from another
   process, a control thread parses 200 JSON messages a second and the garbage collector runs: with the
   engine in the same process as that load, and in its own process;
4. the callback's median duration at 32 voices (goal: under a quarter of the period);
5. MIDI-in to audio-out latency and its jitter, measured from outside the engine (goal: at most two periods
   + 1 ms, p99 - p50 under 0.2 ms).

``--quick`` runs everything short (5-10 s runs, fewer counts): a smoke test, not figures to report.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

from bench.jackd import JackServer
from bench.live_sweep import gil_experiment, interleaved, max_voices_at_reference, run_client

__all__ = ["run"]


def _row(name: str, value: float, unit: str, note: str, ratio: bool = False) -> dict[str, Any]:
    return {"name": name, "value": float(value), "unit": unit, "note": note, "ratio": ratio}


def _progress(r: dict[str, Any]) -> None:
    what = f"{r.get('kind')} {r.get('voices', '')} {r.get('mode', '')} {r.get('busy', '')}".split()
    print(
        f"  .. {' '.join(what)}: blamed {r.get('blamed')} {r.get('error', '')}", file=sys.stderr, flush=True
    )


def run(quick: bool = False) -> list[dict[str, Any]]:
    if shutil.which("jackd") is None:
        return [_row("live engine", 0, "", "not run: jackd is not installed (Debian: jackd2)")]
    seconds = 6.0 if quick else 20.0
    session_s = 10.0 if quick else 60.0
    rows: list[dict[str, Any]] = []
    with JackServer() as server:
        # 1. the GIL
        for r in gil_experiment(server, seconds=seconds, voices=256, progress=_progress):
            refs = r.get("reference_blamed", [])
            rows.append(
                _row(
                    f"bare 256, busy {r.get('busy')}",
                    r.get("blamed", -1),
                    "xruns",
                    f"references {refs}; late callbacks {r.get('late')};"
                    f" p99 {r.get('dur_us_p99', 0) or 0:.0f} us",
                )
            )
        # 2. voices at the reference level
        pyo_counts = [64, 128, 256] if quick else [64, 128, 256, 384, 512]
        eng_counts = [256, 1024] if quick else [512, 1024, 1536, 2048, 2560, 3072]
        pyo = max_voices_at_reference(server, "pyo", pyo_counts, seconds=seconds, progress=_progress)
        eng = max_voices_at_reference(
            server, "engine", eng_counts, seconds=seconds, progress=_progress, mode="voices"
        )
        pv, ev = pyo["max_voices"] or 0, eng["max_voices"] or 0
        ns = [s.get("ns_per_voice_sample") for s in eng["steps"] if s.get("ns_per_voice_sample")]
        rows.append(_row("engine: voices at reference", ev, "voices", f"tried {eng_counts}", ratio=False))
        rows.append(_row("pyo: voices at reference", pv, "voices", f"tried {pyo_counts}"))
        rows.append(
            _row(
                "voices ratio engine/pyo",
                ev / pv if pv else 0.0,
                "x",
                f"goal >= 3 (a count 'holds' if {eng['rule']}); engine "
                f"{min(ns) if ns else 0:.2f}-{max(ns) if ns else 0:.2f} ns per voice-sample",
            )
        )
        # 3. a session under load, in one process and in two
        load = {"midi_rate": 1000, "json_rate": 200, "gc": True}
        runs = [
            {"kind": "engine", "seconds": session_s, "mode": "session", **load},
            {"kind": "engine", "seconds": session_s, "mode": "session", "isolate": True, **load},
        ]
        for r in interleaved(server, runs, progress=_progress):
            where = "own process" if r.get("isolate") else "same process as the load"
            rows.append(
                _row(
                    f"8-track session, {where}",
                    r.get("blamed", -1),
                    "xruns",
                    f"references {r.get('reference_blamed')}; at reference: {r.get('at_reference')};"
                    f" MIDI in {r.get('midi_received')}, JSON {r.get('json_parsed')}, full GCs"
                    f" {r.get('full_collections')}; callback p50 {r.get('dur_us_p50') or 0:.0f} us"
                    f" p99 {r.get('dur_us_p99') or 0:.0f} us {r.get('error', '')}",
                )
            )
        # 4. the callback at 32 voices
        r32 = run_client(server, "engine", seconds, voices=32, mode="voices")
        period_us = 1e6 * 128 / 48000
        rows.append(
            _row(
                "callback p50 at 32 voices",
                r32.get("dur_us_p50") or 0.0,
                "us",
                f"{100 * (r32.get('dur_us_p50') or 0) / period_us:.1f}% of the {period_us:.0f} us period"
                f" (goal < 25%); p99 {r32.get('dur_us_p99') or 0:.0f} us",
            )
        )
        # 5. latency and jitter, measured from outside
        lat = run_client(server, "engine", seconds, mode="latency", notes=20 if quick else 60)
        if "error" in lat:
            rows.append(_row("MIDI in -> audio out", 0, "ms", f"error: {lat['error']}"))
        else:
            goal = 2 * 128 / 48 + 1
            rows.append(
                _row(
                    "MIDI in -> audio out, p50",
                    lat["latency_ms_p50"],
                    "ms",
                    f"goal <= {goal:.2f} ms; max {lat['latency_ms_max']:.2f} ms;"
                    f" {lat['sounded']}/{lat['notes']} notes; xruns blamed in the run {lat.get('blamed')}",
                )
            )
            rows.append(
                _row(
                    "MIDI jitter p99 - p50",
                    lat["jitter_ms_p99_p50"],
                    "ms",
                    f"goal < 0.2 ms; max - min {lat['jitter_ms_max_min']:.3f} ms",
                )
            )
    return rows
