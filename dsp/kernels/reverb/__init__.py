"""The feedback-delay-network reverb kernel: a predelay, input diffusers, then 16 delay lines mixed by a
Hadamard matrix.

Each input channel is predelayed and passed through ``NUM_DIFFUSERS`` short Schroeder all-passes (they
smear a click into a dense burst without colouring its spectrum) before it enters the network. Per sample,
each line ``k`` is read ``L[k]`` samples back; the 16 outputs go through the orthogonal Hadamard matrix (a
fast Walsh-Hadamard transform scaled by 1/4, so the mixing neither adds nor loses energy); each mixed
signal is scaled by the line's decay gain ``g[k] = 10 ** (-3 * L[k] / (sr * decay_s))`` (60 dB per
``decay_s`` whatever path the sound takes), low-passed by a one-pole of unity DC gain (the ``damping_hz``
pole: highs lose a little more on every pass, so they die sooner), and written back with the diffused
input added. The outputs are taken from what is written, so the tail starts on the very sample the
predelay ends; they are scaled by the root of the mean line length, so ``size`` changes the character,
not the loudness. Lengths are mutually prime (distinct primes from :func:`line_lengths`), which keeps the
modes of the lines from piling up on common frequencies.

Line lengths follow ``size`` through a table of ``SIZE_STEPS + 1`` rows; when they change they glide (read
with linear interpolation meanwhile), and the predelay glides to its new whole number of samples. Gains and
the damping pole are updated every ``GRID`` samples of the kernel's own sample counter (recomputed only
when decay, lengths or damping moved), so the output does not depend on the block size. Values below
``DENORMAL_FLOOR`` are flushed: silence in ends in true silence. The processor is :class:`dsp.reverb.Reverb`.

Speed: while nothing glides (the usual case) every line length and the predelay are whole numbers, so the
kernel runs a chunk at a time (:mod:`~dsp.kernels.reverb.settled` says how); the per-sample path with
interpolated reads (:mod:`~dsp.kernels.reverb.gliding`) runs only while something glides. The two paths
agree to about 1e-15. Line ``k`` is written ``STAGGER * k`` slots along its row, so the sixteen rows (a
power of two apart) do not write to the same cache sets at once.

State is packed to keep the call cheap (each array argument costs the call some 0.1 us): ``net``
``(NUM_NET_ROWS, NUM_LINES)`` holds the ``FS_*`` scalars, the lengths, gains and one-pole states, the
input and output taps, the settings and the size table (:func:`new_network`); ``ist`` the ``IS_*``
counters and the diffuser lengths (:func:`new_int_state`); ``work`` ``(NUM_WORK_ROWS, CHUNK)`` is scratch;
the controls are the rows ``R_*`` of one matrix.

The modules, each importing only those before it: :mod:`~dsp.kernels.reverb.layout` (the constants, the
layout of the state and the control-side builders), :mod:`~dsp.kernels.reverb.mixing` (the Hadamard
mixing and the small kernels both paths share), :mod:`~dsp.kernels.reverb.gliding` and
:mod:`~dsp.kernels.reverb.settled` (the two paths), and :mod:`~dsp.kernels.reverb.render` (the entry
point). Import from this package, which re-exports what the processor and the tests use.

Numba's cache (``cache=True``) checks only the file that defines a kernel, while a kernel compiled here
holds the constants and the other kernels it calls, from other modules too. After editing one module,
delete the stale cache, ``dsp/kernels/reverb/__pycache__/*.nb[ci]``, or a kernel may keep the old code.
"""

from __future__ import annotations

from dsp.kernels.reverb.layout import (
    CHUNK,
    DIFFUSER_MS,
    DIFFUSION,
    FS_DAMP_HZ,
    FS_G_DECAY,
    FS_G_ROW,
    FS_LEVEL,
    FS_POLE,
    FS_PRE,
    FS_READY,
    FS_ROW,
    GRID,
    IS_COUNT,
    IS_DIFF,
    IS_PRE_WRITE,
    IS_WRITE,
    LEVEL_REF_S,
    LINE_MS,
    MIN_SCALE,
    NET_CONFIG,
    NET_FACTOR,
    NET_GAINS,
    NET_IN,
    NET_LENGTHS,
    NET_LP,
    NET_OUT,
    NET_SCALARS,
    NET_TABLE,
    NUM_DIFFUSERS,
    NUM_IS,
    NUM_LINES,
    NUM_NET_ROWS,
    NUM_R_CONTROLS,
    NUM_STATE_ROWS,
    NUM_WORK_ROWS,
    R_DAMPING_HZ,
    R_DECAY_S,
    R_MIX,
    R_PREDELAY_MS,
    R_SIZE,
    R_WIDTH,
    SIZE_STEPS,
    STAGGER,
    diffuser_lengths,
    line_lengths,
    new_int_state,
    new_network,
    primes_up_to,
)
from dsp.kernels.reverb.mixing import (
    hadamard,
)
from dsp.kernels.reverb.render import (
    fdn_reverb,
)

__all__ = [
    "CHUNK",
    "DIFFUSER_MS",
    "DIFFUSION",
    "FS_DAMP_HZ",
    "FS_G_DECAY",
    "FS_G_ROW",
    "FS_LEVEL",
    "FS_POLE",
    "FS_PRE",
    "FS_READY",
    "FS_ROW",
    "GRID",
    "IS_COUNT",
    "IS_DIFF",
    "IS_PRE_WRITE",
    "IS_WRITE",
    "LEVEL_REF_S",
    "LINE_MS",
    "MIN_SCALE",
    "NET_CONFIG",
    "NET_FACTOR",
    "NET_GAINS",
    "NET_IN",
    "NET_LENGTHS",
    "NET_LP",
    "NET_OUT",
    "NET_SCALARS",
    "NET_TABLE",
    "NUM_DIFFUSERS",
    "NUM_IS",
    "NUM_LINES",
    "NUM_NET_ROWS",
    "NUM_R_CONTROLS",
    "NUM_STATE_ROWS",
    "NUM_WORK_ROWS",
    "R_DAMPING_HZ",
    "R_DECAY_S",
    "R_MIX",
    "R_PREDELAY_MS",
    "R_SIZE",
    "R_WIDTH",
    "SIZE_STEPS",
    "STAGGER",
    "diffuser_lengths",
    "fdn_reverb",
    "hadamard",
    "line_lengths",
    "new_int_state",
    "new_network",
    "primes_up_to",
]
