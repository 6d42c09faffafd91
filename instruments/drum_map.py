"""The General MIDI drum map the drum machine plays: note number -> drum kind and variant, as data.

:data:`DRUM_NOTES` lists every note the kit answers, with its General MIDI name; any other note is
ignored (no sound, no voice taken). :func:`note_tables` gives the two arrays the kernel reads.
"""

from __future__ import annotations

import numpy as np

from dsp.kernels.drums import (
    K_CLAP,
    K_CLAVES,
    K_COWBELL,
    K_CRASH,
    K_HAT_CLOSED,
    K_HAT_OPEN,
    K_HAT_PEDAL,
    K_KICK,
    K_RIDE,
    K_RIDE_BELL,
    K_RIM,
    K_SNARE,
    K_TAMBOURINE,
    K_TOM,
)

__all__ = ["DRUM_NOTES", "HAT_NOTES", "note_tables"]

# note: (General MIDI name, kind, variant); variant picks the tom (0 lowest .. 5 highest) or the second
# drum of a pair (a slightly different tuning)
DRUM_NOTES: dict[int, tuple[str, int, int]] = {
    35: ("Acoustic Bass Drum", K_KICK, 0),
    36: ("Bass Drum 1", K_KICK, 1),
    37: ("Side Stick", K_RIM, 0),
    38: ("Acoustic Snare", K_SNARE, 0),
    39: ("Hand Clap", K_CLAP, 0),
    40: ("Electric Snare", K_SNARE, 1),
    41: ("Low Floor Tom", K_TOM, 0),
    42: ("Closed Hi-Hat", K_HAT_CLOSED, 0),
    43: ("High Floor Tom", K_TOM, 1),
    44: ("Pedal Hi-Hat", K_HAT_PEDAL, 0),
    45: ("Low Tom", K_TOM, 2),
    46: ("Open Hi-Hat", K_HAT_OPEN, 0),
    47: ("Low-Mid Tom", K_TOM, 3),
    48: ("Hi-Mid Tom", K_TOM, 4),
    49: ("Crash Cymbal 1", K_CRASH, 0),
    50: ("High Tom", K_TOM, 5),
    51: ("Ride Cymbal 1", K_RIDE, 0),
    53: ("Ride Bell", K_RIDE_BELL, 0),
    54: ("Tambourine", K_TAMBOURINE, 0),
    56: ("Cowbell", K_COWBELL, 0),
    57: ("Crash Cymbal 2", K_CRASH, 1),
    59: ("Ride Cymbal 2", K_RIDE, 1),
    75: ("Claves", K_CLAVES, 0),
}
HAT_NOTES = (42, 44, 46)  # the choke group: a hit on any of them silences a ringing one


def note_tables() -> tuple[np.ndarray, np.ndarray]:
    """(kind, variant) per note 0..127 as int64 arrays; kind -1 for the notes the kit ignores."""
    kinds = np.full(128, -1, dtype=np.int64)
    variants = np.zeros(128, dtype=np.int64)
    for note, (_, kind, variant) in DRUM_NOTES.items():
        kinds[note] = kind
        variants[note] = variant
    return kinds, variants
