"""SoundFont 2.04 numbers shared by the reader and the writer: generators, their defaults and limits.

:data:`GEN` maps a generator's name (as the SF2.04 specification spells it) to its number,
:data:`GEN_NAMES` the other way. :data:`DEFAULTS` and :data:`LIMITS` are indexed by generator number.
:func:`gen_number` accepts a name or a number. The reader is :mod:`instruments.sampler.sf2`, the writer
:mod:`instruments.sampler.sf2_writer`.
"""

from __future__ import annotations

__all__ = [
    "DEFAULTS",
    "DEFAULT_MODULATORS",
    "GEN",
    "GEN_NAMES",
    "INSTRUMENT_ONLY",
    "LIMITS",
    "N_GENS",
    "RANGE_GENS",
    "UNUSED_GENS",
    "gen_number",
]

_NAMES = (
    "startAddrsOffset", "endAddrsOffset", "startloopAddrsOffset", "endloopAddrsOffset",
    "startAddrsCoarseOffset", "modLfoToPitch", "vibLfoToPitch", "modEnvToPitch", "initialFilterFc",
    "initialFilterQ", "modLfoToFilterFc", "modEnvToFilterFc", "endAddrsCoarseOffset", "modLfoToVolume",
    "unused1", "chorusEffectsSend", "reverbEffectsSend", "pan", "unused2", "unused3", "unused4",
    "delayModLFO", "freqModLFO", "delayVibLFO", "freqVibLFO", "delayModEnv", "attackModEnv",
    "holdModEnv", "decayModEnv", "sustainModEnv", "releaseModEnv", "keynumToModEnvHold",
    "keynumToModEnvDecay", "delayVolEnv", "attackVolEnv", "holdVolEnv", "decayVolEnv", "sustainVolEnv",
    "releaseVolEnv", "keynumToVolEnvHold", "keynumToVolEnvDecay", "instrument", "reserved1", "keyRange",
    "velRange", "startloopAddrsCoarseOffset", "keynum", "velocity", "initialAttenuation", "reserved2",
    "endloopAddrsCoarseOffset", "coarseTune", "fineTune", "sampleID", "sampleModes", "reserved3",
    "scaleTuning", "exclusiveClass", "overridingRootKey", "unused5", "endOper",
)  # fmt: skip
N_GENS = len(_NAMES)  # 61: numbers 0..60
GEN: dict[str, int] = {name: i for i, name in enumerate(_NAMES)}
GEN_NAMES: dict[int, str] = dict(enumerate(_NAMES))

# numbers that carry no value (the spec reserves them; a reader ignores them)
UNUSED_GENS = frozenset(GEN[n] for n in ("unused1", "unused2", "unused3", "unused4", "reserved1",
                                         "reserved2", "reserved3", "unused5", "endOper"))  # fmt: skip
# amounts read as two bytes (lo, hi); instrument and sampleID are unsigned words, every other one signed
RANGE_GENS = frozenset((GEN["keyRange"], GEN["velRange"]))
# generators a preset zone may not set (SF2.04 §8.1.2): a preset-level value is ignored
INSTRUMENT_ONLY = frozenset(GEN[n] for n in (
    "startAddrsOffset", "endAddrsOffset", "startloopAddrsOffset", "endloopAddrsOffset",
    "startAddrsCoarseOffset", "endAddrsCoarseOffset", "startloopAddrsCoarseOffset",
    "endloopAddrsCoarseOffset", "keynum", "velocity", "sampleModes", "exclusiveClass",
    "overridingRootKey",
))  # fmt: skip

# instrument-level defaults (SF2.04 §8.1.3); a preset-level default is 0 (it adds nothing)
DEFAULTS: list[int] = [0] * N_GENS
for _name, _value in (
    ("initialFilterFc", 13500), ("delayModLFO", -12000), ("delayVibLFO", -12000),
    ("delayModEnv", -12000), ("attackModEnv", -12000), ("holdModEnv", -12000), ("decayModEnv", -12000),
    ("releaseModEnv", -12000), ("delayVolEnv", -12000), ("attackVolEnv", -12000),
    ("holdVolEnv", -12000), ("decayVolEnv", -12000), ("releaseVolEnv", -12000), ("keynum", -1),
    ("velocity", -1), ("scaleTuning", 100), ("overridingRootKey", -1),
):  # fmt: skip
    DEFAULTS[GEN[_name]] = _value

