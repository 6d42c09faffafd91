"""The tempo map and time-signature map of a song: where each beat and bar falls in seconds and samples.

Positions are in beats (quarter notes counted from 0.0 at the song start) and bars (counted from 0; only
:meth:`TempoMap.format_position` shows them 1-based). Build a :class:`TempoMap` from :class:`TempoPoint`
and :class:`TimeSignature` lists (it is immutable and validates them), then call
:meth:`TempoMap.beat_to_seconds` / :meth:`TempoMap.beat_to_sample` (or :meth:`TempoMap.beats_to_seconds`
for arrays) to place events, their inverses to read the transport position back as beats, and
:meth:`TempoMap.bar_to_beat` / :meth:`TempoMap.beat_to_bar` to go between bars and beats.

Every query is a binary search over values precomputed per tempo point or signature, plus a closed form.
Beat 0 is always second 0; before the first tempo point (pre-roll, negative beats) the first tempo holds.
"""

from __future__ import annotations

import math
import numbers
import operator
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_BPM",
    "MIN_BPM",
    "RAMPS",
    "TICKS_PER_QUARTER",
    "TempoMap",
    "TempoPoint",
    "TimeSignature",
]

MIN_BPM = 1.0
MAX_BPM = 999.0
RAMPS = ("step", "linear")
# The display resolution of format_position; 960 PPQ is common MIDI resolution, and 960 * 4 / 64 = 60
# keeps a whole number of ticks per beat for every allowed denominator.
TICKS_PER_QUARTER = 960
_DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class TempoPoint:
    """The tempo from ``beat`` on; ``ramp`` says how the tempo goes to the *next* point.

    ``"step"`` holds ``bpm`` until the next point; ``"linear"`` changes the tempo linearly in beats so it
    reaches the next point's bpm at that point's beat. Validated by :class:`TempoMap`.
    """

    beat: float
    bpm: float
    ramp: str = "step"


@dataclass(frozen=True)
class TimeSignature:
    """``numerator``/``denominator`` from bar ``bar`` on (bars count from 0); validated by :class:`TempoMap`.

    A change can only fall on a bar line, since it is given in bars.
    """

    bar: int
    numerator: int
    denominator: int

    @property
    def bar_length_beats(self) -> float:
        """The length of one bar in quarter notes; exact, since the denominator is a power of two."""
        return self.numerator * 4 / self.denominator


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bpm_ok(bpm: float) -> bool:
    # NaN and infinities fail the comparison, so this is also the finiteness check.
    return MIN_BPM <= bpm <= MAX_BPM


def _validate_points(points: tuple[TempoPoint, ...]) -> None:
    for i, p in enumerate(points):
        if not isinstance(p, TempoPoint):
            raise TypeError(f"tempo point {i}: expected a TempoPoint, got {type(p).__name__}")
        if not (math.isfinite(p.beat) and p.beat >= 0):
            raise ValueError(f"tempo point {i}: beat must be finite and >= 0, got {p.beat}")
        if not _bpm_ok(p.bpm):
            raise ValueError(f"tempo point {i}: bpm must be in 1..999, got {p.bpm}")
        if p.ramp not in RAMPS:
            raise ValueError(f"tempo point {i}: ramp must be 'step' or 'linear', got {p.ramp!r}")
        if i and p.beat <= points[i - 1].beat:
            raise ValueError(
                f"tempo point {i}: beat must be greater than the previous point's beat "
                f"{points[i - 1].beat}, got {p.beat}"
            )
    if points[-1].ramp == "linear":
        raise ValueError(f"tempo point {len(points) - 1}: a linear ramp needs a following point to ramp to")


