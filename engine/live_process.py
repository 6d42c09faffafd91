"""The live engine in a process of its own, driven from the control process.

Why a process: the audio callback is Python and needs the GIL every period. In its own process the only
other thread that wants the GIL is a command reader asleep in a blocking wait, so whatever the control
process does (a terminal UI, parsing messages, a collection of a large heap) cannot make a block late.
And libjack cannot serve a process again after its server died (PortAudio's JACK layer aborts on cleanup
and a fresh client crashes), so surviving a JACK restart needs a fresh process: the control process keeps
the session's description and position and starts a new engine process where the old one stopped.

Control -> engine: commands over a pipe (transport, notes, quit). Engine -> control: a small shared-memory
array the engine process refreshes every 20 ms (position, play state, meters, callback and xrun counts)
and messages on the pipe for what must not be missed (ready, an error, a fault).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.live import AudioDeviceError

__all__ = ["EngineProcess", "LiveSpec", "apply_transport", "build_live"]

# the status array: one float64 each
(POSITION, PLAYING, CALLBACKS, XRUNS, PEAK_L, PEAK_R, P50_US, PERIOD_US) = range(8)
(MIDI_IN, ERRORS, RATE, BPM, END, BEAT, BAR, BAR_BEAT) = range(8, 16)
(CLOCK_ERROR, NUDGES, CLOCK_LOCKED, MAPPED, FRAME_CLOCK, BLOCK_TIME, LINK_PEERS) = range(16, 23)
STATUS_SIZE = 23


@dataclass
class LiveSpec:
    """What to play live, picklable: a song file and/or an instrument, the armed track, the ports."""

    song: str | None = None
    instrument: str | None = None  # a synth preset name, or a .sf2/.sf3/.sfz/kit/WAV-folder path
    arm: str | None = None  # the track that live MIDI plays (default: the instrument's, or the first)
    midi_in: list[str] = field(default_factory=list)
    midi_out: str | None = None  # MIDI clock and transport to this port
    send_track: str | None = None  # this track's notes go to midi_out (external gear) instead of sounding
    midi_api: str = "auto"
    device: str | None = None
    blocksize: int | None = None
    bpm: float = 120.0
    client_name: str = "strum"  # of the MIDI ports
    audio_client_name: str | None = None  # PortAudio's JACK client (default: client_name + "-audio")
    position: int = 0  # transport position (samples) to start from
    start_beat: float = 0.0  # or this beat, when position is 0
    playing: bool = False
    loop: tuple[float, float] | None = None  # beats
    follow_clock: bool = False  # lock the transport to the MIDI clock arriving on the midi_in ports
    link: bool = False  # or play in time with an Ableton Link session
    link_quantum: float = 4.0
    osc_host: str = "127.0.0.1"
    osc_udp_port: int | None = None  # serve OSC on this UDP port (0: any free one); None: no OSC
    osc_tcp_port: int | None = None  # and on this TCP port (SLIP framing)
    # started in the engine process once the engine plays: module-level functions (picklable) taking the
    # LiveEngine and this spec and returning an object with stop() (and ready_info() -> dict for "ready"),
    # e.g. bridge.osc.live.serve_osc; the engine never imports the bridge itself
    services: tuple[Callable[[Any, LiveSpec], Any], ...] = ()


def build_live(spec: LiveSpec) -> Any:
    """Build the engine a spec describes and wrap it in a (not yet started) LiveEngine; start it, then
    :func:`apply_transport`."""
    from engine.live import LiveEngine, choose_device
    from engine.live_input import LiveMidi
    from engine.midi_io import MidiInput, MidiOutput
    from engine.midi_out import MidiClock, MidiSend
    from engine.session import Session, TrackSpec
    from engine.tempo import TempoMap

    dev = choose_device(spec.device, blocksize=spec.blocksize)
    if spec.song:
        from presets.song import load_song

        session = load_song(spec.song)
    else:
        session = Session(tempo_map=TempoMap(bpm=spec.bpm))
    arm = spec.arm
    if spec.instrument:
        inst: Any
        if os.path.exists(spec.instrument):
            from instruments.sampler import load_sampler

            inst = load_sampler(spec.instrument)
        else:
            from instruments.synth_presets import load_synth_preset

            inst = load_synth_preset(spec.instrument)
        session.tracks.append(TrackSpec("live", inst))
        arm = arm or "live"
    if arm is None and session.tracks:
        arm = session.tracks[0].name
    clock_port = MidiOutput(spec.midi_out, spec.midi_api, spec.client_name) if spec.midi_out else None
    if spec.send_track:
        for t in session.tracks:
            if t.name == spec.send_track:
                t.instrument = MidiSend(clock_port)
                break
        else:
            raise AudioDeviceError(f"no track {spec.send_track!r} to send to MIDI out")
    # tracks of the song played by external gear: open the port each names (one output per port)
    gear: dict[str, Any] = {}
    for t in session.tracks:
        inst = t.instrument
        if isinstance(inst, MidiSend) and inst.output is None and inst.port_name:
            if inst.port_name not in gear:
                gear[inst.port_name] = MidiOutput(inst.port_name, spec.midi_api, spec.client_name)
            inst.output = gear[inst.port_name]
    live = LiveMidi(dev.sample_rate)
    built = session.build(dev.sample_rate, dev.blocksize, live=live, live_tracks={arm: None} if arm else None)
    live.set_inputs(
        [MidiInput(p, spec.midi_api, spec.client_name, timing=spec.follow_clock) for p in spec.midi_in]
    )
    le = LiveEngine(built.engine, dev, live=live, clock=MidiClock(clock_port) if clock_port else None)
    le.built = built
    le.session = session
    le.armed = {arm: None} if arm else {}
    if session.mappings:
        live.mapper = session_mapper(session, built)
        live.mapper.set_mappings(session.mappings)
    if spec.follow_clock and spec.link:
        raise AudioDeviceError("follow a MIDI clock or an Ableton Link session, not both")
    if spec.follow_clock:
        from engine.clock_sync import ClockSync

        live.clock_sync = ClockSync(session, built)
    elif spec.link:
        from engine.link_sync import LinkSync

        live.clock_sync = LinkSync(session, built, quantum=spec.link_quantum)
    return le


def session_mapper(session: Any, built: Any) -> Any:
    """A MIDI mapper over a built session's parameters (mute and solo re-resolve which strips sound)."""
    from engine.control import resolve_param
    from engine.mapping import MidiMapper
    from engine.mixer import apply_solo

    return MidiMapper(
        lambda path: resolve_param(session, built, path).param,
        on_switch=lambda: apply_solo(built.strips.values()),
    )


