"""Synth voices: 64 voices sounding for 60 s at 48 kHz, stereo, rendered offline as fast as possible.

The same work for every contender: 64 voices at MIDI pitches 36..99 (velocity 100, amplitude (100/127)**2
for all: our square law), each a band-limited saw -> a 2-pole resonant low-pass (cutoff 2 kHz, no key
tracking, Q = 1/svf_k(0.5) ~ 1.37) -> an ADSR (attack 5 ms, decay 100 ms, sustain 0.7, release 200 ms) ->
summed to mono at -24 dB and written to both channels. Note-ons at sample 0, note-offs at 59.5 s; 60 s are
rendered (5 s and 4.5 s with ``--quick``), in 512-sample blocks. Timings are wall time of the render only
(``time.perf_counter``), best of 3 (best of 1 with ``--quick``); set-up (JIT warm-up, Faust compile, pyo
boot and object creation) is excluded and reported in the note. Each contender's whole output is kept in
memory (pyo's goes to a float WAV file, on /dev/shm where it exists) and checked: its RMS and peak are in
the note, and a row whose RMS is below 1e-4 is marked SILENT. Our RMS reads lower than the peers' because
our saws start in a phase where octave-related notes' shared partials partly cancel; the work is the same.

Contenders:
- ours: ``instruments.synth.PolySynth(max_voices=64)`` driven directly, one ``process`` call per block,
  with an :class:`~engine.events.EventBuffer` holding the note-ons (offset 0 of the first block) and the
  note-offs (at their offset in the block containing 59.5 s).
- ours (graph): the same synth fed by an :class:`~engine.sequencer.Sequencer` through a plan built by
  :func:`~engine.plan.compile_plan`: the engine's real block path.
- pyo 1.1.0: offline server; ``LFO(type=0, sharp=1)`` (pyo's band-limited saw) -> ``Biquad`` low-pass
  (same Q) times one ``Adsr`` per voice (linear segments) -> ``Mix`` to mono -> ``Mix`` to 2 channels.
- DawDreamer 0.9.0: a Faust processor, ``os.sawtooth`` -> ``fi.resonlp`` -> ``en.adsr``, polyphony by
  ``declare nvoices "64"`` (voices rendered by Faust's poly wrapper), notes by ``add_midi_note``.

Run ``python -m bench synth_voices`` (or ``python -m bench.synth_voices``) with ``--quick`` for a smoke test.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["run"]

SR = 48000
BLOCK = 512
PITCHES = tuple(range(36, 100))  # 64 pitches, 65 Hz .. 2.5 kHz
VELOCITY = 100
ATTACK_MS, DECAY_MS, SUSTAIN, RELEASE_MS = 5.0, 100.0, 0.7, 200.0
CUTOFF_HZ = 2000.0
RESONANCE = 0.5  # ours: 0..1; peers get the same filter Q, see _q()
GAIN_DB = -24.0
SILENT_RMS = 1e-4

Row = dict[str, Any]


def _q() -> float:
    """The Q of our state-variable filter at RESONANCE, given to the peers' 2-pole low-passes."""
    from dsp.kernels.synth import svf_k

    return 1.0 / float(svf_k(RESONANCE))


def _hz(pitch: int) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


def _level(audio: np.ndarray) -> tuple[float, float]:
    """(RMS, peak) of a (channels, frames) or (frames, channels) array."""
    a = np.asarray(audio, dtype=np.float64)
    return float(np.sqrt(np.mean(a * a))), float(np.max(np.abs(a)))


def _row(name: str, seconds: float, duration: float, audio: np.ndarray, note: str) -> Row:
    rms, peak = _level(audio)
    flag = "SILENT! " if not rms > SILENT_RMS else ""
    return {
        "name": name,
        "seconds": seconds,
        "realtime_x": duration / seconds,
        "note": f"{flag}rms {rms:.3f}, peak {peak:.3f}; {note}",
    }


