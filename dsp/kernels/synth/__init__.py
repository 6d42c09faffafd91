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

Band limiting is polynomial, a PolyBLEP six samples wide (a 5 kHz saw at 48 kHz aliases at -39 dB):
:mod:`~dsp.kernels.synth.oscillators` says how and what it costs.

Call :func:`grid_points` once per block, :func:`render_voices` once per span of samples between two
events (it writes the stereo sum into a float64 ``(2, frames)`` buffer), then :func:`write_stereo` once
per block to apply the output gain. :func:`render_oscillator`, :func:`lfo_value`, :func:`render_noise`
and :func:`filter_envelope_level` expose single parts for tests.

Two paths, chosen at the start of every piece of a span:

- *Static* (:mod:`~dsp.kernels.synth.static`, the common case: oscillator 1 alone, centred, nothing
  modulated): one fused loop over samples and, inside it, over the sounding columns, which LLVM
  vectorizes.
- *Modulated* (:mod:`~dsp.kernels.synth.modulated`: oscillator 2, sub, noise, LFO routing, filter
  envelope, a glide, unison panning): pieces end on the 32-sample timeline grid (:data:`SUB_BLOCK`), where
  every column's modulation targets are computed and then approached linearly, so the output does not
  depend on where blocks or events split the timeline.

The amplitude envelope is a one-pole-to-target ADSR stepped per sample, the filter envelope the same
curves in closed form: :mod:`~dsp.kernels.synth.envelopes` gives the exact stage timing.

The modules, each importing only those before it: :mod:`~dsp.kernels.synth.params` (the parameter table,
the state rows, the constants), :mod:`~dsp.kernels.synth.oscillators`, :mod:`~dsp.kernels.synth.envelopes`,
:mod:`~dsp.kernels.synth.targets` (where each column's pitch, cutoff, tremolo and pulse width are heading),
:mod:`~dsp.kernels.synth.static`, :mod:`~dsp.kernels.synth.tile` and :mod:`~dsp.kernels.synth.modulated`
(the two paths), and :mod:`~dsp.kernels.synth.render` (the entry points). Import from this package, which
re-exports what the instruments and tests use.

Numba's cache (``cache=True``) checks only the file that defines a kernel, while a kernel compiled here
holds the constants and the other kernels it calls, from other modules too. After editing one module,
delete the stale cache, ``dsp/kernels/synth/__pycache__/*.nb[ci]``, or a kernel may keep the old code.
"""

from __future__ import annotations

from dsp.kernels.synth.envelopes import envelope_coefficient, filter_envelope_level
from dsp.kernels.synth.oscillators import lfo_value, render_noise, render_oscillator
from dsp.kernels.synth.params import (
    ATTACK_TARGET_RATIO,
    DECAY_TARGET_RATIO,
    F_AMP,
    F_ENV,
    F_FADE,
    F_G,
    F_GLIDE,
    F_GLIDE_T,
    F_INC,
    F_LFO_PHASE,
    F_NOISE,
    F_PHASE,
    F_PHASE2,
    F_PITCH,
    F_S1,
    F_S2,
    F_SEED,
    F_UNORM,
    F_UPOS,
    F_VEL,
    G_HAS_LAST,
    G_LAST_PITCH,
    G_UNISON_USED,
    I_CHANNEL,
    I_DIRTY,
    I_HELD,
    I_NOTE,
    I_RETRIGGER,
    I_SERIAL,
    I_STAGE,
    MODE_LEGATO,
    MODE_POLY,
    NUM_CACHE,
    NUM_F_ROWS,
    NUM_G_ROWS,
    NUM_I_ROWS,
    NUM_PARAMS,
    NUM_W_ROWS,
    P_GLIDE_MS,
    P_GLIDE_POLY,
    P_STEAL_POLICY,
    P_UNISON_VOICES,
    P_VELOCITY_SENSITIVITY,
    P_VOICE_MODE,
    SILENCE_LEVEL,
    STAGE_ATTACK,
    STAGE_DECAY,
    STAGE_FADE,
    STAGE_IDLE,
    STAGE_RELEASE,
    STAGE_SUSTAIN,
    STEAL_QUIETEST,
    SUB_BLOCK,
    UNISON_MAX,
    VOICE_PARAMS,
    WAVE_SAW,
    WAVE_SINE,
    WAVE_SQUARE,
    WAVE_TRIANGLE,
)
from dsp.kernels.synth.render import grid_points, render_voices, take_points, write_stereo
from dsp.kernels.synth.targets import pan_gains, svf_k

__all__ = [
    "ATTACK_TARGET_RATIO",
    "DECAY_TARGET_RATIO",
    "F_AMP",
    "F_ENV",
    "F_FADE",
    "F_G",
    "F_GLIDE",
    "F_GLIDE_T",
    "F_INC",
    "F_LFO_PHASE",
    "F_NOISE",
    "F_PHASE",
    "F_PHASE2",
    "F_PITCH",
    "F_S1",
    "F_S2",
    "F_SEED",
    "F_UNORM",
    "F_UPOS",
    "F_VEL",
    "G_HAS_LAST",
    "G_LAST_PITCH",
    "G_UNISON_USED",
    "I_CHANNEL",
    "I_DIRTY",
    "I_HELD",
    "I_NOTE",
    "I_RETRIGGER",
    "I_SERIAL",
    "I_STAGE",
    "MODE_LEGATO",
    "MODE_POLY",
    "NUM_CACHE",
    "NUM_F_ROWS",
    "NUM_G_ROWS",
    "NUM_I_ROWS",
    "NUM_PARAMS",
    "NUM_W_ROWS",
    "P_GLIDE_MS",
    "P_GLIDE_POLY",
    "P_STEAL_POLICY",
    "P_UNISON_VOICES",
    "P_VELOCITY_SENSITIVITY",
    "P_VOICE_MODE",
    "SILENCE_LEVEL",
    "STAGE_ATTACK",
    "STAGE_DECAY",
    "STAGE_FADE",
    "STAGE_IDLE",
    "STAGE_RELEASE",
    "STAGE_SUSTAIN",
    "STEAL_QUIETEST",
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