def apply_transport(le: Any, spec: LiveSpec) -> None:
    """Put a started engine's transport where the spec says (loop, position, playing)."""
    tr = le.engine.transport
    if spec.loop:
        tr.set_loop(*spec.loop)
    if spec.position:
        tr.locate(spec.position)
    elif spec.start_beat > 0:
        tr.locate_beats(spec.start_beat)
    if spec.playing:
        tr.play()


def _child(spec: LiveSpec, conn: Any, status: Any) -> None:
    from engine.live import set_jack_client_name

    set_jack_client_name(spec.audio_client_name or f"{spec.client_name}-audio")
    try:
        le = build_live(spec)
        le.start()
        apply_transport(le, spec)
        sync = le.live.clock_sync
        if sync is not None:
            sync.start()
        services = [svc(le, spec) for svc in spec.services]
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        conn.close()
        os._exit(2)
    eng = le.engine
    tr = eng.transport
    status[RATE] = le.sample_rate
    status[END] = le.built.end_sample if le.built is not None else 0
    status[PERIOD_US] = le.period_s * 1e6
    ready = {"device": le.device.name, "hostapi": le.device.hostapi, "blocksize": le.device.blocksize}
    for svc in services:
        info = getattr(svc, "ready_info", None)
        if info is not None:
            ready.update(info())
    conn.send(("ready", ready))
    ports = [i for i in le.live.inputs if not i.virtual]
    from engine.midi_io import PortWatcher

    watcher = PortWatcher(list(ports), interval=0.5)
    watcher.start()
    last_peaks = time.monotonic()
    while True:
        if conn.poll(0.02):
            try:
                cmd = conn.recv()
            except EOFError:
                cmd = ("quit",)
            kind = cmd[0]
            try:
                if kind == "play":
                    tr.play()
                elif kind == "stop":
                    tr.stop()
                elif kind == "toggle":
                    if tr.playing:
                        tr.stop()
                    else:
                        tr.play()
                elif kind == "locate":
                    tr.locate(int(cmd[1]))
                elif kind == "locate_bar":
                    tr.locate_bar(max(0, int(cmd[1])))
                elif kind == "loop_bars":  # (first bar from 0, bars, enabled)
                    first = max(0, int(cmd[1]))
                    tm = tr.tempo_map
                    tr.set_loop(tm.bar_to_beat(first), tm.bar_to_beat(first + int(cmd[2])), bool(cmd[3]))
                elif kind == "loop":
                    tr.set_loop(cmd[1], cmd[2], bool(cmd[3]))
                elif kind == "loop_enable":
                    tr.enable_loop(bool(cmd[1]))
                elif kind == "volume":
                    le.built.strips[str(cmd[1])].volume_db.set(float(cmd[2]))
                elif kind == "note":
                    le.live.post(int(cmd[1]), int(cmd[2]), int(cmd[3]))
                elif kind == "quit":
                    for svc in services:
                        svc.stop()
                    if sync is not None:
                        sync.stop()
                    watcher.stop()
                    le.stop()
                    for i in le.live.inputs:
                        i.close()
                    conn.send(("bye", {"position": tr.position, "stats": le.stats().__dict__}))
                    conn.close()
                    os._exit(0)
            except Exception as exc:  # a bad command is answered, the engine plays on
                conn.send(("refused", f"{kind}: {exc}"))
        status[POSITION] = tr.position
        status[PLAYING] = 1.0 if tr.playing else 0.0
        status[CALLBACKS] = le.callbacks
        status[XRUNS] = le.xruns
        status[MIDI_IN] = le.live.received
        status[ERRORS] = le.errors
        status[BPM] = eng.ctx.tempo_bpm
        if sync is not None:
            status[CLOCK_ERROR] = sync.last_error_samples
            status[NUDGES] = sync.nudges
            status[CLOCK_LOCKED] = 1.0 if sync.line is not None else 0.0
            status[LINK_PEERS] = getattr(sync, "peers", 0)
        status[MAPPED] = le.live.mapped
        bt, frame, _ = le.anchor
        status[FRAME_CLOCK] = frame
        status[BLOCK_TIME] = bt
        beat = tr.position_beats()
        status[BEAT] = beat
        # bars as the song's time signatures count them; a position rounded to a sample may sit up to half
        # a sample before its beat, so the bar line is read a hair later
        bar, inside = tr.tempo_map.beat_to_bar(beat + 1e-4)
        status[BAR] = bar
        status[BAR_BEAT] = max(0.0, inside - 1e-4)
        now = time.monotonic()
        if now - last_peaks > 0.05:
            p = le.read_peaks()
            status[PEAK_L], status[PEAK_R] = float(p[0]), float(p[-1])
            n = min(le.callbacks, 4096)
            if n:
                last = le.callbacks
                idx = np.arange(last - n, last) & (len(le.durations_ns) - 1)
                status[P50_US] = float(np.median(le.durations_ns[idx])) / 1000.0
            last_peaks = now
        if le.fault is not None:
            conn.send(("fault", le.fault))
            conn.close()
            os._exit(3)  # no clean-up: this process's libjack is unusable now


