"""The synth's block: every span between events rendered and every event applied, in one kernel call.

:class:`instruments.synth.PolySynth` calls :func:`render_block` once per block. Interleaving the spans
(:func:`dsp.kernels.synth.render_voices`) and the MIDI messages (:func:`instruments.voices.apply_midi_event`)
inside compiled code means a block holds the GIL only to enter and leave, so offline renders can run
several synths side by side on threads (:mod:`engine.rack`) without handing the GIL back and forth at
every event.

Numba's cache checks only this file: after editing a kernel this one calls, delete
``instruments/__pycache__/*.nb[ci]`` as well as that kernel's own.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dsp.kernels.synth import render_voices, write_stereo
from instruments.voices import apply_midi_event

__all__ = ["render_block"]


@njit(cache=True, nogil=True)
def render_block(
    fst, ist, chan, counters, stack, glob, values, max_voices, bend_range, fade_samples,
    work, tile, slots, cache, buf, sample_rate, tempo_bpm, curves, moving, points, num_points,
    ev_count, ev_offset, ev_status, ev_data1, ev_data2, frames, gain_db, gain_is_constant, dst,
):  # fmt: skip
    """Render ``frames`` samples of the voices into the stereo float32 ``dst`` with the output gain,
    applying the first ``ev_count`` events (``ev_*``, offset order) at their offsets (clamped to the
    block). The arguments are those of :func:`~dsp.kernels.synth.render_voices`,
    :func:`~instruments.voices.apply_midi_event` and :func:`~dsp.kernels.synth.write_stereo`; ``buf`` is the
    float64 ``(2, frames)`` scratch the spans are summed into."""
    pos = 0
    j = 0
    for e in range(ev_count):
        offset = min(np.int64(ev_offset[e]), frames)
        if offset > pos:
            j = render_voices(fst, ist, work, tile, slots, glob, cache, buf, pos, offset, sample_rate,
                              tempo_bpm, values, curves, moving, points, num_points, j)  # fmt: skip
            pos = offset
        apply_midi_event(
            fst, ist, chan, counters, stack, glob, values, max_voices, sample_rate, np.int64(ev_status[e]),
            np.int64(ev_data1[e]), np.int64(ev_data2[e]), bend_range, fade_samples,
        )  # fmt: skip
    if pos < frames:
        render_voices(fst, ist, work, tile, slots, glob, cache, buf, pos, frames, sample_rate, tempo_bpm,
                      values, curves, moving, points, num_points, j)  # fmt: skip
    write_stereo(buf, frames, gain_db, gain_is_constant, dst)
