"""The OSC address space: what each address does to a built session, and what a query answers.

Addresses (``{t}`` is a track's index from 0, a track's or bus's name, or ``master``; ``{d}`` a device's index
from 0 or its name, ``instrument`` or ``fx<k>``; ``{k}`` a send's bus name or index; numbers may be ``i`` or
``f``; switches take ``0``/``1``, ``T``/``F``):

=========================================== ===============================================================
``/transport/play``, ``/transport/stop``     start, stop (notes that sound are released)
``/transport/locate f``                      move to a beat (quarter notes from the start)
``/transport/locate_bar i``                  move to a bar (counted from 1, as musicians count)
``/transport/tempo f``                       play on at this tempo (bpm) from the same beat
``/transport/loop f f``, ``... i``           loop between two beats and turn looping on; or on/off
``/transport/position``                      query: beat, bar, beat in bar, ``bar.beat.tick``, seconds
``/transport/state``                         query: 1 while playing, 0 when stopped
``/tracks``                                  query: track and bus names in index order, then ``master``
``/track/{t}/volume f``                      fader in dB (-120..12)
``/track/{t}/pan f``                         -1 (left) .. 1 (right)
``/track/{t}/mute i``, ``/track/{t}/solo i`` switches
``/track/{t}/send/{k} f``                    send level in dB
``/track/{t}/devices``                       query: device names
``/track/{t}/device/{d}/params``             query: parameter names
``/track/{t}/device/{d}/param/{name} f``     set a device parameter (in its unit)
``/track/{t}/device/{d}/param/{name}/info``  query: minimum, maximum, default, unit
``/track/{t}/meter``                         query: peak L, peak R, RMS L, RMS R (dBFS)
``/track/{t}/note i i``                      note, velocity (0: note-off) into an armed track
``/sections``                                query: section names in order
``/section/{s}``                             go to a section (by name or index) at once
``/section/{s}/loop``                        loop a section and go to its start
``/params``                                  query: every parameter path
``/learn s``                                 MIDI learn: the next control moved binds to this path
                                             (subscribers hear ``/learned`` with the path and the mapping)
``/mappings``                                query: the mappings, one string each
``/mappings/save``, ``/mappings/clear``      write them into the song file; remove them all
``/ping``                                    answered with ``/pong``
=========================================== ===============================================================

A value address sent without arguments is a query: the answer comes back on the same address. Setting
addresses answer nothing; subscribers (see :mod:`bridge.osc.server`) hear every change. A problem is
raised as :class:`OscError`, answered on ``/error`` with the address and the reason, and changes nothing.

Messages in a bundle whose time tag lies ahead are applied at that time: parameter values through the
engine's schedule (to the sample), notes at their time through the live MIDI queue (to the sample), the
rest (transport, switches) by the server's timer at the block that holds that time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.control import (
    ControlError,
    ParamRef,
    device_list,
    param_paths,
    resolve_param,
    set_switch,
    strip_names,
)
from engine.params import LatencyParameter
from engine.retime import constant_tempo, retime
from engine.session import MASTER, BuildResult, Session

__all__ = ["OscControl", "OscError", "Reply", "osc_address_of"]

Reply = tuple[str, list[Any]]

MAX_NAME = 200


class OscError(ControlError):
    """A message the address space refuses; nothing was changed."""


@dataclass
class Deferred:
    """An action to run at a wall-clock time (a bundle's time tag) on the server's timer."""

    at: float
    run: Callable[[], None]


def osc_address_of(path: str) -> str:
    """The OSC address of a parameter path (``bass/instrument/cutoff_hz`` ->
    ``/track/bass/device/instrument/param/cutoff_hz``)."""
    strip, _, target = path.partition("/")
    head, _, rest = target.partition("/")
    if not rest:
        return f"/track/{strip}/{'volume' if head == 'volume_db' else head}"
    if head == "send":
        return f"/track/{strip}/send/{rest}"
    return f"/track/{strip}/device/{head}/param/{rest}"


def _number(address: str, args: list[Any], k: int = 0) -> float:
    if len(args) <= k:
        raise OscError(f"{address} needs {k + 1} number argument(s), got {len(args)}")
    v = args[k]
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if not isinstance(v, (int, float)):
        raise OscError(
            f"{address} expects a number (i or f) as argument {k + 1}, got {type(v).__name__} {v!r}"
        )
    f = float(v)
    if not math.isfinite(f):
        raise OscError(f"{address}: argument {k + 1} is not a finite number ({v})")
    return f


def _int(address: str, args: list[Any], k: int, lo: int, hi: int, what: str) -> int:
    v = _number(address, args, k)
    if v != int(v) or not lo <= v <= hi:
        raise OscError(f"{address}: {what} must be a whole number in {lo}..{hi}, got {v:g}")
    return int(v)


def _switch(address: str, args: list[Any]) -> bool:
    v = _number(address, args)
    if v not in (0.0, 1.0):
        raise OscError(f"{address} is a switch: send 0 or 1 (or F/T), got {v:g}")
    return v == 1.0


class OscControl:
    """The address space over one built session (see the module docstring).

    ``frame_at`` maps a wall-clock time (``time.time`` seconds, as time tags are) to the engine frame that
    plays then; without it time tags are not honoured (messages apply when they arrive). ``live_midi`` (an
    :class:`engine.live_input.LiveMidi`) carries notes into armed tracks; ``mapper`` (an
    :class:`engine.mapping.MidiMapper`) takes ``/learn``.
    """

    def __init__(
        self,
        session: Session,
        built: BuildResult,
        *,
        frame_at: Callable[[float], int] | None = None,
        live_midi: Any = None,
        armed: dict[str, int | None] | None = None,
        mapper: Any = None,
        song_path: str | None = None,
    ) -> None:
        self.session = session
        self.song_path = song_path  # where /mappings/save writes the mappings
        self.built = built
        self.engine = built.engine
        self.frame_at = frame_at
        self.live_midi = live_midi
        self.armed = dict(armed or {})
        self.mapper = mapper
        self.names = strip_names(session)
        self.paths = param_paths(session, built)
        self.refs = {p: resolve_param(session, built, p) for p in self.paths}

    # -- names -------------------------------------------------------------------------------------------
    def strip(self, token: str) -> str:
        if token.isdigit():
            k = int(token)
            if k >= len(self.names):
                raise OscError(f"no track {k}: there are {len(self.names)} (0..{len(self.names) - 1})")
            return self.names[k]
        if token not in self.names:
            raise OscError(f"no track or bus named {token!r} (known: {', '.join(self.names)})")
        return token

    def device(self, strip: str, token: str) -> str:
        devices = [name for name, _ in device_list(self.session, strip)]
        if token.isdigit() and int(token) < len(devices):
            return devices[int(token)]
        if token in devices:
            return token
        raise OscError(f"{strip!r} has no device {token!r} (its devices: {', '.join(devices) or 'none'})")

    def send(self, strip: str, token: str) -> str:
        sends = [p.rsplit("/", 1)[1] for p in self.paths if p.startswith(f"{strip}/send/")]
        if token.isdigit() and int(token) < len(sends):
            return sends[int(token)]
        if token in sends:
            return token
        raise OscError(f"{strip!r} has no send {token!r} (its sends: {', '.join(sends) or 'none'})")

    def ref(self, path: str) -> ParamRef:
        ref = self.refs.get(path)
        if ref is None:
            ref = resolve_param(self.session, self.built, path)  # raises ControlError naming the problem
        return ref

    # -- values (for queries and feedback) ---------------------------------------------------------------
    def values(self) -> dict[str, float]:
        """Every parameter's set value by path."""
        return {p: r.param.value for p, r in self.refs.items()}

    def position(self) -> list[Any]:
        tr = self.engine.transport
        beat = tr.position_beats()
        bar, inside = tr.tempo_map.beat_to_bar(beat + 1e-6)
        return [float(beat), int(bar) + 1, float(max(0.0, inside - 1e-6)) + 1.0, tr.position_text(),
                float(tr.position_seconds())]  # fmt: skip

    def tempo(self) -> float:
        tr = self.engine.transport
        return float(tr.tempo_map.tempo_at_beat(tr.position_beats()))

    def meter(self, strip: str) -> list[float]:
        peak, rms = self.built.strips[strip].meter_db()
        return [float(v) for v in (*peak, *rms)]

    # -- dispatch ----------------------------------------------------------------------------------------
    def handle(
        self, address: str, args: list[Any], when: float | None = None
    ) -> tuple[list[Reply], Deferred | None]:
        """Carry out one message (at wall-clock time ``when``, or now). Returns the replies for the sender
        and, for an action that must wait for its time tag, a :class:`Deferred` for the server's timer."""
        if not isinstance(address, str) or not address.startswith("/") or len(address) > 1000:
            raise OscError(f"not an OSC address: {address!r}")
        parts = address.strip("/").split("/")
        head = parts[0]
        if head == "transport" and len(parts) == 2:
            return self._transport(address, parts[1], args, when)
        if head == "track" and len(parts) >= 3:
            return self._track(address, parts[1:], args, when)
        if head == "tracks" and len(parts) == 1:
            return [(address, list(self.names))], None
        if head == "sections" and len(parts) == 1:
            return [(address, [s.name for s in self.session.sections])], None
        if head == "section" and len(parts) in (2, 3):
            return self._section(address, parts[1:], when)
        if head == "params" and len(parts) == 1:
            return [(address, list(self.paths))], None
        if head == "learn" and len(parts) == 1:
            return self._learn(address, args)
        if head == "mappings" and len(parts) <= 2:
            return self._mappings(address, parts[1:], args)
        if head == "ping" and len(parts) == 1:
            return [("/pong", list(args))], None
        raise OscError(f"unknown address {address} (see docs/osc.md for the address space)")

    def _later(self, when: float | None, action: Callable[[], None]) -> Deferred | None:
        if when is None or when <= time.time():
            action()
            return None
        return Deferred(when, action)

    def _transport(self, address: str, what: str, args: list[Any], when: float | None):
        tr = self.engine.transport
        if what == "play":
            return [], self._later(when, tr.play)
        if what == "stop":
            return [], self._later(when, tr.stop)
        if what == "state":
            return [(address, [1 if tr.playing else 0])], None
        if what == "position":
            return [(address, self.position())], None
        if what == "locate":
            if not args:
                return [(address, [self.position()[0]])], None
            beat = _number(address, args)
            if not 0 <= beat <= 1e6:
                raise OscError(f"{address}: beat must be in 0..1e6, got {beat:g}")
            return [], self._later(when, lambda: tr.locate_beats(beat))
        if what == "locate_bar":
            bar = _int(address, args, 0, 1, 100000, "bar")
            return [], self._later(when, lambda: tr.locate_bar(bar - 1))
        if what == "tempo":
            if not args:
                return [(address, [self.tempo()])], None
            bpm = _number(address, args)
            if not 20.0 <= bpm <= 400.0:
                raise OscError(f"{address}: tempo must be in 20..400 bpm, got {bpm:g}")
            tm = constant_tempo(self.session.tempo_map, bpm)
            return [], self._later(when, lambda: retime(self.session, self.built, tm))
        if what == "loop":
            if not args:
                tm, sr = tr.tempo_map, self.engine.sample_rate
                start_beat = float(tm.sample_to_beat(tr.loop_start, sr))
                end_beat = float(tm.sample_to_beat(tr.loop_end, sr))
                return [(address, [start_beat, end_beat, 1 if tr.loop_enabled else 0])], None
            if len(args) == 1:
                on = _switch(address, args)
                if on and tr.loop_end <= tr.loop_start:
                    raise OscError(f"{address}: no loop set yet: send the start and end beats first")
                return [], self._later(when, lambda: tr.enable_loop(on))
            start, end = _number(address, args, 0), _number(address, args, 1)
            if not 0 <= start < end <= 1e6:
                raise OscError(f"{address}: loop needs 0 <= start < end beats, got {start:g}..{end:g}")
            try:
                tr._sample_of(start)  # the checks set_loop makes, now rather than at the timer
                if tr._sample_of(end) - tr._sample_of(start) < tr.max_block_size:
                    raise ValueError(f"loop {start:g}..{end:g} beats is shorter than one block")
            except ValueError as exc:
                raise OscError(f"{address}: {exc}") from None
            return [], self._later(when, lambda: tr.set_loop(start, end, True))
        raise OscError(f"unknown address {address}")

    def _param(self, address: str, path: str, args: list[Any], when: float | None, switch: bool = False):
        try:
            ref = self.ref(path)
        except ControlError as exc:
            raise OscError(f"{address}: {exc}") from None
        p = ref.param
        if not args:
            v = p.value
            return [(address, [int(v) if switch or p.stepped else float(v)])], None
        if switch:
            on = _switch(address, args)
            return [], self._later(when, lambda: set_switch(self.built, ref, on))
        value = _number(address, args)
        try:
            value = p.validate(value)
        except ValueError as exc:
            raise OscError(f"{address}: {exc}") from None
        if isinstance(p, LatencyParameter):

            def set_latency() -> None:
                p.set(value)
                self.engine.commit()

            return [], self._later(when, set_latency)
        if when is not None and self.frame_at is not None and when > time.time():
            if not self.engine.schedule(self.frame_at(when), p, value):
                raise OscError(f"{address}: too many changes scheduled ahead; try again")
            return [], None
        p.set(value)
        return [], None

    def _track(self, address: str, parts: list[str], args: list[Any], when: float | None):
        strip = self.strip(parts[0])
        rest = parts[1:]
        what = rest[0]
        if len(rest) == 1:
            if what == "volume":
                return self._param(address, f"{strip}/volume_db", args, when)
            if what == "pan":
                return self._param(address, f"{strip}/pan", args, when)
            if what in ("mute", "solo"):
                if what == "solo" and strip == MASTER:
                    raise OscError(f"{address}: the master is not soloed")
                return self._param(address, f"{strip}/{what}", args, when, switch=True)
            if what == "devices":
                return [(address, [n for n, _ in device_list(self.session, strip)])], None
            if what == "meter":
                return [(address, self.meter(strip))], None
            if what == "note":
                return self._note(address, strip, args, when)
        if what == "send" and len(rest) == 2:
            return self._param(address, f"{strip}/send/{self.send(strip, rest[1])}", args, when)
        if what == "device" and len(rest) >= 3:
            dev = self.device(strip, rest[1])
            if rest[2] == "params" and len(rest) == 3:
                procs = dict(device_list(self.session, strip))
                return [(address, list(procs[dev].params))], None
            if rest[2] == "param" and len(rest) in (4, 5):
                path = f"{strip}/{dev}/{rest[3]}"
                if len(rest) == 5:
                    if rest[4] != "info":
                        raise OscError(f"unknown address {address}")
                    try:
                        p = self.ref(path).param
                    except ControlError as exc:
                        raise OscError(f"{address}: {exc}") from None
                    return [(address, [p.min_value, p.max_value, p.default, p.unit])], None
                return self._param(address, path, args, when)
        raise OscError(f"unknown address {address}")

    def _note(self, address: str, strip: str, args: list[Any], when: float | None):
        if self.live_midi is None or strip not in self.armed:
            armed = ", ".join(self.armed) or "none"
            raise OscError(f"{address}: track {strip!r} is not armed for live notes (armed: {armed})")
        note = _int(address, args, 0, 0, 127, "note")
        velocity = _int(address, args, 1, 0, 127, "velocity") if len(args) > 1 else 100
        channel = self.armed[strip] or 0
        status = (0x90 if velocity else 0x80) | channel
        at = None
        if when is not None and when > time.time():
            at = time.monotonic() + (when - time.time())  # a time tag is wall-clock; the queue is monotonic
        if not self.live_midi.post(status, note, velocity or 64, at=at):
            raise OscError(f"{address}: the live note queue is full; try again")
        return [], None

    def _section(self, address: str, parts: list[str], when: float | None):
        sections = self.session.sections
        token = parts[0]
        idx = None
        if token.isdigit() and int(token) < len(sections):
            idx = int(token)
        else:
            for k, s in enumerate(sections):
                if s.name == token:
                    idx = k
                    break
        if idx is None:
            names = ", ".join(s.name for s in sections) or "none"
            raise OscError(f"{address}: no section {token!r} (sections: {names})")
        start = sections[idx].start_beats
        end = sections[idx + 1].start_beats if idx + 1 < len(sections) else self.session.end_beats()
        tr = self.engine.transport
        if len(parts) == 1:
            return [], self._later(when, lambda: tr.locate_beats(start))
        if parts[1] != "loop":
            raise OscError(f"unknown address {address}")
        if end <= start:
            raise OscError(f"{address}: section {sections[idx].name!r} is empty")

        def loop() -> None:
            tr.set_loop(start, end, True)
            tr.locate_beats(start)

        return [], self._later(when, loop)

    def poll(self) -> Any:
        """Control side, often: a mapping MIDI learn has just made (installed already), or None."""
        mapper = self.mapper
        if mapper is None or mapper.learning is None:
            return None
        return mapper.poll_learn()

    def _mappings(self, address: str, rest: list[str], args: list[Any]):
        if self.mapper is None:
            raise OscError(f"{address}: MIDI mapping needs live MIDI input (this engine has none)")
        if not rest:
            return [(address, [m.describe() for m in self.mapper.mappings])], None
        if rest[0] == "save":
            if self.song_path is None:
                raise OscError(f"{address}: this engine plays no song file to save the mappings in")
            from pathlib import Path

            from bridge.cli.map import save_mappings

            path = Path(self.song_path)
            try:
                save_mappings(path, path.read_text(encoding="utf-8"), list(self.mapper.mappings))
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                raise OscError(f"{address}: {exc}") from None
            return [(address, [str(path), len(self.mapper.mappings)])], None
        if rest[0] == "clear":
            self.mapper.set_mappings([])
            return [(address, [0])], None
        raise OscError(f"unknown address {address}")

    def _learn(self, address: str, args: list[Any]):
        if self.mapper is None:
            raise OscError(f"{address}: MIDI learn needs live MIDI input (this engine has none)")
        if len(args) != 1 or not isinstance(args[0], str):
            raise OscError(f"{address} needs one string: the parameter path to bind, e.g. bass/volume_db")
        try:
            self.ref(args[0])
            self.mapper.learn(args[0])
        except ControlError as exc:
            raise OscError(f"{address}: {exc}") from None
        return [(address, [args[0]])], None
