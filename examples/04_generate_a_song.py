"""Generate a song from a request, one arranger stage at a time, and render it to WAV.

Each stage can be called on its own: the sections (structure), the chords (progression), the tracks
(instrumentation) and the notes (parts). Here the stages are run by :func:`ai.arranger.arrange`, the
result is printed as a lead sheet, and the engine renders it like any song file:
``python examples/04_generate_a_song.py [GENRE] [OUT.wav]``.
"""

from __future__ import annotations

import sys

from ai.arranger import arrange, end_beats
from ai.request import make_request
from ai.song import song_document, song_session
from engine.render import render_array, write_wav


def main(genre: str = "jazz", out: str = "generated.wav") -> str:
    # the request: a genre, a key, a tempo and a length; a fixed seed makes the song repeatable
    request = make_request(genre, "F", None, 112, duration_s=12.0, seed=1)
    arrangement = arrange(request)
    # the lead sheet: sections, then the chords of the first eight bars (jazz turns V7s into ii-V)
    for s in arrangement.sections:
        print(f"bar {s.start_bar + 1:>3}: {s.name:<10} {s.bars:>2} bars, energy {s.energy:.2f}")
    print(" | ".join(c.name for c in arrangement.chords if c.start_beats < 32))
    for part in arrangement.parts:
        plays = ", ".join(part.active_sections)
        print(f"{part.name:<8} {part.role:<7} {len(part.notes):>4} notes, plays in {plays}")
    # the song document is what `strum generate --song` saves; the duration in beats ends it exactly
    session = song_session(song_document(arrangement, end_beats(request)))
    built = session.build(sample_rate=48000, max_block_size=512)
    audio, _stems, _stats = render_array(built.engine, round(12.0 * 48000), tail=0.0)
    write_wav(out, audio, 48000, "24")
    return out


if __name__ == "__main__":
    print(main(*sys.argv[1:3]))
