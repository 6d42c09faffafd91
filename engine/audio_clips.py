"""Audio clips on the timeline and the player that is an audio track's instrument.

An :class:`AudioClip` places (part of) an audio file at ``start_beats``; its audio runs in seconds, so a
tempo change moves where it starts but never stretches it. An :class:`AudioClipPlayer` holds a track's
clips: put it in ``TrackSpec(instrument=...)``. ``Session.build`` hands it the song's tempo map
(:meth:`AudioClipPlayer.set_tempo_map`), and the plan's ``prepare`` loads every file, resamples it to the
session rate (:mod:`engine.audiofile`, shared through a cache) and places each clip on its sample.
``process`` then only mixes: the clip sample under each timeline sample of the block's segments (so loop
wraps inside a block are exact), silence while the transport is stopped.

Rules a musician can count on:

- Placement: a clip starts on ``round(tempo_map.beat_to_sample(start_beats))`` (halves up), the same
  sample a MIDI note on that beat gets.
- Fades are equal-power by default (``sin``/``cos`` quarter waves; two overlapping clips of unrelated
  material cross-fade at constant loudness) or ``"linear"`` in amplitude (constant level for a cross-fade
  of the same recording). A fade reaches exactly 0 on the clip's first/last sample. Left at None, a fade
  is :data:`DEFAULT_EDGE_FADE_SECONDS` (2 ms) where the clip cuts into the file (``offset_seconds`` > 0 at
  the start, a ``length_seconds`` that ends before the file at the end) and 0 where the clip edge is the
  file's own edge (a drum hit keeps its attack). 0 means no fade. Fades longer than the clip are shortened
  in proportion.
- Channels (:func:`channel_matrix`): a mono file plays at full level on every output channel (centred);
  a file with the track's channel count plays as is; fewer channels go to the first outputs. More
  channels fold down: to stereo by ITU-R BS.775 for the WAVE layouts of 3 to 8 channels (centre and
  surrounds at -3 dB, LFE dropped), otherwise channel ``c`` goes to output ``c % outputs``, averaged;
  to mono as the mean of that stereo fold. Folds are not normalised: the fader sets the level.
- Overlapping clips sum. The player's ``gain_db`` parameter (smoothed, automatable) scales its output.
"""

from __future__ import annotations

import math
import numbers
import os
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from dsp.kernels.strip import SILENCE_DB, gain_db
from engine.audiofile import DEFAULT_CACHE, AudioCache, probe_audio
from engine.errors import SessionError
from engine.events import EventBuffer
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, EventPort, Processor
from engine.tempo import TempoMap

__all__ = ["DEFAULT_EDGE_FADE_SECONDS", "FADE_SHAPES", "AudioClip", "AudioClipPlayer", "channel_matrix"]

