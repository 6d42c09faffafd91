"""Kernels of the drum machine: all drum voices of one kit rendered by one call per block.

A voice is one hit, made from two sines with a pitch sweep, a click, white noise and a cluster of six
detuned squares, through a state-variable filter and a high-pass, each part with its own exponential
decay (:mod:`~dsp.kernels.drums.recipes` says how each drum kind sets them). Voice state is struct of
arrays: row ``F_*`` of a float64 ``fst`` and row ``I_*`` of an int64 ``ist``, one column per voice
(:mod:`~dsp.kernels.drums.params`). :func:`render_block` takes a block's events and the control matrix
of :data:`DRUM_PARAMS` and applies each note-on at its exact sample (:mod:`~dsp.kernels.drums.render`).

The modules, each importing only those before it: :mod:`~dsp.kernels.drums.params`,
:mod:`~dsp.kernels.drums.recipes`, :mod:`~dsp.kernels.drums.render`. Numba's cache checks only the file
that defines a kernel: after editing one module, delete ``dsp/kernels/drums/__pycache__/*.nb[ci]``.
"""

from __future__ import annotations

from dsp.kernels.drums.params import (
    CHOKE_MS,
    DRUM_PARAMS,
    I_STAGE,
    K_CLAP,
    K_CLAVES,
    K_COWBELL,
    K_CRASH,
    K_HAT_CLOSED,
    K_HAT_OPEN,
    K_HAT_PEDAL,
    K_KICK,
    K_RIDE,
    K_RIDE_BELL,
    K_RIM,
    K_SNARE,
    K_TAMBOURINE,
    K_TOM,
    NUM_F_ROWS,
    NUM_I_ROWS,
    NUM_PARAMS,
    STAGE_IDLE,
    STAGE_PLAYING,
    STEAL_MS,
)
from dsp.kernels.drums.recipes import decay_coefficient, start_voice
from dsp.kernels.drums.render import DRIVE_GAIN, note_on, render_block, voice_span

__all__ = [
    "CHOKE_MS",
    "DRIVE_GAIN",
    "DRUM_PARAMS",
    "I_STAGE",
    "K_CLAP",
    "K_CLAVES",
    "K_COWBELL",
    "K_CRASH",
    "K_HAT_CLOSED",
    "K_HAT_OPEN",
    "K_HAT_PEDAL",
    "K_KICK",
    "K_RIDE",
    "K_RIDE_BELL",
    "K_RIM",
    "K_SNARE",
    "K_TAMBOURINE",
    "K_TOM",
    "NUM_F_ROWS",
    "NUM_I_ROWS",
    "NUM_PARAMS",
    "STAGE_IDLE",
    "STAGE_PLAYING",
    "STEAL_MS",
    "decay_coefficient",
    "note_on",
    "render_block",
    "start_voice",
    "voice_span",
]
