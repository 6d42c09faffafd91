"""The reverb's constants, the layout of its state and control arrays, and the builders of that state
(control side: numpy).

``net`` ``(NUM_NET_ROWS, NUM_LINES)`` holds, by rows (``NET_*``), the ``FS_*`` scalars, the lengths, gains
and one-pole states, the input and output taps, the settings and the size table of :func:`line_lengths`
(:func:`new_network`); ``ist`` the ``IS_*`` counters and the lengths of :func:`diffuser_lengths`
(:func:`new_int_state`); ``work`` ``(NUM_WORK_ROWS, CHUNK)`` is scratch; the controls are the rows ``R_*``
of one matrix.

The constants are plain numbers, which numba freezes into every kernel that reads them when it compiles it
(see the note on the cache in :mod:`dsp.kernels.reverb`).
"""

from __future__ import annotations

import math

import numpy as np

NUM_LINES = 16
NUM_DIFFUSERS = 4  # all-passes per input channel between the predelay and the network
DIFFUSION = 0.6  # their coefficient: the onset is smeared over some 20 ms instead of arriving as a click
# their lengths (ms); the right channel's differ from the left's, so even the onset is decorrelated
DIFFUSER_MS = np.array([[1.13, 2.27, 3.53, 4.91], [1.31, 2.03, 3.79, 5.23]])
GRID = 32  # samples between updates of the decay gains and damping pole
CHUNK = 128  # the longest chunk the settled path takes at once (columns of ``work``)
# line k is written STAGGER * k slots further along its row than line 0: rows are a power of two apart, so
# unstaggered the sixteen lines would write to the same cache sets at the same moment and evict each other
STAGGER = 40
SIZE_STEPS = 128  # rows of the size -> line lengths table, minus one
MIN_SCALE = 0.15  # line lengths at size 0, as a fraction of those at size 1
# line lengths at size 1 (ms): spread over two octaves, irregular, long and short lines interleaved so the
# even (left) and odd (right) halves sound alike
LINE_MS = np.array(
    [97.0, 23.0, 61.3, 41.9, 79.1, 29.7, 53.3, 35.3, 88.7, 26.9, 69.1, 45.7, 57.9, 32.3, 73.4, 49.1]
)

LEVEL_REF_S = 0.05  # mean line length at which the output taps are used as given
# rows of ``net``: scalars, per-line state, then the taps (one row per input / output channel, up to 2)
NET_SCALARS = 0
NET_LENGTHS = 1  # the lengths (samples) the lines run at now
NET_GAINS = 2  # decay gain per line
NET_LP = 3  # one-pole state per line
NET_FACTOR = 4  # scratch: the one-pole's input factor per line
NET_IN = 5  # rows NET_IN + c: what line k takes of input channel c
NET_OUT = 7  # rows NET_OUT + o: what output o takes of line k
NET_CONFIG = 9  # the settings: sample rate (CFG_SAMPLE_RATE) and glide coefficient (CFG_GLIDE)
NET_TABLE = 10  # rows NET_TABLE + r: the lengths at size r / SIZE_STEPS (from line_lengths)
NUM_NET_ROWS = NET_TABLE + SIZE_STEPS + 1
NUM_STATE_ROWS = NET_IN  # rows a reset clears
CFG_SAMPLE_RATE = 0
CFG_GLIDE = 1
# slots of row NET_SCALARS: current predelay (samples), ready flag, damping pole, size row in use, output
# level, and the keys the gains and pole were last computed for (decay, row whose lengths they used or -1,
# damping)
FS_PRE = 0
FS_READY = 1
FS_POLE = 2
FS_ROW = 3
FS_LEVEL = 4
FS_G_DECAY = 5
FS_G_ROW = 6
FS_DAMP_HZ = 7
# ist: line write index, predelay write index, samples processed since reset, then the diffuser lengths
# (channel-major, NUM_DIFFUSERS per input channel)
IS_WRITE = 0
IS_PRE_WRITE = 1
IS_COUNT = 2
IS_DIFF = 3
NUM_IS = IS_DIFF  # counters a reset clears
# rows of ``work``: the chunk's line reads (NUM_LINES rows), then the diffused inputs and the wet outputs
_W_A = NUM_LINES
_W_Y = NUM_LINES + 2
NUM_WORK_ROWS = NUM_LINES + 4
# rows of fdn_reverb's control matrix (per-sample values)
R_PREDELAY_MS = 0
R_DECAY_S = 1
R_DAMPING_HZ = 2
R_SIZE = 3
R_WIDTH = 4
R_MIX = 5
NUM_R_CONTROLS = 6
_LN_1000 = math.log(1000.0)


