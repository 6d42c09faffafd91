"""Audio files for clips: reading (WAV, AIFF, FLAC, OGG Vorbis/Opus, MP3), resampling, and a small cache.

:func:`read_audio` decodes a file with ``soundfile`` (libsndfile) into float32 ``(channels, frames)`` at the
file's own rate; :func:`resample` converts it to another rate with a high-quality, delay-compensated
resampler (soxr at very high quality where installed, otherwise scipy's polyphase filter with a long
Kaiser window); :class:`AudioCache` does both once per file and rate and hands every clip the same
read-only array. Every failure is an :class:`AudioFileError` that names the file and the problem.

Control side only: nothing here may run in an audio callback. Next: :class:`engine.audio_clips.AudioClip`.
"""

from __future__ import annotations

import math
import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError

try:  # soxr is the preferred resampler; scipy's polyphase filter is the fallback
    import soxr as _soxr
except ImportError:  # pragma: no cover - depends on the environment
    _soxr = None

__all__ = [
    "DEFAULT_CACHE",
    "RESAMPLERS",
    "SUPPORTED_FORMATS",
    "AudioCache",
    "AudioData",
    "AudioFileError",
    "AudioFileNotFoundError",
    "AudioInfo",
    "probe_audio",
    "read_audio",
    "resample",
    "resampled_length",
]

# libsndfile's major formats that clips accept; others it can open (AU, RAW, VOC...) are refused.
SUPPORTED_FORMATS = ("WAV", "WAVEX", "RF64", "W64", "AIFF", "FLAC", "OGG", "MP3")
RESAMPLERS = ("auto", "soxr", "poly")
# WAVE format tags that libsndfile decodes; a RIFF/WAVE file it refuses with another tag is "unsupported".
_WAV_TAGS_OK = {0x0001, 0x0003, 0xFFFE, 0x0002, 0x0006, 0x0007, 0x0011, 0x0031}
_WAV_TAG_NAMES = {0x0050: "MPEG audio", 0x0055: "MPEG layer 3 (MP3)", 0x00FF: "AAC", 0x0161: "WMA"}
_POLY_HALF_TAPS = 128  # taps per phase on each side of the polyphase filter: a long, steep low-pass
_POLY_KAISER_BETA = 12.0  # about 120 dB stop-band attenuation


class AudioFileError(EngineError, ValueError):
    """An audio file that cannot be used: not audio, corrupt, unsupported, or empty. Names the file."""


class AudioFileNotFoundError(AudioFileError, FileNotFoundError):
    """The file does not exist (the message holds its path)."""


@dataclass(frozen=True, eq=False)
class AudioData:
    """Decoded audio: ``samples`` is float32 ``(channels, frames)`` (read-only) at ``sample_rate``;
    ``source_rate`` is the file's own rate, ``format``/``subtype`` what libsndfile read it as."""

    path: Path
    samples: np.ndarray
    sample_rate: int
    source_rate: int
    format: str
    subtype: str

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate


def _sniff(path: Path) -> str | None:
    """A precise message for a file libsndfile refused, from its first bytes; None if nothing is known."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[4:8] == b"ftyp":
        return "unsupported format: MP4/M4A audio (AAC or ALAC); convert it to WAV or FLAC"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        pos = 12
        while pos + 8 <= len(head):
            cid, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
            if cid == b"fmt " and pos + 10 <= len(head):
                tag = struct.unpack("<H", head[pos + 8 : pos + 10])[0]
                if tag not in _WAV_TAGS_OK:
                    name = _WAV_TAG_NAMES.get(tag, "unknown codec")
                    return f"unsupported format: WAV encoding 0x{tag:04X} ({name}); use PCM or float WAV"
                return None
            pos += 8 + size + (size & 1)
    return None


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioFileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: zero-length file (0 bytes), not audio")


def _open_info(path: Path) -> Any:
    import soundfile as sf

    _check_path(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        detail = _sniff(path)
        if detail is not None:
            raise AudioFileError(f"{path}: {detail}") from None
        reason = getattr(exc, "error_string", str(exc))
        raise AudioFileError(f"{path}: not an audio file or its header is corrupt ({reason})") from None
    if info.format not in SUPPORTED_FORMATS:
        supported = ", ".join(SUPPORTED_FORMATS)
        raise AudioFileError(f"{path}: unsupported format {info.format} (supported: {supported})")
    if info.frames <= 0:
        raise AudioFileError(f"{path}: zero-length file: it holds no audio (0 frames)")
    if info.samplerate <= 0:
        raise AudioFileError(f"{path}: invalid sample rate {info.samplerate} in the header")
    return info


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, from its header (nothing decoded)."""

    frames: int
    sample_rate: int
    channels: int
    format: str
    subtype: str

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate


def probe_audio(path: str | os.PathLike[str]) -> AudioInfo:
    """Read a file's header only; the same AudioFileError as :func:`read_audio` if it is unusable."""
    info = _open_info(Path(path))
    return AudioInfo(int(info.frames), int(info.samplerate), int(info.channels), info.format, info.subtype)


