"""MIDI ports through python-rtmidi: inputs polled by the audio side, outputs it writes to, and a watcher
that follows ports coming and going.

The backend is chosen by name: ``jack``, ``alsa``, ``coremidi``, ``winmm`` or ``auto`` (rtmidi's first
compiled backend that works here). A port is named by a pattern (a substring of the port's name, case
insensitive) or by ``virtual:NAME`` for a port the engine creates itself, which other programs connect to.

Timing: rtmidi gives each incoming message the time since the previous one (from the backend's own clock:
JACK's microsecond clock, ALSA's queue, CoreMIDI's host time). :class:`MidiInput` adds these up and ties
the sum to ``time.monotonic`` with the earliest poll that saw a message (a message cannot have arrived after
the poll that returned it), so arrival times keep the backend's precision, not the poll's.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import EngineError

__all__ = [
    "MIDI_APIS",
    "MidiInput",
    "MidiOutput",
    "MidiPortError",
    "PortWatcher",
    "list_midi_ports",
    "resolve_api",
]


class MidiPortError(EngineError):
    """A MIDI backend or port that cannot be used (named in the message)."""


def _rtmidi() -> Any:
    try:
        import rtmidi
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise MidiPortError(f"MIDI needs python-rtmidi: {exc}") from None
    return rtmidi


# our names -> rtmidi API constant names
MIDI_APIS = {
    "jack": "API_UNIX_JACK",
    "alsa": "API_LINUX_ALSA",
    "coremidi": "API_MACOSX_CORE",
    "winmm": "API_WINDOWS_MM",
}


def resolve_api(api: str) -> int:
    """The rtmidi API constant for a backend name; ``auto`` picks the first compiled one that opens."""
    rtmidi = _rtmidi()
    compiled = set(rtmidi.get_compiled_api())
    if api == "auto":
        names: tuple[str, ...] = ("alsa", "coremidi", "winmm")
        if jack_server_running():
            names = ("jack", *names)
        for name in names:
            const = getattr(rtmidi, MIDI_APIS[name])
            if const in compiled and _opens(rtmidi, const):
                return int(const)
        raise MidiPortError("no MIDI backend works here (tried JACK, ALSA, CoreMIDI, Windows MM)")
    if api not in MIDI_APIS:
        raise MidiPortError(f"unknown MIDI backend {api!r} (choose from auto, {', '.join(MIDI_APIS)})")
    const = getattr(rtmidi, MIDI_APIS[api])
    if const not in compiled:
        raise MidiPortError(f"MIDI backend {api!r} is not compiled into python-rtmidi on this machine")
    if api == "jack" and not jack_server_running():
        raise MidiPortError("MIDI backend 'jack': no JACK server is running")
    if api == "alsa" and _alsa_seq_missing():
        raise MidiPortError("MIDI backend 'alsa': no ALSA sequencer here (/dev/snd/seq is missing)")
    if not _opens(rtmidi, const):
        raise MidiPortError(f"MIDI backend {api!r} does not open here (is its server or driver running?)")
    return int(const)


def _alsa_seq_missing() -> bool:
    # without the sequencer device rtmidi's ALSA backend fails (and ALSA prints to stderr on every try)
    return sys.platform.startswith("linux") and not os.path.exists("/dev/snd/seq")


def _opens(rtmidi: Any, const: int) -> bool:
    if const == getattr(rtmidi, "API_LINUX_ALSA", None) and _alsa_seq_missing():
        return False
    try:
        probe = rtmidi.MidiIn(rtapi=const, name="strum-probe")
        probe.get_ports()
        probe.delete()
        return True
    except Exception:
        return False


def jack_server_info() -> tuple[int, int] | None:
    """(sample rate, period) of the JACK server that accepts clients (the default one, or the one
    JACK_DEFAULT_SERVER names), or None when none does; never starts one."""
    try:
        import jack
    except Exception:
        return None
    try:
        client = jack.Client("strum-probe", no_start_server=True)
    except Exception:
        return None
    try:
        return int(client.samplerate), int(client.blocksize)
    finally:
        client.close()


def jack_server_running() -> bool:
    return jack_server_info() is not None


@dataclass(frozen=True)
class PortInfo:
    direction: str  # "in" (we read it) or "out" (we write to it)
    index: int
    name: str


def list_midi_ports(api: str = "auto") -> list[PortInfo]:
    """Ports the engine can read from ("in") and write to ("out") on one backend."""
    rtmidi = _rtmidi()
    const = resolve_api(api)
    mi = rtmidi.MidiIn(rtapi=const, name="strum-list")
    mo = rtmidi.MidiOut(rtapi=const, name="strum-list")
    try:
        ins = [PortInfo("in", i, n) for i, n in enumerate(mi.get_ports())]
        outs = [PortInfo("out", i, n) for i, n in enumerate(mo.get_ports())]
    finally:
        mi.delete()
        mo.delete()
    return ins + outs


def _find(ports: list[str], pattern: str) -> int | None:
    want = pattern.lower()
    for i, name in enumerate(ports):
        if name.lower() == want:
            return i
    for i, name in enumerate(ports):
        if want in name.lower():
            return i
    return None


def _connect(midi: Any, pattern: str, client_name: str, direction: str) -> str | None:
    """Connect an rtmidi handle: create the port of ``virtual:NAME``, or open the first port whose name
    matches ``pattern``. Returns what it is connected to (None: no such port now). The handle is deleted
    when the backend refuses."""
    own = "midi_in" if direction == "input" else "midi_out"
    if pattern.startswith("virtual:"):
        name = pattern.split(":", 1)[1] or own
        try:
            midi.open_virtual_port(name)
        except Exception as exc:
            midi.delete()
            raise MidiPortError(f"cannot create virtual MIDI {direction} {name!r}: {exc}") from None
        return f"{client_name}:{name}"
    ports = midi.get_ports()
    idx = _find(ports, pattern)
    if idx is None:
        return None
    try:
        midi.open_port(idx, name=own)
    except Exception as exc:
        midi.delete()
        raise MidiPortError(f"cannot open MIDI {direction} {ports[idx]!r}: {exc}") from None
    return str(ports[idx])


class _Handle:
    """An open rtmidi input and the clock of its deltas: ``anchor + sum`` is the last message's arrival
    time on ``time.monotonic``. Swapped whole, so the audio side never sees a handle with another's clock."""

    __slots__ = ("anchor", "backlog", "first", "midi", "sum")

    def __init__(self, midi: Any) -> None:
        self.midi = midi
        self.sum = 0.0
        self.anchor = math.inf
        self.first = True
        self.backlog: list[tuple[list[int], float]] = []  # (message, sum) read while calibrating

    def absorb(self, delta: float, now: float) -> None:
        if self.first:
            self.first = False
            self.sum = 0.0
        else:
            self.sum += delta
        anchor = now - self.sum  # the message cannot have arrived after the read that returned it
        if anchor < self.anchor:
            self.anchor = anchor


