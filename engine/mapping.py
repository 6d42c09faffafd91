"""MIDI mapping: a controller's knob, fader, encoder, pad or bend wheel drives any engine parameter.

A :class:`Mapping` is plain data (it lives in song files): which MIDI control (``source``, ``channel``,
``number``), which parameter (``target``, a path of :mod:`engine.control` such as ``bass/volume_db``), the
part of the parameter's range it sweeps (``min_value``..``max_value``), the ``curve`` in between, and how
the control moves it (``mode``, ``takeover``, ``note_mode``).

A :class:`MidiMapper` applies mappings on the audio side: the control side calls
:meth:`MidiMapper.set_mappings` (which resolves every target first), the audio side hands every incoming
channel message to :meth:`MidiMapper.feed` before playing it; a consumed message changes its parameter at
the message's sample offset and is not played. For MIDI learn, the control side calls
:meth:`MidiMapper.learn`, then :meth:`MidiMapper.poll_learn` until it returns the new mapping; the audio
side only copies the raw messages into a queue, :func:`learn_from` decides on the control side.

Values: a control gives a position ``x`` in 0..1 (7-bit ``v/127``, 14-bit and pitch bend ``v/16383``),
flipped by ``invert``, shaped by the curve and scaled: ``min + (max - min) * shape(x)`` with ``shape`` the
identity (``linear``), ``x**2`` (``exp``) or ``sqrt(x)`` (``sqrt``), or ``min * (max / min) ** x``
(``log``: equal ratios per step, for frequencies and times). A relative control (an endless encoder) moves
the parameter's own position, read back through the curve, by ``step`` per tick.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from engine.queues import SPSCQueue

if TYPE_CHECKING:
    from engine.params import Parameter  # (not at run time: the command line's help stays numpy-free)

__all__ = [
    "CURVES",
    "DEFAULT_STEP",
    "MODES",
    "NOTE_MODES",
    "NUMBER_MAX",
    "PICKUP_TOLERANCE",
    "SOURCES",
    "TAKEOVERS",
    "Mapping",
    "MidiMapper",
    "curve_position",
    "curve_value",
    "learn_from",
    "mapped_range",
]

SOURCES = ("cc", "cc14", "nrpn", "note", "pitchbend")
CURVES = ("linear", "log", "exp", "sqrt")
MODES = ("absolute", "relative_twos", "relative_offset", "relative_sign")
TAKEOVERS = ("jump", "pickup")
NOTE_MODES = ("momentary", "toggle")
NUMBER_MAX = {"cc": 127, "cc14": 31, "nrpn": 16383, "note": 127, "pitchbend": 0}
DEFAULT_STEP = 1.0 / 127.0
LEARN_QUIET_S = 0.3  # learning: a lone controller below 32 is a 7-bit CC after this long without its LSB
PICKUP_TOLERANCE = 1.5 / 127.0  # a pick-up control takes over within this (normalized) of the parameter

# controllers with a meaning of their own: NRPN select and data, RPN select, channel mode messages
CC_DATA_MSB, CC_DATA_LSB, CC_INCREMENT, CC_DECREMENT = 6, 38, 96, 97
CC_NRPN_LSB, CC_NRPN_MSB, CC_RPN_LSB, CC_RPN_MSB = 98, 99, 100, 101
FIRST_MODE_CC = 120
NULL = -1


@dataclass(frozen=True)
class Mapping:
    """One control bound to one parameter; see the module docstring. ``channel`` is 0..15 (None: any)."""

    target: str
    source: str
    number: int = 0
    channel: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    curve: str = "linear"
    invert: bool = False
    mode: str = "absolute"
    step: float = DEFAULT_STEP
    takeover: str = "jump"
    note_mode: str = "momentary"

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or "/" not in self.target:
            raise ValueError(f"target must be a parameter path like bass/volume_db, got {self.target!r}")
        _choice("source", self.source, SOURCES)
        top = NUMBER_MAX[self.source]
        if isinstance(self.number, bool) or not isinstance(self.number, int) or not 0 <= self.number <= top:
            if self.source == "pitchbend":
                raise ValueError(f"a pitchbend mapping has no number, got {self.number!r}")
            what = "an MSB controller" if self.source == "cc14" else "number"
            raise ValueError(f"{self.source} {what} must be in 0..{top}, got {self.number!r}")
        if self.channel is not None and (
            isinstance(self.channel, bool) or not isinstance(self.channel, int) or not 0 <= self.channel <= 15
        ):
            raise ValueError(f"channel must be in 0..15 (or None for any), got {self.channel!r}")
        for name in ("min_value", "max_value"):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            ):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if self.min_value is not None and self.max_value is not None and not self.min_value < self.max_value:
            raise ValueError(
                f"min_value must be below max_value, got {self.min_value:g} and {self.max_value:g}"
                " (use invert to turn the control around)"
            )
        _choice("curve", self.curve, CURVES)
        if self.curve == "log":
            for name in ("min_value", "max_value"):
                v = getattr(self, name)
                if v is not None and v <= 0:
                    raise ValueError(f"a log curve needs {name} above 0, got {v:g}")
        if not isinstance(self.invert, bool):
            raise ValueError(f"invert must be true or false, got {self.invert!r}")
        _choice("mode", self.mode, MODES)
        if self.mode != "absolute" and self.source != "cc":
            raise ValueError(f"mode {self.mode} is for encoders sending a 7-bit cc, not {self.source}")
        step = self.step
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step <= 1:
            raise ValueError(f"step must be in (0, 1] (a part of the range per tick), got {step!r}")
        _choice("takeover", self.takeover, TAKEOVERS)
        if self.takeover == "pickup" and (self.mode != "absolute" or self.source == "note"):
            raise ValueError("takeover pickup is for absolute controls (knobs, faders, bend wheels)")
        _choice("note_mode", self.note_mode, NOTE_MODES)
        if self.note_mode != "momentary" and self.source != "note":
            raise ValueError(f"note_mode {self.note_mode} is for note mappings, not {self.source}")

    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from their defaults (``target`` and ``source`` always), for song files."""
        out: dict[str, Any] = {"target": self.target, "source": self.source}
        if self.source != "pitchbend":
            out["number"] = self.number
        for f in fields(self)[3:]:
            v = getattr(self, f.name)
            if v != f.default:
                out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: MappingABC[str, Any]) -> Mapping:
        """A mapping from :meth:`to_dict`'s form; ValueError names an unknown field or a bad value."""
        if not isinstance(d, MappingABC):
            raise ValueError(f"a mapping is a dict of fields, got {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ValueError(f"unknown mapping field {unknown[0]!r} (allowed: {', '.join(names)})")
        for k in ("target", "source"):
            if k not in d:
                raise ValueError(f"a mapping needs {k}")
        return cls(**d)

    def describe(self) -> str:
        """``cc 74 ch 1 -> bass/instrument/cutoff_hz`` (channels counted from 1, as on the gear)."""
        number = "" if self.source == "pitchbend" else f" {self.number}"
        channel = "any ch" if self.channel is None else f"ch {self.channel + 1}"
        return f"{self.source}{number} {channel} -> {self.target}"


# a mapping's fields in the order song files write them
MAPPING_FIELDS = tuple(f.name for f in fields(Mapping))


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def mapped_range(mapping: Mapping, param: Parameter) -> tuple[float, float]:
    """The range a mapping sweeps on ``param``: its ``min_value``/``max_value`` or the parameter's own.
    ValueError when that range leaves the parameter's or does not suit the curve."""
    lo = param.min_value if mapping.min_value is None else float(mapping.min_value)
    hi = param.max_value if mapping.max_value is None else float(mapping.max_value)
    unit = f" {param.unit}" if param.unit else ""
    for name, v in (("min_value", lo), ("max_value", hi)):
        if not param.min_value <= v <= param.max_value:
            raise ValueError(
                f"{name} {v:g} is outside {param.name}'s range {param.min_value:g}..{param.max_value:g}{unit}"
            )
    if not lo < hi:
        raise ValueError(f"the mapped range {lo:g}..{hi:g} of {param.name} is empty")
    if mapping.curve == "log" and lo <= 0:
        raise ValueError(f"a log curve needs a range above 0; {param.name} would start at {lo:g}{unit}")
    return lo, hi


def curve_value(curve: str, lo: float, hi: float, x: float) -> float:
    """The value at position ``x`` (0..1) of a curve from ``lo`` to ``hi``."""
    if curve == "log":
        return lo * (hi / lo) ** x
    if curve == "exp":
        x = x * x
    elif curve == "sqrt":
        x = math.sqrt(x)
    return lo + (hi - lo) * x


def curve_position(curve: str, lo: float, hi: float, value: float) -> float:
    """The position (0..1) of ``value`` on a curve from ``lo`` to ``hi`` (clamped to its ends)."""
    if value <= lo:
        return 0.0
    if value >= hi:
        return 1.0
    if curve == "log":
        return math.log(value / lo) / math.log(hi / lo)
    t = (value - lo) / (hi - lo)
    if curve == "exp":
        return math.sqrt(t)
    if curve == "sqrt":
        return t * t
    return t


def relative_ticks(mode: str, v: int) -> int:
    """Encoder ticks in one CC value: + turns up, - down, 0 none."""
    if mode == "relative_offset":
        return v - 64
    if mode == "relative_twos":
        return v if v < 64 else v - 128
    if mode == "relative_sign":
        return v if v < 64 else 64 - v
    return 0


class _Binding:
    """A mapping with its parameter and the state of its control (pick-up), for the audio side."""

    __slots__ = ("curve", "hi", "invert", "last_set", "last_x", "lo", "mapping", "param", "picked", "switch")

    def __init__(self, mapping: Mapping, param: Parameter, switch: bool) -> None:
        self.mapping = mapping
        self.param = param
        self.lo, self.hi = mapped_range(mapping, param)
        self.curve = mapping.curve
        self.invert = mapping.invert
        self.switch = switch
        self.picked = mapping.takeover == "jump"
        self.last_x = -1.0  # the pick-up control's last position (-1: none seen)
        self.last_set = math.nan  # the value this binding set last

    def position(self) -> float:
        """Where the parameter stands, as a control position (before ``invert``)."""
        p = curve_position(self.curve, self.lo, self.hi, self.param.value)
        return 1.0 - p if self.invert else p


class _Table:
    """The bindings by control, swapped whole: key -> bindings, and which channels have NRPN mappings."""

    __slots__ = ("bindings", "by_key", "nrpn_channels")

    def __init__(self, bindings: list[_Binding]) -> None:
        self.bindings = tuple(bindings)
        by_key: dict[int, list[_Binding]] = {}
        self.nrpn_channels = [False] * 17  # index 16: a mapping on any channel
        for b in bindings:
            m = b.mapping
            ch = 16 if m.channel is None else m.channel
            by_key.setdefault(_key(SOURCES.index(m.source), ch, m.number), []).append(b)
            if m.source == "nrpn":
                self.nrpn_channels[ch] = True
        self.by_key = {k: tuple(v) for k, v in by_key.items()}


def _key(kind: int, channel: int, number: int) -> int:
    return (kind * 17 + channel) << 14 | number


K_CC, K_CC14, K_NRPN, K_NOTE, K_BEND = range(5)
EMPTY: tuple[_Binding, ...] = ()


class MidiMapper:
    """Applies mappings to incoming MIDI (see the module docstring for who calls what).

    ``resolve`` turns a parameter path into its :class:`engine.params.Parameter` (raising a clear error for
    a path that names nothing), e.g. ``lambda p: resolve_param(session, built, p).param``. ``on_switch`` is
    called after a mapping changes a ``mute`` or ``solo`` (which strips sound must then be worked out again:
    :func:`engine.mixer.apply_solo`).
    """

    def __init__(
        self,
        resolve: Callable[[str], Parameter],
        on_switch: Callable[[], None] | None = None,
        learn_capacity: int = 256,
    ) -> None:
        self._resolve = resolve
        self._on_switch = on_switch
        self._table = _Table([])
        self.applied = 0  # changes made to parameters
        self.errors = 0  # messages whose handling failed (a refused value, a failing switch hook)
        # per channel: the selected NRPN (-1: none), its data MSB, and the MSB of each 14-bit controller
        self._nrpn_msb = [NULL] * 16
        self._nrpn_lsb = [NULL] * 16
        self._data_msb = [0] * 16
        self._cc14_msb = [0] * (16 * 32)
        self._learn_capacity = learn_capacity
        self._learn_queue: SPSCQueue[tuple[int, int, int]] | None = None
        self._learn_target: str | None = None
        self._learn_options: dict[str, Any] = {}
        self._learn_seen: list[tuple[int, int, int]] = []
        self._learn_last = 0.0

    # -- control side -----------------------------------------------------------------------------------
    @property
    def mappings(self) -> tuple[Mapping, ...]:
        return tuple(b.mapping for b in self._table.bindings)

    def set_mappings(self, mappings: Iterable[Mapping]) -> None:
        """Resolve every target and install the mappings (all or, on an error, none)."""
        bindings = []
        for k, m in enumerate(mappings):
            try:
                param = self._resolve(m.target)
                bindings.append(_Binding(m, param, m.target.rsplit("/", 1)[-1] in ("mute", "solo")))
            except Exception as exc:
                raise _named(exc, f"mapping {k} ({m.describe()}): {exc}") from exc
        self._table = _Table(bindings)  # one reference swap: the audio side reads the old table or the new

    def learn(self, target: str, **options: Any) -> None:
        """Arm MIDI learn for ``target`` (resolved now); ``options`` are :class:`Mapping` fields for the
        mapping to make (``curve``, ``min_value``...). Then call :meth:`poll_learn` until it has one."""
        self._resolve(target)
        # the options must make a mapping (the source and its number are learnt)
        Mapping(target, "note" if options.get("note_mode", "momentary") != "momentary" else "cc", **options)
        self._learn_seen = []
        self._learn_last = 0.0
        self._learn_target = target
        self._learn_options = dict(options)
        self._learn_queue = SPSCQueue(self._learn_capacity)

    @property
    def learning(self) -> str | None:
        """The target being learnt, or None."""
        return self._learn_target

    def poll_learn(self) -> Mapping | None:
        """The learnt mapping once the controller has said enough (it is then installed, replacing any
        mapping of the same target, and learning stops), else None. A controller below 32 waits for its
        LSB partner; after ``LEARN_QUIET_S`` without one it is learnt as a 7-bit CC."""
        queue, target = self._learn_queue, self._learn_target
        if queue is None or target is None:
            return None
        now = time.monotonic()
        while (msg := queue.try_pop()) is not None:
            self._learn_seen.append(msg)
            self._learn_last = now
        mapping = learn_from(self._learn_seen, target, **self._learn_options)
        if mapping is None and self._learn_seen and now - self._learn_last >= LEARN_QUIET_S:
            # a controller below 32 that no LSB followed: a plain 7-bit CC
            mapping = learn_from(self._learn_seen, target, final=True, **self._learn_options)
        if mapping is None:
            return None
        self.set_mappings([*(m for m in self.mappings if m.target != target), mapping])
        self.cancel_learn()
        return mapping

    def cancel_learn(self) -> None:
        self._learn_queue = None
        self._learn_target = None
        self._learn_seen = []

    # -- audio side -------------------------------------------------------------------------------------
    def feed(self, status: int, d1: int, d2: int, offset: int = 0) -> bool:
        """One channel message at sample ``offset`` of the coming block; True if a mapping consumed it (do
        not play it then). Never raises, never blocks."""
        try:
            queue = self._learn_queue
            if queue is not None:
                queue.try_push((status, d1, d2))
            kind = status & 0xF0
            ch = status & 0x0F
            if kind == 0xB0:
                return self._cc(ch, d1, d2, offset)
            if kind == 0x90 or kind == 0x80:
                return self._note(ch, d1, d2 if kind == 0x90 else 0, offset)
            if kind == 0xE0:
                return self._absolute(self._find(K_BEND, ch, 0), (d2 << 7 | d1) / 16383.0, offset)
            return False
        except Exception:
            self.errors += 1
            return False

    def _find(self, kind: int, ch: int, number: int) -> tuple[_Binding, ...]:
        by_key = self._table.by_key
        own = by_key.get(_key(kind, ch, number), EMPTY)
        anych = by_key.get(_key(kind, 16, number), EMPTY)
        return own + anych if anych else own

    def _cc(self, ch: int, d1: int, d2: int, offset: int) -> bool:
        used = False
        if d1 < 32:
            pair = self._find(K_CC14, ch, d1)
            if pair:
                self._cc14_msb[ch * 32 + d1] = d2
                used = self._absolute(pair, (d2 << 7) / 16383.0, offset)
        elif d1 < 64:
            pair = self._find(K_CC14, ch, d1 - 32)
            if pair:
                value = self._cc14_msb[ch * 32 + d1 - 32] << 7 | d2
                used = self._absolute(pair, value / 16383.0, offset)
        table = self._table
        if table.nrpn_channels[ch] or table.nrpn_channels[16]:
            used = self._nrpn(ch, d1, d2, offset) or used
        for b in self._find(K_CC, ch, d1):
            if b.mapping.mode == "absolute":
                self._absolute((b,), d2 / 127.0, offset)
            else:
                self._relative(b, relative_ticks(b.mapping.mode, d2), offset)
            used = True
        return used

    def _nrpn(self, ch: int, d1: int, d2: int, offset: int) -> bool:
        if d1 == CC_NRPN_MSB:
            self._nrpn_msb[ch] = d2
            return True
        if d1 == CC_NRPN_LSB:
            self._nrpn_lsb[ch] = d2
            return True
        if d1 == CC_RPN_MSB or d1 == CC_RPN_LSB:
            self._nrpn_msb[ch] = NULL  # data entry goes to an RPN now
            self._nrpn_lsb[ch] = NULL
            return False
        if d1 not in (CC_DATA_MSB, CC_DATA_LSB, CC_INCREMENT, CC_DECREMENT):
            return False
        msb, lsb = self._nrpn_msb[ch], self._nrpn_lsb[ch]
        if msb == NULL and lsb == NULL:
            return False
        found = self._find(K_NRPN, ch, max(msb, 0) << 7 | max(lsb, 0))
        if not found:
            return False
        if d1 == CC_DATA_MSB:
            self._data_msb[ch] = d2
            return self._absolute(found, (d2 << 7) / 16383.0, offset)
        if d1 == CC_DATA_LSB:
            return self._absolute(found, (self._data_msb[ch] << 7 | d2) / 16383.0, offset)
        for b in found:
            self._relative(b, 1 if d1 == CC_INCREMENT else -1, offset)
        return True

    def _note(self, ch: int, note: int, velocity: int, offset: int) -> bool:
        found = self._find(K_NOTE, ch, note)
        for b in found:
            if b.mapping.note_mode == "toggle":
                if velocity > 0:
                    self._set(b, 0.0 if b.position() >= 0.5 else 1.0, offset)
            else:
                self._set(b, 1.0 if velocity > 0 else 0.0, offset)
        return bool(found)

    def _absolute(self, found: tuple[_Binding, ...], x: float, offset: int) -> bool:
        for b in found:
            if b.mapping.takeover == "pickup":
                # a parameter moved by something else (automation, another control) is picked up again
                if (not b.picked or b.param.value != b.last_set) and not self._picks_up(b, x):
                    continue
                b.last_x = x
            self._set(b, x, offset)
        return bool(found)

    def _picks_up(self, b: _Binding, x: float) -> bool:
        """Whether a pick-up control at ``x`` has reached the parameter (which may have moved elsewhere)."""
        p = b.position()
        last = b.last_x
        b.last_x = x
        crossed = last >= 0.0 and (last - p) * (x - p) <= 0.0
        b.picked = crossed or abs(x - p) <= PICKUP_TOLERANCE
        return b.picked

    def _relative(self, b: _Binding, ticks: int, offset: int) -> None:
        if ticks:
            x = b.position() + ticks * b.mapping.step
            self._set(b, 0.0 if x < 0.0 else 1.0 if x > 1.0 else x, offset)

    def _set(self, b: _Binding, x: float, offset: int) -> None:
        """Set the parameter to the value at control position ``x`` (before ``invert``)."""
        try:
            param = b.param
            value = curve_value(b.curve, b.lo, b.hi, 1.0 - x if b.invert else x)
            value = min(max(value, param.min_value), param.max_value)
            if not param.set_at(value, offset):
                param.set(value)
            b.last_set = param.value
            self.applied += 1
            if b.switch and self._on_switch is not None:
                self._on_switch()
        except Exception:
            self.errors += 1


def _named(exc: Exception, message: str) -> Exception:
    """``exc``'s own kind of error with ``message`` (a plain ValueError where that kind takes no message)."""
    try:
        named = type(exc)(message)
    except Exception:
        return ValueError(message)
    return named if named.args == (message,) else ValueError(message)


def learn_from(messages: Sequence[tuple[int, int, int]], target: str, **options: Any) -> Mapping | None:
    """The mapping that ``messages`` (raw ``(status, d1, d2)`` from a controller being moved, oldest first)
    show, for ``target`` with ``options`` (:class:`Mapping` fields), or None while they do not tell yet.

    A note-on makes a ``note`` mapping, a pitch bend a ``pitchbend`` one, CC 99/98 then data entry (6, 38,
    96, 97) an ``nrpn`` one, CC ``n`` < 32 followed by CC ``n + 32`` a ``cc14`` one and any other controller
    a ``cc`` one. A lone CC below 32 waits for its possible partner; pass ``final=True`` (at a timeout) to
    take it as a 7-bit cc. Note-offs, RPN selection and channel mode messages (CC 120..127) are skipped. The
    channel is the message's unless ``options`` give one.
    """
    final = bool(options.pop("final", False))
    select: dict[int, list[int]] = {}  # channel -> [NRPN MSB, LSB] as selected so far
    for k, (status, d1, d2) in enumerate(messages):
        kind, ch = status & 0xF0, status & 0x0F
        made: dict[str, Any] | None = None
        if kind == 0x90 and d2 > 0:
            made = {"source": "note", "number": d1}
        elif kind == 0xE0:
            made = {"source": "pitchbend"}
        elif kind == 0xB0:
            if d1 in (CC_NRPN_MSB, CC_NRPN_LSB):
                select.setdefault(ch, [NULL, NULL])[0 if d1 == CC_NRPN_MSB else 1] = d2
                continue
            if d1 in (CC_RPN_MSB, CC_RPN_LSB) or d1 >= FIRST_MODE_CC:
                select.pop(ch, None)
                continue
            nrpn = select.get(ch)
            if nrpn is not None and d1 in (CC_DATA_MSB, CC_DATA_LSB, CC_INCREMENT, CC_DECREMENT):
                made = {"source": "nrpn", "number": max(nrpn[0], 0) << 7 | max(nrpn[1], 0)}
            elif d1 < 32:
                partner = next(((s, n) for s, n, _ in messages[k + 1 :] if s == status), None)
                if partner is None and not final:
                    return None  # its LSB may be on its way
                made = {"source": "cc14" if partner == (status, d1 + 32) else "cc", "number": d1}
            else:
                made = {"source": "cc", "number": d1}
        if made is not None:
            return Mapping(target=target, **{"channel": ch, **made, **options})
    return None