def _validate_signatures(signatures: tuple[TimeSignature, ...]) -> None:
    for j, s in enumerate(signatures):
        if not isinstance(s, TimeSignature):
            raise TypeError(f"time signature {j}: expected a TimeSignature, got {type(s).__name__}")
        if not _is_int(s.bar):
            raise ValueError(f"time signature {j}: bar must be an integer, got {s.bar!r}")
        if j == 0 and s.bar != 0:
            raise ValueError(f"time signature 0: the first time signature must be at bar 0, got bar {s.bar}")
        if j and s.bar <= signatures[j - 1].bar:
            raise ValueError(
                f"time signature {j}: bar must be greater than the previous signature's bar "
                f"{signatures[j - 1].bar}, got {s.bar}"
            )
        if not (_is_int(s.numerator) and 1 <= s.numerator <= 64):
            raise ValueError(
                f"time signature {j}: numerator must be an integer in 1..64, got {s.numerator!r}"
            )
        if not (_is_int(s.denominator) and s.denominator in _DENOMINATORS):
            raise ValueError(
                f"time signature {j}: denominator must be a power of two in 1..64, got {s.denominator!r}"
            )


def _seconds_over(d: float, t0: float, k: float) -> float:
    """Seconds taken by ``d`` beats from a point of tempo ``t0`` whose tempo changes by ``k`` bpm per beat."""
    if k == 0.0:
        return d * 60.0 / t0
    # The integral of 60 / (t0 + k x) over x in 0..d; log1p keeps precision on gentle ramps.
    return 60.0 / k * math.log1p(k * d / t0)


def _check_sample_rate(sample_rate: float) -> None:
    if not (math.isfinite(sample_rate) and sample_rate > 0):
        raise ValueError(f"sample_rate must be finite and > 0, got {sample_rate}")


