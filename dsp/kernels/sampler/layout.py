"""The sampler kernel's arrays: which row holds what. Every array is struct of arrays (rows x columns).

- Regions (one column per region, packed by :func:`instruments.sampler.pack.pack_regions`): float64
  ``rf`` rows ``R_*`` and int64 ``ri`` rows ``RI_*``. Pool positions are absolute indices into the pool.
- Presets: int64 ``presets`` of shape ``(npresets, 4)``: bank, program, first region, region end.
- Voices (one column per voice, tails included): float64 ``vf`` rows ``V_*``, int64 ``vi`` rows
  ``VI_*``.
- Channels (16 columns): float64 ``cf`` rows ``C_*``, int64 ``ci`` rows ``CI_*``; int64 ``keys`` of shape
  ``(3, 16, 128)``: velocity of each key held down (0: up), a release owed when the pedal lifts, and the
  note-on velocity remembered for release triggers.
- ``misc`` int64: the note-on counter (voice serials) and the random generator's state.
"""

from __future__ import annotations

# -- codes shared with the bank model (instruments.sampler.model re-exports them) --------------------------
NO_LOOP = 0
ONE_SHOT = 1
LOOP_CONTINUOUS = 2
LOOP_SUSTAIN = 3
FILTER_NONE = 0
FILTER_LP1 = 1
FILTER_LP2 = 2
FILTER_HP1 = 3
FILTER_HP2 = 4
FILTER_BP2 = 5
FILTER_BR2 = 6
TRIGGER_ATTACK = 0
TRIGGER_RELEASE = 1
TRIGGER_FIRST = 2
TRIGGER_LEGATO = 3

# -- region rows (float64) ---------------------------------------------------------------------------------
R_START = 0  # pool index where playback starts (sample start + offset)
R_END = 1  # pool index where the sample ends (exclusive)
R_LOOP_START = 2
R_LOOP_END = 3  # exclusive
R_SAMPLE_START = 4  # the sample's first pool index (reads before it give the first value)
R_SAMPLE_RATE = 5
R_KEYCENTER = 6
R_KEYTRACK = 7  # cents per key
R_TUNE = 8  # cents
R_VOLUME_DB = 9
R_AMP_VELTRACK = 10
R_PAN = 11
R_AMP_DELAY = 12  # seconds, as the model names them
R_AMP_ATTACK = 13
R_AMP_HOLD = 14
R_AMP_DECAY = 15
R_AMP_SUSTAIN_DB = 16
R_AMP_RELEASE = 17
R_AMP_HOLD_KT = 18  # timecents per key below 60
R_AMP_DECAY_KT = 19
R_MOD_DELAY = 20
R_MOD_ATTACK = 21
R_MOD_HOLD = 22
R_MOD_DECAY = 23
R_MOD_SUSTAIN = 24
R_MOD_RELEASE = 25
R_MOD_HOLD_KT = 26
R_MOD_DECAY_KT = 27
R_MOD_TO_PITCH = 28
R_MOD_TO_FILTER = 29
R_VIB_DELAY = 30
R_VIB_FREQ = 31
R_VIB_TO_PITCH = 32
R_MODLFO_DELAY = 33
R_MODLFO_FREQ = 34
R_MODLFO_TO_PITCH = 35
R_MODLFO_TO_FILTER = 36
R_MODLFO_TO_VOLUME = 37  # dB swing
R_CUTOFF_CENTS = 38  # absolute cents above 8.176 Hz
R_RESONANCE_DB = 39
R_FIL_VELTRACK = 40
R_FIL_KEYTRACK = 41
R_FIL_KEYCENTER = 42
R_LORAND = 43
R_HIRAND = 44
R_REVERB = 45
R_CHORUS = 46
R_COPY_START = 47  # the loop unrolled in a copy (see instruments.sampler.pack): its start and end in the
R_COPY_END = 48  # pool, with COPY_GUARD frames of the loop's end before it and of its start after it
R_FIL_VEL_SWITCH = 49  # velocity tracking of the cutoff applies from this velocity up
NUM_R_ROWS = 50

# -- region rows (int64) -----------------------------------------------------------------------------------
RI_LOKEY = 0
RI_HIKEY = 1
RI_LOVEL = 2
RI_HIVEL = 3
RI_TRIGGER = 4
RI_SEQ_LENGTH = 5
RI_SEQ_POSITION = 6
RI_LOOP_MODE = 7
RI_FILTER = 8
RI_GROUP = 9
RI_OFF_BY = 10
RI_SEQ_COUNTER = 11  # round robin: matches so far (state, reset with the voices)
NUM_RI_ROWS = 12

# -- preset table columns ------------------------------------------------------------------------------------
P_BANK = 0
P_PROGRAM = 1
P_FIRST = 2
P_END = 3

