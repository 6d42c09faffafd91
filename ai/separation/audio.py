"""Audio in and out of separators: checks, reading a mix from a file, moving between the caller's rate and
channel count and the model's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ai.separation.errors import AudioInputError, DeviceError, SeparationError

__all__ = [
    "MAX_RATE",
    "MIN_RATE",
    "check_audio",
    "check_device",
    "check_rate",
    "from_model_rate",
    "read_mix",
    "to_model_rate",
]

MIN_RATE, MAX_RATE = 1000, 768000


def check_device(device: str) -> Any:
    """A torch device for ``device`` (``cpu``, ``cuda``, ``cuda:N``); DeviceError if it is not one here."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise DeviceError(f"device {device!r}: not a device name ({exc})") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r}: CUDA is not available (torch {torch.__version__})")
        if (dev.index or 0) >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        return dev
    raise DeviceError(f"device {device!r}: unsupported; separators run on 'cpu' or 'cuda[:N]'")


def check_audio(audio: object) -> np.ndarray:
    """Float audio shaped (channels, frames), 1 or 2 channels, finite, not empty, as contiguous float32;
    AudioInputError says what is wrong."""
    if not isinstance(audio, np.ndarray):
        raise AudioInputError(f"audio must be a numpy array (channels, frames), got {type(audio).__name__}")
    if audio.dtype.kind != "f":
        raise AudioInputError(
            f"audio must be floating point (float32, -1..1), got {audio.dtype}; scale integer PCM first"
        )
    if audio.ndim != 2:
        hint = " (mono: pass audio[None, :])" if audio.ndim == 1 else ""
        raise AudioInputError(f"audio must be 2-D (channels, frames), got shape {audio.shape}{hint}")
    if audio.shape[0] not in (1, 2):
        hint = "; is it (frames, channels)? pass audio.T" if audio.shape[1] in (1, 2) else ""
        raise AudioInputError(f"audio must have 1 or 2 channels, got shape {audio.shape}{hint}")
    if audio.shape[1] == 0:
        raise AudioInputError("audio has no frames")
    finite = np.isfinite(audio)
    if not finite.all():
        ch, frame = np.argwhere(~finite)[0]
        raise AudioInputError(
            f"audio holds {int((~finite).sum())} NaN or infinite samples, the first at channel {ch}, "
            f"frame {frame}"
        )
    return np.ascontiguousarray(audio, dtype=np.float32)


def check_rate(sample_rate: object) -> int:
    """A sample rate as a whole number of Hz in MIN_RATE..MAX_RATE."""
    if isinstance(sample_rate, (int, float, np.integer, np.floating)) and not isinstance(sample_rate, bool):
        rate = float(sample_rate)
        if math.isfinite(rate) and rate.is_integer() and MIN_RATE <= rate <= MAX_RATE:
            return int(rate)
    raise AudioInputError(
        f"sample rate must be a whole number of Hz in {MIN_RATE}..{MAX_RATE}, got {sample_rate!r}"
    )


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
        raise AudioInputError(f"{path}: {audio.shape[0]} channels; separation takes mono or stereo mixes")
    return check_audio(audio), int(data.sample_rate)


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
