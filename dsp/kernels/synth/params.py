"""The synth kernels' tables and constants: :data:`VOICE_PARAMS` (the layout of ``values``, index ``P_*``),
the rows of the column state (``F_*`` of ``fst``, ``I_*`` of ``ist``), of the instrument state (``G_*``
of ``glob``), of the scratch (``W_*`` of ``work``) and of the static path's cache (``C_*``), and the
limits the kernels share.

These are plain numbers, which numba freezes into every kernel that reads them when it compiles it (see
the note on the cache in :mod:`dsp.kernels.synth`).
"""

from __future__ import annotations

import math

WAVE_SAW = 0
WAVE_SQUARE = 1  # a pulse: its width is a parameter (0.5: square)
WAVE_TRIANGLE = 2
WAVE_SINE = 3

SUB_SINE = 0
SUB_SQUARE = 1

FILTER_LOWPASS = 0
FILTER_HIGHPASS = 1
FILTER_BANDPASS = 2

LFO_SINE = 0
LFO_TRIANGLE = 1
LFO_SAW = 2
LFO_SQUARE = 3
LFO_SAMPLE_HOLD = 4

MODE_POLY = 0
MODE_MONO = 1
MODE_LEGATO = 2

STEAL_OLDEST = 0
STEAL_QUIETEST = 1

STAGE_IDLE = 0
STAGE_ATTACK = 1
STAGE_DECAY = 2
STAGE_SUSTAIN = 3
STAGE_RELEASE = 4
STAGE_FADE = 5

UNISON_MAX = 8  # columns per note slot
SUB_BLOCK = 32  # samples of the timeline grid on which moving and modulated values update

