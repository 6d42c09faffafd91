"""Plugin hosting: ZamCompX2 (a stereo VST3 compressor from Debian's zam-plugins) on 60 s of stereo audio at
48 kHz, in 64- and in 128-sample blocks, hosted by us against pedalboard calling the same plugin directly.

- ours (plan): :func:`dsp.plugins.load_plugin_processor` in an engine graph after a node that feeds the
  input, compiled to a render plan and run block by block (the path a song takes).
- ours (direct): the same :class:`dsp.plugins.PluginProcessor` with its ``process`` called per block, no
  plan (what the plan adds is the difference between the two).
- pedalboard 0.9.26: ``pedalboard.load_plugin`` and ``plugin.process(block, 48000, reset=False)`` per
  block, the thinnest way to stream a VST3 from Python; the goal is ours at most 1.1x its time.

Settings: threshold -20 dB, ratio 4, attack 5 ms, release 100 ms, the rest at their defaults. pedalboard
gets the very raw (0..1) values our bindings wrote: its own setter snaps to the value texts it read from
the plugin (``ratio = 4`` lands on 4.002), ours interpolates between them (exactly 4). Same plugin, same
raw values, so the outputs should be identical: each of our rows notes the largest difference from
pedalboard's output. (Ours also starts the stream with one silent block, :func:`dsp.plugins.stream.prime`,
which leaves a compressor's state at rest.)

Five rounds, the six contenders taking turns (each round starts with the next one); each row shows its best
round. The ratio column is time / the first row (ours, plan, 64-sample blocks), as in every table here; the
figure that matters, ours / pedalboard at the same block size, is in each of our rows' notes: its best
rounds' ratio and its round-by-round range. Loading, preparing and compiling stay outside the timed loops.
(DPF prints "asked to delete component while audio processor still active" on stderr whenever pedalboard
frees an instance; it is harmless.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import time_direct, time_in_plan

__all__ = ["PARAMS", "PLUGIN", "run"]

SR = 48000
BLOCKS = (64, 128)
PLUGIN = Path("/usr/lib/vst3/ZamCompX2.vst3")
PARAMS = {"threshold_db": -20.0, "ratio": 4.0, "attack_ms": 5.0, "release_ms": 100.0}
GOAL = 1.1  # ours / pedalboard


def _input(seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    rng = np.random.default_rng(5)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    bursts = rng.standard_normal(n) * (np.sin(2 * np.pi * 0.5 * t) > 0.9)
    x = 0.5 * chord + 0.2 * bursts
    return np.stack([x, np.roll(x, 37)]).astype(np.float32)


def _ours(plugin: Path) -> Any:
    from dsp.plugins import load_plugin_processor

    return load_plugin_processor(plugin, channels=2, sample_rate=SR, params=PARAMS)


def _raw_values(plugin: Path) -> dict[str, float]:
    """The raw values our bindings write for :data:`PARAMS` (get_state settles them into the plugin)."""
    proc = _ours(plugin)
    proc.get_state()
    return {name: float(proc.plugin.parameters[name].raw_value) for name in PARAMS}


def _ours_plan(plugin: Path, x: np.ndarray, block: int) -> tuple[float, np.ndarray]:
    return time_in_plan([_ours(plugin)], x, SR, block)


def _ours_direct(plugin: Path, x: np.ndarray, block: int) -> tuple[float, np.ndarray]:
    return time_direct([_ours(plugin)], x, SR, block)


def _pedalboard(plugin: Path, raws: dict[str, float], x: np.ndarray, block: int) -> tuple[float, np.ndarray]:
    import pedalboard

    fx: Any = pedalboard.load_plugin(str(plugin))
    for name, raw in raws.items():
        fx.parameters[name].raw_value = raw
    out = np.zeros_like(x)
    total = x.shape[1]
    t0 = time.perf_counter()
    for start in range(0, total, block):
        out[:, start : start + block] = fx.process(x[:, start : start + block], SR, reset=False)
    return time.perf_counter() - t0, out


Contender = tuple[str, int, str, Callable[[np.ndarray], tuple[float, np.ndarray]]]


def _names() -> list[str]:
    return [n for b in BLOCKS for n in (f"ours (plan, {b}-sample)", f"ours (direct, {b}-sample)", _peer(b))]


def _peer(block: int) -> str:
    return f"pedalboard ({block}-sample)"


def _contenders(plugin: Path, raws: dict[str, float]) -> list[Contender]:
    """(name, block size, "ours" or "peer", run) for each contender, in :func:`_names` order."""
    out: list[Contender] = []
    for b in BLOCKS:
        out += [
            (f"ours (plan, {b}-sample)", b, "ours", partial(_ours_plan, plugin, block=b)),
            (f"ours (direct, {b}-sample)", b, "ours", partial(_ours_direct, plugin, block=b)),
            (_peer(b), b, "peer", partial(_pedalboard, plugin, raws, block=b)),
        ]
    return out


def _not_run(names: list[str], why: str) -> list[dict[str, Any]]:
    return [{"name": name, "seconds": float("nan"), "note": f"not run: {why}"} for name in names]


def _rounds(
    contenders: list[Contender], x: np.ndarray, rounds: int
) -> tuple[dict[str, list[float]], dict[str, np.ndarray], dict[str, str]]:
    """Each contender's time per round, its last output, and the error of any that failed. Rounds take the
    contenders in turn, each round starting one further along, so that a slow spell of this shared machine
    falls on every contender alike."""
    times: dict[str, list[float]] = {c[0]: [] for c in contenders}
    outputs: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for r in range(rounds):
        for k in range(len(contenders)):
            name, _, _, fn = contenders[(r + k) % len(contenders)]
            if name in errors:
                continue
            try:
                t, outputs[name] = fn(x)
                times[name].append(t)
            except Exception as exc:  # reported in its row, not fatal
                errors[name] = str(exc)
    return times, outputs, errors


def _against_peer(
    name: str, block: int, times: dict[str, list[float]], outputs: dict[str, np.ndarray]
) -> str:
    """Our row's comparison with pedalboard at the same block size: time ratio and output difference."""
    peer = _peer(block)
    if not times[peer] or len(times[peer]) != len(times[name]):
        return "no pedalboard timing to compare with"
    per_round = sorted(t / p for t, p in zip(times[name], times[peer], strict=True))
    best = min(times[name]) / min(times[peer])
    verdict = "met" if best <= GOAL else "not met"
    diff = float(np.max(np.abs(outputs[name] - outputs[peer])))
    same = " (identical)" if diff == 0.0 else ""
    return (
        f"ours/pedalboard {best:.2f}x (rounds {per_round[0]:.2f}..{per_round[-1]:.2f}x; "
        f"goal <= {GOAL:.1f}x {verdict}); max |ours - pedalboard| {diff:.3g}{same}"
    )


