"""The drum kernels' tables and constants: :data:`DRUM_PARAMS` (the rows of the control matrix, index
``P_*``), the drum kinds (``K_*``), the level groups (``GROUP_*``), and the rows of the voice state (``F_*``
of the float64 ``fst``, ``I_*`` of the int64 ``ist``).

These are plain numbers, which numba freezes into every kernel that reads them when it compiles it: after
editing this file, delete ``dsp/kernels/drums/__pycache__/*.nb[ci]``.
"""

from __future__ import annotations

__all__ = ["CHOKE_MS", "DRUM_PARAMS", "NUM_F_ROWS", "NUM_I_ROWS", "NUM_KINDS", "NUM_PARAMS", "STEAL_MS"]

# The parameters in control-matrix row order: (name, min, max, default, unit, stepped). Decay times are
# the time the drum's envelope takes to fall 60 dB from the hit.
DRUM_PARAMS: tuple[tuple[str, float, float, float, str, bool], ...] = (
    ("kick_tune_hz", 30.0, 120.0, 50.0, "Hz", False),  # where the pitch sweep ends
    ("kick_sweep_semitones", 0.0, 48.0, 24.0, "semitones", False),  # how far above that it starts
    ("kick_sweep_ms", 1.0, 500.0, 60.0, "ms", False),  # the sweep's distance to the end falls 60 dB
    ("kick_decay_ms", 50.0, 3000.0, 500.0, "ms", False),
    ("kick_click", 0.0, 1.0, 0.4, "", False),
    ("snare_tune_hz", 100.0, 400.0, 185.0, "Hz", False),
    ("snare_tone", 0.0, 1.0, 0.5, "", False),  # brightness of the snare wires (noise low-pass 3..12 kHz)
    ("snare_snappy", 0.0, 1.0, 0.6, "", False),  # wires (noise) against body (tone)
    ("snare_decay_ms", 30.0, 1500.0, 220.0, "ms", False),
    ("clap_decay_ms", 50.0, 2000.0, 300.0, "ms", False),
    ("hat_tone", 0.0, 1.0, 0.5, "", False),  # band-pass centre of the hats 7..12 kHz
    ("hat_decay_ms", 10.0, 1000.0, 70.0, "ms", False),  # closed hat (the pedal hat: 0.7 times this)
    ("open_hat_decay_ms", 50.0, 4000.0, 500.0, "ms", False),
    ("tom_tune_semitones", -12.0, 12.0, 0.0, "semitones", False),
    ("tom_decay_ms", 50.0, 3000.0, 400.0, "ms", False),
    ("cymbal_decay_ms", 200.0, 8000.0, 1800.0, "ms", False),  # crash
    ("ride_decay_ms", 200.0, 8000.0, 2200.0, "ms", False),  # ride (the bell: half of this)
    ("kick_level_db", -60.0, 12.0, 0.0, "dB", False),
    ("snare_level_db", -60.0, 12.0, 0.0, "dB", False),
    ("clap_level_db", -60.0, 12.0, 0.0, "dB", False),
    ("hat_level_db", -60.0, 12.0, 0.0, "dB", False),
    ("tom_level_db", -60.0, 12.0, 0.0, "dB", False),
    ("cymbal_level_db", -60.0, 12.0, 0.0, "dB", False),  # crash, ride, ride bell
    ("perc_level_db", -60.0, 12.0, 0.0, "dB", False),  # side stick, cowbell, tambourine, claves
    ("velocity_sensitivity", 0.0, 1.0, 1.0, "", False),
    ("stereo_spread", 0.0, 1.0, 0.5, "", False),  # 0 all centred, 1 the full kit's panning
    ("drive", 0.0, 1.0, 0.0, "", False),  # 0 clean; up to 24 dB into a tanh soft clip
    ("gain_db", -60.0, 12.0, -6.0, "dB", False),
)
NUM_PARAMS = len(DRUM_PARAMS)
_INDEX = {spec[0]: k for k, spec in enumerate(DRUM_PARAMS)}
P_KICK_TUNE_HZ = _INDEX["kick_tune_hz"]
P_KICK_SWEEP_SEMITONES = _INDEX["kick_sweep_semitones"]
P_KICK_SWEEP_MS = _INDEX["kick_sweep_ms"]
P_KICK_DECAY_MS = _INDEX["kick_decay_ms"]
P_KICK_CLICK = _INDEX["kick_click"]
P_SNARE_TUNE_HZ = _INDEX["snare_tune_hz"]
P_SNARE_TONE = _INDEX["snare_tone"]
P_SNARE_SNAPPY = _INDEX["snare_snappy"]
P_SNARE_DECAY_MS = _INDEX["snare_decay_ms"]
P_CLAP_DECAY_MS = _INDEX["clap_decay_ms"]
P_HAT_TONE = _INDEX["hat_tone"]
P_HAT_DECAY_MS = _INDEX["hat_decay_ms"]
P_OPEN_HAT_DECAY_MS = _INDEX["open_hat_decay_ms"]
P_TOM_TUNE_SEMITONES = _INDEX["tom_tune_semitones"]
P_TOM_DECAY_MS = _INDEX["tom_decay_ms"]
P_CYMBAL_DECAY_MS = _INDEX["cymbal_decay_ms"]
P_RIDE_DECAY_MS = _INDEX["ride_decay_ms"]
P_KICK_LEVEL_DB = _INDEX["kick_level_db"]  # the group levels follow in GROUP_* order
P_VELOCITY_SENSITIVITY = _INDEX["velocity_sensitivity"]
P_STEREO_SPREAD = _INDEX["stereo_spread"]
P_DRIVE = _INDEX["drive"]
P_GAIN_DB = _INDEX["gain_db"]

