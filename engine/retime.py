"""Playing a built session at another tempo: the same music, its events and lanes moved to new samples.

Event tables, automation lanes and loop points are in samples, compiled for one tempo map. To follow a new
tempo (``/transport/tempo``, an external MIDI clock) the control side compiles them again for the new map
(:func:`retime_tables`) and the transport swaps everything in at the top of one block, moving the position
to the sample of the beat it stood on (:meth:`engine.transport.Transport.retime`), so the song goes on from
the same beat with every note that sounds still sounding. Audio clips keep their sample positions: they are
not stretched.
"""

from __future__ import annotations

from engine.params import AutomationLane, AutomationTable, Parameter
from engine.processor import Processor
from engine.sequencer import EventTable, Sequencer, compile_events
from engine.session import MASTER, BuildResult, Session, automation_target
from engine.tempo import TempoMap

__all__ = ["constant_tempo", "retime", "retime_tables"]


def constant_tempo(tempo_map: TempoMap, bpm: float) -> TempoMap:
    """A map at one tempo with the same time signatures (ValueError for a tempo outside 1..999 bpm)."""
    return TempoMap(time_signatures=tempo_map.time_signatures, bpm=bpm)


def retime_tables(
    session: Session, built: BuildResult, tempo_map: TempoMap, sample_rate: float
) -> tuple[list[tuple[Sequencer, EventTable]], list[tuple[Parameter, AutomationTable]]]:
    """The sequencers' tables and the automation lanes compiled for ``tempo_map`` (control side)."""

    def to_sample(beat: float) -> float:
        return tempo_map.beat_to_sample(beat, sample_rate)

    tables = [
        (built.sequencers[t.name], compile_events(t.clips, tempo_map, sample_rate)) for t in session.tracks
    ]
    lanes: list[tuple[Parameter, AutomationTable]] = []
    owners: list[tuple[str, dict[str, AutomationLane], Processor | None, list[Processor]]]
    owners = [(t.name, t.automation, t.instrument, t.inserts) for t in session.tracks]
    owners += [(b.name, b.automation, None, b.inserts) for b in session.buses]
    owners.append((MASTER, session.master_automation, None, session.master_inserts))
    for name, lanes_of, instrument, inserts in owners:
        for path, lane in lanes_of.items():
            param = automation_target(path, built.strips[name], instrument, inserts)
            lanes.append((param, lane.compile(to_sample)))
    return tables, lanes


def retime(session: Session, built: BuildResult, tempo_map: TempoMap) -> None:
    """Have the engine play on at ``tempo_map`` from the beat it stands on (takes effect at its next
    block). The session's own map is not changed."""
    engine = built.engine
    tables, lanes = retime_tables(session, built, tempo_map, engine.sample_rate)
    engine.transport.retime(tempo_map, tables, lanes)
