"""The audio side of a whole song: no buffer allocation per block, and silence after a stop."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from presets.song import load_song
from tests.alloc import allocations

DEMO = Path(__file__).resolve().parents[2] / "examples" / "songs" / "demo.yaml"


def test_processing_blocks_of_a_whole_song_allocates_no_buffers():
    built = load_song(DEMO).build(48000, 512)
    eng = built.engine
    eng.transport.play()
    for _ in range(200):  # warm up: JIT, views, first automation segments
        eng.process_block(512)
    # 3 x 10.7 s of music: notes, automation ramps, sends
    got = allocations(lambda _: eng.process_block(512), 1000)
    # one 512-sample stereo float32 buffer is 4 KB; nothing of that size may appear per block, nor leak
    assert got.peak < 4096 and got.held < 1024, got


def test_stop_releases_every_voice_to_silence():
    built = load_song(DEMO).build(48000, 512)
    eng = built.engine
    eng.transport.play()
    for _ in range(1500):  # into the full arrangement: pad, bass, drums and lead sounding
        eng.process_block(512)
    assert np.abs(eng.process_block(512)).max() > 1e-3
    eng.transport.stop()
    for _ in range(int(48000 * 2 / 512)):  # longer than the longest release (1.2 s) and its fades
        eng.process_block(512)
    instruments = [eng.graph.node(f"{t}/instrument") for t in built.sequencers]
    assert all(inst.active_voice_count() == 0 for inst in instruments)  # no voice hangs
    assert all(s.active_notes() == 0 for s in built.sequencers.values())
    for _ in range(int(48000 * 6 / 512)):  # then the reverb and echoes die away
        out = eng.process_block(512)
    assert np.abs(out).max() < 10 ** (-90 / 20)
