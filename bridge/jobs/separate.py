"""The ``separate`` job kind: a mixed song into stems, by a worker.

Parameters: ``{"audio": PATH, "model": NAME or PATH (default spleeter), "stems": [NAME...] (default all),
"device": "cpu" | "cuda" | "cuda:N", "model_dir": FOLDER, "batch": N, "bf16": bool}``. The stems are
written as ``<job id>/<stem>.wav`` under the job's output folder: first into ``.<job id>.<tag>.part/``,
renamed into place once every stem is complete, so an attempt killed halfway leaves nothing under the job's
name (the worker clears what a killed attempt left before the next one runs).

Audio that cannot be read, a model that is not installed or does not load, a stem the model does not have
and a device the worker lacks end the job ``failed`` with the reason (retrying would not help); other errors
are retried.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["check_separate_params", "run_separate"]


def check_separate_params(params: dict[str, Any], bad: type[Exception]) -> dict[str, Any]:
    audio = params.get("audio")
    if not isinstance(audio, str) or not audio:
        raise bad("a separate job needs 'audio': the path of a mixed song (WAV, FLAC, AIFF, OGG, MP3)")
    out = {**params, "audio": str(Path(audio).resolve())}
    model = params.get("model", "spleeter")
    if not isinstance(model, str) or not model:
        raise bad(f"'model' must be a model name or path, got {model!r}")
    out["model"] = model
    stems = params.get("stems")
    if stems is not None and (not isinstance(stems, list) or not all(isinstance(s, str) for s in stems)):
        raise bad(f"'stems' must be a list of stem names, got {stems!r}")
    device = params.get("device", "cpu")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise bad(f"'device' must be cpu, cuda or cuda:N, got {device!r}")
    batch = params.get("batch", 16)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 1024:
        raise bad(f"'batch' must be a whole number 1..1024, got {batch!r}")
    if "bf16" in params and not isinstance(params["bf16"], bool):
        raise bad(f"'bf16' must be true or false, got {params['bf16']!r}")
    return out


def run_separate(
    job_id: str,
    params: dict[str, Any],
    out_dir: Path,
    progress: Callable[[float, str], None],
    bad: type[Exception],
) -> dict[str, Any]:
    from ai.separation.audio import read_mix
    from ai.separation.errors import SeparationError
    from ai.separation.models import load_separator, stems_of, write_stems

    progress(0.0, "loading")
    try:
        audio, rate = read_mix(params["audio"])
        sep = load_separator(
            params.get("model", "spleeter"),
            params.get("device", "cpu"),
            params.get("model_dir"),
            trust=False,
            batch_size=int(params.get("batch", 16)),
            bf16=bool(params.get("bf16", False)),
        )
        stems = stems_of(sep, params.get("stems"))
    except SeparationError as exc:
        raise bad(str(exc)) from None
    est = sep.separate(audio, rate, progress=lambda f, stage: progress(0.95 * f, stage))
    target = out_dir / job_id
    tmp = out_dir / f".{job_id}.{uuid.uuid4().hex[:8]}.part"
    tmp.mkdir(parents=True)
    try:
        progress(0.95, "writing")
        write_stems(tmp, est, stems, rate)
        if target.exists():  # an earlier attempt that finished writing but not its record: the same stems
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress(1.0, "done")
    return {
        "output": str(target),
        "stems": {s: str(target / f"{s}.wav") for s in stems},
        "model": sep.name,
        "seconds": audio.shape[1] / rate,
    }
