"""What every sample format loads into: one sample pool, samples in it, and presets of flat regions.

The SF2/SF3 reader (:mod:`instruments.sampler.sf2`), the SFZ reader (:mod:`instruments.sampler.sfz`) and
the WAV-folder reader (:mod:`instruments.sampler.wavfolder`) each build a :class:`Bank`. The sampler
(:mod:`instruments.sampler.sampler`) packs a bank's regions into arrays for its kernel; nothing in the
kernel knows which format a region came from.

- The **pool** is one 1-D array holding every sample of the bank end to end (``int16`` when every
  source is 16-bit, read with a scale of 1/32768; else ``float32``). Samples are held once: presets,
  regions and every sampler playing the bank share it. A stereo source becomes two mono samples, and
  its region becomes two regions panned left and right that sound together.
- A :class:`Sample` is a stretch of the pool: ``start``/``end`` and loop points are pool indices (end
  exclusive), with the rate it was recorded at and its root key and pitch correction.
- A :class:`Region` is everything one sounding voice needs, already resolved (an SF2 preset zone's
  generators added to its instrument zone's, an SFZ region's opcodes inherited from its group, master,
  global and control headers). Units are in the names. Regions of a :class:`Preset` are all tried
  for every note-on: each one whose key, velocity, random and round-robin conditions hold sounds.

Next: :func:`instruments.sampler.load_bank` reads any supported file into a :class:`Bank`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "FILTER_BP2",
    "FILTER_BR2",
    "FILTER_HP1",
    "FILTER_HP2",
    "FILTER_LP1",
    "FILTER_LP2",
    "FILTER_NONE",
    "FILTER_TYPES",
    "LOOP_CONTINUOUS",
    "LOOP_MODES",
    "LOOP_SUSTAIN",
    "NO_LOOP",
    "ONE_SHOT",
    "TRIGGERS",
    "TRIGGER_ATTACK",
    "TRIGGER_FIRST",
    "TRIGGER_LEGATO",
    "TRIGGER_RELEASE",
    "Bank",
    "Preset",
    "Region",
    "Sample",
]

# loop modes (SFZ names; SF2 sampleModes 0 -> no_loop, 1 -> loop_continuous, 3 -> loop_sustain):
# NO_LOOP plays from offset to end and a note-off releases the envelope; ONE_SHOT plays to the end
# whatever the note-off says (drums); LOOP_CONTINUOUS loops between the loop points until the release has
# faded; LOOP_SUSTAIN loops while the key is held, then plays on past the loop end.
# Filter types (SFZ names); SF2's filter is a resonant two-pole low-pass.
# Triggers: ATTACK at note-on; RELEASE at note-off (with the note-on's velocity; after the pedal lifts if
# it held the note); FIRST at note-on when no other key of the channel is down; LEGATO at note-on while
# another key of the channel is down.
from dsp.kernels.sampler.layout import (
    FILTER_BP2,
    FILTER_BR2,
    FILTER_HP1,
    FILTER_HP2,
    FILTER_LP1,
    FILTER_LP2,
    FILTER_NONE,
    LOOP_CONTINUOUS,
    LOOP_SUSTAIN,
    NO_LOOP,
    ONE_SHOT,
    TRIGGER_ATTACK,
    TRIGGER_FIRST,
    TRIGGER_LEGATO,
    TRIGGER_RELEASE,
)

LOOP_MODES = {"no_loop": NO_LOOP, "one_shot": ONE_SHOT, "loop_continuous": LOOP_CONTINUOUS,
              "loop_sustain": LOOP_SUSTAIN}  # fmt: skip
FILTER_TYPES = {"lpf_1p": FILTER_LP1, "lpf_2p": FILTER_LP2, "hpf_1p": FILTER_HP1, "hpf_2p": FILTER_HP2,
                "bpf_2p": FILTER_BP2, "brf_2p": FILTER_BR2}  # fmt: skip
TRIGGERS = {"attack": TRIGGER_ATTACK, "release": TRIGGER_RELEASE, "first": TRIGGER_FIRST,
            "legato": TRIGGER_LEGATO}  # fmt: skip


@dataclass(slots=True)
class Sample:
    """A mono stretch of the bank's pool. Indices are into the pool; ``end`` and ``loop_end`` exclusive.

    ``loop_start``/``loop_end`` equal to ``start``/``start`` means the source named no loop."""

    name: str
    start: int
    end: int
    loop_start: int
    loop_end: int
    sample_rate: float
    root_key: int = 60
    pitch_correction_cents: float = 0.0


@dataclass(slots=True)
class Region:
    """One voice's recipe: which sample, when it sounds, and how it is shaped. Defaults are neutral.

    Times are seconds at key 60 (``*_keytrack_tc`` adds SF2 timecents per key below 60, as
    ``keynumToVolEnvHold`` does: the time is multiplied by ``2 ** (tc * (60 - key) / 1200)``).
    ``offset``/``end``/``loop_*`` are sample frames relative to the sample's start; ``None`` takes the
    sample's own (``end`` exclusive). Amplitude envelope levels fall linearly in dB during decay and
    release: ``amp_decay_s`` is the time a fall of 100 dB would take (so reaching a sustain of -20 dB
    takes a fifth of it), ``amp_release_s`` the time from full level to -100 dB (SF2's definition; a
    voice is done once 100 dB down). The attack rises linearly in amplitude.
    """

    sample: int  # index into Bank.samples
    lokey: int = 0
    hikey: int = 127
    lovel: int = 1
    hivel: int = 127
    trigger: int = TRIGGER_ATTACK
    lorand: float = 0.0  # sounds when lorand <= r < hirand for the note-on's random r in [0, 1)
    hirand: float = 1.0
    seq_length: int = 1  # round robin: sounds on every seq_length-th match, the seq_position-th (1-based)
    seq_position: int = 1
    # pitch
    pitch_keycenter: float = 60.0  # the key that plays the sample at its recorded pitch
    pitch_keytrack_cents: float = 100.0  # cents per key away from the keycenter (0: every key alike)
    tune_cents: float = 0.0  # everything else: transpose, coarse and fine tune, the sample's correction
    # level and pan
    volume_db: float = (
        0.0  # SF2: -0.4 * initialAttenuation / 10 (the factor SoundFont players apply); SFZ volume
    )
    amp_veltrack: float = 1.0  # 0: velocity does not change the level; 1: (velocity/127)**2 full range
    pan: float = 0.0  # -1 left .. 1 right, constant power
    # playback
    offset: int = 0
    end: int | None = None
    loop_mode: int = NO_LOOP
    loop_start: int | None = None
    loop_end: int | None = None
    # amplitude envelope
    amp_delay_s: float = 0.0
    amp_attack_s: float = 0.0
    amp_hold_s: float = 0.0
    amp_decay_s: float = 0.0
    amp_sustain_db: float = 0.0  # <= 0; -100 or below is silence
    amp_release_s: float = 0.0
    amp_hold_keytrack_tc: float = 0.0
    amp_decay_keytrack_tc: float = 0.0
    # modulation envelope (0..1; its decay and release are linear in level) and where it goes
    mod_delay_s: float = 0.0
    mod_attack_s: float = 0.0
    mod_hold_s: float = 0.0
    mod_decay_s: float = 0.0
    mod_sustain: float = 1.0
    mod_release_s: float = 0.0
    mod_hold_keytrack_tc: float = 0.0
    mod_decay_keytrack_tc: float = 0.0
    mod_to_pitch_cents: float = 0.0
    mod_to_filter_cents: float = 0.0
    # LFOs (triangle): vibrato to pitch; modulation LFO to pitch, filter and level
    vib_delay_s: float = 0.0
    vib_freq_hz: float = 8.176
    vib_to_pitch_cents: float = 0.0
    modlfo_delay_s: float = 0.0
    modlfo_freq_hz: float = 8.176
    modlfo_to_pitch_cents: float = 0.0
    modlfo_to_filter_cents: float = 0.0
    modlfo_to_volume_db: float = 0.0
    # filter
    filter_type: int = FILTER_NONE
    cutoff_hz: float = 20000.0
    resonance_db: float = 0.0  # peak above the pass band (SF2 initialFilterQ / 10)
    fil_veltrack_cents: float = 0.0  # cutoff moves by this * velocity / 127 ...
    fil_vel_switch: int = (
        0  # ... for velocities from this one up; below it, by the whole of it (SF2's default)
    )
    fil_keytrack_cents: float = 0.0  # cutoff moves by this per key away from fil_keycenter
    fil_keycenter: int = 60
    # choke: a note of a region with group g silences (fast fade) voices whose off_by is g
    group: int = 0
    off_by: int = 0
    # sends (0..1) to the track's reverb and chorus returns
    reverb_send: float = 0.0
    chorus_send: float = 0.0


@dataclass
class Preset:
    """A playable sound: the regions that answer its notes. ``bank`` and ``program`` as MIDI selects them
    (SF2 bank 128 holds drum kits); single instruments (SFZ, WAV folders) are bank 0 program 0."""

    name: str
    bank: int
    program: int
    regions: list[Region] = field(default_factory=list)


@dataclass
class Bank:
    """Everything loaded from one file or folder: the pool, its samples and its presets.

    ``warnings`` lists what was read but not understood (an unknown SFZ opcode, an SF2 generator the
    sampler does not play), each naming the file and the place; loading goes on past them.
    """

    path: str
    kind: str  # "sf2", "sf3", "sfz", "wav-folder", "kit"
    pool: np.ndarray
    samples: list[Sample]
    presets: list[Preset]
    warnings: list[str] = field(default_factory=list)

    @property
    def pool_scale(self) -> float:
        """What a pool value is multiplied by to read it as -1..1 audio."""
        return 1.0 / 32768.0 if self.pool.dtype == np.int16 else 1.0

    def preset(self, bank: int, program: int) -> Preset | None:
        for p in self.presets:
            if p.bank == bank and p.program == program:
                return p
        return None