# level groups, in the order of their *_level_db rows
GROUP_KICK = 0
GROUP_SNARE = 1
GROUP_CLAP = 2
GROUP_HAT = 3
GROUP_TOM = 4
GROUP_CYMBAL = 5
GROUP_PERC = 6

# drum kinds: what a note plays (instruments.drum_map maps the General MIDI notes to them)
K_KICK = 0
K_RIM = 1
K_SNARE = 2
K_CLAP = 3
K_HAT_CLOSED = 4
K_HAT_PEDAL = 5
K_HAT_OPEN = 6
K_TOM = 7
K_CRASH = 8
K_RIDE = 9
K_RIDE_BELL = 10
K_COWBELL = 11
K_TAMBOURINE = 12
K_CLAVES = 13
NUM_KINDS = 14

STAGE_IDLE = 0
STAGE_PLAYING = 1
STAGE_FADE = 2  # a linear fade to silence: a choked, retriggered or stolen drum

CHOKE_NONE = 0
CHOKE_HAT = 1  # closed, pedal and open hat: a new hat hit silences the ringing one

CHOKE_MS = 6.0  # how long a choked or retriggered drum takes to fade out
STEAL_MS = 3.0  # how long a stolen drum takes to fade out
NUM_METAL = 6  # square oscillators of the metallic cluster

# float rows of the voice state
F_GAIN = 0  # velocity, group level
F_PAN_L = 1
F_PAN_R = 2
F_FADE = 3  # multiplier, 1 while playing; falls by F_FADE_STEP per sample while fading
F_FADE_STEP = 4
F_TONE_ENV = 5
F_TONE_COEF = 6
F_TONE_A = 7  # level of the main sine
F_TONE_B = 8  # level of the second sine
F_PHASE_A = 9
F_PHASE_B = 10
F_INC_A = 11  # cycles per sample at the end of the sweep
F_INC_B = 12
F_SWEEP = 13  # frequency ratio above the end, minus one; falls by F_SWEEP_COEF per sample
F_SWEEP_COEF = 14
F_CLICK_ENV = 15
F_CLICK_COEF = 16
F_NOISE_ENV = 17
F_NOISE_COEF = 18
F_NOISE_AMP = 19
F_NOISE = 20  # the noise generator's state
F_METAL_ENV = 21
F_METAL_COEF = 22
F_METAL_AMP = 23
F_A1 = 24  # filter 1 (state variable, noise and metal): coefficients, output weights, state
F_A2 = 25
F_A3 = 26
F_K = 27
F_WL = 28
F_WB = 29
F_WH = 30
F_S1 = 31
F_S2 = 32
F_B1 = 33  # filter 2 (high-pass after filter 1, when I_HP2)
F_B2 = 34
F_B3 = 35
F_T1 = 36
F_T2 = 37
F_BURST_LEFT = 38  # samples to the next burst (clap, tambourine)
F_BURST_SPACING = 39
F_BURST_COEF = 40  # the noise decay between bursts
F_TAIL_COEF = 41  # the noise decay after the last burst
F_CLICK_AMP = 42
F_MINC = 43  # NUM_METAL rows: square frequencies, cycles per sample
F_MPHASE = F_MINC + NUM_METAL  # NUM_METAL rows: their phases
NUM_F_ROWS = F_MPHASE + NUM_METAL

# int rows of the voice state
I_STAGE = 0
I_KIND = 1
I_NOTE = 2
I_SERIAL = 3  # note-on count at the hit (the oldest is stolen first)
I_LEFT = 4  # samples until the envelopes are all below -100 dB
I_METAL_N = 5  # squares in use
I_BURSTS = 6  # bursts still to come
I_HP2 = 7
I_CHOKE = 8
NUM_I_ROWS = 9