DEFAULT_EDGE_FADE_SECONDS = 0.002
FADE_SHAPES = {"equal_power": 0, "linear": 1}  # name -> kernel code
MAX_CLIP_GAIN_DB = 24.0
_H = math.sqrt(0.5)  # -3 dB
# Stereo folds of the WAVE channel layouts (rows: left, right), ITU-R BS.775 style.
_STEREO_FOLDS = {
    3: ((1, 0, _H), (0, 1, _H)),  # L R C
    4: ((1, 0, _H, 0), (0, 1, 0, _H)),  # L R Ls Rs (quad)
    5: ((1, 0, _H, _H, 0), (0, 1, _H, 0, _H)),  # L R C Ls Rs
    6: ((1, 0, _H, 0, _H, 0), (0, 1, _H, 0, 0, _H)),  # L R C LFE Ls Rs (5.1)
    7: ((1, 0, _H, 0, 0.5, _H, 0), (0, 1, _H, 0, 0.5, 0, _H)),  # L R C LFE Cs Ls Rs (6.1)
    8: ((1, 0, _H, 0, _H, 0, _H, 0), (0, 1, _H, 0, 0, _H, 0, _H)),  # L R C LFE Lb Rb Ls Rs (7.1)
}


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class AudioClip:
    """``path`` played from ``offset_seconds`` into the file for ``length_seconds`` (None: to the file's
    end), starting at timeline beat ``start_beats``, at ``gain_db`` (at most +24; -96 or less is silence),
    with fades in seconds (None: the automatic edge fade, see the module docstring) of ``fade_shape``
    ``"equal_power"`` or ``"linear"``. Validated here; the file itself is read when the player prepares."""

    path: str | os.PathLike[str]
    start_beats: float = 0.0
    offset_seconds: float = 0.0
    length_seconds: float | None = None
    gain_db: float = 0.0
    fade_in_seconds: float | None = None
    fade_out_seconds: float | None = None
    fade_shape: str = "equal_power"
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.path, str | os.PathLike) or not os.fspath(self.path):
            raise ValueError(f"clip path must be a non-empty path, got {self.path!r}")
        _finite("clip start_beats", self.start_beats)
        if _finite("clip offset_seconds", self.offset_seconds) < 0:
            raise ValueError(f"clip offset_seconds must be >= 0, got {self.offset_seconds}")
        if self.length_seconds is not None and _finite("clip length_seconds", self.length_seconds) <= 0:
            raise ValueError(
                f"clip length_seconds must be > 0 (or None: to the end), got {self.length_seconds}"
            )
        if _finite("clip gain_db", self.gain_db) > MAX_CLIP_GAIN_DB:
            raise ValueError(f"clip gain_db must be at most {MAX_CLIP_GAIN_DB:g} dB, got {self.gain_db}")
        for what in ("fade_in_seconds", "fade_out_seconds"):
            v = getattr(self, what)
            if v is not None and _finite(f"clip {what}", v) < 0:
                raise ValueError(f"clip {what} must be >= 0 (or None: automatic), got {v}")
        if self.fade_shape not in FADE_SHAPES:
            raise ValueError(
                f"clip fade_shape must be one of {', '.join(FADE_SHAPES)}, got {self.fade_shape!r}"
            )

    def label(self, index: int) -> str:
        return f"clip {index} ({self.name or os.fspath(self.path)})"


def channel_matrix(src_channels: int, out_channels: int) -> np.ndarray:
    """The ``(out_channels, src_channels)`` gains that map a file's channels onto a track's."""
    if src_channels < 1 or out_channels < 1:
        raise ValueError(f"channel counts must be >= 1, got {src_channels} -> {out_channels}")
    m = np.zeros((out_channels, src_channels), dtype=np.float32)
    if src_channels == 1:
        m[:, 0] = 1.0
    elif src_channels <= out_channels:
        m[np.arange(src_channels), np.arange(src_channels)] = 1.0
    elif out_channels == 1:
        m[0] = channel_matrix(src_channels, 2).mean(axis=0)
    elif out_channels == 2 and src_channels in _STEREO_FOLDS:
        m[:] = np.array(_STEREO_FOLDS[src_channels], dtype=np.float32)
    else:
        for c in range(src_channels):
            m[c % out_channels, c] = 1.0
        m /= m.sum(axis=1, keepdims=True)
    return m


@njit(cache=True, nogil=True)
def _fade(x, shape):
    if shape == 0:
        return math.sin(0.5 * math.pi * x)
    return x


