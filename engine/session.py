"""The session model: tempo map, tracks with clips, instruments, inserts and sends, buses and the master.

A :class:`Session` is plain data on the control side. :meth:`Session.build` turns it into an
:class:`engine.engine.Engine` whose graph has, per track, ``<track>/seq -> <track>/instrument ->
<track>/fx<k> -> <track>/strip``, sends ``<track>/send/<bus>`` into ``<bus>/in``, per bus and for the
master ``<bus>/in -> <bus>/fx<k> -> <bus>/strip``, and ``master/strip`` as the graph output. Stems are
taps on the track and bus strips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine.engine import Engine
from engine.errors import SessionError
from engine.graph import Graph
from engine.live_input import LiveInput, LiveMidi
from engine.mapping import Mapping
from engine.mixer import ChannelStrip, Send, apply_solo
from engine.params import AutomationLane, Parameter
from engine.processor import AudioPort, Processor
from engine.rack import InstrumentRack, rackable
from engine.sequencer import Clip, Sequencer, compile_events
from engine.tempo import TempoMap

__all__ = ["BuildResult", "BusSpec", "Section", "SendSpec", "Session", "TrackSpec", "automation_target"]

MASTER = "master"
RACK = "instruments"  # the node of instruments rendered side by side (render_threads > 1)
AUTOMATABLE_STRIP_PARAMS = ("volume_db", "pan")


@dataclass(frozen=True)
class Section:
    """A named part of the song (intro, verse, chorus...) from ``start_beats`` to the next section."""

    name: str
    start_beats: float


@dataclass
class SendSpec:
    bus: str
    level_db: float = 0.0
    pre_fader: bool = False


@dataclass
class TrackSpec:
    """One track. ``automation`` maps a parameter path (``volume_db``, ``pan``, ``instrument.<name>``,
    ``fx<k>.<name>``) to a lane of breakpoints in beats."""

    name: str
    instrument: Processor
    clips: list[Clip] = field(default_factory=list)
    inserts: list[Processor] = field(default_factory=list)
    volume_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False
    sends: list[SendSpec] = field(default_factory=list)
    output: str = MASTER
    automation: dict[str, AutomationLane] = field(default_factory=dict)
    # an instrument's extra outputs (a sampler's reverb and chorus sends) -> the buses they feed, as
    # they come out of the instrument (before the inserts), at the track's volume, muted and soloed with it
    instrument_sends: dict[str, str] = field(default_factory=dict)


@dataclass
class BusSpec:
    name: str
    inserts: list[Processor] = field(default_factory=list)
    volume_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    output: str = MASTER
    automation: dict[str, AutomationLane] = field(default_factory=dict)


@dataclass
class BuildResult:
    """An engine built from a session, with handles on its strips and sequencers."""

    engine: Engine
    strips: dict[str, ChannelStrip]
    sequencers: dict[str, Sequencer]
    stems: dict[str, str]  # stem name -> tap reference
    end_sample: int


@dataclass
class Session:
    """A song as the engine sees it. Length is the end of the last clip unless ``length_beats`` is set."""

    tempo_map: TempoMap = field(default_factory=TempoMap)
    tracks: list[TrackSpec] = field(default_factory=list)
    buses: list[BusSpec] = field(default_factory=list)
    master_volume_db: float = 0.0
    master_inserts: list[Processor] = field(default_factory=list)
    master_automation: dict[str, AutomationLane] = field(default_factory=dict)
    length_beats: float | None = None
    title: str = ""
    key: str = ""  # e.g. "C major", "F# minor" ("" when not given)
    sections: list[Section] = field(default_factory=list)  # in order of start
    warnings: list[str] = field(default_factory=list)  # e.g. plugin slots bypassed because they failed
    mappings: list[Mapping] = field(default_factory=list)  # MIDI controls bound to parameters

    def end_beats(self) -> float:
        if self.length_beats is not None:
            return self.length_beats
        return max((c.end_beats for t in self.tracks for c in t.clips), default=0.0)

    def validate(self) -> None:
        names = [t.name for t in self.tracks] + [b.name for b in self.buses] + [MASTER]
        seen: set[str] = set()
        for n in names:
            if not n or "/" in n or "." in n:
                raise SessionError(f"track/bus name {n!r}: must be non-empty without '/' or '.'")
            if n in seen:
                raise SessionError(f"the name {n!r} is used by more than one track or bus")
            seen.add(n)
        bus_names = {b.name for b in self.buses}
        for t in self.tracks:
            if t.output != MASTER and t.output not in bus_names:
                raise SessionError(f"track {t.name!r}: output {t.output!r} is not a bus")
            for s in t.sends:
                if s.bus not in bus_names:
                    raise SessionError(f"track {t.name!r}: send to unknown bus {s.bus!r}")
            ports = [p.name for p in t.instrument.audio_outputs[1:]]
            for port, bus in t.instrument_sends.items():
                if port not in ports:
                    raise SessionError(
                        f"track {t.name!r}: the instrument has no send output {port!r} (it has: "
                        f"{', '.join(ports) or 'none'})"
                    )
                if bus not in bus_names:
                    raise SessionError(f"track {t.name!r}: instrument send {port!r} to unknown bus {bus!r}")
        for b in self.buses:
            if b.output != MASTER and b.output not in bus_names:
                raise SessionError(f"bus {b.name!r}: output {b.output!r} is not a bus")
        outputs = {b.name: b.output for b in self.buses}
        for b in self.buses:
            path = [b.name]
            nxt = b.output
            while nxt != MASTER:
                if nxt in path:
                    loop = " -> ".join([*path[path.index(nxt) :], nxt])
                    raise SessionError(f"buses feed each other in a loop: {loop}")
                path.append(nxt)
                nxt = outputs[nxt]

    def build(
        self,
        sample_rate: float = 48000,
        max_block_size: int = 512,
        render_threads: int = 1,
        live: LiveMidi | None = None,
        live_tracks: dict[str, int | None] | None = None,
    ) -> BuildResult:
        """Build the graph and an engine for it (plan compiled, transport stopped at 0).

        With ``render_threads`` above 1 (offline renders only: see :mod:`engine.rack`), the tracks'
        instruments that can render side by side go into one :class:`engine.rack.InstrumentRack` node,
        ``instruments``, whose output ``out<k>`` feeds the track's chain where ``<track>/instrument``
        would; the sound is the same.

        ``live`` with ``live_tracks`` (track name -> MIDI channel 0..15, or None for every channel) arms
        tracks for live playing: a :class:`engine.live_input.LiveInput` node ``<track>/live`` between the
        track's sequencer and its instrument merges the notes played live into the track's own."""
        self.validate()
        armed = dict(live_tracks or {})
        unknown = sorted(set(armed) - {t.name for t in self.tracks})
        if unknown:
            raise SessionError(f"no track named {', '.join(map(repr, unknown))} to play live")
        if armed and live is None:
            raise SessionError("tracks armed for live playing need a LiveMidi source")
        graph = Graph()
        strips: dict[str, ChannelStrip] = {}
        sequencers: dict[str, Sequencer] = {}
        stems: dict[str, str] = {}
        sends: list[Send] = []
        tm = self.tempo_map

        def beat_to_sample(beat: float) -> float:
            return tm.beat_to_sample(beat, sample_rate)

        def chain(prefix: str, first: str, inserts: list[Processor]) -> str:
            prev = first
            for k, fx in enumerate(inserts):
                name = graph.add(f"{prefix}/fx{k}", fx)
                graph.connect(prev, name)
                prev = name
            return prev

        def add_strip(name: str, channels: int, solo_safe: bool, volume_db: float, pan: float, mute: bool):
            strip = ChannelStrip(channels, solo_safe=solo_safe)
            try:
                strip.volume_db.set(volume_db)
                strip.pan.set(pan)
            except ValueError as exc:
                raise SessionError(f"{name}: {exc}") from None
            strip.mute.set(1.0 if mute else 0.0)
            graph.add(f"{name}/strip", strip)
            strips[name] = strip
            return strip

        # buses and the master: a summing point, the inserts, then the strip (fader, pan, meter)
        def add_bus(name: str, inserts: list[Processor]) -> None:
            head = graph.add(f"{name}/in", _Sum())
            graph.connect(chain(name, head, inserts), f"{name}/strip")

        master = add_strip(MASTER, 2, True, self.master_volume_db, 0.0, False)
        add_bus(MASTER, self.master_inserts)
        graph.set_output(f"{MASTER}/strip")
        for b in self.buses:
            add_strip(b.name, 2, True, b.volume_db, b.pan, b.mute)
            add_bus(b.name, b.inserts)
            stems[b.name] = f"{b.name}/strip.out"
        for b in self.buses:  # every bus input exists now, so any bus may feed any other
            graph.connect(f"{b.name}/strip", f"{b.output}/in")
        racked = [t for t in self.tracks if rackable(t.instrument)] if render_threads > 1 else []
        if len(racked) < 2:
            racked = []
        rack_port = {t.name: k for k, t in enumerate(racked)}
        if racked:
            graph.add(RACK, InstrumentRack([t.instrument for t in racked], render_threads))
        for t in self.tracks:
            seq = Sequencer(compile_events(t.clips, tm, sample_rate))
            sequencers[t.name] = seq
            graph.add(f"{t.name}/seq", seq)
            source = f"{t.name}/seq"
            if t.name in armed:
                assert live is not None
                source = graph.add(f"{t.name}/live", LiveInput(live, armed[t.name]))
                graph.connect(f"{t.name}/seq", source)
            if t.name in rack_port:
                k = rack_port[t.name]
                graph.connect(source, f"{RACK}.midi{k}")
                main = t.instrument.audio_outputs[0].name
                inst = f"{RACK}.{main}{k}"
                send_ports = {port: f"{RACK}.{port}{k}" for port in t.instrument_sends}
            else:
                inst = graph.add(f"{t.name}/instrument", t.instrument)
                graph.connect(source, inst)
                if len(t.instrument.audio_outputs) > 1:
                    inst = f"{inst}.{t.instrument.audio_outputs[0].name}"
                send_ports = {port: f"{t.name}/instrument.{port}" for port in t.instrument_sends}
            pre = chain(t.name, inst, t.inserts)
            channels = t.instrument.audio_outputs[0].channels if t.instrument.audio_outputs else 2
            if t.inserts and t.inserts[-1].audio_outputs:
                channels = t.inserts[-1].audio_outputs[0].channels
            strip = add_strip(t.name, min(channels, 2), False, t.volume_db, t.pan, t.mute)
            strip.solo.set(1.0 if t.solo else 0.0)
            graph.connect(pre, f"{t.name}/strip")
            graph.connect(f"{t.name}/strip", f"{t.output}/in")
            stems[t.name] = f"{t.name}/strip.out"
            for port, bus in t.instrument_sends.items():
                # pre-fader at the track's volume, gated with its mute and solo as its other sends are
                isend = Send(2, t.volume_db, pre_fader=True)
                name = graph.add(f"{t.name}/isend/{port}", isend)
                graph.connect(send_ports[port], name)
                graph.connect(name, f"{bus}/in")
                sends.append(isend)
                strip.sends.append(isend)
            for s in t.sends:
                send = Send(2 if not s.pre_fader else min(channels, 2), s.level_db, s.pre_fader)
                name = graph.add(f"{t.name}/send/{s.bus}", send)
                graph.connect(pre if s.pre_fader else f"{t.name}/strip", name)
                graph.connect(name, f"{s.bus}/in")
                sends.append(send)
                strip.sends.append(send)
        apply_solo(strips.values())
        for p in [*strips.values(), *sends]:
            p.reset()  # start at the set values, not ramping from defaults
        # automation
        for t in self.tracks:
            self._automate(t.name, t.automation, strips[t.name], t.instrument, t.inserts, beat_to_sample)
        for b in self.buses:
            self._automate(b.name, b.automation, strips[b.name], None, b.inserts, beat_to_sample)
        self._automate(MASTER, self.master_automation, master, None, self.master_inserts, beat_to_sample)

        # processors that follow the song's tempo exactly (tempo-synced LFOs) get its tempo map
        for proc in graph.nodes.values():
            setter = getattr(proc, "set_tempo_map", None)
            if callable(setter):
                setter(tm)
        taps = tuple(stems.values())
        first_stage = (RACK,) if racked else ()  # offline renders run the instruments a block ahead
        engine = Engine(graph, sample_rate, max_block_size, tempo_map=tm, taps=taps, first_stage=first_stage)
        engine.commit()
        end = math.floor(tm.beat_to_sample(self.end_beats(), sample_rate) + 0.5)
        return BuildResult(engine, strips, sequencers, stems, end)

    @staticmethod
    def _automate(owner, lanes, strip, instrument, inserts, beat_to_sample) -> None:
        for path, lane in lanes.items():
            try:
                automation_target(path, strip, instrument, inserts).set_automation(
                    lane.compile(beat_to_sample)
                )
            except (KeyError, ValueError) as exc:
                raise SessionError(f"{owner}: automation {path!r}: {exc}") from None


def automation_target(
    path: str, strip: Processor, instrument: Processor | None, inserts: list[Processor]
) -> Parameter:
    """The parameter an automation path names: ``volume_db``/``pan``... on the strip,
    ``instrument.<name>``, or ``fx<k>.<name>`` for the k-th insert. SessionError says what is wrong."""
    head, _, pname = path.partition(".")
    target: Processor | None
    if not pname:
        if head not in AUTOMATABLE_STRIP_PARAMS:
            raise SessionError(
                f"a strip automates {' and '.join(AUTOMATABLE_STRIP_PARAMS)}, not {head!r}"
                " (mute and solo are set, not automated)"
            )
        target, pname = strip, head
    elif head == "instrument":
        target = instrument
    elif head.startswith("fx") and head[2:].isdigit() and int(head[2:]) < len(inserts):
        target = inserts[int(head[2:])]
    else:
        target = None
    if target is None:
        raise SessionError(
            f"automation path {path!r} names no device (use a strip parameter, instrument.NAME or fxK.NAME)"
        )
    try:
        return target.param(pname)
    except KeyError as exc:
        raise SessionError(str(exc.args[0])) from None


class _Sum(Processor):
    """A summing point: the plan adds every connection into ``in``; this passes it on unchanged."""

    in_place = True

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)

    def process(self, ctx, audio_in, audio_out, events_in, events_out) -> None:
        if audio_out[0] is not audio_in[0]:
            audio_out[0][:] = audio_in[0]
