"""Mix a short song with effects: a tempo-synced delay, a reverb bus, and master dynamics, then measure
its loudness the way streaming services do (ITU-R BS.1770, in LUFS).

Run: ``python examples/03_mix_with_effects.py [OUT.wav]``.
"""

from __future__ import annotations

import math
import os
import sys

from dsp.delay import Delay
from dsp.dynamics import Compressor, Limiter
from dsp.meters import integrated_loudness
from dsp.reverb import Reverb
from engine.render import render_array, write_wav
from engine.sequencer import Clip, Note
from engine.session import BusSpec, SendSpec, Session, TrackSpec
from engine.tempo import TempoMap
from instruments.synth import PolySynth

SAMPLE_RATE = 48000


def device(proc, **params):
    """Set a processor's parameters by name (each is checked against its range)."""
    for name, value in params.items():
        proc.param(name).set(value)
    return proc


def main(out_path: str = "out/03_mix_with_effects.wav") -> str:
    tempo = TempoMap(bpm=100)
    # A pluck line in sixteenths over two bars: short notes make the echoes easy to hear.
    line = [64, 67, 71, 74, 72, 71, 67, 64] * 4
    pluck_notes = tuple(Note(p, i * 0.25, 0.2, 96 if i % 4 == 0 else 80) for i, p in enumerate(line))
    chord = tuple(Note(p, 0, 8, 70) for p in (52, 55, 59, 62))

    pluck = device(
        PolySynth(8),
        waveform=1,
        attack_ms=1,
        decay_ms=180,
        sustain=0.0,
        release_ms=120,
        cutoff_hz=3500,
        gain_db=-6,
    )
    pad = device(PolySynth(8), attack_ms=400, release_ms=900, cutoff_hz=1500, gain_db=-10)
    # A dotted-eighth ping-pong delay follows the tempo: 0.75 beats at 100 bpm is 450 ms.
    echo = device(Delay(), sync=1, time_beats=0.75, feedback=0.35, mix=0.25, ping_pong=1, damping_hz=5000)

    session = Session(
        tempo_map=tempo,
        tracks=[
            TrackSpec(
                "pluck", pluck, [Clip(0, pluck_notes)], inserts=[echo], pan=0.2, sends=[SendSpec("hall", -10)]
            ),
            TrackSpec("pad", pad, [Clip(0, chord)], volume_db=-4, sends=[SendSpec("hall", -4)]),
        ],
        # the reverb sits on a bus, fully wet, so both tracks share one room
        buses=[BusSpec("hall", inserts=[device(Reverb(), decay_s=2.5, predelay_ms=25, mix=1.0)])],
        # glue the mix, then make sure nothing passes -1 dBFS
        master_inserts=[
            device(Compressor(), threshold_db=-20, ratio=2, attack_ms=15, release_ms=200, makeup_db=3),
            device(Limiter(), ceiling_db=-1.0),
        ],
    )
    built = session.build(SAMPLE_RATE, 256)
    audio, _, stats = render_array(built.engine, built.end_sample)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    write_wav(out_path, audio, SAMPLE_RATE, "24")
    lufs = integrated_loudness(audio, SAMPLE_RATE)
    print(
        f"wrote {out_path}: {stats.seconds:.2f} s, integrated loudness {lufs:.1f} LUFS,"
        f" peak {20 * math.log10(max(stats.peak, 1e-12)):.1f} dBFS"
    )
    return out_path


if __name__ == "__main__":
    main(*sys.argv[1:])
