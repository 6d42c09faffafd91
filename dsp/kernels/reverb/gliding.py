"""The per-sample path, taken only while something glides: every sample the line lengths and the predelay
take a step of their one-pole glide toward their targets, the lines and the predelay are read with linear
interpolation, and the sample goes through the diffusers, the Hadamard mixing, the one-poles and the taps
in turn. :mod:`~dsp.kernels.reverb.settled` computes the same a chunk at a time once nothing glides.
"""

from __future__ import annotations

from numba import njit

from dsp.kernels.delay import INTERP_LINEAR, SNAP_SAMPLES, interpolate, ring_index
from dsp.kernels.reverb.layout import (
    CFG_GLIDE,
    CFG_SAMPLE_RATE,
    DIFFUSION,
    FS_LEVEL,
    FS_POLE,
    FS_PRE,
    FS_ROW,
    IS_DIFF,
    IS_PRE_WRITE,
    IS_WRITE,
    NET_CONFIG,
    NET_GAINS,
    NET_IN,
    NET_LENGTHS,
    NET_LP,
    NET_OUT,
    NET_SCALARS,
    NET_TABLE,
    NUM_DIFFUSERS,
    NUM_LINES,
    R_MIX,
    R_PREDELAY_MS,
    R_WIDTH,
    STAGGER,
)
from dsp.kernels.reverb.mixing import _butterflies, _flush


@njit(cache=True, nogil=True, inline="always")
def _glide(current, target, glide):
    current += glide * (target - current)
    return target if abs(target - current) < SNAP_SAMPLES else current


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