_PROBE = 0xBF, 119  # CC 119 (undefined) on channel 16: the calibration messages, never played


class MidiInput:
    """One MIDI input, read by the audio side with :meth:`poll` (no threads, no locks, no allocation
    beyond the small tuples rtmidi returns).

    ``port`` is a pattern matched against the backend's port names, or ``virtual:NAME`` to create a port
    that others connect to. The port may be absent when the input is made; :class:`PortWatcher` opens it
    when it appears and again after it comes back.

    When a port opens, a few probe messages are sent into it from a temporary output and read back in a
    tight loop: the earliest read of each bounds its arrival, which ties the backend's clock to
    ``time.monotonic`` within a fraction of a millisecond before the first real note (without probes the
    first note could be placed up to a period late; every later read tightens the tie anyway).
    """

    def __init__(
        self, port: str, api: str = "auto", client_name: str = "strum", timing: bool = False
    ) -> None:
        self.pattern = port
        self.timing = timing  # pass MIDI clock, Start/Stop/Continue (for following a clock)
        self.api_name = api
        self.api = resolve_api(api)
        self.client_name = client_name
        self.virtual = port.startswith("virtual:")
        self.connected_to: str | None = None
        self._h: _Handle | None = None
        self._graveyard: list[_Handle] = []
        self.calibrated = False
        self.received = 0
        self.open()

    # -- control side -----------------------------------------------------------------------------------
    def _new_handle(self) -> Any:
        rtmidi = _rtmidi()
        try:
            midi = rtmidi.MidiIn(rtapi=self.api, name=self.client_name, queue_size_limit=8192)
        except Exception as exc:
            raise MidiPortError(f"cannot open the MIDI backend for input {self.pattern!r}: {exc}") from None
        midi.ignore_types(sysex=True, timing=not self.timing, active_sense=True)
        return midi

    def open(self) -> bool:
        """Open (or reopen) the port; returns whether it is connected now."""
        rtmidi = _rtmidi()
        try:
            probe = rtmidi.MidiOut(rtapi=self.api, name=f"{self.client_name}-sync")
            before = set(probe.get_ports())
        except Exception:
            probe, before = None, set()
        midi = self._new_handle()
        try:
            connected = _connect(midi, self.pattern, self.client_name, "input")
            h = _Handle(midi)
            ok = connected is not None and probe is not None
            self.calibrated = ok and self._calibrate(h, probe, before)
        finally:
            if probe is not None:
                probe.delete()
        self._retire(self._h)
        self._h = h  # one reference swap: the audio side reads the old handle or the new
        self.connected_to = connected
        return connected is not None

    def _calibrate(self, h: _Handle, probe: Any, before: set[str]) -> bool:
        try:
            new = [i for i, p in enumerate(probe.get_ports()) if p not in before]
            if len(new) != 1:
                return False
            probe.open_port(new[0])
        except Exception:
            return False
        seen = 0

        def read_until(t_end: float) -> None:
            nonlocal seen
            while True:
                now = time.monotonic()
                got = h.midi.get_message()
                if got is None:
                    if now >= t_end:
                        return
                    time.sleep(0.0001)
                    continue
                msg, delta = got
                h.absorb(delta, now)
                if len(msg) == 3 and (msg[0], msg[1]) == _PROBE:
                    seen += 1
                else:
                    h.backlog.append((msg, h.sum))  # a real message during calibration: kept

        read_until(time.monotonic() + 0.03)
        for k in range(12):  # irregular spacing, so the reads fall at different moments of a period
            probe.send_message([*_PROBE, k])
            read_until(time.monotonic() + 0.0021 + 0.00037 * k)
        read_until(time.monotonic() + 0.02)
        probe.close_port()
        return seen > 0

    def _retire(self, old: _Handle | None) -> None:
        # the audio side may still hold the old handle for the rest of its block: delete it one swap later
        for g in self._graveyard:
            g.midi.delete()
        self._graveyard = [old] if old is not None else []

    def close(self) -> None:
        """Control side, with the audio side stopped."""
        for g in [*self._graveyard, self._h]:
            if g is not None:
                g.midi.close_port()
                g.midi.delete()
        self._graveyard = []
        self._h = None
        self.connected_to = None

    # -- audio side -------------------------------------------------------------------------------------
    def poll(self, now: float) -> tuple[list[int], float] | None:
        """One waiting message and its arrival time (``time.monotonic`` seconds), or None."""
        h = self._h
        if h is None:
            return None
        if h.backlog:
            msg, at = h.backlog.pop(0)
            self.received += 1
            return msg, h.anchor + at
        got = h.midi.get_message()
        if got is None:
            return None
        h.absorb(got[1], now)
        self.received += 1
        return got[0], h.anchor + h.sum