def _best(repeats: int, render: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    best, audio = math.inf, np.zeros((2, 0), np.float32)
    for _ in range(repeats):
        t0 = time.perf_counter()
        audio = render()
        best = min(best, time.perf_counter() - t0)
    return best, audio


# -- ours -----------------------------------------------------------------------------------------------
def _make_synth() -> Any:
    from instruments.synth import PolySynth

    synth = PolySynth(max_voices=len(PITCHES))
    settings = {
        "waveform": 0,
        "attack_ms": ATTACK_MS,
        "decay_ms": DECAY_MS,
        "sustain": SUSTAIN,
        "release_ms": RELEASE_MS,
        "cutoff_hz": CUTOFF_HZ,
        "resonance": RESONANCE,
        "gain_db": GAIN_DB,
    }
    for name, value in settings.items():
        synth.param(name).set(value)
    if "key_tracking" in synth.params:
        synth.param("key_tracking").set(0.0)
    return synth


def _render_direct(synth: Any, frames: int, off_frame: int) -> np.ndarray:
    from engine.events import NOTE_OFF, NOTE_ON, EventBuffer
    from engine.processor import BlockContext

    synth.reset()
    ctx = BlockContext(SR)
    events = EventBuffer()
    block = np.zeros((2, BLOCK), np.float32)
    full, tail = [block], [block[:, : frames % BLOCK]]
    result = np.zeros((2, frames), np.float32)
    pos = 0
    while pos < frames:
        n = min(BLOCK, frames - pos)
        events.clear()
        if pos == 0:
            for p in PITCHES:
                events.push(0, NOTE_ON, p, VELOCITY)
        if pos <= off_frame < pos + n:
            for p in PITCHES:
                events.push(off_frame - pos, NOTE_OFF, p, 0)
        ctx.set_single_segment(n, pos, True)
        ctx.block_index = pos // BLOCK
        synth.process(ctx, (), full if n == BLOCK else tail, [events], ())
        result[:, pos : pos + n] = block[:, :n]
        pos += n
    return result


def _ours(duration: float, off_s: float, repeats: int) -> Row:
    frames, off = round(duration * SR), round(off_s * SR)
    synth = _make_synth()
    t0 = time.perf_counter()
    synth.prepare(SR, BLOCK)
    _render_direct(synth, round(0.3 * SR), round(0.2 * SR))  # JIT warm-up: every stage and a note-off
    setup = time.perf_counter() - t0
    seconds, audio = _best(repeats, lambda: _render_direct(synth, frames, off))
    note = f"6-point B-spline BLEP saw, TPT SVF; prepare+JIT {setup:.2f} s"
    return _row("ours", seconds, duration, audio, note)


def _ours_graph(duration: float, off_s: float, repeats: int) -> Row:
    from engine.graph import Graph
    from engine.plan import compile_plan
    from engine.processor import BlockContext
    from engine.sequencer import EventTable, Sequencer

    def table(off: int) -> EventTable:
        n = len(PITCHES)
        return EventTable(
            np.array([0] * n + [off] * n, np.int64),
            np.array([0x90] * n + [0x80] * n, np.uint8),
            np.array(PITCHES * 2, np.uint8),
            np.array([VELOCITY] * n + [0] * n, np.uint8),
        )

    graph = Graph()
    seq = Sequencer()
    synth = _make_synth()
    graph.add("notes", seq)
    graph.add("synth", synth)
    graph.connect("notes", "synth")
    graph.set_output("synth")
    plan = compile_plan(graph, SR, BLOCK)
    ctx = BlockContext(SR)

    def render(frames: int, off: int) -> np.ndarray:
        seq.set_table(table(off))
        for proc in (seq, synth, plan):
            proc.reset()
        result = np.zeros((2, frames), np.float32)
        pos = 0
        while pos < frames:
            n = min(BLOCK, frames - pos)
            ctx.set_single_segment(n, pos, True)
            ctx.block_index = pos // BLOCK
            result[:, pos : pos + n] = plan.process(ctx)
            pos += n
        return result

    render(round(0.3 * SR), round(0.2 * SR))
    frames, off = round(duration * SR), round(off_s * SR)
    seconds, audio = _best(repeats, lambda: render(frames, off))
    return _row(
        "ours (graph)", seconds, duration, audio, f"Sequencer -> synth, {plan.stats.steps} plan steps"
    )


# -- pyo ------------------------------------------------------------------------------------------------
def _pyo(duration: float, off_s: float, repeats: int) -> Row:
    os.environ.setdefault("PYO_GUI_WX", "0")  # no wxPython nag on import
    import pyo
    import soundfile as sf

    tmpdir = "/dev/shm" if os.path.isdir("/dev/shm") else None
    amp = 10.0 ** (GAIN_DB / 20.0) * (VELOCITY / 127.0) ** 2  # our square-law velocity
    best, setup, audio = math.inf, math.inf, np.zeros((0, 2), np.float32)
    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        path = os.path.join(tmp, "pyo.wav")
        for _ in range(repeats):  # a fresh server each time: an offline server renders once
            t0 = time.perf_counter()
            s = pyo.Server(sr=SR, nchnls=2, buffersize=BLOCK, duplex=0, audio="offline", verbosity=1)
            s.boot()
            s.recordOptions(dur=duration, filename=path, fileformat=0, sampletype=3)  # 32-bit float
            envs = [
                pyo.Adsr(ATTACK_MS / 1e3, DECAY_MS / 1e3, SUSTAIN, RELEASE_MS / 1e3, off_s + RELEASE_MS / 1e3)
                for _ in PITCHES
            ]  # dur = note-off time + release: the release starts at off_s
            saw = pyo.LFO(freq=[_hz(p) for p in PITCHES], sharp=1.0, type=0)
            lp = pyo.Biquad(saw, freq=CUTOFF_HZ, q=_q(), type=0, mul=envs)
            mono = pyo.Mix(lp, voices=1, mul=amp)
            stereo = pyo.Mix(mono, voices=2).out()
            for e in envs:
                e.play()
            t1 = time.perf_counter()
            s.start()  # blocks until the whole file is rendered
            t2 = time.perf_counter()
            del stereo, mono, lp, saw, envs
            s.shutdown()
            best, setup = min(best, t2 - t1), min(setup, t1 - t0)
        audio, _ = sf.read(path, dtype="float32", always_2d=True)
    note = f"LFO(type=0, sharp=1) saw, Biquad LP, linear Adsr; boot+objects {setup:.2f} s; WAV write incl."
    return _row("pyo 1.1.0 (offline)", best, duration, audio[: round(duration * SR)], note)


# -- DawDreamer -----------------------------------------------------------------------------------------
FAUST_DSP = """
declare nvoices "{voices}";
import("stdfaust.lib");
freq = hslider("freq", 440, 20, 20000, 0.01);
gain = hslider("gain", 0.5, 0, 1, 0.01);
gate = button("gate");
env = en.adsr({attack}, {decay}, {sustain}, {release}, gate);
process = os.sawtooth(freq) : fi.resonlp({cutoff}, {q}, 1) : *(env * gain * gain * {amp}) <: _, _;
effect = _, _;
"""


def _dawdreamer(duration: float, off_s: float, repeats: int) -> Row:
    import dawdreamer as daw

    engine = daw.RenderEngine(SR, BLOCK)
    synth = engine.make_faust_processor("synth")
    synth.num_voices = len(PITCHES)
    code = FAUST_DSP.format(
        voices=len(PITCHES), attack=ATTACK_MS / 1e3, decay=DECAY_MS / 1e3, sustain=SUSTAIN,
        release=RELEASE_MS / 1e3, cutoff=CUTOFF_HZ, q=_q(), amp=10.0 ** (GAIN_DB / 20.0),
    )  # fmt: skip
    t0 = time.perf_counter()
    if not (synth.set_dsp_string(code) and synth.compile()):
        raise RuntimeError("Faust compile failed")
    compile_s = time.perf_counter() - t0
    for p in PITCHES:
        synth.add_midi_note(p, VELOCITY, 0.0, off_s)  # gain = velocity / 127, squared in the DSP
    engine.load_graph([(synth, [])])
    engine.render(0.3)  # warm-up (first-render allocations)

    def render() -> np.ndarray:
        engine.render(duration)
        return engine.get_audio()

    seconds, audio = _best(repeats, render)
    note = f"os.sawtooth, fi.resonlp, en.adsr, 64-voice poly; Faust compile {compile_s:.2f} s"
    return _row("DawDreamer 0.9.0 (Faust)", seconds, duration, audio, note)


# -- entry points -----------------------------------------------------------------------------------------
def run(quick: bool = False) -> list[Row]:
    """Render with every contender; ours first. A contender that fails is reported with NaN timings."""
    duration = 5.0 if quick else 60.0
    off_s = duration - 0.5
    repeats = 1 if quick else 3
    rows: list[Row] = []
    for name, fn in (("ours", _ours), ("ours (graph)", _ours_graph), ("pyo 1.1.0 (offline)", _pyo),
                     ("DawDreamer 0.9.0 (Faust)", _dawdreamer)):  # fmt: skip
        try:
            rows.append(fn(duration, off_s, repeats))
        except Exception as exc:  # a contender that cannot run is reported, not fatal
            nan = float("nan")
            rows.append({"name": name, "seconds": nan, "realtime_x": nan,
                         "note": f"not run: {type(exc).__name__}: {exc}"})  # fmt: skip
    return rows


def format_rows(rows: list[Row]) -> str:
    """The table, with each peer's time over ours (peer_seconds / our_seconds: > 1 means we are faster)."""
    ours = rows[0]["seconds"] if rows else math.nan
    head = f"{'contender':<26} {'seconds':>9} {'x real time':>12} {'peer/ours':>10}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = r["seconds"] / ours if r is not rows[0] else 1.0
        lines.append(
            f"{r['name']:<26} {r['seconds']:>9.3f} {r['realtime_x']:>12.1f} {ratio:>10.2f}  {r['note']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.synth_voices", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="render 5 s once (smoke test), not for reporting")
    args = p.parse_args(argv)
    seconds = 5 if args.quick else 60
    print(f"synth_voices: 64 voices, {seconds} s at {SR} Hz, {BLOCK}-sample blocks", flush=True)
    print(format_rows(run(args.quick)))


if __name__ == "__main__":
    main()
