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
the damping pole are recomputed every ``GRID`` samples of the kernel's own sample counter, so the output
does not depend on the block size. Values below ``DENORMAL_FLOOR`` are flushed: silence in ends in true
silence. The processor is :class:`dsp.reverb.Reverb`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dsp.kernels.delay import DENORMAL_FLOOR, INTERP_LINEAR, SNAP_SAMPLES, damping_pole, read_delay

__all__ = [
    "DIFFUSER_MS",
    "DIFFUSION",
    "FS_LEVEL",
    "FS_POLE",
    "FS_PRE",
    "FS_READY",
    "FS_ROW",
    "GRID",
    "IS_COUNT",
    "IS_PRE_WRITE",
    "IS_WRITE",
    "LEVEL_REF_S",
    "LINE_MS",
    "NUM_DIFFUSERS",
    "NUM_FS",
    "NUM_IS",
    "NUM_LINES",
    "SIZE_STEPS",
    "diffuser_lengths",
    "fdn_reverb",
    "hadamard",
    "line_lengths",
    "primes_up_to",
]

NUM_LINES = 16
NUM_DIFFUSERS = 4  # all-passes per input channel between the predelay and the network
DIFFUSION = 0.6  # their coefficient: the onset is smeared over some 20 ms instead of arriving as a click
# their lengths (ms); the right channel's differ from the left's, so even the onset is decorrelated
DIFFUSER_MS = np.array([[1.13, 2.27, 3.53, 4.91], [1.31, 2.03, 3.79, 5.23]])
GRID = 32  # samples between updates of the decay gains and damping pole
SIZE_STEPS = 128  # rows of the size -> line lengths table, minus one
MIN_SCALE = 0.15  # line lengths at size 0, as a fraction of those at size 1
# line lengths at size 1 (ms): spread over two octaves, irregular, long and short lines interleaved so the
# even (left) and odd (right) halves sound alike
LINE_MS = np.array(
    [97.0, 23.0, 61.3, 41.9, 79.1, 29.7, 53.3, 35.3, 88.7, 26.9, 69.1, 45.7, 57.9, 32.3, 73.4, 49.1]
)

LEVEL_REF_S = 0.05  # mean line length at which the output taps are used as given
# float state: current predelay (samples), ready flag, damping pole, size row in use, output level
FS_PRE = 0
FS_READY = 1
FS_POLE = 2
FS_ROW = 3
FS_LEVEL = 4
NUM_FS = 5
# int state: line write index, predelay write index, samples processed since reset
IS_WRITE = 0
IS_PRE_WRITE = 1
IS_COUNT = 2
NUM_IS = 3
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


@njit(cache=True, nogil=True)
def _glide(current, target, glide):
    current += glide * (target - current)
    return target if abs(target - current) < SNAP_SAMPLES else current


@njit(cache=True, nogil=True)
def _diffuse(diff, diff_len, c, w, u):
    """Input channel ``c``'s value ``u`` through its ``NUM_DIFFUSERS`` Schroeder all-passes
    ``(-g + z^-M) / (1 - g z^-M)`` (slot ``w`` is this sample's)."""
    mask = diff.shape[1] - 1
    for k in range(NUM_DIFFUSERS):
        row = c * NUM_DIFFUSERS + k
        old = diff[row, (w - diff_len[c, k]) & mask]
        v = u + DIFFUSION * old
        diff[row, w & mask] = 0.0 if abs(v) < DENORMAL_FLOOR else v
        u = old - DIFFUSION * v
    return u