# The parameters in ``values`` order: (name, min, max, default, unit, stepped). The processor builds its
# Parameters from this table; P_<NAME> is the index of each.
VOICE_PARAMS: tuple[tuple[str, float, float, float, str, bool], ...] = (
    ("waveform", 0.0, 3.0, 0.0, "", True),  # oscillator 1: 0 saw, 1 square/pulse, 2 triangle, 3 sine
    ("attack_ms", 0.0, 10000.0, 5.0, "ms", False),
    ("decay_ms", 0.0, 20000.0, 300.0, "ms", False),
    ("sustain", 0.0, 1.0, 0.7, "", False),
    ("release_ms", 0.0, 20000.0, 300.0, "ms", False),
    ("cutoff_hz", 20.0, 20000.0, 20000.0, "Hz", False),
    ("resonance", 0.0, 1.0, 0.0, "", False),
    ("key_tracking", 0.0, 1.0, 0.0, "", False),
    ("velocity_sensitivity", 0.0, 1.0, 1.0, "", False),
    ("osc1_octaves", -3.0, 3.0, 0.0, "octaves", True),
    ("osc1_semitones", -12.0, 12.0, 0.0, "semitones", True),
    ("osc1_fine_cents", -100.0, 100.0, 0.0, "cents", False),
    ("osc1_level", 0.0, 1.0, 1.0, "", False),
    ("osc1_pulse_width", 0.05, 0.95, 0.5, "", False),
    ("osc2_waveform", 0.0, 3.0, 0.0, "", True),
    ("osc2_octaves", -3.0, 3.0, 0.0, "octaves", True),
    ("osc2_semitones", -12.0, 12.0, 0.0, "semitones", True),
    ("osc2_fine_cents", -100.0, 100.0, 0.0, "cents", False),
    ("osc2_level", 0.0, 1.0, 0.0, "", False),
    ("osc2_pulse_width", 0.05, 0.95, 0.5, "", False),
    ("sub_waveform", 0.0, 1.0, 0.0, "", True),  # 0 sine, 1 square
    ("sub_level", 0.0, 1.0, 0.0, "", False),
    ("noise_level", 0.0, 1.0, 0.0, "", False),
    ("filter_mode", 0.0, 2.0, 0.0, "", True),  # 0 low-pass, 1 high-pass, 2 band-pass
    ("filter_env_amount_octaves", -8.0, 8.0, 0.0, "octaves", False),
    ("filter_attack_ms", 0.0, 10000.0, 5.0, "ms", False),
    ("filter_decay_ms", 0.0, 20000.0, 300.0, "ms", False),
    ("filter_sustain", 0.0, 1.0, 0.5, "", False),
    ("filter_release_ms", 0.0, 20000.0, 300.0, "ms", False),
    ("velocity_to_filter_octaves", 0.0, 8.0, 0.0, "octaves", False),
    ("lfo_shape", 0.0, 4.0, 0.0, "", True),  # 0 sine, 1 triangle, 2 saw, 3 square, 4 sample and hold
    ("lfo_rate_hz", 0.01, 50.0, 5.0, "Hz", False),
    ("lfo_sync", 0.0, 1.0, 0.0, "", True),  # 1: one cycle per lfo_period_beats at the song tempo
    ("lfo_period_beats", 0.0625, 64.0, 1.0, "beats", False),
    ("lfo_retrigger", 0.0, 1.0, 0.0, "", True),  # 0 free (one LFO), 1 per note from its note-on
    ("lfo_to_pitch_cents", -1200.0, 1200.0, 0.0, "cents", False),
    ("lfo_to_cutoff_octaves", -8.0, 8.0, 0.0, "octaves", False),
    ("lfo_to_amp", 0.0, 1.0, 0.0, "", False),  # tremolo depth
    ("lfo_to_pulse_width", 0.0, 0.45, 0.0, "", False),
    ("unison_voices", 1.0, 8.0, 1.0, "voices", True),
    ("unison_detune_cents", 0.0, 100.0, 10.0, "cents", False),
    ("unison_spread", 0.0, 1.0, 0.5, "", False),
    ("glide_ms", 0.0, 10000.0, 0.0, "ms", False),
    ("glide_poly", 0.0, 1.0, 0.0, "", True),  # 1: glide in poly mode too, from the last note played
    ("voice_mode", 0.0, 2.0, 0.0, "", True),  # 0 poly, 1 mono, 2 legato
    ("steal_policy", 0.0, 1.0, 0.0, "", True),  # 0 oldest, 1 quietest
)
_INDEX = {spec[0]: i for i, spec in enumerate(VOICE_PARAMS)}
NUM_PARAMS = len(VOICE_PARAMS)
P_WAVEFORM = _INDEX["waveform"]
P_ATTACK_MS = _INDEX["attack_ms"]
P_DECAY_MS = _INDEX["decay_ms"]
P_SUSTAIN = _INDEX["sustain"]
P_RELEASE_MS = _INDEX["release_ms"]
P_CUTOFF_HZ = _INDEX["cutoff_hz"]
P_RESONANCE = _INDEX["resonance"]
P_KEY_TRACKING = _INDEX["key_tracking"]
P_VELOCITY_SENSITIVITY = _INDEX["velocity_sensitivity"]
P_OSC1_OCTAVES = _INDEX["osc1_octaves"]
P_OSC1_SEMITONES = _INDEX["osc1_semitones"]
P_OSC1_FINE_CENTS = _INDEX["osc1_fine_cents"]
P_OSC1_LEVEL = _INDEX["osc1_level"]
P_OSC1_PULSE_WIDTH = _INDEX["osc1_pulse_width"]
P_OSC2_WAVEFORM = _INDEX["osc2_waveform"]
P_OSC2_OCTAVES = _INDEX["osc2_octaves"]
P_OSC2_SEMITONES = _INDEX["osc2_semitones"]
P_OSC2_FINE_CENTS = _INDEX["osc2_fine_cents"]
P_OSC2_LEVEL = _INDEX["osc2_level"]
P_OSC2_PULSE_WIDTH = _INDEX["osc2_pulse_width"]
P_SUB_WAVEFORM = _INDEX["sub_waveform"]
P_SUB_LEVEL = _INDEX["sub_level"]
P_NOISE_LEVEL = _INDEX["noise_level"]
P_FILTER_MODE = _INDEX["filter_mode"]
P_FILTER_ENV_AMOUNT = _INDEX["filter_env_amount_octaves"]
P_FILTER_ATTACK_MS = _INDEX["filter_attack_ms"]
P_FILTER_DECAY_MS = _INDEX["filter_decay_ms"]
P_FILTER_SUSTAIN = _INDEX["filter_sustain"]
P_FILTER_RELEASE_MS = _INDEX["filter_release_ms"]
P_VELOCITY_TO_FILTER = _INDEX["velocity_to_filter_octaves"]
P_LFO_SHAPE = _INDEX["lfo_shape"]
P_LFO_RATE_HZ = _INDEX["lfo_rate_hz"]
P_LFO_SYNC = _INDEX["lfo_sync"]
P_LFO_PERIOD_BEATS = _INDEX["lfo_period_beats"]
P_LFO_RETRIGGER = _INDEX["lfo_retrigger"]
P_LFO_TO_PITCH = _INDEX["lfo_to_pitch_cents"]
P_LFO_TO_CUTOFF = _INDEX["lfo_to_cutoff_octaves"]
P_LFO_TO_AMP = _INDEX["lfo_to_amp"]
P_LFO_TO_PULSE_WIDTH = _INDEX["lfo_to_pulse_width"]
P_UNISON_VOICES = _INDEX["unison_voices"]
P_UNISON_DETUNE = _INDEX["unison_detune_cents"]
P_UNISON_SPREAD = _INDEX["unison_spread"]
P_GLIDE_MS = _INDEX["glide_ms"]
P_GLIDE_POLY = _INDEX["glide_poly"]
P_VOICE_MODE = _INDEX["voice_mode"]
P_STEAL_POLICY = _INDEX["steal_policy"]

