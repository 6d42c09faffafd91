"""Audio in and out of separators: checks, reading a mix from a file, moving between the caller's rate and
channel count and the model's."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ai.separation.errors import SeparationError

__all__ = ["check_audio", "from_model_rate", "read_mix", "to_model_rate"]


def check_audio(audio: np.ndarray) -> None:
    """Float audio shaped (channels, frames), 1 or 2 channels, finite, not empty."""
    if not isinstance(audio, np.ndarray) or audio.ndim != 2:
        shape = getattr(audio, "shape", None)
        raise SeparationError(f"audio must be an array shaped (channels, frames), got shape {shape}")
    if audio.shape[0] not in (1, 2):
        raise SeparationError(f"audio must have 1 or 2 channels, got {audio.shape[0]} (shape {audio.shape})")
    if audio.shape[1] == 0:
        raise SeparationError("audio holds no frames")
    if not np.issubdtype(audio.dtype, np.floating):
        raise SeparationError(f"audio must be floating point, got {audio.dtype}")
    if not np.all(np.isfinite(audio)):
        raise SeparationError("audio holds NaN or infinite samples")


def read_mix(path: str | Path) -> tuple[np.ndarray, int]:
    """A mixed song from a file: float32 (channels, frames) and its rate; stereo and mono are taken, more
    channels are refused. SeparationError names the file and the problem."""
    from engine.audiofile import AudioFileError, read_audio

    try:
        data = read_audio(path)
    except AudioFileError as exc:
        raise SeparationError(str(exc)) from None
    audio = np.array(data.samples, dtype=np.float32)
    if audio.shape[0] > 2:
        raise SeparationError(f"{path}: {audio.shape[0]} channels; separation takes mono or stereo mixes")
    check_audio(audio)
    return audio, int(data.sample_rate)


def to_model_rate(audio: np.ndarray, rate: int, model_rate: int) -> np.ndarray:
    from engine.audiofile import resample

    x = np.ascontiguousarray(audio, dtype=np.float32)
    return x if rate == model_rate else resample(x, rate, model_rate)


def from_model_rate(stem: np.ndarray, model_rate: int, rate: int, frames: int) -> np.ndarray:
    """A stem back at the caller's rate, cut or padded to exactly ``frames``."""
    from engine.audiofile import resample

    y = np.asarray(stem, dtype=np.float32)
    if rate != model_rate:
        y = resample(y, model_rate, rate)
    if y.shape[-1] >= frames:
        return np.ascontiguousarray(y[..., :frames])
    return np.pad(y, ((0, 0), (0, frames - y.shape[-1])))
