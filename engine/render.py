"""Offline rendering: the live block loop driven by a clock that does not wait.

:func:`render` plays an engine from the start to ``end_sample`` and on through the tail, until the output
stays below a threshold (-90 dBFS by default) or for a fixed length, drops the plan's latency from the
start, and streams every block to sinks: :class:`ArraySink` collects float32 arrays, :class:`WavSink`
writes a WAV file as it goes (memory stays flat however long the song) and only renames it into place
when the render has finished, so a failed render never leaves a half-written file.

Renders are deterministic: the same song gives identical bytes at the same block size, and the same
samples (within float rounding of the processors) at any block size.
"""

from __future__ import annotations

import math
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.engine import Engine
from engine.errors import RenderError
from engine.pipeline import PipelinedBlocks

__all__ = [
    "SUBTYPES",
    "ArraySink",
    "RenderStats",
    "Sink",
    "WavSink",
    "peak_db",
    "render",
    "render_array",
    "write_wav",
]

SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}


class Sink(Protocol):
    def write(self, block: np.ndarray) -> None: ...


WRITE_AHEAD = 8  # blocks a WAV sink's writer thread may fall behind


class ArraySink:
    """Collects blocks in chunks (no quadratic copying); :meth:`array` joins them."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []

    def write(self, block: np.ndarray) -> None:
        self.blocks.append(np.array(block, dtype=np.float32, copy=True))

    def array(self, channels: int = 2) -> np.ndarray:
        if not self.blocks:
            return np.zeros((channels, 0), dtype=np.float32)
        return np.concatenate(self.blocks, axis=1)


class WavSink:
    """Streams blocks into a temporary WAV beside ``path``; :meth:`commit` renames it into place.

    ``bit_depth`` "16" (TPDF-dithered, seeded so repeatable), "24" (clipped to full scale) or "32f".
    Blocks are converted and written on a writer thread, in order, while the render goes on (at most
    :data:`WRITE_AHEAD` blocks wait); an error there (a full disk) is raised by the next :meth:`write` or
    by :meth:`finish`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        channels: int = 2,
        bit_depth: str = "24",
        dither: bool = True,
        seed: int = 0,
    ) -> None:
        import soundfile as sf

        if bit_depth not in SUBTYPES:
            raise RenderError(f"bit depth must be one of 16, 24, 32f; got {bit_depth!r}")
        self.path = Path(path)
        if self.path.is_dir():
            raise RenderError(f"{self.path}: is a directory")
        parent = self.path.parent
        if not parent.is_dir():
            raise RenderError(f"{self.path}: folder {parent} does not exist")
        self.bit_depth = bit_depth
        self._rng = np.random.default_rng(seed) if (dither and bit_depth == "16") else None
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=parent)
        os.close(fd)
        self._tmp = tmp
        try:
            self._file = sf.SoundFile(tmp, "w", int(sample_rate), channels, SUBTYPES[bit_depth], format="WAV")
        except BaseException:
            os.unlink(tmp)
            raise
        self.frames = 0
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(WRITE_AHEAD)
        self._error: BaseException | None = None
        self._writer: threading.Thread | None = None

    def write(self, block: np.ndarray) -> None:
        """Queue a block (channels, frames) for writing; it is copied, so the caller may reuse it."""
        if self._error is not None:
            raise self._error
        if self._writer is None:
            self._writer = threading.Thread(target=self._drain, daemon=True, name="strum-wav-writer")
            self._writer.start()
        data = np.array(block, dtype=np.float32)
        self.frames += data.shape[1]
        self._queue.put(data)

    def _drain(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._error is None:
                try:
                    self._write_now(data)
                except BaseException as exc:  # reported to the render's thread
                    self._error = exc

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None

    def _write_now(self, block: np.ndarray) -> None:
        data = block.T
        if self.bit_depth == "16":
            scaled = data.astype(np.float64) * 32767.0
            if self._rng is not None:
                scaled += self._rng.random(scaled.shape) - self._rng.random(scaled.shape)  # TPDF, +-1 LSB
            self._file.write(np.clip(np.round(scaled), -32768, 32767).astype(np.int16))
        elif self.bit_depth == "24":
            self._file.write(np.clip(data, -1.0, 1.0 - 2.0**-23))
        else:
            self._file.write(np.ascontiguousarray(data))

    def finish(self) -> None:
        """Write what is queued, then close and flush the temporary file to disk (it is not yet in place)."""
        self._stop_writer()
        if self._error is not None:
            raise self._error
        if self._file.closed:
            return
        self._file.close()
        with open(self._tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(self._tmp, _new_file_mode(self.path))  # mkstemp made it owner-only

    def publish(self) -> Path:
        """Rename the finished file into place (atomic on one file system)."""
        self.finish()
        os.replace(self._tmp, self.path)
        return self.path

    def commit(self) -> Path:
        """Finish and publish in one step."""
        return self.publish()

    def abort(self) -> None:
        """Drop the temporary file; the target is left as it was."""
        self._stop_writer()
        try:
            if not self._file.closed:
                self._file.close()
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)


def _new_file_mode(path: Path) -> int:
    """The mode a plain ``open()`` would give a new file (or the mode of the file being replaced)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


@dataclass
class RenderStats:
    sample_rate: int
    frames: int  # written to each sink
    song_frames: int
    tail_frames: int
    peak: float  # of the mix

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def render(
    engine: Engine,
    end_sample: int,
    mix: Sink,
    stems: Mapping[str, tuple[str, Sink]] | None = None,
    block_size: int | None = None,
    tail: str | float = "auto",
    tail_threshold_db: float = -90.0,
    max_tail_seconds: float = 30.0,
    progress: Callable[[float], None] | None = None,
) -> RenderStats:
    """Render from the start of the timeline to ``end_sample``, then the tail, into ``mix``.

    ``tail`` is ``"auto"`` (until the output has stayed below ``tail_threshold_db`` for 0.5 s, cut after
    the last sample above it, at most ``max_tail_seconds``) or a length in seconds. ``stems`` maps a name
    to (tap reference compiled into the engine's plan, sink). ``progress`` gets a fraction 0..1.
    """
    if end_sample < 0:
        raise RenderError(f"end sample must be >= 0, got {end_sample}")
    block = int(block_size or engine.max_block_size)
    if not 1 <= block <= engine.max_block_size:
        raise RenderError(f"block size {block} must be in 1..{engine.max_block_size} (the engine's maximum)")
    sr = int(engine.sample_rate)
    plan = engine.commit()
    stems = dict(stems or {})
    for name, (ref, _) in stems.items():
        if ref not in plan.taps:
            raise RenderError(f"stem {name!r}: {ref!r} is not a tap of the engine's plan")
    if tail == "auto":
        fixed_tail: int | None = None
        max_tail = int(max_tail_seconds * sr)
    else:
        try:
            seconds = float(tail)
        except (TypeError, ValueError):
            raise RenderError(f"tail must be 'auto' or seconds, got {tail!r}") from None
        if not 0 <= seconds <= 3600:  # also refuses nan and inf
            raise RenderError(f"tail must be 0..3600 seconds, got {tail}")
        fixed_tail = round(seconds * sr)
        max_tail = fixed_tail
    threshold = 10.0 ** (tail_threshold_db / 20.0)
    quiet_needed = sr // 2

    engine.transport.locate(0)
    engine.transport.play()
    engine.reset()
    # the mix first, then the stems; each is trimmed by its own latency so all line up with the mix
    mix_stream = _Stream(mix, None, plan.latency_samples, end_sample, fixed_tail)
    streams = [mix_stream] + [
        _Stream(sink, ref, plan.tap_latency[ref], end_sample, fixed_tail) for ref, sink in stems.values()
    ]
    lead = max(st.latency for st in streams)

    limit = end_sample + max_tail  # output frames every stream must be able to reach
    raw = 0  # frames rendered so far, before trimming
    last_loud = end_sample - 1  # output index of the last loud tail sample of the mix
    quiet_run = 0
    # a plan split in two stages runs them overlapped, the instruments a block ahead (engine.pipeline)
    current = engine.take_plan()
    assert current is not None
    ahead = PipelinedBlocks(engine) if current.split else None
    try:
        while raw - lead < limit:
            n = min(block, limit + lead - raw)
            if ahead is not None:
                ahead.process_block(n, max(0, min(block, limit + lead - raw - n)))
            else:
                engine.process_block(n)
                current = engine.plan  # (a plan committed meanwhile is swapped in at a block's start)
                assert current is not None
            for st in streams:
                st.push(current.output if st.tap is None else current.taps[st.tap], raw)
            raw += n
            if progress is not None:
                progress(min(1.0, max(0, raw - mix_stream.latency) / max(1, end_sample)))
            if fixed_tail is not None:
                continue
            # auto tail: track the last loud sample of the mix past the song end
            first = max(0, end_sample + mix_stream.latency - (raw - n))  # first in-block sample past the end
            if first >= n:
                continue
            level = np.abs(current.output[:, first:]).max(axis=0)
            loud = np.nonzero(level >= threshold)[0]
            if loud.size:
                last_loud = raw - n + first - mix_stream.latency + int(loud[-1])
                quiet_run = level.shape[0] - 1 - int(loud[-1])
            else:
                quiet_run += level.shape[0]
            if quiet_run >= quiet_needed and raw - lead >= end_sample:
                break
    finally:
        if ahead is not None:
            ahead.close()
    engine.transport.stop()
    total = end_sample + max_tail if fixed_tail is not None else max(end_sample, last_loud + 1)
    for st in streams:
        st.finish(total)
    if progress is not None:
        progress(1.0)
    return RenderStats(sr, total, end_sample, total - end_sample, mix_stream.peak)


class _Stream:
    """One output of a render (the mix or a stem): drops its latency from the start, writes the song
    straight to its sink and holds the tail until the cut is known."""

    def __init__(self, sink: Sink, tap: str | None, latency: int, end: int, fixed_tail: int | None) -> None:
        self.sink = sink
        self.tap = tap
        self.latency = latency
        # output frames that can be written at once: the song, or everything when the tail is fixed
        self.direct_end = end + fixed_tail if fixed_tail is not None else end
        self.hold = fixed_tail is None
        self.written = 0
        self.held: list[np.ndarray] = []
        self.peak = 0.0
        self.channels = 2

    def push(self, buf: np.ndarray, raw_start: int) -> None:
        """``buf`` holds rendered frames ``raw_start ..``; their output index is ``raw - latency``."""
        n = buf.shape[1]
        first_out = raw_start - self.latency
        lo = max(0, -first_out)  # in-block start of what is past the latency
        if lo >= n:
            return
        self.channels = buf.shape[0]
        if self.tap is None:  # the mix reports its peak
            self.peak = max(self.peak, float(np.abs(buf[:, lo:]).max()))
        direct = max(0, min(n, self.direct_end - first_out) - lo)
        if direct:
            self.sink.write(buf[:, lo : lo + direct])
            self.written += direct
        if self.hold and lo + direct < n:
            self.held.append(buf[:, lo + direct :].copy())

    def finish(self, total: int) -> None:
        """Write held tail frames up to ``total`` output frames (silence if the stream falls short)."""
        remaining = total - self.written
        for b in self.held:
            if remaining <= 0:
                break
            self.sink.write(b[:, :remaining])
            remaining -= min(remaining, b.shape[1])
        if remaining > 0:
            self.sink.write(np.zeros((self.channels, remaining), dtype=np.float32))
        self.held = []


def render_array(
    engine: Engine, end_sample: int, stems: Mapping[str, str] | None = None, **kwargs: Any
) -> tuple[np.ndarray, dict[str, np.ndarray], RenderStats]:
    """Render to float32 arrays: (mix, {stem: audio}, stats)."""
    mix = ArraySink()
    stem_sinks = {name: (ref, ArraySink()) for name, ref in (stems or {}).items()}
    stats = render(engine, end_sample, mix, stem_sinks, **kwargs)
    return mix.array(), {n: s.array() for n, (_, s) in stem_sinks.items()}, stats


def write_wav(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    bit_depth: str = "24",
    dither: bool = True,
    seed: int = 0,
) -> Path:
    """Write ``(channels, frames)`` float audio to a WAV file atomically."""
    sink = WavSink(path, sample_rate, audio.shape[0], bit_depth, dither, seed)
    try:
        sink.write(audio)
    except BaseException:
        sink.abort()
        raise
    return sink.commit()


def peak_db(audio_or_peak: np.ndarray | float) -> float:
    peak = (
        float(np.abs(audio_or_peak).max())
        if isinstance(audio_or_peak, np.ndarray) and audio_or_peak.size
        else float(audio_or_peak)
        if not isinstance(audio_or_peak, np.ndarray)
        else 0.0
    )
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf
