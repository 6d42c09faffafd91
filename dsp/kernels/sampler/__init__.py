"""Kernels of the sampler: voices reading a shared sample pool, rendered by one call per block.

:mod:`~dsp.kernels.sampler.layout` says which row of which array holds what,
:mod:`~dsp.kernels.sampler.events` applies MIDI messages (voices start, release, steal, choke),
:mod:`~dsp.kernels.sampler.voice` renders voices between events, and :func:`render_block` (in
:mod:`~dsp.kernels.sampler.render`) does a whole block. :class:`instruments.sampler.Sampler` owns the
arrays and calls it.

Numba's cache (``cache=True``) checks only the file that defines a kernel, while a kernel compiled here
holds the constants and kernels it calls from the other modules. After editing one module, delete
``dsp/kernels/sampler/__pycache__/*.nb[ci]``, or a kernel may keep the old code.
"""

from __future__ import annotations

from dsp.kernels.sampler.events import apply_event, program_change, reset_channels, select_preset, stop_all
from dsp.kernels.sampler.render import render_block
from dsp.kernels.sampler.voice import control_update, make_sinc_table, triangle

__all__ = [
    "apply_event",
    "control_update",
    "make_sinc_table",
    "program_change",
    "render_block",
    "reset_channels",
    "select_preset",
    "stop_all",
    "triangle",
]
