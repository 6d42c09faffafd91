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
kernel runs a chunk at a time, up to ``CHUNK`` samples (past grid points whose update would change
nothing) and never longer than the shortest line, so every read of the chunk was written before it:
whole-sample reads, the diffusers and the Hadamard butterflies each over the whole chunk, the sixteen
one-poles stepped together with their states in registers, then the taps, in plain loops the compiler
vectorises (ring buffers are walked in contiguous pieces with unsigned indices, which spares numba's
check for negative indices). It computes what the per-sample path computes, operation for operation,
except that the one-pole states are flushed once per chunk rather than per sample (within a chunk they
cannot decay from the floor into subnormals): the two paths agree to about 1e-15. The per-sample path
with interpolated reads runs only while something glides. Line ``k`` is written ``STAGGER * k`` slots
along its row, so the sixteen rows (a power of two apart) do not write to the same cache sets at once.

State is packed to keep the call cheap (each array argument costs the call some 0.1 us): ``net``
``(NUM_NET_ROWS, NUM_LINES)`` holds the ``FS_*`` scalars, the lengths, gains and one-pole states, the
input and output taps, the settings and the size table (:func:`new_network`); ``ist`` the ``IS_*``
counters and the diffuser lengths (:func:`new_int_state`); ``work`` ``(NUM_WORK_ROWS, CHUNK)`` is scratch;
the controls are the rows ``R_*`` of one matrix.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp.kernels.delay import (
    DENORMAL_FLOOR,
    INTERP_LINEAR,
    SNAP_SAMPLES,
    damping_pole,
    interpolate,
    ring_index,
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


@njit(cache=True, nogil=True)
def hadamard(v):
    """``v`` times the orthonormal 16 x 16 Hadamard matrix, in place (fast Walsh-Hadamard transform)."""
    h = 1
    while h < NUM_LINES:
        for i in range(0, NUM_LINES, 2 * h):
            for j in range(i, i + h):
                a = v[j]
                b = v[j + h]
                v[j] = a + b
                v[j + h] = a - b
        h *= 2
    for j in range(NUM_LINES):
        v[j] *= 0.25


@njit(cache=True, nogil=True, inline="always")
def _glide(current, target, glide):
    current += glide * (target - current)
    return target if abs(target - current) < SNAP_SAMPLES else current


@njit(cache=True, nogil=True, inline="always")
def _flush(v):
    return 0.0 if abs(v) < DENORMAL_FLOOR else v


@njit(cache=True, nogil=True, inline="always")
def _butterflies(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15):
    """The butterflies of :func:`hadamard` (without its 1/4) on sixteen values kept in registers."""
    a0, a1, a2, a3, a4, a5, a6, a7 = a0 + a1, a0 - a1, a2 + a3, a2 - a3, a4 + a5, a4 - a5, a6 + a7, a6 - a7
    a8, a9, a10, a11, a12, a13 = a8 + a9, a8 - a9, a10 + a11, a10 - a11, a12 + a13, a12 - a13
    a14, a15 = a14 + a15, a14 - a15
    a0, a2, a1, a3, a4, a6, a5, a7 = a0 + a2, a0 - a2, a1 + a3, a1 - a3, a4 + a6, a4 - a6, a5 + a7, a5 - a7
    a8, a10, a9, a11, a12, a14 = a8 + a10, a8 - a10, a9 + a11, a9 - a11, a12 + a14, a12 - a14
    a13, a15 = a13 + a15, a13 - a15
    a0, a4, a1, a5, a2, a6, a3, a7 = a0 + a4, a0 - a4, a1 + a5, a1 - a5, a2 + a6, a2 - a6, a3 + a7, a3 - a7
    a8, a12, a9, a13, a10, a14 = a8 + a12, a8 - a12, a9 + a13, a9 - a13, a10 + a14, a10 - a14
    a11, a15 = a11 + a15, a11 - a15
    a0, a8, a1, a9, a2, a10, a3, a11 = (
        a0 + a8,
        a0 - a8,
        a1 + a9,
        a1 - a9,
        a2 + a10,
        a2 - a10,
        a3 + a11,
        a3 - a11,
    )
    a4, a12, a5, a13, a6, a14 = a4 + a12, a4 - a12, a5 + a13, a5 - a13, a6 + a14, a6 - a14
    a7, a15 = a7 + a15, a7 - a15
    return a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15


@njit(cache=True, nogil=True, inline="always")
def _poles(a, lp, f, p):
    """The sixteen one-poles ``f[k] * a[k] + p * lp[k]`` on values kept in registers (flushed by the
    caller once per chunk: within one they cannot decay from the floor into subnormals)."""
    return (
        f[0] * a[0] + p * lp[0], f[1] * a[1] + p * lp[1], f[2] * a[2] + p * lp[2], f[3] * a[3] + p * lp[3],
        f[4] * a[4] + p * lp[4], f[5] * a[5] + p * lp[5], f[6] * a[6] + p * lp[6], f[7] * a[7] + p * lp[7],
        f[8] * a[8] + p * lp[8], f[9] * a[9] + p * lp[9], f[10] * a[10] + p * lp[10],
        f[11] * a[11] + p * lp[11], f[12] * a[12] + p * lp[12], f[13] * a[13] + p * lp[13],
        f[14] * a[14] + p * lp[14], f[15] * a[15] + p * lp[15],
    )  # fmt: skip


@njit(cache=True, nogil=True)
def _row(net, r):
    """Row ``r`` of ``net`` as a tuple of sixteen values (to keep them in registers)."""
    return (
        net[r, 0], net[r, 1], net[r, 2], net[r, 3], net[r, 4], net[r, 5], net[r, 6], net[r, 7], net[r, 8],
        net[r, 9], net[r, 10], net[r, 11], net[r, 12], net[r, 13], net[r, 14], net[r, 15],
    )  # fmt: skip


@njit(cache=True, nogil=True)
def _grid_update(net, size, decay_s, damping_hz, sample_rate):
    """The size row, decay gains, output level and damping pole for the next ``GRID`` samples; the gains
    and level (exps and a root) only when the lengths or the decay moved, the pole when the damping did."""
    row = int(size * SIZE_STEPS + 0.5)
    net[NET_SCALARS, FS_ROW] = row
    settled = True
    for k in range(NUM_LINES):
        if net[NET_LENGTHS, k] != net[NET_TABLE + row, k]:
            settled = False
    if not (settled and net[NET_SCALARS, FS_G_ROW] == row and net[NET_SCALARS, FS_G_DECAY] == decay_s):
        # per line: the gain that takes off 60 dB per decay_s over the L[k] samples to its next pass
        per_sample = -_LN_1000 / (decay_s * sample_rate)
        total = 0.0
        for k in range(NUM_LINES):
            net[NET_GAINS, k] = math.exp(per_sample * net[NET_LENGTHS, k])
            total += net[NET_LENGTHS, k]
        # a tail's energy per sample falls as its lines grow (the same energy is spread over more
        # samples): this keeps the loudness of a given decay the same at every size
        net[NET_SCALARS, FS_LEVEL] = math.sqrt(total / (NUM_LINES * LEVEL_REF_S * sample_rate))
        net[NET_SCALARS, FS_G_DECAY] = decay_s
        net[NET_SCALARS, FS_G_ROW] = row if settled else -1.0
    if damping_hz != net[NET_SCALARS, FS_DAMP_HZ]:
        net[NET_SCALARS, FS_POLE] = damping_pole(damping_hz, sample_rate)
        net[NET_SCALARS, FS_DAMP_HZ] = damping_hz


@njit(cache=True, nogil=True)
def _gliding_span(inp, out, lines, pre, diff, net, ist, work, ctl, i0, m):
    """Samples ``i0 .. i0 + m`` one at a time with gliding lengths and predelay, read interpolated."""
    cin = inp.shape[0]
    cout = out.shape[0]
    lmask = lines.shape[1] - 1
    pmask = pre.shape[1] - 1
    dmask = diff.shape[1] - 1
    pre_hi = float(pmask - 3)
    ms_to_samples = 1e-3 * net[NET_CONFIG, CFG_SAMPLE_RATE]
    glide = net[NET_CONFIG, CFG_GLIDE]
    w = ist[IS_WRITE]
    pw = ist[IS_PRE_WRITE]
    pd = net[NET_SCALARS, FS_PRE]
    row = NET_TABLE + int(net[NET_SCALARS, FS_ROW])
    p = net[NET_SCALARS, FS_POLE]
    level = net[NET_SCALARS, FS_LEVEL]
    for i in range(i0, i0 + m):
        pre_target = min(float(round(ctl[R_PREDELAY_MS, i] * ms_to_samples)), pre_hi)
        for k in range(NUM_LINES):
            net[NET_LENGTHS, k] = _glide(net[NET_LENGTHS, k], net[row, k], glide)
        pd = _glide(pd, pre_target, glide)
        for c in range(cin):
            pre[c, ring_index(pw, pmask)] = inp[c, i]
        # the newest input is at pw, so the input pd samples ago is pd + 1 before pw + 1; then the diffusers
        back = int(pd + 1.0)
        f = pd + 1.0 - back
        a0 = a1 = 0.0
        for c in range(cin):
            b = pw + 1 - back
            u = interpolate(
                0.0, pre[c, ring_index(b, pmask)], pre[c, ring_index(b - 1, pmask)], 0.0, f, INTERP_LINEAR
            )
            for k in range(NUM_DIFFUSERS):
                r = c * NUM_DIFFUSERS + k
                old = diff[r, (pw - ist[IS_DIFF + r]) & dmask]
                v = u + DIFFUSION * old
                diff[r, ring_index(pw, dmask)] = _flush(v)
                u = old - DIFFUSION * v
            if c == 0:
                a0 = u
            else:
                a1 = u
        pw += 1
        for k in range(NUM_LINES):
            d = net[NET_LENGTHS, k]
            back = int(d)
            b = w + STAGGER * k - back
            work[k, 0] = interpolate(
                0.0,
                lines[k, ring_index(b, lmask)],
                lines[k, ring_index(b - 1, lmask)],
                0.0,
                d - back,
                INTERP_LINEAR,
            )
        (
            work[0, 0], work[1, 0], work[2, 0], work[3, 0], work[4, 0], work[5, 0], work[6, 0], work[7, 0],
            work[8, 0], work[9, 0], work[10, 0], work[11, 0],
            work[12, 0], work[13, 0], work[14, 0], work[15, 0],
        ) = _butterflies(
            work[0, 0], work[1, 0], work[2, 0], work[3, 0], work[4, 0], work[5, 0], work[6, 0], work[7, 0],
            work[8, 0], work[9, 0], work[10, 0], work[11, 0],
            work[12, 0], work[13, 0], work[14, 0], work[15, 0],
        )  # fmt: skip
        y0 = 0.0
        y1 = 0.0
        for k in range(NUM_LINES):
            z = _flush((1.0 - p) * net[NET_GAINS, k] * (work[k, 0] * 0.25) + p * net[NET_LP, k])
            net[NET_LP, k] = z
            v = z + net[NET_IN, k] * a0
            if cin > 1:
                v += net[NET_IN + 1, k] * a1
            v = _flush(v)
            lines[k, ring_index(w + STAGGER * k, lmask)] = v
            y0 += net[NET_OUT, k] * v
            if cout > 1:
                y1 += net[NET_OUT + 1, k] * v
        w += 1
        # (1 - mix) * dry + mix * wet, the wet's side scaled by width
        y0 *= level
        y1 *= level
        mix = ctl[R_MIX, i]
        if cout > 1:
            mid = 0.5 * (y0 + y1)
            side = 0.5 * ctl[R_WIDTH, i] * (y0 - y1)
            out[0, i] = (1.0 - mix) * inp[0, i] + mix * (mid + side)
            out[1, i] = (1.0 - mix) * inp[min(1, cin - 1), i] + mix * (mid - side)
        else:
            out[0, i] = (1.0 - mix) * inp[0, i] + mix * y0
    ist[IS_WRITE] = w
    ist[IS_PRE_WRITE] = pw
    net[NET_SCALARS, FS_PRE] = pd


@njit(cache=True, nogil=True, inline="always")
def _u(i):
    """An index known to be >= 0, as unsigned: numba then skips its check for negative indices, which
    would otherwise turn a plain copy at a run-time offset into gathers and scatters."""
    return np.uint64(i)


@njit(cache=True, nogil=True)
def _settled_span(inp, out, lines, pre, diff, net, ist, work, ctl, i0, m):
    """Samples ``i0 .. i0 + m`` at whole-number lengths (each at least ``m``) and predelay, as a chunk:
    the arithmetic of :func:`_gliding_span` with nothing gliding, a stage at a time over the chunk (every
    line read of the chunk was written before it). Ring buffers are walked in contiguous pieces."""
    cin = inp.shape[0]
    cout = out.shape[0]
    w = ist[IS_WRITE]
    pw = ist[IS_PRE_WRITE]
    ipd = int(net[NET_SCALARS, FS_PRE])
    psize = pre.shape[1]
    dsize = diff.shape[1]
    lsize = lines.shape[1]
    start = _u(i0)
    # predelay (whole samples): write the chunk in and read it delayed, in pieces that wrap nowhere, sample
    # by sample in order (so a short predelay reads what this piece wrote, as it should)
    for c in range(cin):
        a = _W_A + c
        j = 0
        while j < m:
            ws = (pw + j) & (psize - 1)
            rs = (pw + j - ipd) & (psize - 1)
            piece = min(m - j, psize - ws, psize - rs)
            for q in range(piece):
                pre[c, _u(ws + q)] = inp[c, start + _u(j + q)]
                work[a, _u(j + q)] = pre[c, _u(rs + q)]
            j += piece
        # each diffuser over the chunk (each is a causal filter of its own input), in pieces no longer
        # than its delay, so that every read of a piece was written before it
        for k in range(NUM_DIFFUSERS):
            r = c * NUM_DIFFUSERS + k
            length = ist[IS_DIFF + r]
            j = 0
            while j < m:
                ws = (pw + j) & (dsize - 1)
                rs = (pw + j - length) & (dsize - 1)
                piece = min(m - j, dsize - ws, dsize - rs, length)
                for q in range(piece):
                    old = diff[r, _u(rs + q)]
                    v = work[a, _u(j + q)] + DIFFUSION * old
                    diff[r, _u(ws + q)] = _flush(v)
                    work[a, _u(j + q)] = old - DIFFUSION * v
                j += piece
    # the line reads, in at most two pieces (the end of the row)
    for k in range(NUM_LINES):
        rs = (w + STAGGER * k - int(net[NET_LENGTHS, k])) & (lsize - 1)
        first = min(m, lsize - rs)
        for j in range(first):
            work[k, j] = lines[k, _u(rs + j)]
        for j in range(m - first):
            work[k, _u(first + j)] = lines[k, j]
    # per sample: the Hadamard mixing, then the one-poles (their states kept in registers through the
    # chunk) with the 1/4 and the decay gain folded into one factor (exact: 1/4 is a power of two)
    p = net[NET_SCALARS, FS_POLE]
    for k in range(NUM_LINES):
        net[NET_FACTOR, k] = (1.0 - p) * net[NET_GAINS, k] * 0.25
    # the Hadamard butterflies of hadamard() (without its 1/4), each a row operation over the chunk
    h = 1
    while h < NUM_LINES:
        for b in range(0, NUM_LINES, 2 * h):
            for r in range(b, b + h):
                for j in range(m):
                    x = work[r, j]
                    y = work[r + h, j]
                    work[r, j] = x + y
                    work[r + h, j] = x - y
        h *= 2
    factor = _row(net, NET_FACTOR)
    lp = _row(net, NET_LP)
    for j in range(m):
        lp = _poles(
            (
                work[0, j], work[1, j], work[2, j], work[3, j],
                work[4, j], work[5, j], work[6, j], work[7, j],
                work[8, j], work[9, j], work[10, j], work[11, j], work[12, j], work[13, j], work[14, j],
                work[15, j],
            ),
            lp, factor, p,
        )  # fmt: skip
        (
            work[0, j], work[1, j], work[2, j], work[3, j], work[4, j], work[5, j], work[6, j], work[7, j],
            work[8, j], work[9, j], work[10, j], work[11, j],
            work[12, j], work[13, j], work[14, j], work[15, j],
        ) = lp  # fmt: skip
    (
        net[NET_LP, 0], net[NET_LP, 1], net[NET_LP, 2], net[NET_LP, 3], net[NET_LP, 4], net[NET_LP, 5],
        net[NET_LP, 6], net[NET_LP, 7], net[NET_LP, 8], net[NET_LP, 9], net[NET_LP, 10], net[NET_LP, 11],
        net[NET_LP, 12], net[NET_LP, 13], net[NET_LP, 14], net[NET_LP, 15],
    ) = lp  # fmt: skip
    for k in range(NUM_LINES):
        net[NET_LP, k] = _flush(net[NET_LP, k])
    # add the diffused input, write the lines, sum the outputs in line order (simple loops over rows, which
    # the compiler vectorises)
    for j in range(m):
        work[_W_Y, j] = 0.0
        work[_W_Y + 1, j] = 0.0
    # (a tap of zero adds an exact zero: skipping it changes nothing, and the stereo taps are half zeros)
    for k in range(NUM_LINES):
        g0 = net[NET_IN, k]
        g1 = net[NET_IN + 1, k] if cin > 1 else 0.0
        if g1 == 0.0:
            for j in range(m):
                work[k, j] = _flush(work[k, j] + g0 * work[_W_A, j])
        elif g0 == 0.0:
            for j in range(m):
                work[k, j] = _flush(work[k, j] + g1 * work[_W_A + 1, j])
        else:
            for j in range(m):
                work[k, j] = _flush(work[k, j] + g0 * work[_W_A, j] + g1 * work[_W_A + 1, j])
        for o in range(cout):
            gain = net[NET_OUT + o, k]
            if gain != 0.0:
                for j in range(m):
                    work[_W_Y + o, j] += gain * work[k, j]
        ws = (w + STAGGER * k) & (lsize - 1)
        first = min(m, lsize - ws)
        for j in range(first):
            lines[k, _u(ws + j)] = work[k, j]
        for j in range(m - first):
            lines[k, j] = work[k, _u(first + j)]
    # (1 - mix) * dry + mix * wet, the wet's side scaled by width
    level = net[NET_SCALARS, FS_LEVEL]
    right = min(1, cin - 1)
    for j in range(m):
        i = start + _u(j)
        mix = ctl[R_MIX, i]
        wet0 = work[_W_Y, j] * level
        if cout > 1:
            wet1 = work[_W_Y + 1, j] * level
            mid = 0.5 * (wet0 + wet1)
            side = 0.5 * ctl[R_WIDTH, i] * (wet0 - wet1)
            dry0 = inp[0, i]
            dry1 = inp[right, i]
            out[0, i] = (1.0 - mix) * dry0 + mix * (mid + side)
            out[1, i] = (1.0 - mix) * dry1 + mix * (mid - side)
        else:
            out[0, i] = (1.0 - mix) * inp[0, i] + mix * wet0
    ist[IS_WRITE] = w + m
    ist[IS_PRE_WRITE] = pw + m


@njit(cache=True, nogil=True)
def fdn_reverb(inp, out, lines, pre, diff, net, ist, work, ctl, still, n):
    """Reverberate ``inp[:, :n]`` into ``out`` (may be ``inp``); see the module docstring.

    ``lines`` ``(NUM_LINES, 2**a)`` and ``pre`` ``(in channels, 2**b)`` are the delay lines, ``diff``
    ``(in channels * NUM_DIFFUSERS, 2**c)`` the diffusers', ``net`` from :func:`new_network`, ``ist`` from
    :func:`new_int_state`, ``work`` ``(NUM_WORK_ROWS, CHUNK)`` scratch. The controls are per sample, in the
    rows ``R_*`` of ``ctl``; ``still`` promises that each row holds one value (so none needs scanning).
    ``width`` scales the side of a stereo wet signal; ``out = (1 - mix) * x + mix * wet``.
    """
    if n <= 0:
        return
    sample_rate = net[NET_CONFIG, CFG_SAMPLE_RATE]
    pre_hi = float(pre.shape[1] - 4)
    ms_to_samples = 1e-3 * sample_rate
    if net[NET_SCALARS, FS_READY] == 0.0:
        # the first sample after a reset starts at the set size and predelay, without a glide
        row = NET_TABLE + int(ctl[R_SIZE, 0] * SIZE_STEPS + 0.5)
        for k in range(NUM_LINES):
            net[NET_LENGTHS, k] = net[row, k]
        net[NET_SCALARS, FS_PRE] = min(float(round(ctl[R_PREDELAY_MS, 0] * ms_to_samples)), pre_hi)
        net[NET_SCALARS, FS_READY] = 1.0
    i = 0
    while i < n:
        count = ist[IS_COUNT]
        if count % GRID == 0:
            _grid_update(net, ctl[R_SIZE, i], ctl[R_DECAY_S, i], ctl[R_DAMPING_HZ, i], sample_rate)
        m = min(GRID - count % GRID, n - i)
        row = int(net[NET_SCALARS, FS_ROW])
        pd = net[NET_SCALARS, FS_PRE]
        # settled: every line at its row's length and the predelay on its target for the whole chunk
        settled = True
        shortest = CHUNK
        for k in range(NUM_LINES):
            length = net[NET_LENGTHS, k]
            if length != net[NET_TABLE + row, k]:
                settled = False
            shortest = min(shortest, int(length))
        for j in range(i, i + 1 if still else i + m):
            if min(float(round(ctl[R_PREDELAY_MS, j] * ms_to_samples)), pre_hi) != pd:
                settled = False
        if not settled:
            _gliding_span(inp, out, lines, pre, diff, net, ist, work, ctl, i, m)
            ist[IS_COUNT] = count + m
            i += m
            continue
        # go on past grid points whose update would change nothing, as far as the shortest line allows
        end = min(n, i + shortest)
        while i + m < end:
            g = i + m
            if (
                int(ctl[R_SIZE, g] * SIZE_STEPS + 0.5) != row
                or net[NET_SCALARS, FS_G_ROW] != row
                or ctl[R_DECAY_S, g] != net[NET_SCALARS, FS_G_DECAY]
                or ctl[R_DAMPING_HZ, g] != net[NET_SCALARS, FS_DAMP_HZ]
            ):
                break
            stop = end if still else min(g + GRID, end)
            for j in range(g, g if still else stop):
                if min(float(round(ctl[R_PREDELAY_MS, j] * ms_to_samples)), pre_hi) != pd:
                    stop = g
                    break
            if stop == g:
                break
            m = stop - i
        m = min(m, end - i)
        _settled_span(inp, out, lines, pre, diff, net, ist, work, ctl, i, m)
        ist[IS_COUNT] = count + m
        i += m