def primes_up_to(limit: int) -> np.ndarray:
    """All primes ``<= limit`` (a sieve; control side)."""
    sieve = np.ones(limit + 1, dtype=np.bool_)
    sieve[:2] = False
    for i in range(2, math.isqrt(limit) + 1):
        if sieve[i]:
            sieve[i * i :: i] = False
    return np.flatnonzero(sieve)


def diffuser_lengths(channels: int, sample_rate: float) -> np.ndarray:
    """``(channels, NUM_DIFFUSERS)`` all-pass lengths in samples (at least 1)."""
    return np.maximum(1, np.round(DIFFUSER_MS[:channels] * 1e-3 * sample_rate)).astype(np.int64)


def line_lengths(sample_rate: float) -> np.ndarray:
    """The ``(SIZE_STEPS + 1, NUM_LINES)`` table of line lengths in samples: row ``r`` is size
    ``r / SIZE_STEPS``; each row holds distinct primes (so mutually prime) near
    ``LINE_MS * (MIN_SCALE + (1 - MIN_SCALE) * size)``."""
    longest = int(LINE_MS.max() * 1e-3 * sample_rate) + 1000
    primes = primes_up_to(longest)
    table = np.zeros((SIZE_STEPS + 1, NUM_LINES), dtype=np.float64)
    for r in range(SIZE_STEPS + 1):
        scale = MIN_SCALE + (1.0 - MIN_SCALE) * r / SIZE_STEPS
        used: set[int] = set()
        for k in np.argsort(LINE_MS):
            j = int(np.searchsorted(primes, LINE_MS[k] * scale * 1e-3 * sample_rate))
            while int(primes[j]) in used:
                j += 1
            used.add(int(primes[j]))
            table[r, k] = primes[j]
    return table


def new_network(
    in_gain: np.ndarray, out_gain: np.ndarray, table: np.ndarray, sample_rate: float, glide: float
) -> np.ndarray:
    """A ``net`` array with zeroed state holding the taps, ``in_gain[c, k]`` of input channel ``c`` into
    line ``k`` and ``out_gain[o, k]`` of line ``k`` into output ``o``, the size ``table`` from
    :func:`line_lengths`, the sample rate and the coefficient of the one-pole glide of lengths and
    predelay (control side)."""
    net = np.zeros((NUM_NET_ROWS, NUM_LINES), dtype=np.float64)
    net[NET_CONFIG, CFG_SAMPLE_RATE] = sample_rate
    net[NET_CONFIG, CFG_GLIDE] = glide
    net[NET_IN : NET_IN + in_gain.shape[0]] = in_gain
    net[NET_OUT : NET_OUT + out_gain.shape[0]] = out_gain
    net[NET_TABLE:] = table
    return net


def new_int_state(diff_len: np.ndarray) -> np.ndarray:
    """A zeroed ``ist`` array holding the diffuser lengths ``diff_len`` (from :func:`diffuser_lengths`)."""
    ist = np.zeros(IS_DIFF + diff_len.size, dtype=np.int64)
    ist[IS_DIFF:] = diff_len.ravel()
    return ist
