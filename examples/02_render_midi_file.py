"""Render a Standard MIDI File with the built-in synth, one track per MIDI channel, plus stems.

The example first writes a small two-channel MIDI file (a melody and a bass line with a tempo change)
so it needs no input; pass your own file to render that instead:
``python examples/02_render_midi_file.py [SONG.mid] [OUT.wav]``.
"""

from __future__ import annotations

import os
import sys

from bridge.midi_import import session_from_midi
from engine.render import render_array, write_wav


def write_example_midi(path: str) -> str:
    """A 4-bar tune written byte by byte: format 1, 480 ticks per beat, 100 bpm then 120 bpm."""

    def vlq(n: int) -> bytes:
        out = [n & 0x7F]
        n >>= 7
        while n:
            out.append(0x80 | (n & 0x7F))
            n >>= 7
        return bytes(reversed(out))

    def track(events: list[tuple[int, bytes]]) -> bytes:
        body, now = b"", 0
        for tick, data in sorted(events, key=lambda e: e[0]):
            body += vlq(tick - now) + data
            now = tick
        body += vlq(0) + b"\xff\x2f\x00"
        return b"MTrk" + len(body).to_bytes(4, "big") + body

    ppq = 480
    conductor = [
        (0, b"\xff\x51\x03" + (600000).to_bytes(3, "big")),  # 100 bpm
        (8 * ppq, b"\xff\x51\x03" + (500000).to_bytes(3, "big")),
    ]  # 120 bpm from bar 3
    melody, bass = [], []
    for i, pitch in enumerate([72, 74, 76, 79, 76, 74, 72, 67] * 2):
        melody += [(i * ppq, bytes([0x90, pitch, 96])), (i * ppq + ppq - 40, bytes([0x80, pitch, 64]))]
    for bar, root in enumerate([48, 45, 41, 43]):
        bass += [
            (bar * 4 * ppq, bytes([0x91, root, 110])),
            (bar * 4 * ppq + 3 * ppq, bytes([0x81, root, 64])),
        ]
    data = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + (3).to_bytes(2, "big")
    data += ppq.to_bytes(2, "big") + track(conductor) + track(melody) + track(bass)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def main(midi_path: str | None = None, out_path: str = "out/02_render_midi_file.wav") -> str:
    midi_path = midi_path or write_example_midi("out/02_example.mid")
    session = session_from_midi(midi_path)  # tempo map, meters and one synth track per channel
    built = session.build(48000, 512)
    audio, stems, stats = render_array(built.engine, built.end_sample, stems=built.stems)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    write_wav(out_path, audio, 48000, "24")
    for name, stem in stems.items():  # one stem per track: mix them again elsewhere
        write_wav(out_path.replace(".wav", f".{name}.wav"), stem, 48000, "24")
    print(f"wrote {out_path} ({stats.seconds:.2f} s) and {len(stems)} stems: {', '.join(stems)}")
    return out_path


if __name__ == "__main__":
    main(*sys.argv[1:])
