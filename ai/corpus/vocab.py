"""Token vocabularies of the two sequence models, fixed tables so a model file and its data always agree.

``chords`` (harmony): ``<major>``/``<minor>`` open a piece, then one token per chord change,
``"R:QUALITY"`` with ``R`` the root in semitones above the tonic (0..11) and ``QUALITY`` one of
:data:`CHORD_MODEL_QUALITIES` (names from :data:`ai.plan.CHORD_QUALITIES`); ``|`` marks a phrase end
(a fermata in a chorale, a section change in a user's CSV) and ``<eos>`` closes the piece. Repeated
chords are collapsed. Roots are relative to the tonic, so the model is transpose-invariant.

``melody``: ``<major>``/``<minor>``, then per note a pitch token and a duration token, interleaved:
``"p-5"``..``"p+19"`` (semitones above the tonic of the octave nearest the tune, folded by octaves into
that range) or ``"r"`` for a rest, followed by ``"d1"``..``"d16"`` (length in sixteenths, quantised to
:data:`DURATIONS_16TH`); ``|`` marks a phrase end and ``<eos>`` closes the tune.

Call :func:`chord_token` / :func:`parse_chord_token` to spell and read a chord token, and
:func:`quantise_sixteenths` to pick a duration token.
"""

from __future__ import annotations

from ai.plan import CHORD_QUALITIES

__all__ = [
    "BOS_MAJOR",
    "BOS_MINOR",
    "CHORD_MODEL_QUALITIES",
    "CHORD_VOCAB",
    "DURATIONS_16TH",
    "EOS",
    "MELODY_VOCAB",
    "PHRASE",
    "PITCH_RANGE",
    "REST",
    "SPECIALS",
    "chord_token",
    "mode_token",
    "parse_chord_token",
    "pitch_token",
    "quantise_sixteenths",
]

BOS_MAJOR = "<major>"
BOS_MINOR = "<minor>"
EOS = "<eos>"
PHRASE = "|"
REST = "r"
SPECIALS = (BOS_MAJOR, BOS_MINOR, EOS, PHRASE)

# the qualities a four-voice chorale texture can spell; others in ai.plan are left to the grammars
CHORD_MODEL_QUALITIES = ("maj", "min", "dim", "aug", "sus4", "dom7", "min7", "maj7", "m7b5", "dim7")
assert all(q in CHORD_QUALITIES for q in CHORD_MODEL_QUALITIES)

CHORD_VOCAB: tuple[str, ...] = SPECIALS + tuple(
    f"{root}:{q}" for root in range(12) for q in CHORD_MODEL_QUALITIES
)

PITCH_RANGE = (-5, 19)  # semitones above the tonic, inclusive
DURATIONS_16TH = (1, 2, 3, 4, 6, 8, 12, 16)

MELODY_VOCAB: tuple[str, ...] = (
    *SPECIALS,
    REST,
    *tuple(f"p{p:+d}" for p in range(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
    *tuple(f"d{d}" for d in DURATIONS_16TH),
)


def mode_token(mode: str) -> str:
    """The start token of a piece in ``mode`` ('major' or 'minor'; modal scales count as their third)."""
    if mode in ("minor", "dorian", "phrygian", "locrian", "aeolian"):
        return BOS_MINOR
    if mode in ("major", "lydian", "mixolydian", "ionian"):
        return BOS_MAJOR
    raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")


def chord_token(root_above_tonic: int, quality: str) -> str:
    """The token of a chord whose root lies ``root_above_tonic`` semitones above the tonic."""
    if quality not in CHORD_MODEL_QUALITIES:
        raise ValueError(f"chord quality must be one of {', '.join(CHORD_MODEL_QUALITIES)}, got {quality!r}")
    return f"{root_above_tonic % 12}:{quality}"


def parse_chord_token(token: str) -> tuple[int, str]:
    """``(root_above_tonic, quality)`` of a chord token such as ``"7:dom7"``."""
    root, sep, quality = token.partition(":")
    if not sep or not root.isdigit() or not 0 <= int(root) <= 11 or quality not in CHORD_MODEL_QUALITIES:
        raise ValueError(f"not a chord token: {token!r} (expected 'R:QUALITY', R in 0..11)")
    return int(root), quality


def pitch_token(semitones_above_tonic: int) -> str:
    """The pitch token of a note, folded by octaves into :data:`PITCH_RANGE`."""
    p = semitones_above_tonic
    while p < PITCH_RANGE[0]:
        p += 12
    while p > PITCH_RANGE[1]:
        p -= 12
    return f"p{p:+d}"


def quantise_sixteenths(quarter_length: float) -> int:
    """The nearest length in :data:`DURATIONS_16TH` to ``quarter_length`` quarter notes."""
    sixteenths = quarter_length * 4.0
    return min(DURATIONS_16TH, key=lambda d: (abs(d - sixteenths), d))
