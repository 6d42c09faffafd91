"""Oscillator and LFO kernels: band-limited saw, pulse and triangle, table sine, mip-mapped wavetables,
seeded white and pink noise, and the LFO shapes with free-running or tempo-locked phase.

Band limiting (saw, pulse, triangle): every discontinuity and corner of the naive waveform is corrected by
a band-limited step (BLEP) or ramp (BLAMP) residual from tables of a 32-sample minimum-phase kernel, added
into a ring of future corrections (no latency). A 5 kHz saw at 48 kHz aliases at -62 dB relative to its
harmonics (naive: -8 dB; the synth voices' six-sample polynomial kernel in :mod:`dsp.kernels.synth`:
-39 dB); :mod:`~dsp.kernels.osc.oscillator` says how, and what it costs.

Phase convention (all periodic waveforms): cycles in [0, 1). Saw and triangle start at a rising zero
crossing, the pulse is +1 while ``phase < pulse_width``, the sine is ``sin(2 pi phase)``.

Call :func:`osc_fill` once per span with per-sample ``waveform``, phase increment and pulse width arrays
and the state made by :func:`new_osc_state`; :func:`lfo_fill` for LFOs (beats from :func:`timeline_beats`
or :func:`linear_beats` when tempo-synced). Tables: :func:`make_sine_table`, :func:`make_wavetable`.

The modules, each importing only those before it: :mod:`~dsp.kernels.osc.tables` (the waveform codes, the
oscillator state and the control-side tables), :mod:`~dsp.kernels.osc.noise`,
:mod:`~dsp.kernels.osc.oscillator` and :mod:`~dsp.kernels.osc.lfo`. Import from this package, which
re-exports what the processors and the tests use.

Numba's cache (``cache=True``) checks only the file that defines a kernel, while a kernel compiled here
holds the constants and the other kernels it calls, from other modules too. After editing one module,
delete the stale cache, ``dsp/kernels/osc/__pycache__/*.nb[ci]``, or a kernel may keep the old code.
"""

from __future__ import annotations

from dsp.kernels.osc.lfo import (
    LFO_SAMPLE_HOLD,
    LFO_SAW_DOWN,
    LFO_SAW_UP,
    LFO_SINE,
    LFO_SMOOTH_RANDOM,
    LFO_SQUARE,
    LFO_TRIANGLE,
    NUM_LFO_SHAPES,
    lfo_fill,
    lfo_shape_value,
    linear_beats,
    timeline_beats,
)
from dsp.kernels.osc.noise import (
    hash_uniform,
    pink_fill,
    white_fill,
)
from dsp.kernels.osc.oscillator import (
    osc_fill,
    write_channels,
)
from dsp.kernels.osc.tables import (
    BLEP_OVERSAMPLE,
    BLEP_SAMPLES,
    MAX_INC,
    NUM_WAVEFORMS,
    S_INC,
    S_PHASE,
    S_POS,
    S_PW,
    S_STARTED,
    S_WAVE,
    SINE_TABLE_SIZE,
    WAVE_PINK,
    WAVE_SAW,
    WAVE_SINE,
    WAVE_SQUARE,
    WAVE_TABLE,
    WAVE_TRIANGLE,
    WAVE_WHITE,
    WT_LEVELS,
    make_blep_tables,
    make_sine_table,
    make_wavetable,
    new_osc_state,
)

__all__ = [
    "BLEP_OVERSAMPLE",
    "BLEP_SAMPLES",
    "LFO_SAMPLE_HOLD",
    "LFO_SAW_DOWN",
    "LFO_SAW_UP",
    "LFO_SINE",
    "LFO_SMOOTH_RANDOM",
    "LFO_SQUARE",
    "LFO_TRIANGLE",
    "MAX_INC",
    "NUM_LFO_SHAPES",
    "NUM_WAVEFORMS",
    "SINE_TABLE_SIZE",
    "S_INC",
    "S_PHASE",
    "S_POS",
    "S_PW",
    "S_STARTED",
    "S_WAVE",
    "WAVE_PINK",
    "WAVE_SAW",
    "WAVE_SINE",
    "WAVE_SQUARE",
    "WAVE_TABLE",
    "WAVE_TRIANGLE",
    "WAVE_WHITE",
    "WT_LEVELS",
    "hash_uniform",
    "lfo_fill",
    "lfo_shape_value",
    "linear_beats",
    "make_blep_tables",
    "make_sine_table",
    "make_wavetable",
    "new_osc_state",
    "osc_fill",
    "pink_fill",
    "timeline_beats",
    "white_fill",
    "write_channels",
]
