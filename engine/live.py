"""Real-time playback: an :class:`engine.engine.Engine` driven by a sounddevice (PortAudio) stream.

The stream's callback is the audio side. Per block it: reads the live MIDI that arrived and places it at
sample offsets inside the block (:class:`engine.live_input.LiveMidi`), runs the engine's block (the same
render plan as offline, swapped whole when the control side commits), sends the block's MIDI out and
clock, copies the block to the device and keeps peak meters, xrun counts and its own duration. It never
allocates arrays, logs, blocks or compiles: Numba kernels are warmed and every buffer is allocated in
:meth:`LiveEngine.start`, before the stream opens. Errors are queued, not raised.

The control side (any other thread) edits the graph and commits, moves the transport, posts notes, and
reads :meth:`LiveEngine.stats`. A watchdog notices when the audio server goes away (JACK killed): the
engine stops cleanly with a message in :attr:`LiveEngine.fault`, and :meth:`LiveEngine.restart` opens
the stream again on the same engine, so the session (graph, transport, parameters) is not lost.

The GIL: a Python callback needs the GIL every block, so another thread holding it makes the callback
late. While it plays, the engine shortens the interpreter's switch interval (0.5 ms instead of 5 ms) and
freezes the garbage collector's existing objects (a collection then walks only what was made since),
and the commands that come with it (``strum live``, ``strum play``) keep their other threads asleep in
blocking waits. ``docs/live.md`` has the measurements behind this choice.
"""

from __future__ import annotations

import gc
import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from engine.engine import Engine
from engine.errors import EngineError
from engine.live_input import LiveInput, LiveMidi
from engine.midi_io import jack_server_info
from engine.midi_out import MidiClock, MidiSend

__all__ = [
    "AudioDeviceError",
    "DeviceChoice",
    "LiveEngine",
    "LiveStats",
    "choose_device",
    "list_audio_devices",
]

SWITCH_INTERVAL_S = 0.0005
DURATIONS = 1 << 16  # callback durations kept (a ring): about 3 minutes at 128 frames, 48 kHz


_ABANDONED: list[Any] = []  # streams whose server died: never touched again


class AudioDeviceError(EngineError):
    """An audio device or host API that cannot be used, or an audio server that went away."""


def _sd() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # PortAudio missing
        raise AudioDeviceError(f"real-time audio needs PortAudio (libportaudio2): {exc}") from None
    return sounddevice


_CLIENT_NAME: Any = None  # PortAudio keeps the pointer: the buffer lives as long as the process


def set_jack_client_name(name: str) -> bool:
    """Name PortAudio's JACK client (default ``PortAudio``); only before PortAudio starts, i.e. before
    anything imports sounddevice. Returns whether it was set."""
    global _CLIENT_NAME
    import ctypes
    import ctypes.util

    if "sounddevice" in sys.modules:
        return False
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("portaudio") or "libportaudio.so.2")
        buf = ctypes.create_string_buffer(name.encode())
        ok = lib.PaJack_SetClientName(buf) == 0
    except (OSError, AttributeError):
        return False
    _CLIENT_NAME = buf
    return ok


def refresh_portaudio() -> None:
    """Make PortAudio look at the host APIs again (a JACK server started or restarted since)."""
    sd = _sd()
    sd._terminate()
    sd._initialize()


def list_audio_devices() -> list[dict[str, Any]]:
    """Output devices: index, name, host API, channels, default rate and low latency."""
    sd = _sd()
    apis = sd.query_hostapis()
    rows = []
    for d in sd.query_devices():
        rows.append(
            {
                "index": d["index"],
                "name": d["name"],
                "hostapi": apis[d["hostapi"]]["name"],
                "inputs": d["max_input_channels"],
                "outputs": d["max_output_channels"],
                "sample_rate": d["default_samplerate"],
                "low_latency_ms": 1000 * d["default_low_output_latency"],
            }
        )
    return rows


@dataclass(frozen=True)
class DeviceChoice:
    index: int
    name: str
    hostapi: str
    sample_rate: int
    blocksize: int
    channels: int


