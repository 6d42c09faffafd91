"""Live JACK clients for the live-engine benchmark: each plays a while and prints one JSON line of results.

``python -m bench.live_clients KIND [--voices N] [--seconds S] [--name CLIENT] [--busy MODE]`` connects to the
JACK server named by ``JACK_DEFAULT_SERVER`` (see :mod:`bench.jackd`), plays for S seconds, and prints one
JSON line (the last line of stdout; pyo prints banners of its own before it). KINDs (:data:`KINDS`, a table so
that another kind, e.g. ``engine``, is one function and one entry; options this parser does not know reach
the kind's function in ``args.extra``):

- ``reference``: one saw voice (a small Numba kernel) in a sounddevice ``OutputStream`` callback on
  PortAudio's JACK host API: the one-voice reference client, whose xruns are the machine's own (host pauses).
- ``bare``: N voices -- polyBLEP saw -> 2-pole state-variable low-pass (2 kHz, Q 0.707) -> ADSR (linear
  attack, exponential decay and release) gated on and off so envelopes keep moving -- all N in ONE ``@njit``
  call per block over struct-of-arrays state, in the same kind of sounddevice callback. Reports ns per
  voice-sample.
- ``pyo``: the same voices in pyo 1.1.0's own JACK client (pyo's C loop, no Python per block).

Sounddevice streams run at blocksize = JACK period (a different blocksize makes PortAudio call back doubled or
every other period). Callbacks allocate nothing of their own: kernels are compiled (or loaded from Numba's
cache) before the stream starts, state and statistics arrays are preallocated; what is left is the Python ints
and the numpy view that the interpreter and sounddevice make per call.

Busy modes (``--busy``, for ``reference`` and ``bare``): ``thread``, a pure-Python busy loop on a thread of
the client's process (default GIL switch interval, 5 ms); ``thread-short``, the same with
``sys.setswitchinterval(0.0005)``; ``process``, the same loop in another process (the
engine-in-its-own-process case: no GIL shared with the callback).

Per callback the client records its start (``perf_counter_ns``) and duration; ``late`` counts callbacks whose
duration exceeded the period or whose start came more than ``--late-gap-periods`` periods after the previous
one (a callback whose slot was missed or squeezed; gaps jitter around one period, hence not 1.0).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

__all__ = ["KINDS", "busy_loop", "main", "render_saw", "render_voices"]

# Struct-of-arrays voice state: one row per field, one column per voice.
PHASE, INC, IC1, IC2, ENV, STAGE, GATE_LEFT = range(7)
N_FIELDS = 7
# Voice parameters, shared by all voices (the work is what matters, not variety).
A1, A2, A3, ATTACK_INC, DECAY_COEF, SUSTAIN, RELEASE_COEF, ON_SAMPLES, OFF_SAMPLES, GAIN = range(10)
N_PARAMS = 10
IDLE, ATTACK, DECAY, RELEASE = 0.0, 1.0, 2.0, 3.0

ATTACK_MS, DECAY_MS, SUSTAIN_LEVEL, RELEASE_MS = 5.0, 100.0, 0.7, 200.0
GATE_ON_S, GATE_OFF_S = 0.5, 0.25  # each voice re-triggers every 0.75 s, staggered: envelopes always moving
CUTOFF_HZ, Q = 2000.0, 0.7071


@njit(cache=True, nogil=True)
def saw_sample(phase: float, inc: float) -> float:
    """One sample of a polyBLEP saw at ``phase`` (0..1) advancing ``inc`` per sample."""
    s = 2.0 * phase - 1.0
    if phase < inc:
        x = phase / inc
        s -= x + x - x * x - 1.0
    elif phase > 1.0 - inc:
        x = (phase - 1.0) / inc
        s -= x * x + x + x + 1.0
    return s


@njit(cache=True, nogil=True)
def render_saw(state: np.ndarray, gain: float, out: np.ndarray) -> None:
    """One polyBLEP saw into both channels of ``out`` (frames, 2); ``state`` = [phase, increment]."""
    phase, inc = state[0], state[1]
    for i in range(out.shape[0]):
        v = gain * saw_sample(phase, inc)
        out[i, 0] = v
        out[i, 1] = v
        phase += inc
        if phase >= 1.0:
            phase -= 1.0
    state[0] = phase


@njit(cache=True, nogil=True)
def render_voices(state: np.ndarray, params: np.ndarray, mix: np.ndarray, out: np.ndarray) -> None:
    """All voices for one block, summed into both channels of ``out`` (frames, 2).

    Per voice and sample: polyBLEP saw -> state-variable low-pass (trapezoidal, coefficients ``A1..A3``) ->
    ADSR whose gate turns on for ``ON_SAMPLES`` and off for ``OFF_SAMPLES``. Voice-outer loop: a voice's state
    stays in registers for the whole block; ``mix`` (frames,) is scratch.
    """
    n = out.shape[0]
    a1, a2, a3 = params[A1], params[A2], params[A3]
    att, dec, sus, rel = params[ATTACK_INC], params[DECAY_COEF], params[SUSTAIN], params[RELEASE_COEF]
    on_s, off_s = params[ON_SAMPLES], params[OFF_SAMPLES]
    mix[:n] = 0.0
    for v in range(state.shape[1]):
        phase, inc = state[PHASE, v], state[INC, v]
        ic1, ic2 = state[IC1, v], state[IC2, v]
        env, stage, left = state[ENV, v], state[STAGE, v], state[GATE_LEFT, v]
        for i in range(n):
            left -= 1.0
            if left <= 0.0:
                if stage == RELEASE or stage == IDLE:
                    stage, left = ATTACK, on_s
                else:
                    stage, left = RELEASE, off_s
            if stage == ATTACK:
                env += att
                if env >= 1.0:
                    env, stage = 1.0, DECAY
            elif stage == DECAY:
                env = sus + (env - sus) * dec
            elif stage == RELEASE:
                env *= rel
            s = saw_sample(phase, inc)
            phase += inc
            if phase >= 1.0:
                phase -= 1.0
            v3 = s - ic2
            v1 = a1 * ic1 + a2 * v3
            v2 = ic2 + a2 * ic1 + a3 * v3
            ic1 = 2.0 * v1 - ic1
            ic2 = 2.0 * v2 - ic2
            mix[i] += v2 * env
        state[PHASE, v], state[IC1, v], state[IC2, v] = phase, ic1, ic2
        state[ENV, v], state[STAGE, v], state[GATE_LEFT, v] = env, stage, left
    g = params[GAIN]
    for i in range(n):
        out[i, 0] = g * mix[i]
        out[i, 1] = g * mix[i]


def voice_pitches_hz(voices: int) -> np.ndarray:
    """MIDI notes 36..99 repeated, each repeat detuned a little: N distinct saws."""
    k = np.arange(voices)
    midi = 36 + (k % 64) + 0.01 * (k // 64)
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


def make_voices(voices: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Preallocated state (N_FIELDS, voices) and params for :func:`render_voices`; gates staggered."""
    g = math.tan(math.pi * CUTOFF_HZ / rate)
    k = 1.0 / Q
    a1 = 1.0 / (1.0 + g * (g + k))
    params = np.zeros(N_PARAMS)
    params[A1], params[A2], params[A3] = a1, g * a1, g * g * a1
    params[ATTACK_INC] = 1.0 / (ATTACK_MS * 1e-3 * rate)
    params[DECAY_COEF] = math.exp(
        -1.0 / (DECAY_MS * 1e-3 * rate / 5.0)
    )  # ~-43 dB of the distance in DECAY_MS
    params[SUSTAIN] = SUSTAIN_LEVEL
    params[RELEASE_COEF] = math.exp(-1.0 / (RELEASE_MS * 1e-3 * rate / 5.0))
    params[ON_SAMPLES], params[OFF_SAMPLES] = GATE_ON_S * rate, GATE_OFF_S * rate
    params[GAIN] = 0.25 / math.sqrt(max(voices, 1))
    state = np.zeros((N_FIELDS, voices))
    state[INC] = voice_pitches_hz(voices) / rate
    state[PHASE] = np.linspace(0.0, 1.0, voices, endpoint=False)
    state[GATE_LEFT] = 1.0 + np.arange(voices) * ((GATE_ON_S + GATE_OFF_S) * rate / max(voices, 1))
    return state, params


