"""Demucs-family separators (Demucs, HDemucs, HTDemucs and bags of them) from local files, and the batched
overlap-add that runs them fast on a GPU.

Nothing is downloaded: a model is a file the user supplies (a serialized model package, ``.th``) or a
folder laid out as Demucs' own model folders are (``NAME.yaml`` naming the models of a bag, beside
``SIG-CHECKSUM.th`` files, or a single ``NAME.th``), so ``htdemucs``, ``htdemucs_6s`` and ``htdemucs_ft``
load from a copy of the official files.

Packages are read with ``torch.load(weights_only=True)``, the Demucs classes and ``fractions.Fraction``
allowed: a file that needs anything else to unpickle (code could run) is refused with its name unless the
caller trusts it (``trust=True``, ``strum separate --trust-model``).

:func:`separate_batched` computes what Demucs' ``apply_model(shifts=0, split=True)`` computes, segment for
segment, padding for padding, with the same triangular cross-fade, but runs every segment of the track
through the model in batches (and in bfloat16 on a GPU if asked) instead of one by one.
"""

from __future__ import annotations

import fractions
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ai.separation.errors import SeparationError

__all__ = ["DemucsSeparator", "load_demucs", "save_demucs", "separate_batched"]

Progress = Callable[[float, str], None]


def _torch() -> Any:
    import torch

    return torch


def _safe_globals() -> list[Any]:
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    return [Demucs, HDemucs, HTDemucs, fractions.Fraction]