def read_audio(path: str | os.PathLike[str]) -> AudioData:
    """Decode a whole file to float32 ``(channels, frames)`` at its own rate; AudioFileError if unusable."""
    import soundfile as sf

    p = Path(path)
    info = _open_info(p)
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        reason = getattr(exc, "error_string", str(exc))
        raise AudioFileError(f"{p}: could not decode the audio ({reason})") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{p}: zero-length file: it holds no audio (0 frames)")
    samples = np.ascontiguousarray(data.T)
    samples.flags.writeable = False
    return AudioData(p, samples, int(rate), int(rate), info.format, info.subtype)


def resampled_length(frames: int, rate_in: int, rate_out: int) -> int:
    """``round(frames * rate_out / rate_in)`` in exact integer arithmetic (halves round up)."""
    return (2 * frames * rate_out + rate_in) // (2 * rate_in)


def _as_rate(rate: float, what: str) -> int:
    if not (math.isfinite(rate) and rate > 0 and float(rate).is_integer()):
        raise ValueError(f"{what} must be a whole number of Hz > 0, got {rate}")
    return int(rate)


def _poly_filter(up: int, down: int) -> np.ndarray:
    from scipy.signal import firwin

    factor = max(up, down)
    taps = 2 * _POLY_HALF_TAPS * factor + 1  # odd and symmetric: resample_poly removes its delay exactly
    # cutoff a little under the narrower Nyquist, so the transition band ends before aliasing starts
    h = firwin(taps, 0.97 / factor, window=("kaiser", _POLY_KAISER_BETA))
    return np.asarray(h * up, dtype=np.float64)


def resample(samples: np.ndarray, rate_in: float, rate_out: float, method: str = "auto") -> np.ndarray:
    """Resample float ``(channels, frames)`` audio; returns float32 ``(channels, round(frames * out / in))``.

    ``method``: ``"soxr"`` (very high quality, linear phase), ``"poly"`` (scipy ``resample_poly`` with a
    long Kaiser-windowed filter) or ``"auto"`` (soxr where installed). Both are linear phase with their
    delay removed, so an onset at input sample ``i`` lands at output sample ``i * out / in``.
    """
    r_in, r_out = _as_rate(rate_in, "input rate"), _as_rate(rate_out, "output rate")
    if method not in RESAMPLERS:
        raise ValueError(f"resampler must be one of {', '.join(RESAMPLERS)}, got {method!r}")
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"samples must be (channels, frames), got shape {x.shape}")
    n_out = resampled_length(x.shape[1], r_in, r_out)
    if r_in == r_out:
        return np.array(x, dtype=np.float32, copy=True)
    if method == "soxr" and _soxr is None:
        raise ValueError("the soxr resampler is not installed (pip install soxr)")
    if method in ("soxr", "auto") and _soxr is not None:
        y = np.asarray(_soxr.resample(np.ascontiguousarray(x.T), r_in, r_out, quality="VHQ"), np.float32)
        y = y.reshape(-1, x.shape[0]).T
    else:
        from scipy.signal import resample_poly

        g = math.gcd(r_in, r_out)
        up, down = r_out // g, r_in // g
        y = resample_poly(x, up, down, axis=1, window=_poly_filter(up, down), padtype="constant")
    out = np.zeros((x.shape[0], n_out), dtype=np.float32)
    k = min(n_out, y.shape[1])
    out[:, :k] = y[:, :k]
    return out


class AudioCache:
    """Decoded (and resampled) files by path and rate, so a file used by many clips is held once.

    Keys include the file's size and modification time, so an edited file is read again. The least
    recently used entries go once the cache holds more than ``max_bytes`` (the newest always stays; a clip
    already prepared keeps its own reference). Safe to share between threads of the control side.
    """

    def __init__(self, max_bytes: int = 512 * 1024 * 1024, method: str = "auto") -> None:
        if method not in RESAMPLERS:
            raise ValueError(f"resampler must be one of {', '.join(RESAMPLERS)}, got {method!r}")
        self.max_bytes = int(max_bytes)
        self.method = method
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, AudioData] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return sum(d.samples.nbytes for d in self._entries.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, path: str | os.PathLike[str], sample_rate: float | None = None) -> AudioData:
        """The file's audio at ``sample_rate`` (None: the file's own rate); read and resampled on a miss."""
        p = Path(path)
        _check_path(p)
        st = p.stat()
        rate = None if sample_rate is None else _as_rate(sample_rate, "sample rate")
        key = (os.path.realpath(p), st.st_size, st.st_mtime_ns, rate)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit
            self.misses += 1
            data = read_audio(p)
            if rate is not None and rate != data.sample_rate:
                samples = resample(data.samples, data.sample_rate, rate, self.method)
                samples.flags.writeable = False
                data = AudioData(p, samples, rate, data.source_rate, data.format, data.subtype)
            self._entries[key] = data
            while len(self._entries) > 1 and self.nbytes > self.max_bytes:
                self._entries.popitem(last=False)
            return data


DEFAULT_CACHE = AudioCache()
