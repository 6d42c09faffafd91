"""The entry point, :func:`fdn_reverb`: every ``GRID`` samples of the kernel's own sample counter it
updates the size row, decay gains, output level and damping pole (:func:`_grid_update`), and it hands each
span to the chunked path (:mod:`~dsp.kernels.reverb.settled`) when nothing glides, to the per-sample path
(:mod:`~dsp.kernels.reverb.gliding`) otherwise.
"""

from __future__ import annotations

import math

from numba import njit

from dsp.kernels.delay import damping_pole
from dsp.kernels.reverb.gliding import _gliding_span
from dsp.kernels.reverb.layout import (
    _LN_1000,
    CFG_SAMPLE_RATE,
    CHUNK,
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
    LEVEL_REF_S,
    NET_CONFIG,
    NET_GAINS,
    NET_LENGTHS,
    NET_SCALARS,
    NET_TABLE,
    NUM_LINES,
    R_DAMPING_HZ,
    R_DECAY_S,
    R_PREDELAY_MS,
    R_SIZE,
    SIZE_STEPS,
)
from dsp.kernels.reverb.settled import _settled_span


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