def _load_package(path: Path, trust: bool) -> dict[str, Any]:
    torch = _torch()
    if not path.is_file():
        raise SeparationError(f"model file {path} does not exist")
    try:
        with torch.serialization.safe_globals(_safe_globals()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the pickle protocol notice
            package = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as exc:
        text = str(exc)
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if unsafe and not trust:
            raise SeparationError(
                f"model file {path} needs {unsafe.group(1)} to load, more than a model's classes and"
                " weights; load it only if you trust where it came from (trust=True, strum separate"
                " --trust-model)"
            ) from None
        reason = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        why = reason.group(1).strip() if reason else (text.splitlines()[0] if text else type(exc).__name__)
        raise SeparationError(
            f"model file {path} cannot be read as a model (damaged or not one): {why}"
        ) from None
    if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= set(package):
        raise SeparationError(f"model file {path} is not a Demucs model package (klass, args, kwargs, state)")
    return package


def save_demucs(model: Any, path: str | Path, half: bool = True, extra: dict[str, Any] | None = None) -> Path:
    """Write a model as a Demucs model package (class, constructor arguments, weights; float16 weights
    with ``half``) that :func:`load_demucs` and Demucs' own tools read. ``extra`` holds plain values
    (numbers, strings, lists, dicts) to keep beside it, such as how the model was trained."""
    torch = _torch()
    from demucs.states import get_state

    args, kwargs = model._init_args_kwargs
    package = {
        "klass": model.__class__,
        "args": args,
        "kwargs": kwargs,
        "state": get_state(model, None, half),
    }
    package["version"] = 1
    if extra:
        package["strum"] = extra
    p = Path(path)
    torch.save(package, p)
    return p


def _model_from_package(package: dict[str, Any], path: Path) -> Any:
    from demucs.states import load_model

    try:
        model = load_model(package)
    except Exception as exc:
        raise SeparationError(f"model file {path} does not build a model: {exc}") from None
    model.eval()
    return model


def load_demucs(source: str | Path, name: str | None = None, trust: bool = False) -> Any:
    """A Demucs-family model from a package file, or from a model folder and a model name (``htdemucs``,
    ``htdemucs_6s``, ``htdemucs_ft`` or a signature in that folder)."""
    path = Path(source)
    if path.is_file():
        return _model_from_package(_load_package(path, trust), path)
    if not path.is_dir():
        raise SeparationError(f"model {source} is neither a model file nor a model folder")
    if name is None:
        raise SeparationError(f"model folder {path}: name the model to load from it (e.g. htdemucs)")
    files = {p.stem.rsplit("-", 1)[0] if "-" in p.stem else p.stem: p for p in path.glob("*.th")}
    spec_file = path / f"{name}.yaml"
    if spec_file.is_file():
        import yaml

        try:
            spec = yaml.safe_load(spec_file.read_text())
            sigs = [str(s) for s in spec["models"]]
        except Exception as exc:
            raise SeparationError(f"{spec_file} is not a model bag description: {exc}") from None
        missing = [s for s in sigs if s not in files]
        if missing:
            raise SeparationError(
                f"model {name} needs {', '.join(f'{s}-*.th' for s in missing)} in {path};"
                " nothing is downloaded: copy the files there"
            )
        from demucs.apply import BagOfModels

        models = [_model_from_package(_load_package(files[s], trust), files[s]) for s in sigs]
        try:
            bag = BagOfModels(models, spec.get("weights"), spec.get("segment"))
        except Exception as exc:
            raise SeparationError(f"{spec_file}: the models do not form a bag: {exc}") from None
        bag.eval()
        return bag
    if name in files:
        return _model_from_package(_load_package(files[name], trust), files[name])
    raise SeparationError(f"no model {name!r} in {path} (no {name}.yaml, no {name}.th)")


def _triangle(segment_length: int, transition_power: float, device: Any) -> Any:
    torch = _torch()
    w = torch.cat(
        [
            torch.arange(1, segment_length // 2 + 1, device=device),
            torch.arange(segment_length - segment_length // 2, 0, -1, device=device),
        ]
    )
    return (w / w.max()) ** transition_power


def _padded(mix: Any, offset: int, length: int, target: int) -> Any:
    """``mix[..., offset:offset+length]`` widened to ``target`` around its centre with the track's own audio
    where there is some, zeros beyond its ends (Demucs' TensorChunk.padded)."""
    torch = _torch()
    total = mix.shape[-1]
    delta = target - length
    start = offset - delta // 2
    end = start + target
    a, b = max(0, start), min(total, end)
    return torch.nn.functional.pad(mix[..., a:b], (a - start, end - b))


def _valid_length(model: Any, length: int) -> int:
    if hasattr(model, "valid_length"):
        return int(model.valid_length(length))
    return length


def separate_batched(
    model: Any,
    mix: Any,
    batch_size: int = 16,
    overlap: float = 0.25,
    transition_power: float = 1.0,
    segment: float | None = None,
    bf16: bool = False,
    progress: Progress | None = None,
) -> Any:
    """Stems of ``mix`` (a tensor shaped (channels, frames) on the model's device) as a tensor shaped
    (sources, channels, frames): every segment through the model in batches of ``batch_size``."""
    torch = _torch()
    from demucs.apply import BagOfModels

    if isinstance(model, BagOfModels):
        total: Any = None
        for k, (sub, weights) in enumerate(zip(model.models, model.weights, strict=True)):

            def sub_progress(f: float, stage: str, k: int = k) -> None:
                if progress is not None:
                    progress((k + f) / len(model.models), stage)

            out = separate_batched(
                sub, mix, batch_size, overlap, transition_power, segment, bf16, sub_progress
            )
            w = torch.tensor(weights, dtype=out.dtype, device=out.device)[:, None, None]
            total = out * w if total is None else total + out * w
        sums = torch.tensor([sum(w[i] for w in model.weights) for i in range(len(model.sources))])
        return total / sums.to(total.device)[:, None, None]
    length = mix.shape[-1]
    seg = float(model.segment if segment is None else segment)
    segment_length = int(model.samplerate * seg)
    stride = int((1 - overlap) * segment_length)
    offsets = list(range(0, length, stride))
    weight = _triangle(segment_length, transition_power, mix.device)
    out = torch.zeros(len(model.sources), mix.shape[0], length, device=mix.device, dtype=torch.float32)
    sum_weight = torch.zeros(length, device=mix.device, dtype=torch.float32)
    # segments grouped by the length the model takes them at (all but a short last one share it)
    groups: dict[int, list[tuple[int, int]]] = {}
    for off in offsets:
        n = min(length - off, segment_length)
        groups.setdefault(_valid_length(model, n), []).append((off, n))
    done = 0
    for target, chunks in groups.items():
        for i in range(0, len(chunks), batch_size):
            part = chunks[i : i + batch_size]
            batch = torch.stack([_padded(mix, off, n, target) for off, n in part])
            with torch.no_grad():
                if bf16 and mix.device.type == "cuda":
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        est = model(batch)
                else:
                    est = model(batch)
            est = est.float()
            for j, (off, n) in enumerate(part):
                d = est.shape[-1] - n
                piece = est[j, ..., d // 2 : d // 2 + n]
                out[..., off : off + n] += weight[:n] * piece
                sum_weight[off : off + n] += weight[:n]
            done += len(part)
            if progress is not None:
                progress(done / len(offsets), "separating")
    return out / sum_weight


class DemucsSeparator:
    """A Demucs-family model as a separator: the track normalised as Demucs' own command does, every
    segment batched through the model, the stems scaled back."""

    def __init__(
        self,
        model: Any,
        device: str = "cpu",
        batch_size: int = 16,
        overlap: float = 0.25,
        bf16: bool = False,
        name: str = "demucs",
    ) -> None:
        from ai.separation.audio import check_device

        check_device(device)
        self.model = model.to(device)
        self.device = device
        self.batch_size = int(batch_size)
        self.overlap = float(overlap)
        self.bf16 = bool(bf16)
        self.name = name
        self.stems = tuple(model.sources)
        self.sample_rate = int(model.samplerate)
        self.channels = int(model.audio_channels)

    def separate(
        self, audio: np.ndarray, sample_rate: int, progress: Progress | None = None
    ) -> dict[str, np.ndarray]:
        from ai.separation.audio import check_audio, check_rate, from_model_rate, to_model_rate

        audio = check_audio(audio)
        sample_rate = check_rate(sample_rate)
        x = to_model_rate(audio, sample_rate, self.sample_rate)
        channels = x.shape[0]
        if self.channels == channels:
            groups = [x]
        elif self.channels == 1:  # a mono model: each channel on its own
            groups = [x[c : c + 1] for c in range(channels)]
        else:  # a stereo model, a mono mix
            groups = [np.repeat(x, self.channels, axis=0)]
        outs = []
        for g, part in enumerate(groups):

            def sub(f: float, stage: str, g: int = g) -> None:
                if progress is not None:
                    progress((g + f) / len(groups), stage)

            outs.append(self._run(part, sub))
        est = np.concatenate(outs, axis=1) if len(outs) > 1 else outs[0]
        if est.shape[1] != channels:  # back to the mix's single channel
            est = est.mean(axis=1, keepdims=True)
        return {
            s: from_model_rate(est[k], self.sample_rate, sample_rate, audio.shape[-1])
            for k, s in enumerate(self.stems)
        }

    def _run(self, x: np.ndarray, progress: Progress) -> np.ndarray:
        torch = _torch()
        mix = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        ref = mix.mean(0)
        mean, std = ref.mean(), ref.std()
        if float(std) < 1e-8:
            std = torch.ones_like(std)
        est = separate_batched(
            self.model,
            (mix - mean) / std,
            batch_size=self.batch_size,
            overlap=self.overlap,
            bf16=self.bf16,
            progress=progress,
        )
        out: np.ndarray = (est * std + mean).cpu().numpy()
        return out