# -- busy load -----------------------------------------------------------------------------------------------
def busy_loop(stop: Callable[[], bool]) -> int:
    """Pure-Python work (dict and list updates, integer arithmetic) until ``stop()``; returns the rounds done.
    It holds the GIL except at the interpreter's switch points, as a Python engine's control side would."""
    d: dict[int, int] = {}
    items: list[int] = []
    x, rounds = 0, 0
    while not stop():
        for i in range(2000):
            d[i & 255] = i * 3 + x
            items.append(i)
            x = (x + i * 7) % 1000003
        items.clear()
        rounds += 1
    return rounds


def _busy_process(stop_event: Any, started: Any) -> None:
    started.set()
    busy_loop(stop_event.is_set)


class Busy:
    """The ``--busy`` load as a context manager: none, a thread here, or another process."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: Any = None
        self._old_interval = sys.getswitchinterval()

    def __enter__(self) -> Busy:
        if self.mode in ("thread", "thread-short"):
            if self.mode == "thread-short":
                sys.setswitchinterval(0.0005)
            self._thread = threading.Thread(target=busy_loop, args=(self._stop.is_set,), daemon=True)
            self._thread.start()
        elif self.mode == "process":
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")  # never fork a process holding a JACK client
            self._mp_stop, started = ctx.Event(), ctx.Event()
            self._proc = ctx.Process(target=_busy_process, args=(self._mp_stop, started), daemon=True)
            self._proc.start()
            started.wait(30.0)  # the child's imports are not part of the measurement
        elif self.mode != "none":
            raise ValueError(f"busy must be one of none, thread, thread-short, process, got {self.mode!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._proc is not None:
            self._mp_stop.set()
            self._proc.join(3.0)
            if self._proc.is_alive():
                self._proc.terminate()
        sys.setswitchinterval(self._old_interval)


# -- sounddevice clients -------------------------------------------------------------------------------------
_CLIENT_NAME_BUF: Any = None  # PortAudio keeps the pointer: the buffer must outlive the library


def _sounddevice(client_name: str) -> Any:
    """Imports sounddevice with PortAudio's JACK client named ``client_name`` (set before PortAudio
    initialises: it opens its JACK client then). Returns the module."""
    global _CLIENT_NAME_BUF
    if "sounddevice" not in sys.modules:
        lib = ctypes.CDLL(ctypes.util.find_library("portaudio") or "libportaudio.so.2")
        _CLIENT_NAME_BUF = ctypes.create_string_buffer(client_name.encode())
        lib.PaJack_SetClientName(_CLIENT_NAME_BUF)
    import sounddevice as sd

    return sd


def _jack_client_name() -> str | None:
    lib = ctypes.CDLL(ctypes.util.find_library("portaudio") or "libportaudio.so.2")
    ptr = ctypes.c_char_p()
    lib.PaJack_GetClientName.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    if lib.PaJack_GetClientName(ctypes.byref(ptr)) == 0 and ptr.value:
        return ptr.value.decode()
    return None


def _play_callback_stream(
    args: argparse.Namespace, render: Callable[[Any], None], voices: int
) -> dict[str, Any]:
    """Runs ``render(outdata)`` in a sounddevice JACK callback for ``args.seconds``; returns the
    statistics."""
    sd = _sounddevice(args.name)
    jack_api = next(i for i, h in enumerate(sd.query_hostapis()) if "JACK" in h["name"])
    device = sd.query_hostapis(jack_api)["default_output_device"]
    capacity = int(args.seconds * args.rate / args.period * 1.5) + 4096
    starts = np.zeros(capacity, dtype=np.int64)
    durs = np.zeros(capacity, dtype=np.int64)
    count = [0, 0]  # callbacks, output underflows
    perf_ns = time.perf_counter_ns

    def callback(outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        t0 = perf_ns()
        if status and status.output_underflow:
            count[1] += 1
        render(outdata)
        i = count[0]
        if i < capacity:
            starts[i] = t0
            durs[i] = perf_ns() - t0
            count[0] = i + 1

    stream = sd.OutputStream(
        device=device,
        samplerate=args.rate,
        blocksize=args.period,
        channels=2,
        dtype="float32",
        callback=callback,
    )
    with Busy(args.busy):
        cpu0 = time.process_time()
        t_start = time.monotonic()
        with stream:
            time.sleep(args.seconds)
        t_stop = time.monotonic()
        cpu = time.process_time() - cpu0
    n = count[0]
    period_ns = args.period / args.rate * 1e9
    d, s = durs[:n], starts[:n]
    gaps = np.diff(s)
    late_dur = d > period_ns
    late_gap = np.zeros(n, dtype=bool)
    late_gap[1:] = gaps > args.late_gap_periods * period_ns
    out: dict[str, Any] = {
        "client": _jack_client_name() or args.name,
        "callbacks": int(n),
        "expected_callbacks": round((t_stop - t_start) * args.rate / args.period),
        "underflows": int(count[1]),
        "late": int(np.count_nonzero(late_dur | late_gap)),
        "late_duration": int(np.count_nonzero(late_dur)),
        "late_gap": int(np.count_nonzero(late_gap)),
        "stream_start_mono": t_start,
        "stream_stop_mono": t_stop,
        "cpu_s": cpu,
        "cpu_per_s": cpu / max(t_stop - t_start, 1e-9),
    }
    out.update(_percentiles("dur_us", d / 1e3))
    out.update(_percentiles("gap_us", gaps / 1e3))
    if voices and n:
        out["ns_per_voice_sample"] = float(np.median(d)) / (voices * args.period)
        out["ns_per_voice_sample_mean"] = float(np.mean(d)) / (voices * args.period)
    return out


def _percentiles(key: str, x: np.ndarray) -> dict[str, float | None]:
    if x.size == 0:
        return {f"{key}_p50": None, f"{key}_p99": None, f"{key}_max": None}
    p50, p99 = np.percentile(x, [50, 99])
    return {f"{key}_p50": float(p50), f"{key}_p99": float(p99), f"{key}_max": float(x.max())}


def run_reference(args: argparse.Namespace) -> dict[str, Any]:
    """One saw voice (440 Hz, -20 dB) from :func:`render_saw` in a sounddevice callback."""
    state = np.array([0.0, 440.0 / args.rate])
    gain = 0.1
    t0 = time.perf_counter()
    render_saw(state, gain, np.zeros((args.period, 2), dtype=np.float32))  # compile or load from cache
    warmup = time.perf_counter() - t0
    out = _play_callback_stream(args, lambda outdata: render_saw(state, gain, outdata), voices=0)
    return {"voices": 1, "warmup_s": warmup, **out}


def run_bare(args: argparse.Namespace) -> dict[str, Any]:
    """``args.voices`` voices from :func:`render_voices`, one call per block, in a sounddevice callback."""
    state, params = make_voices(args.voices, args.rate)
    mix = np.zeros(args.period)
    t0 = time.perf_counter()
    render_voices(state, params, mix, np.zeros((args.period, 2), dtype=np.float32))
    warmup = time.perf_counter() - t0
    out = _play_callback_stream(args, lambda outdata: render_voices(state, params, mix, outdata), args.voices)
    return {"voices": args.voices, "warmup_s": warmup, **out}


def run_pyo(args: argparse.Namespace) -> dict[str, Any]:
    """``args.voices`` voices in pyo's JACK client (libjack picks the server from ``JACK_DEFAULT_SERVER``).

    Each voice: ``Phasor`` (the gate clock, 0.75 s, staggered phase) -> ``Compare`` (< 2/3: on 0.5 s, off
    0.25 s) -> ``MidiAdsr`` (5/100 ms, 0.7, 200 ms: re-triggered by the gate in C, no Python per note);
    ``LFO`` (type 0, sharp 1: pyo's band-limited saw) -> ``Biquad`` low-pass (2 kHz, Q 0.707) times the
    envelope. All voices -> ``Mix`` to mono -> both channels. pyo computes in its own C loop; there are no
    per-callback timings.
    """
    import pyo

    t0 = time.perf_counter()
    s = pyo.Server(
        sr=args.rate,
        nchnls=2,
        buffersize=args.period,
        duplex=0,
        audio="jack",
        jackname=args.name,
        verbosity=1,
    )
    s.deactivateMidi()
    s.boot()
    n = args.voices
    cycle_s = GATE_ON_S + GATE_OFF_S
    clock = pyo.Phasor(freq=[1.0 / cycle_s] * n, phase=[(k / max(n, 1)) for k in range(n)])
    gate = pyo.Compare(clock, comp=GATE_ON_S / cycle_s, mode="<")
    env = pyo.MidiAdsr(
        gate, attack=ATTACK_MS / 1e3, decay=DECAY_MS / 1e3, sustain=SUSTAIN_LEVEL, release=RELEASE_MS / 1e3
    )
    saw = pyo.LFO(freq=[float(f) for f in voice_pitches_hz(n)], sharp=1.0, type=0)
    lp = pyo.Biquad(saw, freq=CUTOFF_HZ, q=Q, type=0, mul=env)
    mono = pyo.Mix(lp, voices=1, mul=0.25 / math.sqrt(max(n, 1)))
    stereo = pyo.Mix(mono, voices=2).out()
    warmup = time.perf_counter() - t0
    cpu0 = time.process_time()
    t_start = time.monotonic()
    s.start()
    time.sleep(args.seconds)
    s.stop()
    t_stop = time.monotonic()
    cpu = time.process_time() - cpu0
    del stereo, mono, lp, saw, env, gate, clock
    s.shutdown()
    return {
        "voices": n,
        "client": args.name,
        "warmup_s": warmup,
        "callbacks": None,
        "stream_start_mono": t_start,
        "stream_stop_mono": t_stop,
        "cpu_s": cpu,
        "cpu_per_s": cpu / max(t_stop - t_start, 1e-9),
    }


#: KIND -> function(args) -> result dict. A kind's own options arrive unparsed in ``args.extra``.
KINDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "reference": run_reference,
    "bare": run_bare,
    "pyo": run_pyo,
    "engine": lambda args: _engine(args),
}


def _engine(args: argparse.Namespace) -> dict[str, Any]:
    """The StrumSpace live engine (see :mod:`bench.live_engine_client` for its modes)."""
    from bench.live_engine_client import run_engine

    return run_engine(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.live_clients", description=__doc__.split("\n")[0])
    p.add_argument("kind", help=f"one of {', '.join(KINDS)}")
    p.add_argument("--voices", type=int, default=64)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--name", default=None, help="JACK client name (default strum-KIND)")
    p.add_argument("--busy", choices=["none", "thread", "thread-short", "process"], default="none")
    p.add_argument("--rate", type=int, default=48000, help="must equal the server's -r")
    p.add_argument(
        "--period", type=int, default=128, help="must equal the server's -p (the stream's blocksize)"
    )
    p.add_argument("--late-gap-periods", type=float, default=1.5)
    return p


def main(argv: list[str] | None = None) -> int:
    args, extra = parser().parse_known_args(argv)
    if args.kind not in KINDS:
        raise SystemExit(f"unknown kind {args.kind!r} (known: {', '.join(KINDS)})")
    args.extra = extra
    args.name = args.name or f"strum-{args.kind}"
    result = KINDS[args.kind](args)
    result = {
        "kind": args.kind,
        "busy": args.busy,
        "seconds": args.seconds,
        "rate": args.rate,
        "period": args.period,
        "server": os.environ.get("JACK_DEFAULT_SERVER"),
        **result,
    }
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
