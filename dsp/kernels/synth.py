"""Kernels of the polyphonic synth: all voices of one instrument rendered by one call per span.

A voice *column* is two band-limited oscillators (saw, pulse, triangle, sine), a sub oscillator an octave
below oscillator 1 (sine or square) and white noise, mixed into a zero-delay-feedback (TPT) state-variable
filter (low-, high- or band-pass output), times an exponential ADSR and a velocity gain, panned into a
stereo sum. A note takes one column per unison voice. Column state is struct of arrays: row ``F_*`` of a
float64 array ``fst`` of shape ``(NUM_F_ROWS, columns)`` and row ``I_*`` of an int64 array ``ist`` of
shape ``(NUM_I_ROWS, columns)``, with ``columns = UNISON_MAX * slots`` (plus fewer than ``UNISON_MAX``
spare columns, never used, that keep the rows from sharing cache sets): unison voice ``u`` of note slot
``s`` is column ``u * slots + s``. :mod:`instruments.voices` starts, releases and steals notes by writing
those columns; the kernels only render them and free the ones whose envelope has finished. The parameters
are one float64 array ``values`` laid out as :data:`VOICE_PARAMS` (index ``P_*``).

Band limiting is polynomial, in the PolyBLEP manner but wider: every step of the naive saw and pulse gets
the residual of a unit step smoothed by the quintic B-spline (6 samples wide, linear phase), every corner
of the triangle the residual of the smoothed ramp, both in closed form (truncated powers, branch-free, so
the loops over voices still vectorize). The phase says how far the nearest steps are, so there is no
latency and no ring of future corrections; the nearest step on each side is corrected, which is exact up
to a third of the sample rate. A 5 kHz saw at 48 kHz aliases at -39 dB relative to its harmonics (naive:
-8 dB; the two-sample PolyBLEP: -22 dB). The price is a gentle roll-off of the top octaves, the B-spline's
sinc^6 response: -0.9 dB at 5 kHz, -3.8 dB at 10 kHz (48 kHz rate). :mod:`dsp.kernels.osc` has the
longer, table-driven kernel of the stand-alone oscillator.

Call :func:`grid_points` once per block, :func:`render_voices` once per span of samples between two
events (it writes the stereo sum into a float64 ``(2, frames)`` buffer), then :func:`write_stereo` once
per block to apply the output gain. :func:`render_oscillator`, :func:`lfo_value`, :func:`render_noise`
and :func:`filter_envelope_level` expose single parts for tests.

Two paths, chosen at the start of every piece of a span:

- *Static* (the common case: oscillator 1 alone, centred, nothing modulated): the fused loop of the
  basic synth. It gathers the sounding columns into a scratch array (``work``), runs a sample-outer,
  column-inner loop that LLVM vectorizes across columns (branch-free oscillators), and scatters the
  state back. Unused features cost a few flag checks per span.
- *Modulated* (oscillator 2, sub, noise, LFO routing, filter envelope, a glide, unison panning): pieces
  end on the 32-sample timeline grid (:data:`SUB_BLOCK`). At each grid point every column's modulation
  targets are computed (LFO, filter envelope, glide, velocity) and the phase increment, filter ``g``,
  tremolo gain and pulse-width offset glide linearly to them over the next grid cell, so the output does
  not depend on where blocks or events split the timeline. The oscillators are summed per sample into a
  ``tile`` (``SUB_BLOCK x columns``), one vectorized pass each (a silent oscillator is skipped), then one
  pass filters, shapes and pans it.

Stage changes of the amplitude envelope are rare; a loop stops after the sample where one happens and
the change is made in scalar code (:func:`_settle`) before it goes on. The amplitude envelope is the
one-pole-to-target kind: each stage moves toward a target a little beyond its end level
(``1 + ATTACK_TARGET_RATIO`` for the attack, ``sustain - DECAY_TARGET_RATIO`` for the decay,
``-DECAY_TARGET_RATIO`` for the release) so that it reaches the end level in the stage time: the attack
peaks (level 1) at the first sample ``n >= attack_ms * rate / 1000`` after the note-on, the decay from 1
reaches the sustain level at most ``decay_ms`` later, and a release from level 1 would reach 0 in
``release_ms``; a voice is freed (exact silence) at the first sample whose level is at or below
``SILENCE_LEVEL`` (-100 dB). ``STAGE_FADE`` is a linear fade of ``F_FADE`` per sample, used for the tail of
a stolen voice. The filter envelope has the same curves in closed form of the time since the note-on
(:func:`filter_envelope_level`), evaluated on the grid.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "ATTACK_TARGET_RATIO",
    "DECAY_TARGET_RATIO",
    "F_AMP",
    "F_ENV",
    "F_FADE",
    "F_G",
    "F_INC",
    "F_PHASE",
    "F_PITCH",
    "F_S1",
    "F_S2",
    "I_CHANNEL",
    "I_DIRTY",
    "I_HELD",
    "I_NOTE",
    "I_SERIAL",
    "I_STAGE",
    "NUM_CACHE",
    "NUM_F_ROWS",
    "NUM_G_ROWS",
    "NUM_I_ROWS",
    "NUM_PARAMS",
    "NUM_W_ROWS",
    "SILENCE_LEVEL",
    "STAGE_ATTACK",
    "STAGE_DECAY",
    "STAGE_FADE",
    "STAGE_IDLE",
    "STAGE_RELEASE",
    "STAGE_SUSTAIN",
    "SUB_BLOCK",
    "UNISON_MAX",
    "VOICE_PARAMS",
    "WAVE_SAW",
    "WAVE_SINE",
    "WAVE_SQUARE",
    "WAVE_TRIANGLE",
    "envelope_coefficient",
    "filter_envelope_level",
    "grid_points",
    "lfo_value",
    "pan_gains",
    "render_noise",
    "render_oscillator",
    "render_voices",
    "svf_k",
    "take_points",
    "write_stereo",
]

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


@njit(cache=True, nogil=True)
def envelope_coefficient(samples, ratio):
    """Pole of a one-pole segment that covers its span in ``samples`` when aiming ``ratio`` beyond it."""
    if samples < 1.0:
        return 0.0
    return math.exp(-math.log((1.0 + ratio) / ratio) / samples)


@njit(cache=True, nogil=True)
def svf_k(resonance):
    """Damping ``k = 1/Q`` of the state-variable filter for a resonance in 0..1."""
    return K_OPEN - (K_OPEN - K_CLOSED) * resonance


@njit(cache=True, nogil=True)
def pan_gains(pan):
    """(left, right) gains of a constant-power pan in -1..1, both 1 at the centre."""
    a = (pan + 1.0) * (0.25 * math.pi)
    return math.sqrt(2.0) * math.cos(a), math.sqrt(2.0) * math.sin(a)


# -- oscillators: branch-free, so the voice loop vectorizes ---------------------------------------------
@njit(cache=True, nogil=True, fastmath=_FAST)
def _wrap(q):
    return q - 1.0 if q >= 1.0 else q


@njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _edge(x):
    # step residual x >= 0 samples from a unit step: 1 - S(x), where S is the unit step smoothed by the
    # quintic B-spline (support -3..3 samples): S(x) = (1/720) sum_k (-1)^k C(6, k) (x + 3 - k)+^6. By
    # symmetry S(x) - 1 = -_edge(x) after the step and S(-x) = _edge(x) before it; branch-free (max).
    a = 3.0 - x
    b = 2.0 - x
    c = 1.0 - x
    a = a if a > 0.0 else 0.0  # selects, not max(): no NaN branch in the vectorized loops
    b = b if b > 0.0 else 0.0
    c = c if c > 0.0 else 0.0
    a2 = a * a
    b2 = b * b
    c2 = c * c
    return (a2 * a2 * a2 - 6.0 * (b2 * b2 * b2) + 15.0 * (c2 * c2 * c2)) * (1.0 / 720.0)


@njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _corner(x):
    # ramp residual |x| samples from a unit change of slope (per sample), the same on both sides: the
    # integral of _edge from |x| on, (1/5040) sum_k (-1)^k C(6, k) (3 - k - |x|)+^7 over k = 0, 1, 2
    a = 3.0 - x
    b = 2.0 - x
    c = 1.0 - x
    a = a if a > 0.0 else 0.0  # selects, not max(): no NaN branch in the vectorized loops
    b = b if b > 0.0 else 0.0
    c = c if c > 0.0 else 0.0
    a3 = a * a * a
    b3 = b * b * b
    c3 = c * c * c
    return (a3 * a3 * a - 6.0 * (b3 * b3 * b) + 15.0 * (c3 * c3 * c)) * (1.0 / 5040.0)


@njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _steps(q, inv_dt):
    # the residuals of a train of unit steps, one at phase 0 of every cycle, at phase q (0 <= q < 1) with
    # 1 / increment inv_dt: the nearest step ahead and the nearest behind. Exact up to a third of the
    # sample rate; above, the next steps on each side (within 3 samples then) are left out.
    return _edge((1.0 - q) * inv_dt) - _edge(q * inv_dt)


@njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _corners(q, inv_dt):
    # the residuals of a train of unit slope changes at phase 0, at phase q (as _steps)
    return _corner((1.0 - q) * inv_dt) + _corner(q * inv_dt)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _saw(p, dt, inv_dt):
    q = _wrap(p + 0.5)  # starts at a rising zero crossing; a step of -2 at q = 0
    return 2.0 * q - 1.0 - 2.0 * _steps(q, inv_dt)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _pulse(p, pw, dt, inv_dt):
    # high for p < pw (a step of +2 at p = 0, of -2 at p = pw); the DC of an uneven pulse (2 pw - 1) is
    # taken out so pulse-width modulation does not move the level (pw 0.5: the plain square)
    v = 1.0 if p < pw else -1.0
    return v + 2.0 * (_steps(p, inv_dt) - _steps(_wrap(p + (1.0 - pw)), inv_dt)) - (2.0 * pw - 1.0)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _triangle(p, dt, inv_dt):
    q = _wrap(p + 0.25)  # starts at a rising zero crossing
    r = _wrap(q + 0.5)
    # corners: trough at q = 0 (slope change +8 dt per sample), peak at q = 0.5 (-8 dt)
    return 1.0 - 4.0 * abs(q - 0.5) + 8.0 * dt * (_corners(q, inv_dt) - _corners(r, inv_dt))


@njit(cache=True, nogil=True, fastmath=_FAST)
def _sine(p):
    # sin(2 pi p) for p in [0, 1): fold to [-pi/2, pi/2], odd Taylor polynomial to x^13 (error < 1e-9)
    u = p - 0.5
    u = 0.5 - u if u > 0.25 else (-0.5 - u if u < -0.25 else u)
    x = TWO_PI * u
    x2 = x * x
    s = 1.0 / 6227020800.0
    s = -1.0 / 39916800.0 + x2 * s
    s = 1.0 / 362880.0 + x2 * s
    s = -1.0 / 5040.0 + x2 * s
    s = 1.0 / 120.0 + x2 * s
    s = -1.0 / 6.0 + x2 * s
    return -x * (1.0 + x2 * s)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _noise_step(s):
    # s <- 16807 s mod (2^31 - 1): every product is an integer below 2^53, so float64 is exact and the
    # loop stays vectorizable; the floor division may be one off near a multiple, fixed by the selects
    t = NOISE_A * s
    r = t - NOISE_M * math.floor(t * (1.0 / NOISE_M))
    r = r + NOISE_M if r < 0.0 else r
    return r - NOISE_M if r >= NOISE_M else r


@njit(cache=True, nogil=True)
def render_oscillator(waveform, phase, inc, out, pulse_width=0.5):
    """Fill ``out`` with one oscillator (advance the phase by ``inc`` cycles, then sample); returns the
    phase after the last sample. The voices use the same oscillators."""
    inv = 1.0 / inc
    for i in range(out.shape[0]):
        phase = _wrap(phase + inc)
        if waveform == WAVE_SAW:
            out[i] = _saw(phase, inc, inv)
        elif waveform == WAVE_SQUARE:
            out[i] = _pulse(phase, pulse_width, inc, inv)
        elif waveform == WAVE_TRIANGLE:
            out[i] = _triangle(phase, inc, inv)
        else:
            out[i] = _sine(phase)
    return phase


@njit(cache=True, nogil=True)
def render_noise(state, out):
    """Fill ``out`` with the voices' white noise (uniform in -1..1) from generator ``state`` (an integer
    in 1 .. 2^31 - 2, as float); returns the state after the last sample."""
    for i in range(out.shape[0]):
        state = _noise_step(state)
        out[i] = state * (2.0 / NOISE_M) - 1.0
    return state


@njit(cache=True, nogil=True)
def _hash01(n, seed):
    # splitmix64 of (cycle, seed): a uniform number in [0, 1) that needs no generator state
    x = np.uint64(n) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return float(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def lfo_value(shape, phase, seed):
    """The LFO in -1..1 at ``phase`` cycles (not wrapped): sine, triangle and saw start at a rising zero
    crossing, the square starts high, sample and hold takes a new random value every cycle."""
    cycle = math.floor(phase)
    f = phase - cycle
    if shape == LFO_SINE:
        return _sine(f)
    if shape == LFO_TRIANGLE:
        return 1.0 - 4.0 * abs(_wrap(f + 0.25) - 0.5)
    if shape == LFO_SAW:
        return 2.0 * _wrap(f + 0.5) - 1.0
    if shape == LFO_SQUARE:
        return 1.0 if f < 0.5 else -1.0
    return 2.0 * _hash01(np.int64(cycle), seed) - 1.0


# -- filter envelope: closed form of the time since the note-on ------------------------------------------
@njit(cache=True, nogil=True)
def _log_coef(samples, ratio):
    return -math.log((1.0 + ratio) / ratio) / samples if samples >= 1.0 else 0.0


@njit(cache=True, nogil=True)
def _fenv_coefs(values, sample_rate):
    ms = 0.001 * sample_rate
    a = values[P_FILTER_ATTACK_MS] * ms
    d = values[P_FILTER_DECAY_MS] * ms
    r = values[P_FILTER_RELEASE_MS] * ms
    return (
        a if a >= 1.0 else 0.0,
        _log_coef(a, ATTACK_TARGET_RATIO),
        d if d >= 1.0 else 0.0,
        _log_coef(d, DECAY_TARGET_RATIO),
        values[P_FILTER_SUSTAIN],
        r if r >= 1.0 else 0.0,
        _log_coef(r, DECAY_TARGET_RATIO),
    )


@njit(cache=True, nogil=True)
def _fenv_at(age, released, rel_age, rel_level, fe):
    a, la, d, ld, s, r, lr = fe
    if released:
        if r <= 0.0:
            return 0.0
        v = -DECAY_TARGET_RATIO + (rel_level + DECAY_TARGET_RATIO) * math.exp(lr * (age - rel_age))
        return v if v > SILENCE_LEVEL else 0.0
    if age < a:
        return (1.0 + ATTACK_TARGET_RATIO) * (1.0 - math.exp(la * age))
    t = age - a
    if t < d:
        return max(s, s - DECAY_TARGET_RATIO + (1.0 - s + DECAY_TARGET_RATIO) * math.exp(ld * t))
    return s


@njit(cache=True, nogil=True)
def filter_envelope_level(
    age_samples, released, release_age_samples, release_level, attack_ms, decay_ms, sustain, release_ms,
    sample_rate,
):  # fmt: skip
    """The filter envelope ``age_samples`` after its note-on: the amplitude envelope's curves in closed
    form (attack toward 1.3 reaching 1 at ``attack_ms``, decay toward ``sustain - 1e-4`` held at
    ``sustain``; after a release at ``release_age_samples`` from ``release_level``, toward -1e-4 and 0
    at or below -100 dB)."""
    values = np.zeros(NUM_PARAMS)
    values[P_FILTER_ATTACK_MS] = attack_ms
    values[P_FILTER_DECAY_MS] = decay_ms
    values[P_FILTER_SUSTAIN] = sustain
    values[P_FILTER_RELEASE_MS] = release_ms
    fe = _fenv_coefs(values, sample_rate)
    return _fenv_at(age_samples, released, release_age_samples, release_level, fe)


@njit(cache=True, nogil=True)
def _fenv_column(fst, ist, c, fe):
    return _fenv_at(fst[F_AGE, c], ist[I_FENV_RELEASED, c] != 0, fst[F_REL_AGE, c], fst[F_REL_LEVEL, c], fe)


@njit(cache=True, nogil=True)
def _fenv_events(fst, ist, c, stage, fe):
    # a mono retrigger restarts the attack from the present level (the age on the attack curve that has
    # it); a release takes the level it starts from. Both happen at the first render after the event.
    if ist[I_RETRIGGER, c] != 0:
        level = _fenv_column(fst, ist, c, fe)
        a, la = fe[0], fe[1]
        age = 0.0
        if a > 0.0:
            age = math.log(max(1.0 - level / (1.0 + ATTACK_TARGET_RATIO), 1e-300)) / la
        fst[F_AGE, c] = age
        ist[I_FENV_RELEASED, c] = 0
        ist[I_RETRIGGER, c] = 0
    if stage == STAGE_RELEASE and ist[I_FENV_RELEASED, c] == 0:
        fst[F_REL_LEVEL, c] = _fenv_column(fst, ist, c, fe)
        fst[F_REL_AGE, c] = fst[F_AGE, c]
        ist[I_FENV_RELEASED, c] = 1


# -- modulation targets -----------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _glide_offset(fst, c, glide_samples):
    start = fst[F_GLIDE, c]
    if start == 0.0 or glide_samples < 1.0:
        return 0.0
    t = fst[F_GLIDE_T, c]
    if t >= glide_samples:
        return 0.0
    return start * (1.0 - t / glide_samples)


@njit(cache=True, nogil=True)
def _osc1_offset(values):
    return 12.0 * values[P_OSC1_OCTAVES] + values[P_OSC1_SEMITONES] + 0.01 * values[P_OSC1_FINE_CENTS]


@njit(cache=True, nogil=True)
def _osc2_ratio(values):
    # oscillator 2's frequency over oscillator 1's
    o2 = 12.0 * values[P_OSC2_OCTAVES] + values[P_OSC2_SEMITONES] + 0.01 * values[P_OSC2_FINE_CENTS]
    return math.exp((o2 - _osc1_offset(values)) * LN2_12)


@njit(cache=True, nogil=True)
def _targets(fst, c, values, osc1, glide_samples, lfo, fenv):
    """Pitch (semitones), cutoff offset (octaves), tremolo gain and pulse-width offset of column c for an
    LFO value and a filter envelope level (both 0: the unmodulated values)."""
    key = fst[F_PITCH, c] + _glide_offset(fst, c, glide_samples)
    pitch = key + osc1 + fst[F_UPOS, c] * values[P_UNISON_DETUNE] * 0.01 + lfo * values[P_LFO_TO_PITCH] * 0.01
    octaves = (
        values[P_KEY_TRACKING] * (key - 60.0) / 12.0
        + values[P_FILTER_ENV_AMOUNT] * fenv
        + values[P_LFO_TO_CUTOFF] * lfo
        + values[P_VELOCITY_TO_FILTER] * (fst[F_VEL, c] - 1.0)
    )
    mamp = 1.0 - values[P_LFO_TO_AMP] * (1.0 - lfo) * 0.5
    pwm = values[P_LFO_TO_PULSE_WIDTH] * lfo
    return pitch, octaves, mamp, pwm


@njit(cache=True, nogil=True)
def _inc_of(pitch, sample_rate):
    return min(440.0 * math.exp((pitch - 69.0) * LN2_12) / sample_rate, MAX_INC)


@njit(cache=True, nogil=True)
def _g_of(cutoff_hz, octaves, sample_rate):
    fc = cutoff_hz * math.exp(octaves * LN2)
    fc = min(max(fc, MIN_CUTOFF_HZ), MAX_CUTOFF_RATIO * sample_rate)
    return math.tan(math.pi * fc / sample_rate)


@njit(cache=True, nogil=True)
def _set_still(fst, c, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate):
    # jump to the targets (a new note or pitch, or the static path's values)
    inc = _inc_of(pitch, sample_rate)
    g = _g_of(cutoff_hz, octaves, sample_rate)
    fst[F_PITCH_T, c] = pitch
    fst[F_OCT_T, c] = octaves
    fst[F_CUT_T, c] = cutoff_hz
    fst[F_INC, c] = inc
    fst[F_INC_T, c] = inc
    fst[F_DINC, c] = 0.0
    fst[F_INV, c] = 1.0 / inc
    fst[F_INV_T, c] = 1.0 / inc
    fst[F_DINV, c] = 0.0
    fst[F_G, c] = g
    fst[F_G_T, c] = g
    fst[F_DG, c] = 0.0
    fst[F_MAMP, c] = mamp
    fst[F_MAMP_T, c] = mamp
    fst[F_DMAMP, c] = 0.0
    fst[F_PWM, c] = pwm
    fst[F_PWM_T, c] = pwm
    fst[F_DPWM, c] = 0.0


@njit(cache=True, nogil=True)
def _set_ramp(fst, c, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate, length):
    # from the previous grid point's targets to the new ones over one grid cell; exp and tan only when
    # the pitch or cutoff moved
    scale = 1.0 / length
    inc = fst[F_INC_T, c]
    inv = fst[F_INV_T, c]
    if pitch != fst[F_PITCH_T, c]:
        fst[F_PITCH_T, c] = pitch
        inc = _inc_of(pitch, sample_rate)
        inv = 1.0 / inc
    g = fst[F_G_T, c]
    if octaves != fst[F_OCT_T, c] or cutoff_hz != fst[F_CUT_T, c]:
        fst[F_OCT_T, c] = octaves
        fst[F_CUT_T, c] = cutoff_hz
        g = _g_of(cutoff_hz, octaves, sample_rate)
    cur = fst[F_INC_T, c]
    fst[F_INC, c] = cur
    fst[F_DINC, c] = (inc - cur) * scale
    fst[F_INC_T, c] = inc
    cur = fst[F_INV_T, c]
    fst[F_INV, c] = cur
    fst[F_DINV, c] = (inv - cur) * scale
    fst[F_INV_T, c] = inv
    cur = fst[F_G_T, c]
    fst[F_G, c] = cur
    fst[F_DG, c] = (g - cur) * scale
    fst[F_G_T, c] = g
    cur = fst[F_MAMP_T, c]
    fst[F_MAMP, c] = cur
    fst[F_DMAMP, c] = (mamp - cur) * scale
    fst[F_MAMP_T, c] = mamp
    cur = fst[F_PWM_T, c]
    fst[F_PWM, c] = cur
    fst[F_DPWM, c] = (pwm - cur) * scale
    fst[F_PWM_T, c] = pwm


@njit(cache=True, nogil=True)
def _lfo_inc(values, sample_rate, tempo_bpm):
    if values[P_LFO_SYNC] >= 0.5:
        return tempo_bpm / (60.0 * values[P_LFO_PERIOD_BEATS]) / sample_rate
    return values[P_LFO_RATE_HZ] / sample_rate


@njit(cache=True, nogil=True)
def _modulated(values):
    # parameters that need the modulated path whatever the voices do
    return (
        values[P_OSC2_LEVEL] != 0.0
        or values[P_SUB_LEVEL] != 0.0
        or values[P_NOISE_LEVEL] != 0.0
        or values[P_FILTER_ENV_AMOUNT] != 0.0
        or values[P_LFO_TO_PITCH] != 0.0
        or values[P_LFO_TO_CUTOFF] != 0.0
        or values[P_LFO_TO_AMP] != 0.0
        or values[P_LFO_TO_PULSE_WIDTH] != 0.0
    )


@njit(cache=True, nogil=True)
def _voices_modulated(fst, ist, ncols, glide_samples, spread):
    # a column gliding, still moving toward its last targets, or panned away from the centre
    for c in range(ncols):
        if ist[I_STAGE, c] == STAGE_IDLE:
            continue
        if fst[F_DINC, c] != 0.0 or fst[F_DG, c] != 0.0 or fst[F_DMAMP, c] != 0.0 or fst[F_DPWM, c] != 0.0:
            return True
        if _glide_offset(fst, c, glide_samples) != 0.0:
            return True
        if spread != 0.0 and fst[F_UPOS, c] != 0.0:
            return True
    return False


# -- envelope stages --------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _env_coefs(values, sample_rate):
    ms = 0.001 * sample_rate
    att_coef = envelope_coefficient(values[P_ATTACK_MS] * ms, ATTACK_TARGET_RATIO)
    att_base = (1.0 + ATTACK_TARGET_RATIO) * (1.0 - att_coef) if att_coef > 0.0 else 1.0
    dec_coef = envelope_coefficient(values[P_DECAY_MS] * ms, DECAY_TARGET_RATIO)
    sustain = values[P_SUSTAIN]
    dec_base = (sustain - DECAY_TARGET_RATIO) * (1.0 - dec_coef)
    rel_coef = envelope_coefficient(values[P_RELEASE_MS] * ms, DECAY_TARGET_RATIO)
    rel_base = -DECAY_TARGET_RATIO * (1.0 - rel_coef)
    return (att_base, att_coef, dec_base, dec_coef, sustain, rel_base, rel_coef)


@njit(cache=True, nogil=True)
def _set_stage(w, j, stage, env_coefs, fade_step):
    # env <- base + env * coef; the stage ends after the sample where sign * env >= limit
    att_base, att_coef, dec_base, dec_coef, sustain, rel_base, rel_coef = env_coefs
    if stage == STAGE_ATTACK:
        base, coef, sign, limit = att_base, att_coef, 1.0, 1.0
    elif stage == STAGE_DECAY:
        base, coef, sign, limit = dec_base, dec_coef, -1.0, -sustain
    elif stage == STAGE_SUSTAIN:
        # follows later sustain changes smoothly; never ends by itself, unless the sustain level is
        # turned down to silence while the key is held: then it ends there and the voice is freed
        if sustain > SILENCE_LEVEL:
            base, coef, sign, limit = sustain * (1.0 - dec_coef), dec_coef, 1.0, np.inf
        else:
            base, coef, sign, limit = sustain * (1.0 - dec_coef), dec_coef, -1.0, -SILENCE_LEVEL
    elif stage == STAGE_RELEASE:
        base, coef, sign, limit = rel_base, rel_coef, -1.0, -SILENCE_LEVEL
    elif stage == STAGE_FADE:
        base, coef, sign, limit = -fade_step, 1.0, -1.0, 0.0
    else:
        base, coef, sign, limit = 0.0, 0.0, 1.0, np.inf
        w[W_ENV, j] = 0.0
        w[W_AMP, j] = 0.0
    w[W_BASE, j] = base
    w[W_COEF, j] = coef
    w[W_SIGN, j] = sign
    w[W_LIMIT, j] = limit


@njit(cache=True, nogil=True)
def _settle(w, slots, fst, n, env_coefs):
    # move the voices whose stage ended to their next stage; returns how many still sound
    sustain = env_coefs[4]
    alive = 0
    for j in range(n):
        stage = slots[1, j]
        e = w[W_ENV, j]
        if stage != STAGE_IDLE and w[W_SIGN, j] * e >= w[W_LIMIT, j]:
            if stage == STAGE_ATTACK:
                w[W_ENV, j] = 1.0
                stage = STAGE_DECAY
            elif stage == STAGE_DECAY:
                stage = STAGE_SUSTAIN if sustain > SILENCE_LEVEL else STAGE_IDLE
            else:
                stage = STAGE_IDLE
            slots[1, j] = stage
            _set_stage(w, j, stage, env_coefs, fst[F_FADE, slots[0, j]])
        if stage != STAGE_IDLE:
            alive += 1
    return alive


# -- the static path: oscillator 1, filter, envelope, centred -------------------------------------------
@njit(cache=True, nogil=True, fastmath=_FAST)
def _voice_out(w, j, x):
    # filter, envelope and gain of voice column j for oscillator sample x; returns (output, stage ended)
    s1 = w[W_S1, j]
    s2 = w[W_S2, j]
    y = w[W_O1, j] * s1 + w[W_O2, j] * s2 + w[W_O3, j] * x
    w[W_S1, j] = w[W_M11, j] * s1 + w[W_M12, j] * s2 + w[W_B1, j] * x
    w[W_S2, j] = w[W_M21, j] * s1 + w[W_M22, j] * s2 + w[W_B2, j] * x
    e = w[W_BASE, j] + w[W_ENV, j] * w[W_COEF, j]
    w[W_ENV, j] = e
    return y * e * w[W_AMP, j], w[W_SIGN, j] * e >= w[W_LIMIT, j]


@njit(cache=True, nogil=True, fastmath=_FAST)
def _span_saw(w, out, start, stop, n):
    for i in range(start, stop):
        acc = 0.0
        hits = 0
        for j in range(n):
            p = _wrap(w[W_PHASE, j] + w[W_INC, j])
            w[W_PHASE, j] = p
            y, hit = _voice_out(w, j, _saw(p, w[W_INC, j], w[W_INV, j]))
            acc += y
            hits += hit
        out[0, i] = acc
        out[1, i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True, fastmath=_FAST)
def _span_square(w, out, start, stop, n, pw):
    for i in range(start, stop):
        acc = 0.0
        hits = 0
        for j in range(n):
            p = _wrap(w[W_PHASE, j] + w[W_INC, j])
            w[W_PHASE, j] = p
            y, hit = _voice_out(w, j, _pulse(p, pw, w[W_INC, j], w[W_INV, j]))
            acc += y
            hits += hit
        out[0, i] = acc
        out[1, i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True, fastmath=_FAST)
def _span_triangle(w, out, start, stop, n):
    for i in range(start, stop):
        acc = 0.0
        hits = 0
        for j in range(n):
            p = _wrap(w[W_PHASE, j] + w[W_INC, j])
            w[W_PHASE, j] = p
            y, hit = _voice_out(w, j, _triangle(p, w[W_INC, j], w[W_INV, j]))
            acc += y
            hits += hit
        out[0, i] = acc
        out[1, i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True, fastmath=_FAST)
def _span_sine(w, out, start, stop, n):
    for i in range(start, stop):
        acc = 0.0
        hits = 0
        for j in range(n):
            p = _wrap(w[W_PHASE, j] + w[W_INC, j])
            w[W_PHASE, j] = p
            y, hit = _voice_out(w, j, _sine(p))
            acc += y
            hits += hit
        out[0, i] = acc
        out[1, i] = acc
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True)
def _gather_static(fst, ist, w, slots, cache, ncols, values, sample_rate, env_coefs, fe):
    cutoff_hz = values[P_CUTOFF_HZ]
    key_tracking = values[P_KEY_TRACKING]
    osc1 = _osc1_offset(values)
    detune = values[P_UNISON_DETUNE]
    vtf = values[P_VELOCITY_TO_FILTER]
    retune = (
        cache[C_CUTOFF] != cutoff_hz
        or cache[C_KEY_TRACKING] != key_tracking
        or cache[C_RATE] != sample_rate
        or cache[C_OSC1] != osc1
        or cache[C_DETUNE] != detune
        or cache[C_VELOCITY_TO_FILTER] != vtf
    )
    if retune:
        cache[C_CUTOFF] = cutoff_hz
        cache[C_KEY_TRACKING] = key_tracking
        cache[C_RATE] = sample_rate
        cache[C_OSC1] = osc1
        cache[C_DETUNE] = detune
        cache[C_VELOCITY_TO_FILTER] = vtf
    k = svf_k(values[P_RESONANCE])
    mode = int(values[P_FILTER_MODE])
    level = values[P_OSC1_LEVEL]
    glide_samples = values[P_GLIDE_MS] * 0.001 * sample_rate
    n = 0
    for v in range(ncols):
        stage = ist[I_STAGE, v]
        if stage == STAGE_IDLE:
            continue
        if ist[I_RETRIGGER, v] != 0 or (stage == STAGE_RELEASE and ist[I_FENV_RELEASED, v] == 0):
            _fenv_events(fst, ist, v, stage, fe)
        if retune or ist[I_DIRTY, v] != 0:
            pitch, octaves, mamp, pwm = _targets(fst, v, values, osc1, glide_samples, 0.0, 0.0)
            _set_still(fst, v, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate)
            ist[I_DIRTY, v] = 0
        slots[0, n] = v
        slots[1, n] = stage
        w[W_PHASE, n] = fst[F_PHASE, v]
        w[W_ENV, n] = fst[F_ENV, v]
        w[W_S1, n] = fst[F_S1, v]
        w[W_S2, n] = fst[F_S2, v]
        inc = fst[F_INC, v]
        w[W_INC, n] = inc
        w[W_INV, n] = 1.0 / inc
        # a fundamental at or above MAX_INC * rate (0.45: 19.8 kHz at 44.1 kHz) is silent rather than
        # pinned to a wrong, audible pitch
        w[W_AMP, n] = fst[F_AMP, v] * level * fst[F_MAMP, v] if inc < MAX_INC else 0.0
        # the TPT SVF as a 2x2 state update, which keeps the recursion short:
        # s1' = (2 a1 - 1) s1 - 2 a2 s2 + 2 a2 x;  s2' = 2 a2 s1 + (1 - 2 a3) s2 + 2 a3 x
        # with a1 = 1 / (1 + g (g + k)), a2 = g a1, a3 = g a2; outputs band = a1 s1 - a2 s2 + a2 x,
        # low = a2 s1 + (1 - a3) s2 + a3 x, high = x - k band - low
        g = fst[F_G, v]
        a1 = 1.0 / (1.0 + g * (g + k))
        a2 = g * a1
        a3 = g * a2
        w[W_M11, n] = 2.0 * a1 - 1.0
        w[W_M12, n] = -2.0 * a2
        w[W_B1, n] = 2.0 * a2
        w[W_M21, n] = 2.0 * a2
        w[W_M22, n] = 1.0 - 2.0 * a3
        w[W_B2, n] = 2.0 * a3
        if mode == FILTER_HIGHPASS:
            w[W_O1, n] = -k * a1 - a2
            w[W_O2, n] = k * a2 - 1.0 + a3
            w[W_O3, n] = 1.0 - k * a2 - a3
        elif mode == FILTER_BANDPASS:
            w[W_O1, n] = a1
            w[W_O2, n] = -a2
            w[W_O3, n] = a2
        else:
            w[W_O1, n] = a2
            w[W_O2, n] = 1.0 - a3
            w[W_O3, n] = a3
        _set_stage(w, n, stage, env_coefs, fst[F_FADE, v])
        n += 1
    return n


@njit(cache=True, nogil=True)
def _scatter_common(fst, ist, w, slots, n, length, lfo_inc):
    for j in range(n):
        v = slots[0, j]
        fst[F_PHASE, v] = w[W_PHASE, j]
        fst[F_ENV, v] = w[W_ENV, j]
        fst[F_S1, v] = w[W_S1, j]
        fst[F_S2, v] = w[W_S2, j]
        ist[I_STAGE, v] = slots[1, j]
        fst[F_AGE, v] += length
        fst[F_GLIDE_T, v] += length
        fst[F_LFO_PHASE, v] += length * lfo_inc


@njit(cache=True, nogil=True)
def _render_static(fst, ist, w, slots, cache, out, start, stop, ncols, values, sample_rate, env_coefs, fe,
                   lfo_inc):  # fmt: skip
    n = _gather_static(fst, ist, w, slots, cache, ncols, values, sample_rate, env_coefs, fe)
    waveform = int(values[P_WAVEFORM])
    pw = values[P_OSC1_PULSE_WIDTH]
    alive = n
    i = start
    while i < stop and alive > 0:
        if waveform == WAVE_SAW:
            i = _span_saw(w, out, i, stop, n)
        elif waveform == WAVE_SQUARE:
            i = _span_square(w, out, i, stop, n, pw)
        elif waveform == WAVE_TRIANGLE:
            i = _span_triangle(w, out, i, stop, n)
        else:
            i = _span_sine(w, out, i, stop, n)
        alive = _settle(w, slots, fst, n, env_coefs)
    _scatter_common(fst, ist, w, slots, n, stop - start, lfo_inc)


# -- the modulated path --------------------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=_FAST)
def _osc_pass(w, tile, n, length, wave, p_row, scale, inv_scale, level_row, pw_base, pwm_scale, add):
    # one oscillator of every column for ``length`` samples into tile[k * n + j]; its increment is
    # ``scale`` times oscillator 1's ramp (capped below Nyquist; a capped one has level 0)
    keep = 1.0 if add else 0.0
    if wave == WAVE_SAW:
        for k in range(length):
            base = k * n
            for j in range(n):
                inc = min((w[W_INC, j] + k * w[W_DINC, j]) * scale, MAX_INC)
                inv = (w[W_INV, j] + k * w[W_DINV, j]) * inv_scale
                p = _wrap(w[p_row, j] + inc)
                w[p_row, j] = p
                tile[base + j] = keep * tile[base + j] + w[level_row, j] * _saw(p, inc, inv)
    elif wave == WAVE_SQUARE:
        for k in range(length):
            base = k * n
            for j in range(n):
                inc = min((w[W_INC, j] + k * w[W_DINC, j]) * scale, MAX_INC)
                inv = (w[W_INV, j] + k * w[W_DINV, j]) * inv_scale
                pw = pw_base + pwm_scale * (w[W_PWM, j] + k * w[W_DPWM, j])
                pw = min(max(pw, MIN_PULSE_WIDTH), MAX_PULSE_WIDTH)
                p = _wrap(w[p_row, j] + inc)
                w[p_row, j] = p
                tile[base + j] = keep * tile[base + j] + w[level_row, j] * _pulse(p, pw, inc, inv)
    elif wave == WAVE_TRIANGLE:
        for k in range(length):
            base = k * n
            for j in range(n):
                inc = min((w[W_INC, j] + k * w[W_DINC, j]) * scale, MAX_INC)
                inv = (w[W_INV, j] + k * w[W_DINV, j]) * inv_scale
                p = _wrap(w[p_row, j] + inc)
                w[p_row, j] = p
                tile[base + j] = keep * tile[base + j] + w[level_row, j] * _triangle(p, inc, inv)
    else:
        for k in range(length):
            base = k * n
            for j in range(n):
                inc = min((w[W_INC, j] + k * w[W_DINC, j]) * scale, MAX_INC)
                p = _wrap(w[p_row, j] + inc)
                w[p_row, j] = p
                tile[base + j] = keep * tile[base + j] + w[level_row, j] * _sine(p)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _noise_pass(w, tile, n, length, level):
    scale = 2.0 / NOISE_M
    for k in range(length):
        base = k * n
        for j in range(n):
            s = _noise_step(w[W_NOISE, j])
            w[W_NOISE, j] = s
            tile[base + j] += level * (s * scale - 1.0)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _modulated_out(w, x, j, k, g, a1, k_damp, c_low, c_band, c_high):
    # filter (g and a1 = 1 / (1 + g (g + k)) at sample k of the grid cell), envelope and tremolo of
    # column j for input x; returns (output, stage ended)
    a2 = g * a1
    a3 = g * a2
    s1 = w[W_S1, j]
    s2 = w[W_S2, j]
    v3 = x - s2
    band = a1 * s1 + a2 * v3
    low = s2 + a2 * s1 + a3 * v3
    w[W_S1, j] = 2.0 * band - s1
    w[W_S2, j] = 2.0 * low - s2
    y = c_low * low + c_band * band + c_high * (x - k_damp * band - low)
    e = w[W_BASE, j] + w[W_ENV, j] * w[W_COEF, j]
    w[W_ENV, j] = e
    return y * e * w[W_AMP, j] * (w[W_MAMP, j] + k * w[W_DMAMP, j]), w[W_SIGN, j] * e >= w[W_LIMIT, j]


# error_model="numpy": a division without Python's zero check, which would keep the loop from vectorizing
@njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _span_modulated(w, tile, out, origin, start, stop, n, k_damp, c_low, c_band, c_high, panned, sweeping):
    # the tile through every column's filter and envelope into the stereo sum. With every column centred,
    # one sum goes to both channels (they stay identical); with no cutoff moving, a1 is the column's own
    # (no division per sample).
    for i in range(start, stop):
        k = i - origin
        base = k * n
        hits = 0
        acc_l = 0.0
        acc_r = 0.0
        if sweeping and panned:
            for j in range(n):
                g = w[W_G, j] + k * w[W_DG, j]
                a1 = 1.0 / (1.0 + g * (g + k_damp))
                y, hit = _modulated_out(w, tile[base + j], j, k, g, a1, k_damp, c_low, c_band, c_high)
                acc_l += y * w[W_GL, j]
                acc_r += y * w[W_GR, j]
                hits += hit
        elif sweeping:
            for j in range(n):
                g = w[W_G, j] + k * w[W_DG, j]
                a1 = 1.0 / (1.0 + g * (g + k_damp))
                y, hit = _modulated_out(w, tile[base + j], j, k, g, a1, k_damp, c_low, c_band, c_high)
                acc_l += y
                hits += hit
            acc_r = acc_l
        elif panned:
            for j in range(n):
                y, hit = _modulated_out(w, tile[base + j], j, k, w[W_G, j], w[W_A1, j], k_damp, c_low, c_band,
                                        c_high)  # fmt: skip
                acc_l += y * w[W_GL, j]
                acc_r += y * w[W_GR, j]
                hits += hit
        else:
            for j in range(n):
                y, hit = _modulated_out(w, tile[base + j], j, k, w[W_G, j], w[W_A1, j], k_damp, c_low, c_band,
                                        c_high)  # fmt: skip
                acc_l += y
                hits += hit
            acc_r = acc_l
        out[0, i] = acc_l
        out[1, i] = acc_r
        if hits:
            return i + 1
    return stop


@njit(cache=True, nogil=True)
def _gather_modulated(fst, ist, w, slots, ncols, values, sample_rate, env_coefs, fe, at_point, ramp_len,
                      lfo_free):  # fmt: skip
    osc1 = _osc1_offset(values)
    ratio = _osc2_ratio(values)
    glide_samples = values[P_GLIDE_MS] * 0.001 * sample_rate
    spread = values[P_UNISON_SPREAD]
    shape = int(values[P_LFO_SHAPE])
    per_note = values[P_LFO_RETRIGGER] >= 0.5
    fenv_on = values[P_FILTER_ENV_AMOUNT] != 0.0
    l1 = values[P_OSC1_LEVEL]
    l2 = values[P_OSC2_LEVEL]
    ls = values[P_SUB_LEVEL]
    cutoff_hz = values[P_CUTOFF_HZ]
    k = svf_k(values[P_RESONANCE])
    panned = False
    sweeping = False
    n = 0
    for v in range(ncols):
        stage = ist[I_STAGE, v]
        if stage == STAGE_IDLE:
            continue
        if ist[I_RETRIGGER, v] != 0 or (stage == STAGE_RELEASE and ist[I_FENV_RELEASED, v] == 0):
            _fenv_events(fst, ist, v, stage, fe)
        dirty = ist[I_DIRTY, v] != 0
        if dirty or at_point:
            lfo = lfo_value(shape, fst[F_LFO_PHASE, v], np.int64(fst[F_SEED, v])) if per_note else lfo_free
            fenv = _fenv_column(fst, ist, v, fe) if fenv_on else 0.0
            pitch, octaves, mamp, pwm = _targets(fst, v, values, osc1, glide_samples, lfo, fenv)
            if dirty:  # a new note or pitch starts where it belongs
                _set_still(fst, v, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate)
                ist[I_DIRTY, v] = 0
            else:
                _set_ramp(fst, v, pitch, octaves, mamp, pwm, cutoff_hz, sample_rate, ramp_len)
        slots[0, n] = v
        slots[1, n] = stage
        w[W_PHASE, n] = fst[F_PHASE, v]
        w[W_PHASE2, n] = fst[F_PHASE2, v]
        w[W_PHASE_SUB, n] = fst[F_PHASE_SUB, v]
        w[W_NOISE, n] = fst[F_NOISE, v]
        w[W_ENV, n] = fst[F_ENV, v]
        w[W_S1, n] = fst[F_S1, v]
        w[W_S2, n] = fst[F_S2, v]
        w[W_INC, n] = fst[F_INC, v]
        w[W_DINC, n] = fst[F_DINC, v]
        w[W_INV, n] = fst[F_INV, v]
        w[W_DINV, n] = fst[F_DINV, v]
        g = fst[F_G, v]
        w[W_G, n] = g
        w[W_DG, n] = fst[F_DG, v]
        w[W_A1, n] = 1.0 / (1.0 + g * (g + k))
        if fst[F_DG, v] != 0.0:
            sweeping = True
        w[W_MAMP, n] = fst[F_MAMP, v]
        w[W_DMAMP, n] = fst[F_DMAMP, v]
        w[W_PWM, n] = fst[F_PWM, v]
        w[W_DPWM, n] = fst[F_DPWM, v]
        w[W_AMP, n] = fst[F_AMP, v]
        target = fst[F_INC_T, v]
        w[W_L1, n] = l1 if target < MAX_INC else 0.0
        w[W_L2, n] = l2 if target * ratio < MAX_INC else 0.0
        w[W_LS, n] = ls
        pan = fst[F_UPOS, v] * spread
        gl = 1.0
        gr = 1.0
        if pan != 0.0:
            panned = True
            if pan != fst[F_PAN, v] or (fst[F_GL, v] == 0.0 and fst[F_GR, v] == 0.0):
                fst[F_PAN, v] = pan
                fst[F_GL, v], fst[F_GR, v] = pan_gains(pan)
            gl = fst[F_GL, v]
            gr = fst[F_GR, v]
        w[W_GL, n] = gl
        w[W_GR, n] = gr
        _set_stage(w, n, stage, env_coefs, fst[F_FADE, v])
        n += 1
    return n, panned, sweeping


@njit(cache=True, nogil=True)
def _render_modulated(fst, ist, w, tile, slots, out, start, stop, ncols, values, sample_rate, env_coefs,
                      fe, lfo_inc, at_point, ramp_len, lfo_free):  # fmt: skip
    n, panned, sweeping = _gather_modulated(fst, ist, w, slots, ncols, values, sample_rate, env_coefs, fe,
                                            at_point, ramp_len, lfo_free)  # fmt: skip
    length = stop - start
    if n > 0:
        ratio = _osc2_ratio(values)
        _osc_pass(w, tile, n, length, int(values[P_WAVEFORM]), W_PHASE, 1.0, 1.0, W_L1,
                  values[P_OSC1_PULSE_WIDTH], 1.0, False)  # fmt: skip
        if values[P_OSC2_LEVEL] != 0.0:
            _osc_pass(w, tile, n, length, int(values[P_OSC2_WAVEFORM]), W_PHASE2, ratio, 1.0 / ratio, W_L2,
                      values[P_OSC2_PULSE_WIDTH], 1.0, True)  # fmt: skip
        if values[P_SUB_LEVEL] != 0.0:
            wave = WAVE_SQUARE if int(values[P_SUB_WAVEFORM]) == SUB_SQUARE else WAVE_SINE
            _osc_pass(w, tile, n, length, wave, W_PHASE_SUB, 0.5, 2.0, W_LS, 0.5, 0.0, True)
        if values[P_NOISE_LEVEL] != 0.0:
            _noise_pass(w, tile, n, length, values[P_NOISE_LEVEL])
    k_damp = svf_k(values[P_RESONANCE])
    mode = int(values[P_FILTER_MODE])
    c_low = 1.0 if mode == FILTER_LOWPASS else 0.0
    c_band = 1.0 if mode == FILTER_BANDPASS else 0.0
    c_high = 1.0 if mode == FILTER_HIGHPASS else 0.0
    alive = n
    i = start
    while i < stop and alive > 0:
        i = _span_modulated(w, tile, out, start, i, stop, n, k_damp, c_low, c_band, c_high, panned, sweeping)
        alive = _settle(w, slots, fst, n, env_coefs)
    for j in range(n):
        v = slots[0, j]
        # a filter fed silence (every source at level 0) decays toward denormal numbers, which are
        # slow: flush its states long before
        if abs(w[W_S1, j]) < 1e-30:
            w[W_S1, j] = 0.0
        if abs(w[W_S2, j]) < 1e-30:
            w[W_S2, j] = 0.0
        fst[F_PHASE2, v] = w[W_PHASE2, j]
        fst[F_PHASE_SUB, v] = w[W_PHASE_SUB, j]
        fst[F_NOISE, v] = w[W_NOISE, j]
        fst[F_INC, v] = w[W_INC, j] + length * w[W_DINC, j]
        fst[F_INV, v] = w[W_INV, j] + length * w[W_DINV, j]
        fst[F_G, v] = w[W_G, j] + length * w[W_DG, j]
        fst[F_MAMP, v] = w[W_MAMP, j] + length * w[W_DMAMP, j]
        fst[F_PWM, v] = w[W_PWM, j] + length * w[W_DPWM, j]
    _scatter_common(fst, ist, w, slots, n, length, lfo_inc)


# -- entry points -------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def grid_points(playing, num_segments, seg_start, seg_offset, seg_frames, frames, points):
    """Fill ``points`` (int64, ``(2, frames // SUB_BLOCK + 3 * segments + 2)``) with the block offsets of
    the grid points (row 0) and the samples to the next one on the timeline (row 1): every SUB_BLOCK
    samples of the timeline while playing, plus the start of each loop-wrap segment; every SUB_BLOCK
    samples of the block while stopped. Returns how many."""
    m = 0
    if playing:
        for k in range(num_segments):
            off = seg_offset[k]
            first = (-seg_start[k]) % SUB_BLOCK
            if k > 0 and first != 0:
                points[0, m] = off
                points[1, m] = first
                m += 1
            i = off + first
            while i < off + seg_frames[k]:
                points[0, m] = i
                points[1, m] = SUB_BLOCK
                m += 1
                i += SUB_BLOCK
    else:
        i = 0
        while i < frames:
            points[0, m] = i
            points[1, m] = SUB_BLOCK
            m += 1
            i += SUB_BLOCK
    return m


@njit(cache=True, nogil=True)
def render_voices(
    fst, ist, work, tile, slots, glob, cache, out, start, stop, sample_rate, tempo_bpm, values, curves,
    moving, points, num_points, next_point,
):  # fmt: skip
    """Set ``out[:, start:stop]`` (float64, 2 rows) to the stereo sum of all voices over that span and
    advance their state; returns the index of the next grid point not yet reached.

    ``fst``/``ist``/``glob`` are the state (see the module docstring); ``work`` (float64,
    ``(NUM_W_ROWS, columns)``), ``tile`` (float64, ``SUB_BLOCK * columns``) and ``slots`` (int64,
    ``(2, columns)``) are scratch; ``cache`` is a float64 array of ``NUM_CACHE`` (fill it with NaN to
    start). ``values`` (``NUM_PARAMS``) holds each parameter's current value and is updated in place: a
    parameter with ``moving[k]`` set takes ``curves[k, j]`` at grid point ``j`` of ``points[:,
    :num_points]`` (from :func:`grid_points`), from ``next_point`` on. A voice whose envelope finishes is
    set to ``STAGE_IDLE``.
    """
    for i in range(start, stop):
        out[0, i] = 0.0
        out[1, i] = 0.0
    any_moving = False
    for k in range(moving.shape[0]):
        if moving[k]:
            any_moving = True
    slots_per_unison = ist.shape[1] // UNISON_MAX
    lfo_inc = _lfo_inc(values, sample_rate, tempo_bpm)
    env_coefs = _env_coefs(values, sample_rate)
    fe = _fenv_coefs(values, sample_rate)
    j = next_point
    x = start
    while x < stop:
        at_point = False
        ramp_len = SUB_BLOCK
        changed = False
        while j < num_points and points[0, j] <= x:
            if points[0, j] == x:
                at_point = True
                ramp_len = points[1, j]
            if any_moving:
                for k in range(moving.shape[0]):
                    if moving[k]:
                        values[k] = curves[k, j]
                changed = True
            j += 1
        if changed:
            lfo_inc = _lfo_inc(values, sample_rate, tempo_bpm)
            env_coefs = _env_coefs(values, sample_rate)
            fe = _fenv_coefs(values, sample_rate)
        ncols = int(glob[G_UNISON_USED]) * slots_per_unison
        glide_samples = values[P_GLIDE_MS] * 0.001 * sample_rate
        modulated = _modulated(values) or _voices_modulated(fst, ist, ncols, glide_samples,
                                                            values[P_UNISON_SPREAD])  # fmt: skip
        y = stop
        if (modulated or any_moving) and j < num_points and points[0, j] < stop:
            y = points[0, j]
        if modulated:
            y = min(y, x + SUB_BLOCK)  # the tile holds one grid cell
            lfo_free = lfo_value(int(values[P_LFO_SHAPE]), glob[G_LFO_PHASE], FREE_LFO_SEED)
            _render_modulated(fst, ist, work, tile, slots, out, x, y, ncols, values, sample_rate, env_coefs,
                              fe, lfo_inc, at_point, ramp_len, lfo_free)  # fmt: skip
        else:
            _render_static(fst, ist, work, slots, cache, out, x, y, ncols, values, sample_rate, env_coefs, fe,
                           lfo_inc)  # fmt: skip
        glob[G_LFO_PHASE] += (y - x) * lfo_inc
        x = y
    # the highest unison column still sounding bounds the next scan
    used = 1
    for c in range(int(glob[G_UNISON_USED]) * slots_per_unison - 1, -1, -1):
        if ist[I_STAGE, c] != STAGE_IDLE:
            used = c // slots_per_unison + 1
            break
    glob[G_UNISON_USED] = used
    return j


@njit(cache=True, nogil=True)
def write_stereo(buf, frames, gain_db, gain_is_constant, dst):
    """Write ``buf[:, :frames]`` (float64, left and right) times the per-sample gain (``gain_db[:frames]``,
    or ``gain_db[0]`` for the whole block when ``gain_is_constant``) into the stereo float32 ``dst``."""
    if gain_is_constant:
        g = 10.0 ** (gain_db[0] * 0.05)
        for i in range(frames):
            dst[0, i] = buf[0, i] * g
            dst[1, i] = buf[1, i] * g
    else:
        for i in range(frames):
            g = 10.0 ** (gain_db[i] * 0.05)
            dst[0, i] = buf[0, i] * g
            dst[1, i] = buf[1, i] * g


@njit(cache=True, nogil=True)
def take_points(curve, points, num_points, curves, k):
    """Set ``curves[k, j]`` to ``curve[points[0, j]]`` for the first ``num_points`` grid points."""
    for j in range(num_points):
        curves[k, j] = curve[points[0, j]]