class EngineProcess:
    """Start, drive and restart a live engine process for a :class:`LiveSpec`."""

    def __init__(self, spec: LiveSpec) -> None:
        self.spec = spec
        self._ctx = mp.get_context("spawn")
        self.status = self._ctx.Array("d", STATUS_SIZE, lock=False)
        self._proc: Any = None
        self._conn: Any = None
        self.info: dict[str, Any] = {}
        self.fault: str | None = None
        self.messages: list[str] = []

    def start(self, timeout: float = 60.0) -> None:
        for k in range(STATUS_SIZE):
            self.status[k] = 0.0
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_child, args=(self.spec, child, self.status), daemon=True)
        proc.start()
        child.close()
        if not parent.poll(timeout):
            proc.kill()
            raise AudioDeviceError(f"the engine process did not start within {timeout:g} s")
        try:
            kind, payload = parent.recv()
        except EOFError:
            proc.join(5)
            raise AudioDeviceError(f"the engine process died while starting (exit {proc.exitcode})") from None
        if kind != "ready":
            proc.join(5)
            raise AudioDeviceError(str(payload))
        self._proc, self._conn = proc, parent
        self.info = payload
        self.fault = None

    def send(self, *cmd: Any) -> None:
        if self._conn is None:
            raise AudioDeviceError(self.fault or "the engine process is not running")
        try:
            self._conn.send(cmd)
        except (BrokenPipeError, OSError):
            self.poll()
            raise AudioDeviceError(self.fault or "the engine process went away") from None

    def poll(self) -> str | None:
        """Read what the engine process said; returns the fault if it stopped (and remembers it)."""
        conn = self._conn
        if conn is None:
            return self.fault
        try:
            while conn.poll():
                kind, payload = conn.recv()
                if kind == "fault":
                    self.fault = payload
                elif kind == "refused":
                    self.messages.append(payload)
        except (EOFError, OSError):
            pass
        if self._proc is not None and not self._proc.is_alive() and self.fault is None:
            self.fault = f"the engine process ended (exit {self._proc.exitcode})"
        if self.fault is not None:
            self._proc.join(2)
            self._conn = None
        return self.fault

    @property
    def position(self) -> int:
        return int(self.status[POSITION])

    @property
    def playing(self) -> bool:
        return self.status[PLAYING] > 0

    def value(self, field: int) -> float:
        """One field of the status array (POSITION, PEAK_L, XRUNS...)."""
        return float(self.status[field])

    def restart(self, timeout: float = 60.0) -> None:
        """A new engine process for the same spec, from the position (and play state) the last one had."""
        self.close()
        self.spec = replace(self.spec, position=self.position, playing=self.playing)
        self.start(timeout)

    def close(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """Stop playing (note-offs go out), and end the engine process."""
        conn, proc = self._conn, self._proc
        result = None
        if conn is not None:
            try:
                conn.send(("quit",))
                if conn.poll(timeout):
                    kind, payload = conn.recv()
                    if kind == "bye":
                        result = payload
            except (EOFError, OSError):
                pass
        if proc is not None:
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self._conn = None
        self._proc = None
        return result