# fst rows (float64)
F_PHASE = 0  # oscillator 1 phase in cycles, 0 <= phase < 1
F_PITCH = 1  # MIDI pitch with pitch bend, in semitones
F_ENV = 2  # amplitude envelope level
F_AMP = 3  # velocity gain times the unison gain
F_S1 = 4  # filter integrator states
F_S2 = 5
F_FADE = 6  # linear fade per sample (STAGE_FADE)
F_INC = 7  # oscillator 1 phase increment per sample now
F_G = 8  # filter tan(pi * cutoff / rate) now
F_PHASE2 = 9  # oscillator 2 phase
F_PHASE_SUB = 10  # sub oscillator phase
F_NOISE = 11  # noise generator state (an integer 1 .. NOISE_M - 1)
F_UPOS = 12  # unison position -1 .. 1 (0 without unison): detune and pan
F_UNORM = 13  # unison gain 1 / sqrt(voices)
F_VEL = 14  # velocity / 127
F_AGE = 15  # samples since the note-on (or the equivalent time after a mono retrigger): filter envelope
F_REL_AGE = 16  # F_AGE at the release
F_REL_LEVEL = 17  # filter envelope level at the release
F_GLIDE = 18  # glide: pitch offset in semitones at its start, falling linearly to 0 over glide_ms
F_GLIDE_T = 19  # samples since the glide started
F_LFO_PHASE = 20  # per-note LFO phase in cycles (not wrapped: the cycle count seeds sample and hold)
F_SEED = 21  # per-note sample-and-hold seed
F_DINC = 22  # modulated values: change per sample and the target at the next grid point
F_INC_T = 23
F_INV = 24  # 1 / phase increment now, and its change per sample
F_DINV = 25
F_DG = 26
F_G_T = 27
F_MAMP = 28  # tremolo gain now
F_DMAMP = 29
F_MAMP_T = 30
F_PWM = 31  # pulse-width offset now
F_DPWM = 32
F_PWM_T = 33
F_INV_T = 34
F_PITCH_T = 35  # the pitch, filter octaves and cutoff the targets were computed from (all unchanged: no
F_OCT_T = 36  # new exp or tan)
F_CUT_T = 37
F_PAN = 38  # the pan the gains were computed for, and the gains
F_GL = 39
F_GR = 40
NUM_F_ROWS = 41