# -- voice rows (float64) ----------------------------------------------------------------------------------
V_POS = 0  # pool position (fractional)
V_RATIO = 1  # sample rate / output rate
V_CENTS = 2  # pitch offset in cents before modulation
V_INC = 3  # pool positions per output sample, now
V_AMP = 4  # level from the region's volume and the velocity
V_ENV = 5  # amplitude envelope level, linear
V_ENV_T = 6  # samples spent in the present delay or hold stage
V_DELAY_N = 7
V_ATTACK_STEP = 8
V_HOLD_N = 9
V_DECAY_K = 10  # per-sample factor (linear in dB)
V_SUSTAIN = 11  # linear
V_RELEASE_K = 12
V_FADE_STEP = 13  # level per sample while fading out (choked or stolen)
V_MOD = 14  # modulation envelope level 0..1
V_MOD_T = 15
V_MOD_DELAY_N = 16
V_MOD_ATTACK_STEP = 17
V_MOD_HOLD_N = 18
V_MOD_DECAY_STEP = 19
V_MOD_SUSTAIN = 20
V_MOD_RELEASE_STEP = 21
V_VIB_PHASE = 22  # triangle phase 0..1
V_VIB_INC = 23  # per sample
V_VIB_WAIT = 24  # samples before the LFO starts
V_MODLFO_PHASE = 25
V_MODLFO_INC = 26
V_MODLFO_WAIT = 27
V_CUTOFF_CENTS = 28  # before modulation (velocity and key tracking included)
V_S1 = 29  # filter state
V_S2 = 30
V_B0 = 31  # filter coefficients (a biquad, normalised: a0 = 1), updated at the control rate
V_B1 = 32
V_B2 = 33
V_GAIN_L = 34  # output gains now (ramped between control points)
V_GAIN_R = 35
V_REVERB = 36
V_CHORUS = 37
V_CTRL = 38  # samples left before the next control update
V_STEP_L = 39  # gain steps per sample toward the targets of the last control update
V_STEP_R = 40
V_A1 = 41
V_A2 = 42
V_LAST_CENTS = 43  # what the control update last computed from (NaN: nothing yet), to skip repeats
V_LAST_FC = 44
V_LAST_PAN = 45
V_PAN_L = 46
V_PAN_R = 47
NUM_V_ROWS = 48

# -- voice rows (int64) ------------------------------------------------------------------------------------
VI_STAGE = 0
VI_MOD_STAGE = 1
VI_REGION = 2
VI_CHANNEL = 3
VI_NOTE = 4
VI_SERIAL = 5
VI_HELD = 6  # released by its key while the sustain pedal was down: released when the pedal lifts
VI_LOOP_MODE = 7
VI_FILTER = 8
VI_WRAPPED = 9  # has looped at least once (reads before the loop start wrap to its end)
VI_FILTER_ON = 10  # the filter runs (off while wide open, unmodulated and without resonance)
VI_IN_COPY = 11  # looping in the region's unrolled copy of its loop
NUM_VI_ROWS = 12

# -- envelope stages (both envelopes; FADE only for the amplitude) -------------------------------------------
STAGE_IDLE = 0
STAGE_DELAY = 1
STAGE_ATTACK = 2
STAGE_HOLD = 3
STAGE_DECAY = 4
STAGE_SUSTAIN = 5
STAGE_RELEASE = 6
STAGE_FADE = 7

# -- channel rows ------------------------------------------------------------------------------------------
C_BEND = 0  # -1..1
C_BEND_RANGE = 1  # semitones (RPN 0)
C_VOLUME = 2  # CC7 / 127
C_EXPRESSION = 3  # CC11 / 127
C_PAN = 4  # CC10 as -1..1
C_MOD_WHEEL = 5  # CC1 / 127
C_PRESSURE = 6  # channel aftertouch / 127
C_REVERB = 7  # CC91 / 127
C_CHORUS = 8  # CC93 / 127
NUM_C_ROWS = 9

CI_PRESET = 0  # row of the preset table playing new notes (-1: none)
CI_BANK_MSB = 1
CI_BANK_LSB = 2
CI_PEDAL = 3
CI_RPN_MSB = 4
CI_RPN_LSB = 5
CI_KEYS_DOWN = 6
NUM_CI_ROWS = 7

K_VELOCITY = 0  # keys[K_VELOCITY, ch, note]: velocity of a key held down, 0 when up
K_PENDING = 1  # 1: the key went up while the pedal held it (release triggers wait for the pedal)
K_LAST_VELOCITY = 2

M_SERIAL = 0
M_RANDOM = 1
NUM_MISC = 2

# -- constants -----------------------------------------------------------------------------------------------
NUM_CHANNELS = 16
DRUM_CHANNEL = 9
DRUM_BANK = 128
BASE_HZ = 8.175798915643707  # MIDI key 0: absolute cents count from here
SILENCE = 1e-5  # -100 dB: a decaying or releasing voice is done below this
LN_SILENCE = -11.512925464970229  # ln(1e-5)
CONTROL_SAMPLES = 64  # pitch, filter, LFOs and gains are updated this often
FADE_MS = 5.0  # choke and steal fade-out
INTERP_LINEAR = 0
INTERP_CUBIC = 1
INTERP_SINC = 2
SINC_HALF = 8  # taps each side of the windowed-sinc interpolator
SINC_PHASES = 512
COPY_GUARD = 8  # frames around an unrolled loop copy: every read near its ends is direct