@njit(cache=True, nogil=True)
def mix_clip(
    out, out_off, frames, seg_start, src, src_offset, clip_start, clip_len, matrix, gain, fi, fo, shape
):
    """Add the part of one clip that falls in timeline samples ``seg_start .. seg_start + frames`` into
    ``out[:, out_off:]``: file sample ``src_offset + k`` at clip sample ``k``, through ``matrix``, times
    ``gain`` and fades of ``fi``/``fo`` samples."""
    a = clip_start - seg_start  # block position of the clip's first sample, relative to out_off
    lo = max(a, 0)
    hi = min(a + clip_len, frames)
    n_out = out.shape[0]
    n_src = src.shape[0]
    for t in range(lo, hi):
        k = t - a
        g = gain
        if k < fi:
            g *= _fade(k / fi, shape)
        r = clip_len - 1 - k
        if r < fo:
            g *= _fade(r / fo, shape)
        i = src_offset + k
        for o in range(n_out):
            acc = 0.0
            for c in range(n_src):
                acc += matrix[o, c] * src[c, i]
            out[o, out_off + t] += g * acc


class _Placed:
    """A clip ready to mix: everything in samples at the session rate."""

    __slots__ = ("fi", "fo", "gain", "length", "matrix", "offset", "shape", "src", "start")

    def __init__(self, start, length, src, offset, matrix, gain, fi, fo, shape) -> None:
        self.start, self.length, self.src, self.offset = start, length, src, offset
        self.matrix, self.gain, self.fi, self.fo, self.shape = matrix, gain, fi, fo, shape


class _Schedule:
    """Clips sorted by start, with the running maximum of their ends for a binary search of a segment."""

    def __init__(self, placed: list[_Placed]) -> None:
        placed.sort(key=lambda p: p.start)
        self.clips = placed
        self.starts = [p.start for p in placed]
        self.max_ends: list[int] = []
        m = -(2**62)
        for p in placed:
            m = max(m, p.start + p.length)
            self.max_ends.append(m)


def _seconds_to_samples(seconds: float, rate: int) -> int:
    return math.floor(seconds * rate + 0.5)