def run(quick: bool = False, plugin: str | Path = PLUGIN) -> list[dict[str, Any]]:
    plugin = Path(plugin)
    seconds = 5.0 if quick else 60.0
    rounds = 1 if quick else 5
    if not plugin.is_dir():
        return _not_run(_names(), f"{plugin} is not installed (Debian: apt-get install zam-plugins)")
    try:
        raws = _raw_values(plugin)
    except Exception as exc:  # a plugin that does not load is reported, not fatal
        return _not_run(_names(), str(exc))
    contenders = _contenders(plugin, raws)
    warm = _input(0.5)
    for c in contenders:  # first calls (imports, numpy paths) stay out of the rounds
        try:
            c[3](warm)
        except Exception:
            pass  # the rounds fail the same way and report it
    times, outputs, errors = _rounds(contenders, _input(seconds), rounds)
    rows: list[dict[str, Any]] = []
    for name, block, who, _ in contenders:
        if name in errors or not times[name]:
            rows += _not_run([name], errors.get(name, "no round finished"))
            continue
        out = outputs[name].astype(np.float64)
        note = f"rms {float(np.sqrt(np.mean(out**2))):.4f}, finite {bool(np.all(np.isfinite(out)))}"
        if who == "ours":
            note = f"{_against_peer(name, block, times, outputs)}; {note}"
        best = min(times[name])
        rows.append({"name": name, "seconds": best, "realtime_x": seconds / best, "note": note})
    return rows


if __name__ == "__main__":
    from bench.harness import format_table

    print(format_table("plugin_host", run()))