# ist rows (int64)
I_STAGE = 0
I_CHANNEL = 1
I_NOTE = 2
I_SERIAL = 3  # note-on order, for oldest-first stealing
I_HELD = 4  # key released while the sustain pedal is down
I_DIRTY = 5  # pitch or note changed: recompute the increment and filter at once (no glide to it)
I_FENV_RELEASED = 6  # the filter envelope's release level has been taken
I_RETRIGGER = 7  # a mono retrigger: restart the filter envelope's attack from its level
NUM_I_ROWS = 8

# glob: float64 state of the whole instrument
G_LFO_PHASE = 0  # free LFO phase in cycles (not wrapped)
G_UNISON_USED = 1  # columns u * slots + s with u below this may sound
G_LAST_PITCH = 2  # pitch of the latest note-on (poly glide starts there)
G_HAS_LAST = 3
NUM_G_ROWS = 4

# work rows (float64 scratch, one column per sounding voice column)
W_PHASE, W_ENV, W_S1, W_S2, W_INC, W_INV, W_BASE, W_COEF, W_SIGN, W_LIMIT, W_AMP = range(11)
# static path: filter as a 2x2 state update and an output row
W_M11, W_M12, W_B1, W_M21, W_M22, W_B2, W_O1, W_O2, W_O3 = range(11, 20)
# modulated path
W_PHASE2, W_PHASE_SUB, W_NOISE, W_DINC, W_DINV, W_G, W_DG, W_MAMP, W_DMAMP = range(20, 29)
W_PWM, W_DPWM, W_L1, W_L2, W_LS, W_GL, W_GR, W_A1 = range(29, 37)
NUM_W_ROWS = 37

# cache: the values the static path's increments and cutoffs were computed with
C_CUTOFF, C_KEY_TRACKING, C_RATE, C_OSC1, C_DETUNE, C_VELOCITY_TO_FILTER = range(6)
NUM_CACHE = 6

ATTACK_TARGET_RATIO = 0.3  # a gently curved attack
DECAY_TARGET_RATIO = 1e-4  # decay and release: exponential, reaching their end level at -80 dB overshoot
SILENCE_LEVEL = 1e-5  # -100 dB: a releasing voice below this is freed
MAX_INC = 0.45  # phase increment limit (at most two steps of a waveform within 3 samples each side)
MAX_CUTOFF_RATIO = 0.48  # cutoff limit as a fraction of the sample rate (tan grows without bound at 0.5)
MIN_CUTOFF_HZ = 5.0
MIN_PULSE_WIDTH = 0.02  # pulse width limits after modulation
MAX_PULSE_WIDTH = 0.98
K_OPEN = 1.4142135623730951  # damping 1/Q at resonance 0: Butterworth, no peak
K_CLOSED = 0.05  # damping at resonance 1: Q = 20, a loud peak, still stable
TWO_PI = 2.0 * math.pi
LN2_12 = math.log(2.0) / 12.0  # exp(semitones * LN2_12) = 2 ** (semitones / 12), and cheaper
LN2 = math.log(2.0)
NOISE_M = 2147483647.0  # Park-Miller generator: x <- 16807 x mod (2^31 - 1), exact in float64
NOISE_A = 16807.0
FREE_LFO_SEED = 0x5EED
# reassoc lets LLVM vectorize the sum over voices (the order is fixed for a given set of voices)
_FAST = {"reassoc", "contract"}
