"""The sampler's entry point: one call per block renders every voice, applying each event at its sample."""

from __future__ import annotations

from numba import njit

from dsp.kernels.sampler.events import apply_event
from dsp.kernels.sampler.voice import render_span

__all__ = ["render_block"]


@njit(cache=True, nogil=True)
def render_block(
    pool,
    scale,
    rf,
    ri,
    presets,
    vf,
    vi,
    cf,
    ci,
    keys,
    misc,
    sinc,
    interp,
    max_voices,
    fade_samples,
    sample_rate,
    ev_offset,
    ev_status,
    ev_data1,
    ev_data2,
    count,
    frames,
    buf,
    gain_db,
    gain_is_constant,
    out,
    sends,
    out_reverb,
    out_chorus,
):
    """Render ``frames`` samples: events ``0 .. count`` (parallel arrays, in offset order) are applied at
    their offsets between spans of voices. ``buf`` (float64, ``(6, >= frames)``) is scratch; the dry
    stereo sum times the gain (``gain_db[:frames]`` per sample, or ``gain_db[0]`` throughout when
    ``gain_is_constant``) goes into ``out`` (float32 ``(2, frames)``), and with ``sends`` the reverb and
    chorus pairs into ``out_reverb``/``out_chorus``."""
    for r in range(buf.shape[0] if sends else 2):  # the send rows are written only with sends
        for i in range(frames):
            buf[r, i] = 0.0
    pos = 0
    for e in range(count):
        offset = min(max(int(ev_offset[e]), 0), frames)
        if offset > pos:
            render_span(pool, scale, rf, vf, vi, cf, sinc, interp, sample_rate, buf, pos, offset, sends)
            pos = offset
        apply_event(
            rf,
            ri,
            presets,
            vf,
            vi,
            cf,
            ci,
            keys,
            misc,
            max_voices,
            fade_samples,
            sample_rate,
            int(ev_status[e]),
            int(ev_data1[e]),
            int(ev_data2[e]),
        )
    if pos < frames:
        render_span(pool, scale, rf, vf, vi, cf, sinc, interp, sample_rate, buf, pos, frames, sends)
    g = 10.0 ** (gain_db[0] * 0.05)
    for i in range(frames):
        if not gain_is_constant:
            g = 10.0 ** (gain_db[i] * 0.05)
        out[0, i] = buf[0, i] * g
        out[1, i] = buf[1, i] * g
        if sends:
            out_reverb[0, i] = buf[2, i] * g
            out_reverb[1, i] = buf[3, i] * g
            out_chorus[0, i] = buf[4, i] * g
            out_chorus[1, i] = buf[5, i] * g