@njit(cache=True, nogil=True)
def fdn_reverb(
    inp, out, lines, pre, diff, diff_len, table, in_gain, out_gain, lengths, gains, lp, s, fs, ist,
    predelay_ms, decay_s, damping_hz, size, width, mix, n, sample_rate, glide,
):  # fmt: skip
    """Reverberate ``inp[:, :n]`` into ``out`` (may be ``inp``); see the module docstring.

    ``lines`` ``(NUM_LINES, 2**a)`` and ``pre`` ``(in channels, 2**b)`` are the delay lines, ``diff``
    ``(in channels * NUM_DIFFUSERS, 2**c)`` the diffusers', of lengths ``diff_len[c, k]`` (from
    :func:`diffuser_lengths`), ``table`` from :func:`line_lengths`. Line ``k`` takes ``in_gain[c, k]``
    of input channel ``c`` and gives ``out_gain[o, k]`` of what is written to output ``o``. ``lengths``,
    ``gains``, ``lp`` and ``s`` are per-line state and scratch, ``fs`` / ``ist`` the ``FS_*`` / ``IS_*``
    scalars. Controls are per sample. ``width`` scales the side of a stereo wet signal;
    ``out = (1 - mix) * x + mix * wet``.
    """
    cin = inp.shape[0]
    cout = out.shape[0]
    lmask = lines.shape[1] - 1
    pmask = pre.shape[1] - 1
    pre_hi = float(pmask - 3)
    ms_to_samples = 1e-3 * sample_rate
    w = ist[IS_WRITE]
    pw = ist[IS_PRE_WRITE]
    count = ist[IS_COUNT]
    pd = fs[FS_PRE]
    for i in range(n):
        pre_target = min(float(round(predelay_ms[i] * ms_to_samples)), pre_hi)
        if fs[FS_READY] == 0.0:
            row = int(size[i] * SIZE_STEPS + 0.5)
            for k in range(NUM_LINES):
                lengths[k] = table[row, k]
            pd = pre_target
            fs[FS_READY] = 1.0
        if count % GRID == 0:
            fs[FS_ROW] = int(size[i] * SIZE_STEPS + 0.5)
            # per line: the gain that takes off 60 dB per decay_s over the L[k] samples to its next pass
            per_sample = -_LN_1000 / (decay_s[i] * sample_rate)
            total = 0.0
            for k in range(NUM_LINES):
                gains[k] = math.exp(per_sample * lengths[k])
                total += lengths[k]
            # a tail's energy per sample falls as its lines grow (the same energy is spread over more
            # samples): this keeps the loudness of a given decay the same at every size
            fs[FS_LEVEL] = math.sqrt(total / (NUM_LINES * LEVEL_REF_S * sample_rate))
            fs[FS_POLE] = damping_pole(damping_hz[i], sample_rate)
        row = int(fs[FS_ROW])
        for k in range(NUM_LINES):
            lengths[k] = _glide(lengths[k], table[row, k], glide)
        pd = _glide(pd, pre_target, glide)
        p = fs[FS_POLE]
        for c in range(cin):
            pre[c, pw & pmask] = inp[c, i]
        pw += 1
        # the newest input is one slot before pw, so the input pd samples ago is pd + 1 before it
        a0 = _diffuse(diff, diff_len, 0, pw - 1, read_delay(pre, 0, pmask, pw, pd + 1.0, INTERP_LINEAR))
        a1 = 0.0
        if cin > 1:
            a1 = _diffuse(diff, diff_len, 1, pw - 1, read_delay(pre, 1, pmask, pw, pd + 1.0, INTERP_LINEAR))
        for k in range(NUM_LINES):
            s[k] = read_delay(lines, k, lmask, w, lengths[k], INTERP_LINEAR)
        hadamard(s)
        y0 = 0.0
        y1 = 0.0
        for k in range(NUM_LINES):
            z = (1.0 - p) * gains[k] * s[k] + p * lp[k]
            z = 0.0 if abs(z) < DENORMAL_FLOOR else z
            lp[k] = z
            v = z + in_gain[0, k] * a0
            if cin > 1:
                v += in_gain[1, k] * a1
            v = 0.0 if abs(v) < DENORMAL_FLOOR else v
            lines[k, w & lmask] = v
            y0 += out_gain[0, k] * v
            if cout > 1:
                y1 += out_gain[1, k] * v
        w += 1
        y0 *= fs[FS_LEVEL]
        y1 *= fs[FS_LEVEL]
        m = mix[i]
        if cout > 1:
            mid = 0.5 * (y0 + y1)
            side = 0.5 * width[i] * (y0 - y1)
            out[0, i] = (1.0 - m) * inp[0, i] + m * (mid + side)
            out[1, i] = (1.0 - m) * inp[min(1, cin - 1), i] + m * (mid - side)
        else:
            out[0, i] = (1.0 - m) * inp[0, i] + m * y0
        count += 1
    ist[IS_WRITE] = w
    ist[IS_PRE_WRITE] = pw
    ist[IS_COUNT] = count
    fs[FS_PRE] = pd
