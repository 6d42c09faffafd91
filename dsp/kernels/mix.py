"""Kernels the render plan uses between nodes: summing with channel adaptation, and fixed delays.

Channel adaptation when a source and a destination differ in channel count: a mono source feeds every
destination channel; a mono destination takes the mean of the source channels; otherwise source channel
``c`` feeds destination channel ``c`` for the channels both have.
"""

from __future__ import annotations

from numba import njit

__all__ = ["delay_copy", "mix_into"]


@njit(cache=True, nogil=True)
def mix_into(dst, src, n, first):
    """``dst[:, :n] (+)= adapt(src[:, :n])``; with ``first`` the destination is overwritten, not added to."""
    dch = dst.shape[0]
    sch = src.shape[0]
    if first:
        for c in range(dch):
            for i in range(n):
                dst[c, i] = 0.0
    if sch == dch:
        for c in range(dch):
            for i in range(n):
                dst[c, i] += src[c, i]
    elif sch == 1:
        for c in range(dch):
            for i in range(n):
                dst[c, i] += src[0, i]
    elif dch == 1:
        scale = 1.0 / sch
        for i in range(n):
            acc = 0.0
            for c in range(sch):
                acc += src[c, i]
            dst[0, i] += acc * scale
    else:
        for c in range(min(sch, dch)):
            for i in range(n):
                dst[c, i] += src[c, i]


@njit(cache=True, nogil=True)
def delay_copy(ring, write_pos, src, dst, n):
    """Write ``src[:, :n]`` delayed by ``ring.shape[1] - 1`` samples into ``dst``; returns the new write
    position. ``ring`` (channels, delay + 1) holds the delay line's state between blocks."""
    length = ring.shape[1]
    chans = ring.shape[0]
    w = write_pos
    for i in range(n):
        r = w + 1
        if r == length:
            r = 0
        for c in range(chans):
            ring[c, w] = src[c, i]
            dst[c, i] = ring[c, r]
        w = r
    return w