class MidiOutput:
    """One MIDI output (external gear, a DAW following the clock). ``send`` copies the message at once;
    with JACK and CoreMIDI it never blocks."""

    def __init__(self, port: str, api: str = "auto", client_name: str = "strum") -> None:
        self.pattern = port
        self.api = resolve_api(api)
        self.client_name = client_name
        self.virtual = port.startswith("virtual:")
        self.connected_to: str | None = None
        self._midi: Any = None
        self._graveyard: list[Any] = []
        self.sent = 0
        self.open()

    def open(self) -> bool:
        rtmidi = _rtmidi()
        try:
            midi = rtmidi.MidiOut(rtapi=self.api, name=self.client_name)
        except Exception as exc:
            raise MidiPortError(f"cannot open the MIDI backend for output {self.pattern!r}: {exc}") from None
        self.connected_to = _connect(midi, self.pattern, self.client_name, "output")
        for h in self._graveyard:
            h.delete()
        self._graveyard = [self._midi] if self._midi is not None else []
        self._midi = midi
        return self.connected_to is not None

    def send(self, message: list[int]) -> None:
        midi = self._midi
        if midi is not None and self.connected_to is not None:
            midi.send_message(message)
            self.sent += 1

    def close(self) -> None:
        """Control side, with the audio side stopped."""
        for h in [*self._graveyard, self._midi]:
            if h is not None:
                h.close_port()
                h.delete()
        self._graveyard = []
        self._midi = None
        self.connected_to = None


class PortWatcher:
    """A control-side thread that reopens named ports when they come back (a controller unplugged and
    plugged in again, a program restarted). It sleeps between looks and takes the GIL only briefly. It
    lists ports through handles of its own, never through the ones the audio side is reading."""

    def __init__(
        self,
        ports: list[MidiInput | MidiOutput],
        interval: float = 0.5,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.ports = [p for p in ports if not p.virtual]
        self.interval = interval
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listers: dict[tuple[int, bool], Any] = {}
        self.reconnects = 0

    def _ports_like(self, p: MidiInput | MidiOutput) -> list[str]:
        """The ports ``p`` could connect to now (sources for an input, destinations for an output)."""
        key = (p.api, isinstance(p, MidiInput))
        lister = self._listers.get(key)
        if lister is None:
            rtmidi = _rtmidi()
            kind = rtmidi.MidiIn if key[1] else rtmidi.MidiOut
            lister = self._listers[key] = kind(rtapi=p.api, name=f"{p.client_name}-watch")
        return list(lister.get_ports())

    def check(self) -> None:
        for p in self.ports:
            names = self._ports_like(p)
            idx = _find(names, p.pattern)
            present = names[idx] if idx is not None else None
            if present is None and p.connected_to is not None:
                p.connected_to = None
                if self.on_change:
                    self.on_change(f"MIDI port {p.pattern!r} went away")
            elif present is not None and (p.connected_to is None or p.connected_to != present):
                try:
                    if p.open():
                        self.reconnects += 1
                        if self.on_change:
                            self.on_change(f"MIDI port {present!r} connected")
                except MidiPortError as exc:
                    if self.on_change:
                        self.on_change(str(exc))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def start(self) -> None:
        if self.ports and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="strum-midi-ports", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        for lister in self._listers.values():
            lister.delete()
        self._listers = {}