class TempoMap:
    """Tempo points and time signatures of a song, with conversions between beats, seconds and bars.

    With no ``points`` the tempo is a constant ``bpm``. If the first point is after beat 0, its bpm also
    holds before it (no point is added; ``points`` is kept as given). With no ``time_signatures`` the song
    is 4/4 from bar 0; otherwise the first signature must be at bar 0. Invalid input raises ValueError
    naming the item at fault, e.g. ``"tempo point 2: bpm must be in 1..999, got 0"``.
    """

    __slots__ = (
        "_bar_len",
        "_beats",
        "_beats_arr",
        "_bpms",
        "_bpms_arr",
        "_points",
        "_seconds",
        "_seconds_arr",
        "_sig_bars",
        "_sig_beats",
        "_signatures",
        "_slopes",
        "_slopes_arr",
    )

    def __init__(
        self,
        points: Sequence[TempoPoint] = (),
        time_signatures: Sequence[TimeSignature] = (),
        bpm: float = 120.0,
    ) -> None:
        if not _bpm_ok(bpm):
            raise ValueError(f"bpm must be in 1..999, got {bpm}")
        self._points = tuple(points) or (TempoPoint(0.0, float(bpm)),)
        _validate_points(self._points)
        self._signatures = tuple(time_signatures) or (TimeSignature(0, 4, 4),)
        _validate_signatures(self._signatures)

        pts = self._points
        self._beats = [float(p.beat) for p in pts]
        self._bpms = [float(p.bpm) for p in pts]
        # Slope in bpm per beat; 0 for a step, and for a linear ramp between equal tempi, so that both take
        # the plain 60 * beats / bpm form instead of dividing by zero.
        self._slopes = [
            (pts[i + 1].bpm - p.bpm) / (pts[i + 1].beat - p.beat) if p.ramp == "linear" else 0.0
            for i, p in enumerate(pts)
        ]
        # Seconds at each point; the first tempo extends back to beat 0 so that beat 0 is always second 0.
        seconds = [self._beats[0] * 60.0 / self._bpms[0]]
        for i in range(len(pts) - 1):
            d = self._beats[i + 1] - self._beats[i]
            seconds.append(seconds[i] + _seconds_over(d, self._bpms[i], self._slopes[i]))
        self._seconds = seconds
        self._beats_arr = np.array(self._beats)
        self._bpms_arr = np.array(self._bpms)
        self._slopes_arr = np.array(self._slopes)
        self._seconds_arr = np.array(self._seconds)

        sigs = self._signatures
        self._sig_bars = [int(s.bar) for s in sigs]
        self._bar_len = [s.bar_length_beats for s in sigs]
        sig_beats = [0.0]
        for j in range(1, len(sigs)):
            sig_beats.append(
                sig_beats[-1] + (self._sig_bars[j] - self._sig_bars[j - 1]) * self._bar_len[j - 1]
            )
        self._sig_beats = sig_beats

    @property
    def points(self) -> tuple[TempoPoint, ...]:
        return self._points

    @property
    def time_signatures(self) -> tuple[TimeSignature, ...]:
        return self._signatures

    def __repr__(self) -> str:
        return f"TempoMap(points={self._points!r}, time_signatures={self._signatures!r})"

    # -- tempo: beats <-> seconds ------------------------------------------------------------------------

    def tempo_at_beat(self, beat: float) -> float:
        """The tempo in bpm at ``beat``."""
        i = bisect_right(self._beats, beat) - 1
        if i < 0:
            return self._bpms[0]
        return self._bpms[i] + self._slopes[i] * (beat - self._beats[i])

    def tempo_at_seconds(self, seconds: float) -> float:
        """The tempo in bpm at ``seconds`` from the song start."""
        i = bisect_right(self._seconds, seconds) - 1
        if i < 0 or self._slopes[i] == 0.0:
            return self._bpms[max(i, 0)]
        # On a linear-in-beats ramp the tempo is exponential in time: dT/dt = k T / 60.
        return self._bpms[i] * math.exp(self._slopes[i] * (seconds - self._seconds[i]) / 60.0)

    def beat_to_seconds(self, beat: float) -> float:
        """Seconds from the song start at ``beat``; negative beats extrapolate with the first tempo."""
        i = bisect_right(self._beats, beat) - 1
        if i < 0:
            return self._seconds[0] + (beat - self._beats[0]) * 60.0 / self._bpms[0]
        return self._seconds[i] + _seconds_over(beat - self._beats[i], self._bpms[i], self._slopes[i])

    def seconds_to_beat(self, seconds: float) -> float:
        """The beat at ``seconds`` from the song start; the exact inverse of :meth:`beat_to_seconds`."""
        i = bisect_right(self._seconds, seconds) - 1
        if i < 0:
            return self._beats[0] + (seconds - self._seconds[0]) * self._bpms[0] / 60.0
        b0, t0, k = self._beats[i], self._bpms[i], self._slopes[i]
        ds = seconds - self._seconds[i]
        if k == 0.0:
            return b0 + ds * t0 / 60.0
        return b0 + t0 * math.expm1(k * ds / 60.0) / k

    def beat_to_sample(self, beat: float, sample_rate: float) -> float:
        """The sample position (not rounded) of ``beat`` at ``sample_rate``; round where you schedule."""
        _check_sample_rate(sample_rate)
        return self.beat_to_seconds(beat) * sample_rate

    def sample_to_beat(self, sample: float, sample_rate: float) -> float:
        """The beat at sample position ``sample`` at ``sample_rate``."""
        _check_sample_rate(sample_rate)
        return self.seconds_to_beat(sample / sample_rate)

    def beats_to_seconds(self, beats: np.ndarray) -> np.ndarray:
        """:meth:`beat_to_seconds` over an array (same shape out, float64); equal to the scalar one up to
        the last bit of numpy's log1p on ramps, bit for bit elsewhere."""
        b = np.asarray(beats, dtype=np.float64)
        flat = b.ravel()
        seg = np.searchsorted(self._beats_arr, flat, side="right") - 1
        before = seg < 0
        seg = np.maximum(seg, 0)
        b0, t0, s0 = self._beats_arr[seg], self._bpms_arr[seg], self._seconds_arr[seg]
        k = np.where(before, 0.0, self._slopes_arr[seg])
        d = flat - b0
        out = s0 + d * 60.0 / t0
        ramp = k != 0.0
        if ramp.any():
            kr = k[ramp]
            out[ramp] = s0[ramp] + 60.0 / kr * np.log1p(kr * d[ramp] / t0[ramp])
        return out.reshape(b.shape)

    def seconds_to_beats(self, seconds: np.ndarray) -> np.ndarray:
        """:meth:`seconds_to_beat` over an array (same shape out, float64)."""
        s = np.asarray(seconds, dtype=np.float64)
        flat = s.ravel()
        seg = np.searchsorted(self._seconds_arr, flat, side="right") - 1
        before = seg < 0
        seg = np.maximum(seg, 0)
        b0, t0, s0 = self._beats_arr[seg], self._bpms_arr[seg], self._seconds_arr[seg]
        k = np.where(before, 0.0, self._slopes_arr[seg])
        ds = flat - s0
        out = b0 + ds * t0 / 60.0
        ramp = k != 0.0
        if ramp.any():
            kr = k[ramp]
            out[ramp] = b0[ramp] + t0[ramp] * np.expm1(kr * ds[ramp] / 60.0) / kr
        return out.reshape(s.shape)

    # -- time signatures: bars <-> beats -----------------------------------------------------------------

    def _signature_index(self, bar: int) -> int:
        # Bars before bar 0 (pre-roll) take the first signature.
        return max(bisect_right(self._sig_bars, bar) - 1, 0)

    def time_signature_at_bar(self, bar: int) -> TimeSignature:
        """The time signature in force at ``bar``."""
        return self._signatures[self._signature_index(operator.index(bar))]

    def bar_length_beats(self, bar: int) -> float:
        """The length of ``bar`` in quarter notes: numerator * 4 / denominator."""
        return self._bar_len[self._signature_index(operator.index(bar))]

    def bar_to_beat(self, bar: int, beat_in_bar: float = 0.0) -> float:
        """The beat at ``beat_in_bar`` quarter notes into ``bar``; negative bars extrapolate the first
        signature (bar -1 is the pre-roll bar before the song)."""
        bar = operator.index(bar)
        j = self._signature_index(bar)
        return self._sig_beats[j] + (bar - self._sig_bars[j]) * self._bar_len[j] + beat_in_bar

    def beat_to_bar(self, beat: float) -> tuple[int, float]:
        """``(bar, beat_in_bar)`` for ``beat``: the bar index and the quarter notes since its bar line."""
        if not math.isfinite(beat):
            raise ValueError(f"beat must be finite, got {beat}")
        j = max(bisect_right(self._sig_beats, beat) - 1, 0)
        length = self._bar_len[j]
        offset = beat - self._sig_beats[j]
        n = math.floor(offset / length)
        inside = offset - n * length
        # The division can round across a bar line; keep beat_in_bar in [0, length).
        if inside < 0.0:
            n, inside = n - 1, inside + length
        elif inside >= length:
            n, inside = n + 1, inside - length
        return self._sig_bars[j] + n, inside

    def format_position(self, beat: float) -> str:
        """``beat`` as ``"bar.beat.ticks"`` for display, e.g. ``"3.2.480"``.

        Bar and beat are 1-based (bar index 0 shows as 1; the pre-roll bar -1 shows as 0). The beat counts
        units of the signature's denominator (eighths in 6/8: 1..6). Ticks count within that beat at
        :data:`TICKS_PER_QUARTER` per quarter note (480 per eighth, 1920 per half), zero-padded to three
        digits, rounded to the nearest tick.
        """
        bar, inside = self.beat_to_bar(beat)
        sig = self.time_signature_at_bar(bar)
        ticks_per_beat = TICKS_PER_QUARTER * 4 // sig.denominator
        ticks = round(inside * TICKS_PER_QUARTER)
        if ticks >= ticks_per_beat * sig.numerator:
            # Rounding reached the next bar line, which is tick 0 of the next bar.
            bar, ticks = bar + 1, 0
        beat_index, tick = divmod(ticks, ticks_per_beat)
        return f"{bar + 1}.{beat_index + 1}.{tick:03d}"
