"""The chunked path, taken while nothing glides (the usual case).

Every line length and the predelay are whole numbers then, so the kernel runs a chunk at a time, up to
``CHUNK`` samples (past grid points whose update would change nothing) and never longer than the shortest
line, so every read of the chunk was written before it: whole-sample reads, the diffusers and the Hadamard
butterflies each over the whole chunk, the sixteen one-poles stepped together with their states in
registers, then the taps, in plain loops the compiler vectorises (ring buffers are walked in contiguous
pieces with unsigned indices, which spares numba's check for negative indices). It computes what the
per-sample path (:mod:`~dsp.kernels.reverb.gliding`) computes, operation for operation, except that the
one-pole states are flushed once per chunk rather than per sample (within a chunk they cannot decay from
the floor into subnormals): the two paths agree to about 1e-15.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dsp.kernels.reverb.layout import (
    _W_A,
    _W_Y,
    DIFFUSION,
    FS_LEVEL,
    FS_POLE,
    FS_PRE,
    IS_DIFF,
    IS_PRE_WRITE,
    IS_WRITE,
    NET_FACTOR,
    NET_GAINS,
    NET_IN,
    NET_LENGTHS,
    NET_LP,
    NET_OUT,
    NET_SCALARS,
    NUM_DIFFUSERS,
    NUM_LINES,
    R_MIX,
    R_WIDTH,
    STAGGER,
)
from dsp.kernels.reverb.mixing import _flush, _poles, _row


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