def choose_device(
    device: int | str | None = None, sample_rate: int | None = None, blocksize: int | None = None
) -> DeviceChoice:
    """Pick an output device: an index, a name (substring) or a host API (``jack``, ``alsa``...), or the
    default. On JACK the rate and block size are the server's (the block must equal JACK's period)."""
    sd = _sd()
    apis = sd.query_hostapis()
    devices = sd.query_devices()
    outputs = [d for d in devices if d["max_output_channels"] > 0]
    if not outputs:
        raise AudioDeviceError("no audio output device (is a sound server such as JACK running?)")
    chosen = None
    if device is None:
        jack_api = [i for i, a in enumerate(apis) if "JACK" in a["name"]]
        if jack_api and apis[jack_api[0]]["default_output_device"] >= 0:
            chosen = devices[apis[jack_api[0]]["default_output_device"]]
        else:
            idx = sd.default.device[1]
            chosen = devices[idx] if isinstance(idx, int) and idx >= 0 else outputs[0]
    elif isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        i = int(device)
        if not 0 <= i < len(devices) or devices[i]["max_output_channels"] < 1:
            raise AudioDeviceError(f"no audio output device {i} (see strum devices)")
        chosen = devices[i]
    else:
        want = device.lower()
        for d in outputs:
            api = apis[d["hostapi"]]["name"].lower()
            if want in api.split() or want == api or want in d["name"].lower():
                chosen = d
                break
        if chosen is None:
            names = ", ".join(f"{d['index']}: {d['name']}" for d in outputs)
            raise AudioDeviceError(f"no audio output device matches {device!r} (outputs: {names})")
    api_name = apis[chosen["hostapi"]]["name"]
    rate = int(sample_rate or chosen["default_samplerate"] or 48000)
    block = blocksize
    if "JACK" in api_name:
        server = jack_server_info()
        if server is not None:
            srate, period = server
            if sample_rate and sample_rate != srate:
                raise AudioDeviceError(f"the JACK server runs at {srate} Hz, not {sample_rate} Hz")
            rate = srate
            if blocksize and blocksize != period:
                raise AudioDeviceError(
                    f"on JACK the block size must equal the server's period ({period}), not {blocksize}"
                )
            block = period
    if block is None:
        block = max(64, 1 << round(math.log2(max(64, chosen["default_low_output_latency"] * rate / 2))))
    if not 16 <= block <= 8192:
        raise AudioDeviceError(f"block size must be in 16..8192 frames, got {block}")
    return DeviceChoice(
        int(chosen["index"]),
        chosen["name"],
        api_name,
        rate,
        int(block),
        min(2, chosen["max_output_channels"]),
    )


@njit(cache=True, nogil=True)
def _emit(block, outdata, peaks):  # pragma: no cover - compiled
    """Copy the engine's (channels, frames) block to the device's (frames, channels) buffer, keeping
    peaks; a NaN or infinity is written as silence (and counted in peaks[-1])."""
    src_ch = block.shape[0]
    frames = block.shape[1]
    dst_ch = outdata.shape[1]
    for c in range(dst_ch):
        s = c if c < src_ch else src_ch - 1
        pk = peaks[c]
        for i in range(frames):
            x = block[s, i]
            if not math.isfinite(x):
                x = 0.0
                peaks[-1] += 1.0
            outdata[i, c] = x
            a = abs(x)
            if a > pk:
                pk = a
        peaks[c] = pk


@dataclass
class LiveStats:
    callbacks: int
    xruns: int
    errors: int
    duration_p50_us: float
    duration_p99_us: float
    duration_max_us: float
    period_us: float
    late_callbacks: int
    midi_received: int
    midi_placed: int
    midi_late: int
    plan_swaps: int