# the range a summed (instrument + preset) value is clamped to (SF2.04 §8.1.3); absent: not clamped
LIMITS: dict[int, tuple[int, int]] = {
    GEN[n]: lim
    for n, lim in (
        ("modLfoToPitch", (-12000, 12000)), ("vibLfoToPitch", (-12000, 12000)),
        ("modEnvToPitch", (-12000, 12000)), ("initialFilterFc", (1500, 13500)),
        ("initialFilterQ", (0, 960)), ("modLfoToFilterFc", (-12000, 12000)),
        ("modEnvToFilterFc", (-12000, 12000)), ("modLfoToVolume", (-960, 960)),
        ("chorusEffectsSend", (0, 1000)), ("reverbEffectsSend", (0, 1000)), ("pan", (-500, 500)),
        ("delayModLFO", (-12000, 5000)), ("freqModLFO", (-16000, 4500)),
        ("delayVibLFO", (-12000, 5000)), ("freqVibLFO", (-16000, 4500)),
        ("delayModEnv", (-12000, 5000)), ("attackModEnv", (-12000, 8000)),
        ("holdModEnv", (-12000, 5000)), ("decayModEnv", (-12000, 8000)), ("sustainModEnv", (0, 1000)),
        ("releaseModEnv", (-12000, 8000)), ("keynumToModEnvHold", (-1200, 1200)),
        ("keynumToModEnvDecay", (-1200, 1200)), ("delayVolEnv", (-12000, 5000)),
        ("attackVolEnv", (-12000, 8000)), ("holdVolEnv", (-12000, 5000)),
        ("decayVolEnv", (-12000, 8000)), ("sustainVolEnv", (0, 1440)), ("releaseVolEnv", (-12000, 8000)),
        ("keynumToVolEnvHold", (-1200, 1200)), ("keynumToVolEnvDecay", (-1200, 1200)),
        ("keynum", (-1, 127)), ("velocity", (-1, 127)), ("initialAttenuation", (0, 1440)),
        ("coarseTune", (-120, 120)), ("fineTune", (-99, 99)), ("scaleTuning", (0, 1200)),
        ("exclusiveClass", (0, 127)), ("overridingRootKey", (-1, 127)),
    )
}  # fmt: skip

# the modulators every SF2.04 player applies without being told (§8.4): (source, destination, amount,
# amount source, transform). A file's modulator equal to one of these changes nothing; any other one is
# a custom modulator.
DEFAULT_MODULATORS = frozenset({
    (0x0502, GEN["initialAttenuation"], 960, 0, 0),  # velocity -> attenuation (concave)
    (0x0102, GEN["initialFilterFc"], -2400, 0, 0),  # velocity -> cutoff
    (0x000D, GEN["vibLfoToPitch"], 50, 0, 0),  # channel pressure -> vibrato depth
    (0x0081, GEN["vibLfoToPitch"], 50, 0, 0),  # CC1 mod wheel -> vibrato depth
    (0x0587, GEN["initialAttenuation"], 960, 0, 0),  # CC7 volume -> attenuation
    (0x028A, GEN["pan"], 1000, 0, 0),  # CC10 pan
    (0x058B, GEN["initialAttenuation"], 960, 0, 0),  # CC11 expression -> attenuation
    (0x00DB, GEN["reverbEffectsSend"], 200, 0, 0),  # CC91 -> reverb send
    (0x00DD, GEN["chorusEffectsSend"], 200, 0, 0),  # CC93 -> chorus send
    (0x020E, GEN["unused5"], 12700, 0x0010, 0),  # pitch wheel (x sensitivity) -> initial pitch
})  # fmt: skip


def gen_number(name_or_number: str | int) -> int:
    """The generator number of a name from :data:`GEN` (or a number, checked); KeyError/ValueError if not."""
    if isinstance(name_or_number, int):
        if not 0 <= name_or_number < N_GENS:
            raise ValueError(f"generator number {name_or_number} is not 0..{N_GENS - 1}")
        return name_or_number
    return GEN[name_or_number]
