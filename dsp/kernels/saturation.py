"""Saturation kernels: tanh waveshaping at 1x, 2x or 4x the sample rate through halfband FIR stages.

Each 2x stage is a linear-phase halfband filter ``h`` of length ``2M + 1`` (``M`` even, centre ``h[M] =
1/2``, every other tap zero), run polyphase: the upsampler's even outputs are the input delayed by ``M/2``
and its odd outputs an ``M``-tap FIR of the odd taps (``c[j] = 2 h[2j + 1]``); the downsampler is the same
filter evaluated only at the kept samples (even input samples through the centre tap, odd ones through
the odd taps). A stage delays by ``M`` samples of the fast rate there and back, so 2x with stage
``M1`` delays ``M1`` samples and 4x (stage ``M2`` inside) ``M1 + M2/2``: whole samples since both ``M`` are
even. Filter state is kept as the last inputs of each filter (history arrays, oldest first).
"""

from __future__ import annotations

import math

from numba import njit

__all__ = ["delay_line", "downsample2", "saturate", "upsample2"]

_DB_TO_LN = math.log(10.0) / 20.0


@njit(cache=True, nogil=True)
def upsample2(x, n, hist, odd_taps, y, scratch):
    """Twice the rate: ``y[:2n]`` from ``x[:n]`` (one channel). ``hist`` holds the last ``M`` inputs;
    ``odd_taps`` the ``M`` polyphase taps ``2 h[2j + 1]``; ``scratch`` at least ``M + n`` long."""
    m = odd_taps.shape[0]
    half = m // 2
    for j in range(m):
        scratch[j] = hist[j]
    for i in range(n):
        scratch[m + i] = x[i]
    for i in range(n):
        t = m + i
        y[2 * i] = scratch[t - half]
        acc = 0.0
        for j in range(m):
            acc += odd_taps[j] * scratch[t - j]
        y[2 * i + 1] = acc
    for j in range(m):
        hist[j] = scratch[n + j]


@njit(cache=True, nogil=True)
def downsample2(v, n, hist_even, hist_odd, odd_taps, z, scratch_even, scratch_odd):
    """Half the rate: ``z[:n]`` from ``v[:2n]`` (one channel), filtered by the halfband first.
    ``hist_even`` holds the last ``M/2`` even inputs, ``hist_odd`` the last ``M`` odd inputs;
    ``odd_taps`` are the upsampler's (``2 h[2j + 1]``), halved here."""
    m = odd_taps.shape[0]
    half = m // 2
    for j in range(half):
        scratch_even[j] = hist_even[j]
    for j in range(m):
        scratch_odd[j] = hist_odd[j]
    for i in range(n):
        scratch_even[half + i] = v[2 * i]
        scratch_odd[m + i] = v[2 * i + 1]
    for i in range(n):
        acc = 0.0
        t = m + i - 1
        for j in range(m):
            acc += odd_taps[j] * scratch_odd[t - j]
        z[i] = 0.5 * (scratch_even[i] + acc)
    for j in range(half):
        hist_even[j] = scratch_even[n + j]
    for j in range(m):
        hist_odd[j] = scratch_odd[n + j]


@njit(cache=True, nogil=True)
def delay_line(x, n, hist, d, y):
    """``y[:n]`` is ``x[:n]`` delayed by ``d`` samples; ``hist[:d]`` holds the last ``d`` inputs."""
    for i in range(n):
        k = i - d
        y[i] = hist[d + k] if k < 0 else x[k]
    if n >= d:
        for j in range(d):
            hist[j] = x[n - d + j]
    else:
        for j in range(d - n):
            hist[j] = hist[j + n]
        for j in range(n):
            hist[d - n + j] = x[j]


@njit(cache=True, nogil=True)
def saturate(
    inp,
    out,
    n,
    factor,
    drive_db,
    output_db,
    mix,
    constant,
    taps1,
    taps2,
    up1,
    up2,
    down2_even,
    down2_odd,
    down1_even,
    down1_odd,
    dry_hist,
    latency,
    x,
    dry,
    fast2,
    fast4,
    scratch,
    scratch2,
):
    """``out[:, :n] = out_gain * ((1 - mix) * dry + mix * tanh(drive * x))``, the tanh run at ``factor``
    (1, 2 or 4) times the rate; ``dry`` is delayed by ``latency`` to line up with the filtered wet path.
    ``out`` may be ``inp``. ``up*``/``down*``/``dry_hist`` are per-channel filter histories (channels x
    length); ``x``, ``dry`` (n), ``fast2`` (2n), ``fast4`` (4n), ``scratch``/``scratch2`` (M + 4n) are work
    buffers. The drive of a base-rate sample applies to the fast samples it becomes."""
    chans = inp.shape[0]
    g_drive = math.exp(drive_db[0] * _DB_TO_LN)
    g_out = math.exp(output_db[0] * _DB_TO_LN)
    wet = mix[0]
    for c in range(chans):
        for i in range(n):
            x[i] = inp[c, i]
        delay_line(x, n, dry_hist[c], latency, dry)
        if factor == 1:
            for i in range(n):
                if not constant:
                    g_drive = math.exp(drive_db[i] * _DB_TO_LN)
                fast2[i] = math.tanh(g_drive * x[i])
        elif factor == 2:
            upsample2(x, n, up1[c], taps1, fast2, scratch)
            for i in range(n):
                if not constant:
                    g_drive = math.exp(drive_db[i] * _DB_TO_LN)
                fast2[2 * i] = math.tanh(g_drive * fast2[2 * i])
                fast2[2 * i + 1] = math.tanh(g_drive * fast2[2 * i + 1])
            downsample2(fast2, n, down1_even[c], down1_odd[c], taps1, x, scratch, scratch2)
            for i in range(n):
                fast2[i] = x[i]
        else:
            upsample2(x, n, up1[c], taps1, fast2, scratch)
            upsample2(fast2, 2 * n, up2[c], taps2, fast4, scratch)
            for i in range(n):
                if not constant:
                    g_drive = math.exp(drive_db[i] * _DB_TO_LN)
                for k in range(4 * i, 4 * i + 4):
                    fast4[k] = math.tanh(g_drive * fast4[k])
            downsample2(fast4, 2 * n, down2_even[c], down2_odd[c], taps2, fast2, scratch, scratch2)
            downsample2(fast2, n, down1_even[c], down1_odd[c], taps1, x, scratch, scratch2)
            for i in range(n):
                fast2[i] = x[i]
        # fast2[:n] now holds the wet signal at the base rate
        for i in range(n):
            if not constant:
                g_out = math.exp(output_db[i] * _DB_TO_LN)
                wet = mix[i]
            out[c, i] = g_out * (dry[i] + wet * (fast2[i] - dry[i]))
