"""Play a General MIDI file through a SoundFont: programs, drums on channel 10, reverb and chorus returns.

The example writes a short GM file (piano chords, a bass line, a drum groove) and plays it with Debian's
TimGM6mb SoundFont when it is installed, else with a small two-preset font it builds itself. Pass your own
files instead: ``python examples/05_play_a_soundfont.py [SONG.mid] [FONT.sf2|.sf3|.sfz] [OUT.wav]``. The
same from the command line: ``strum render SONG.mid --soundfont FONT.sf2 -o OUT.wav``.
"""

from __future__ import annotations

import os
import sys

import mido
import numpy as np

from bridge.midi_import import session_from_midi
from engine.render import render_array, write_wav

GM_FONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"


def write_example_midi(path: str) -> str:
    """Four bars at 100 bpm: piano chords (program 0), a finger bass (33) and kick, snare and hats."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    beat = 480
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100), time=0)])
    chords, bass, drums = (mido.MidiTrack() for _ in range(3))
    chords.append(mido.Message("program_change", channel=0, program=0, time=0))
    bass.append(mido.Message("program_change", channel=1, program=33, time=0))
    events: dict[str, list[tuple[int, mido.Message]]] = {"chords": [], "bass": [], "drums": []}
    for bar, root in enumerate((60, 57, 53, 55)):  # C, Am, F, G
        t = bar * 4 * beat
        for pitch in (root, root + 4 if bar != 1 else root + 3, root + 7):
            events["chords"] += [
                (t, mido.Message("note_on", channel=0, note=pitch, velocity=70)),
                (t + 4 * beat - 10, mido.Message("note_off", channel=0, note=pitch)),
            ]
        for k in range(4):
            note = root - 24 + (7 if k == 2 else 0)
            events["bass"] += [
                (t + k * beat, mido.Message("note_on", channel=1, note=note, velocity=90)),
                (t + k * beat + beat - 20, mido.Message("note_off", channel=1, note=note)),
            ]
        for k in range(8):
            hit = [42] + ([36] if k % 4 == 0 else []) + ([38] if k % 4 == 2 else [])
            for drum in hit:
                at = t + k * beat // 2
                events["drums"] += [
                    (at, mido.Message("note_on", channel=9, note=drum, velocity=100)),
                    (at + 60, mido.Message("note_off", channel=9, note=drum)),
                ]
    for track, name in ((chords, "chords"), (bass, "bass"), (drums, "drums")):
        now = 0
        for tick, msg in sorted(events[name], key=lambda e: e[0]):
            track.append(msg.copy(time=tick - now))
            now = tick
    mid.tracks += [conductor, chords, bass, drums]
    mid.save(path)
    return path


def write_fallback_font(path: str) -> str:
    """A small SoundFont: a decaying two-partial tone for every program, a noise burst kit in bank 128."""
    from instruments.sampler.sf2_writer import PresetSpec, SampleSpec, ZoneSpec, write_soundfont

    t = np.arange(44100) / 44100
    tone = (np.sin(2 * np.pi * 261.63 * t) + 0.3 * np.sin(2 * np.pi * 523.25 * t)) * np.exp(-3 * t) * 0.5
    hit = np.random.default_rng(0).standard_normal(8820) * np.exp(-np.arange(8820) / 900) * 0.5
    tone_zone = ZoneSpec(SampleSpec("tone", tone.astype(np.float32), 44100, root_key=60))
    kit_zone = ZoneSpec(
        SampleSpec("hit", hit.astype(np.float32), 44100, root_key=60), generators={"scaleTuning": 0}
    )
    presets = [PresetSpec(f"tone {p}", 0, p, [tone_zone]) for p in (0, 33)]
    write_soundfont(path, [*presets, PresetSpec("kit", 128, 0, [kit_zone])])
    return path


def main(argv: list[str] | None = None) -> str:
    args = argv or []
    midi = args[0] if args else write_example_midi("soundfont_example.mid")
    font = (
        args[1]
        if len(args) > 1
        else (GM_FONT if os.path.exists(GM_FONT) else write_fallback_font("small.sf2"))
    )
    out = args[2] if len(args) > 2 else "soundfont_example.wav"
    session = session_from_midi(midi, soundfont=font)  # reverb and chorus returns included
    built = session.build(sample_rate=48000, max_block_size=8192)
    audio, _stems, stats = render_array(built.engine, built.end_sample)
    write_wav(out, audio, 48000, "24")
    print(f"wrote {out}: {stats.seconds:.1f} s through {os.path.basename(font)}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