class LiveEngine:
    """An engine playing through an audio device, with live MIDI in and MIDI out."""

    built: Any = None  # the session build it plays, when made from a session (strips, sequencers)

    def __init__(
        self,
        engine: Engine,
        device: DeviceChoice,
        *,
        live: LiveMidi | None = None,
        clock: MidiClock | None = None,
        sends: Sequence[MidiSend] = (),
        midi_latency_s: float | None = None,
        switch_interval: float | None = SWITCH_INTERVAL_S,
        freeze_gc: bool = True,
        client_name: str = "strum",
        on_fault: Callable[[str], None] | None = None,
    ) -> None:
        if int(engine.sample_rate) != device.sample_rate:
            raise AudioDeviceError(
                f"the engine runs at {engine.sample_rate:g} Hz but the device at {device.sample_rate} Hz"
            )
        if device.blocksize > engine.max_block_size:
            raise AudioDeviceError(
                f"the device's block ({device.blocksize}) is larger than the engine's"
                f" ({engine.max_block_size})"
            )
        self.engine = engine
        self.session: Any = None  # the session it was built from, when it was
        self.armed: dict[str, int | None] = {}  # tracks live MIDI plays -> channel (None: every channel)
        self.device = device
        self.sample_rate = float(device.sample_rate)
        self.period_s = device.blocksize / self.sample_rate
        self.live = live if live is not None else LiveMidi(self.sample_rate)
        if midi_latency_s is None:
            # one period plus a margin: a message polled a period after it arrived still lands in time
            midi_latency_s = self.period_s + 0.0005
        self.live.latency_s = midi_latency_s
        self.clock = clock
        self.sends = tuple(sends) or tuple(p for p in engine.graph.nodes.values() if isinstance(p, MidiSend))
        self.switch_interval = switch_interval
        self.freeze_gc = freeze_gc
        self.client_name = client_name
        self.on_fault = on_fault
        self.fault: str | None = None
        self._stream: Any = None
        self._watchdog: threading.Thread | None = None
        self._stop_watch = threading.Event()
        self._saved_interval: float | None = None
        # audio-side state and statistics (preallocated)
        self.peaks = np.zeros(device.channels + 1, dtype=np.float32)
        self.durations_ns = np.zeros(DURATIONS, dtype=np.int64)
        self.callbacks = 0
        self.xruns = 0
        self.errors = 0
        self.late_callbacks = 0
        self._block_time = 0.0
        # the last block: (time.monotonic of its start, its engine frame, its timeline sample or -1 while
        # stopped), swapped whole, for scheduling and for measuring where the transport stands
        self.anchor: tuple[float, int, int] = (0.0, 0, -1)
        self._frames_prev = 0
        self._last_callback = 0.0

    # -- control side -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._stream is not None and self.fault is None

    def _warm_up(self) -> None:
        """Compile every kernel and touch every buffer before the stream starts (the state is reset
        afterwards and the transport put back where it was)."""
        eng = self.engine
        eng.commit()
        tr = eng.transport
        pos, playing = tr.position, tr.playing
        frames = self.device.blocksize
        live_nodes = [p for p in eng.graph.nodes.values() if isinstance(p, LiveInput)]
        ev = self.live.events
        tr.play()
        for k in range(4):
            ev.count = 0
            if live_nodes and k == 1:
                ev.push(0, 0x90, 60, 100)
                ev.push(frames // 2, 0x80, 60, 64)
            eng.process_block(frames)
        ev.count = 0
        tr.stop()
        tr.locate(pos)
        eng.process_block(frames)
        if playing:
            tr.play()
        eng.reset()
        _emit(
            np.zeros((2, frames), np.float32),
            np.zeros((frames, self.device.channels), np.float32),
            self.peaks,
        )
        self.peaks[:] = 0.0
        for s in self.sends:
            s.pending.count = 0

    def start(self) -> None:
        """Warm up, then open and start the stream (raises :class:`AudioDeviceError` if it cannot)."""
        if self._stream is not None:
            return
        sd = _sd()
        self.engine.raise_errors = False
        self._warm_up()
        self.fault = None
        try:
            stream = sd.OutputStream(
                device=self.device.index,
                samplerate=self.sample_rate,
                blocksize=self.device.blocksize,
                channels=self.device.channels,
                dtype="float32",
                latency="low",
                callback=self._callback,
                finished_callback=self._finished,
            )
        except Exception as exc:
            raise AudioDeviceError(f"cannot open audio device {self.device.name!r}: {exc}") from None
        if self.switch_interval is not None:
            self._saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(self.switch_interval)
        if self.freeze_gc:
            gc.collect()
            gc.freeze()
        self._block_time = 0.0
        self._last_callback = time.monotonic()
        self._stream = stream
        try:
            stream.start()
        except Exception as exc:
            self._stream = None
            self._restore_interpreter()
            raise AudioDeviceError(f"cannot start audio device {self.device.name!r}: {exc}") from None
        self._stop_watch.clear()
        self._watchdog = threading.Thread(target=self._watch, name="strum-audio-watchdog", daemon=True)
        self._watchdog.start()

    def _restore_interpreter(self) -> None:
        if self._saved_interval is not None:
            sys.setswitchinterval(self._saved_interval)
            self._saved_interval = None
        if self.freeze_gc:
            gc.unfreeze()

    def wait_blocks(self, n: int, timeout: float = 1.0) -> bool:
        """Wait until the audio side has run ``n`` more blocks; False if it did not in time."""
        target = self.callbacks + n
        deadline = time.monotonic() + timeout
        while self.callbacks < target:
            if time.monotonic() > deadline or self._stream is None:
                return False
            time.sleep(0.002)
        return True

    def stop(self) -> None:
        """Stop the transport, let the note-offs play out, then close the stream. Every note the
        engine started (instruments, live notes, external gear) gets its note-off."""
        if self._stream is None:
            for s in self.sends:
                s.all_notes_off()
            return
        if self.fault is None:
            self.engine.transport.stop()
            self.live.panic()
            self.wait_blocks(3, timeout=0.5)
        self._close_stream()
        for s in self.sends:
            s.all_notes_off()

    def _close_stream(self) -> None:
        self._stop_watch.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout=2)
        self._watchdog = None
        stream, self._stream = self._stream, None
        if stream is not None and self.fault is not None:
            # the server went away under it: PortAudio's JACK layer aborts the process if this stream is
            # closed now, so it is left alone (libjack cannot serve this process again: see EngineProcess)
            _ABANDONED.append(stream)
        elif stream is not None:
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception:
                pass
        self._restore_interpreter()

    def restart(self) -> None:
        """After a fault (or a stop): look at the audio servers again and start on the same engine."""
        if self._stream is not None:
            self._close_stream()
        refresh_portaudio()
        self.device = choose_device(self.device.name, self.device.sample_rate, self.device.blocksize)
        for inp in self.live.inputs:
            inp.open()
        for s in self.sends:
            if s.output is not None:
                s.output.open()
        if self.clock is not None:
            self.clock.output.open()
        self.start()

    def _watch(self) -> None:
        # a stream whose callbacks stop for a second while it should run has lost its server
        while not self._stop_watch.wait(0.1):
            stream = self._stream
            if stream is None:
                return
            silent = time.monotonic() - self._last_callback
            if not stream.active or silent > 1.0:
                why = (
                    "the audio stream stopped"
                    if not stream.active
                    else f"no audio callback for {silent:.1f} s"
                )
                self._fail(f"audio device {self.device.name!r} ({self.device.hostapi}) went away: {why}")
                return

    def _finished(self) -> None:
        if self._stream is not None and not self._stop_watch.is_set() and self.fault is None:
            self._fail(f"audio device {self.device.name!r} ({self.device.hostapi}) stopped the stream")

    def _fail(self, message: str) -> None:
        self.fault = message + "; the session is kept: restart to play again"
        if self.on_fault is not None:
            self.on_fault(self.fault)

    def frame_at(self, t: float) -> int:
        """The engine frame that plays at ``time.monotonic`` ``t`` (from the last block's start)."""
        bt, frame, _ = self.anchor
        return frame + round((t - bt) * self.sample_rate)

    def post_note(self, note: int, velocity: int = 100, channel: int = 0) -> None:
        self.live.post((0x90 if velocity else 0x80) | channel, note, velocity or 64)

    def read_peaks(self) -> np.ndarray:
        """Peaks per channel since the last read (linear), then reset."""
        p = self.peaks[:-1].copy()
        self.peaks[:-1] = 0.0
        return p

    def stats(self) -> LiveStats:
        n = min(self.callbacks, DURATIONS)
        d = np.sort(self.durations_ns[:n]) / 1000.0 if n else np.zeros(1)
        return LiveStats(
            callbacks=self.callbacks,
            xruns=self.xruns,
            errors=self.errors,
            duration_p50_us=float(d[len(d) // 2]),
            duration_p99_us=float(d[min(len(d) - 1, int(len(d) * 0.99))]),
            duration_max_us=float(d[-1]),
            period_us=self.period_s * 1e6,
            late_callbacks=self.late_callbacks,
            midi_received=self.live.received,
            midi_placed=self.live.placed,
            midi_late=self.live.late,
            plan_swaps=self.engine.plan_swaps,
        )

    def drain_errors(self) -> list[BaseException]:
        out: list[BaseException] = []
        while True:
            e = self.engine.errors.try_pop()
            if e is None:
                return out
            out.append(e)

    # -- audio side -------------------------------------------------------------------------------------
    def _callback(self, outdata, frames, time_info, status) -> None:
        t0 = time.perf_counter_ns()
        now = time.monotonic()
        if status.output_underflow:
            self.xruns += 1
        # the block's start on the monotonic clock, smoothed: callbacks wake late by varying amounts
        expected = self._block_time + self._frames_prev / self.sample_rate
        err = now - expected
        if -0.004 < err < 0.004 and self._frames_prev:
            bt = expected + 0.05 * err
        else:
            bt = now  # the first block, or a jump (an xrun, a paused machine): follow the clock
        self._block_time = bt
        self._frames_prev = frames
        self._last_callback = now
        try:
            self.live.collect(now, bt, frames)
            sync = self.live.clock_sync
            if sync is not None:
                sync.before_block(bt)
            eng = self.engine
            frame0 = eng.frame_clock
            block = eng.process_block(frames)
            ctx = eng.ctx
            self.anchor = (bt, frame0, ctx.sample_pos if ctx.playing else -1)
            self.live.panic_pending = False
            for s in self.sends:
                s.flush_to_port()
            clock = self.clock
            if clock is not None:
                tr = eng.transport
                clock.after_block(eng.ctx, tr.tempo_map.sample_to_beat(tr.position, self.sample_rate))
            _emit(block, outdata, self.peaks)
        except Exception as exc:  # never let the stream die: silence and report
            outdata.fill(0)
            self.errors += 1
            self.engine.errors.try_push(exc)
        dur = time.perf_counter_ns() - t0
        self.durations_ns[self.callbacks & (DURATIONS - 1)] = dur
        if dur > self.period_s * 1e9:
            self.late_callbacks += 1
        self.callbacks += 1