class AudioClipPlayer(Processor):
    """Plays :class:`AudioClip` s at their timeline positions (see the module docstring).

    No audio inputs; one output of ``channels`` (default 2). The ``midi`` event input is there so that
    ``Session.build`` can wire the track's sequencer to it; events are ignored. ``cache`` (default
    :data:`engine.audiofile.DEFAULT_CACHE`) decides where decoded files are shared. Latency 0.
    """

    event_inputs = (EventPort("midi"),)

    def __init__(
        self,
        clips: Iterable[AudioClip] = (),
        channels: int = 2,
        gain_db: float = 0.0,
        tempo_map: TempoMap | None = None,
        cache: AudioCache | None = None,
    ) -> None:
        super().__init__()
        self.audio_outputs = (AudioPort("out", channels),)
        self.channels = channels
        self.gain_db = self.add_param(Parameter("gain_db", SILENCE_DB, 24.0, 0.0, "dB"))
        self.gain_db.set(gain_db)
        self.gain_db.reset()
        self.clips: tuple[AudioClip, ...] = self._checked(clips)
        self.tempo_map = tempo_map if tempo_map is not None else TempoMap()
        self.cache = cache if cache is not None else DEFAULT_CACHE
        self._schedule = _Schedule([])
        self._ones = np.ones(1, dtype=np.float64)

    @staticmethod
    def _checked(clips: Iterable[AudioClip]) -> tuple[AudioClip, ...]:
        out = tuple(clips)
        for i, c in enumerate(out):
            if not isinstance(c, AudioClip):
                raise TypeError(f"clip {i}: expected an AudioClip, got {type(c).__name__}")
        return out

    # -- control side -----------------------------------------------------------------------------------
    def set_tempo_map(self, tempo_map: TempoMap) -> None:
        """Place the clips with ``tempo_map`` (``Session.build`` calls this); at once if prepared."""
        self.tempo_map = tempo_map
        if self.sample_rate:
            self._schedule = self._place(self.clips)

    def set_clips(self, clips: Iterable[AudioClip]) -> None:
        """Replace the clips; if prepared, files are loaded now and the audio side swaps to them whole.
        A failure (a bad file) raises and leaves the current clips playing."""
        new = self._checked(clips)
        if self.sample_rate:
            self._schedule = self._place(new)
        self.clips = new

    def end_beats(self, tempo_map: TempoMap | None = None) -> float:
        """The timeline beat where the last clip ends (0.0 without clips) with ``tempo_map`` (default: the
        player's); reads file headers only. Give it to ``Session(length_beats=...)``."""
        tm = tempo_map if tempo_map is not None else self.tempo_map
        end = 0.0
        for c in self.clips:
            remaining = probe_audio(c.path).duration_seconds - c.offset_seconds
            seconds = remaining if c.length_seconds is None else min(remaining, c.length_seconds)
            end = max(end, tm.seconds_to_beat(tm.beat_to_seconds(c.start_beats) + max(seconds, 0.0)))
        return end

    def _place(self, clips: Sequence[AudioClip]) -> _Schedule:
        rate = int(self.sample_rate)
        edge = _seconds_to_samples(DEFAULT_EDGE_FADE_SECONDS, rate)
        matrices: dict[int, np.ndarray] = {}
        placed = []
        for i, c in enumerate(clips):
            data = self.cache.get(c.path, rate)
            n = data.frames
            offset = _seconds_to_samples(c.offset_seconds, rate)
            if offset >= n:
                raise SessionError(
                    f"{c.label(i)}: offset {c.offset_seconds:g} s is at or past the end of the file"
                    f" ({data.duration_seconds:g} s)"
                )
            length = n - offset
            if c.length_seconds is not None:
                length = min(length, _seconds_to_samples(c.length_seconds, rate))
                if length < 1:
                    raise SessionError(f"{c.label(i)}: length {c.length_seconds:g} s is under one sample")
            fi = edge if c.fade_in_seconds is None and offset > 0 else 0
            fo = edge if c.fade_out_seconds is None and offset + length < n else 0
            if c.fade_in_seconds is not None:
                fi = _seconds_to_samples(c.fade_in_seconds, rate)
            if c.fade_out_seconds is not None:
                fo = _seconds_to_samples(c.fade_out_seconds, rate)
            if fi + fo > length:  # shorten both in proportion so they fit the clip
                fi = fi * length // (fi + fo)
                fo = length - fi
            start = math.floor(self.tempo_map.beat_to_sample(c.start_beats, rate) + 0.5)
            gain = 0.0 if c.gain_db <= SILENCE_DB else 10.0 ** (c.gain_db / 20.0)
            m = matrices.get(data.channels)
            if m is None:
                m = matrices[data.channels] = channel_matrix(data.channels, self.channels)
            placed.append(
                _Placed(start, length, data.samples, offset, m, gain, fi, fo, FADE_SHAPES[c.fade_shape])
            )
        return _Schedule(placed)

    # -- the contract -----------------------------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        """Load and resample every clip's file (control side) and place the clips on the timeline."""
        super().prepare(sample_rate, max_block_size)
        self._ones = np.ones(max_block_size, dtype=np.float64)
        self._schedule = self._place(self.clips)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        out = audio_out[0]
        n = ctx.frames
        out[:, :n] = 0.0
        level = self.gain_db.render(ctx)
        if not ctx.playing:
            return
        sched = self._schedule  # one read: a swap from the control side lands whole, at a block edge
        sounded = False
        for k in range(ctx.num_segments):
            s = int(ctx.seg_start[k])
            f = int(ctx.seg_frames[k])
            off = int(ctx.seg_offset[k])
            for i in range(bisect_right(sched.max_ends, s), bisect_left(sched.starts, s + f)):
                p = sched.clips[i]
                if p.start + p.length <= s:
                    continue
                mix_clip(
                    out, off, f, s, p.src, p.offset, p.start, p.length, p.matrix, p.gain, p.fi, p.fo, p.shape
                )
                sounded = True
        if sounded and not (self.gain_db.is_constant and level[0] == 0.0):
            gain_db(out, out, level, self._ones, n, self.gain_db.is_constant)
