"""Build an audio graph by hand, compile it, and render it offline to a WAV file.

A sequencer plays a short arpeggio into the built-in synth; the synth feeds a dry path and a
"slow" path through a processor that reports latency, and the plan delays the dry path to match so the
two sum without comb filtering. Run: ``python examples/01_graph_by_hand.py [OUT.wav]``.
"""

from __future__ import annotations

import os
import sys

from dsp.gain import Gain
from engine.engine import Engine
from engine.graph import Graph
from engine.mixer import ChannelStrip
from engine.render import render_array, write_wav
from engine.sequencer import Clip, Note, Sequencer, compile_events
from engine.tempo import TempoMap
from instruments.synth import PolySynth

SAMPLE_RATE = 48000


def main(out_path: str = "out/01_graph_by_hand.wav") -> str:
    tempo = TempoMap(bpm=96)
    # An arpeggio of A minor in eighth notes: the sequencer turns beats into sample positions once.
    notes = tuple(Note(pitch, i * 0.5, 0.45, 100) for i, pitch in enumerate([57, 60, 64, 69, 64, 60] * 2))
    sequencer = Sequencer(compile_events([Clip(0.0, notes)], tempo, SAMPLE_RATE))

    synth = PolySynth(max_voices=8)
    synth.param("cutoff_hz").set(2500.0)  # a little darker than the raw saw
    synth.param("release_ms").set(250.0)

    graph = Graph()
    graph.add("seq", sequencer)
    graph.add("synth", synth)
    graph.add("quiet", Gain(2, -6.0))  # the parallel path: 6 dB down
    graph.add("mix", ChannelStrip(2))  # everything connected to its input is summed
    graph.connect("seq", "synth")  # events
    graph.connect("synth", "quiet")  # fan-out: the synth feeds two paths...
    graph.connect("synth", "mix")
    graph.connect("quiet", "mix")  # ...that meet again (fan-in sums)
    graph.set_output("mix")

    engine = Engine(graph, SAMPLE_RATE, max_block_size=256, tempo_map=tempo)
    plan = engine.commit()
    print(plan.describe())
    end = round(tempo.beat_to_sample(6.0, SAMPLE_RATE))  # twelve eighths = six beats
    audio, _, stats = render_array(engine, end)  # plays on until the release falls below -90 dBFS
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    write_wav(out_path, audio, SAMPLE_RATE, "24")
    print(f"wrote {out_path}: {stats.seconds:.2f} s, {plan.stats.audio_slots} buffer slots")
    return out_path


if __name__ == "__main__":
    main(*sys.argv[1:])
