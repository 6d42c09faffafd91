"""Source separation on a GPU: our batched overlap-add against Demucs' own ``apply_model``, and the project's
trained 4-stem model against a non-learned baseline.

Speed: an HTDemucs of the published size (random weights: no trained weights of that size can be had here)
separates a 240 s stereo 44.1 kHz track with ``apply_model(shifts=0, split=True, overlap=0.25)`` (one
segment at a time) and with :func:`ai.separation.demucs_models.separate_batched` (every segment batched,
float32 and bfloat16), in the same run; each is timed after a warm-up, best of ``repeats``. The outputs are
compared with apply_model's as the reference (SDR of ours against theirs).

Quality: the trained model (``ai/models/weights/strum4stem.th``, or ``STRUM_SEP_WEIGHTS``) on the held-out
renders of the data folder (``STRUM_SEP_DATA``, default ``data/sep``) with apply_model and with the batched
path (fp32, bf16): median SDR per stem against the true stems, so the batched path's SDR can be set beside
apply_model's; and the harmonic/percussive + band-split baseline (:mod:`ai.separation.baseline`) on the
same songs.

    python -m bench separation          # on a machine with a CUDA GPU (the CPU runs a short version)
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ai.separation.metrics import sdr

SOURCES = ["drums", "bass", "other", "vocals"]


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _best(fn: Any, device: str, repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best, out


def _speed_rows(device: str, quick: bool) -> list[dict[str, Any]]:
    import fractions

    import torch
    from demucs.apply import apply_model
    from demucs.htdemucs import HTDemucs

    from ai.separation.demucs_models import separate_batched

    torch.manual_seed(0)
    model = HTDemucs(sources=SOURCES, segment=fractions.Fraction(39, 5)).to(device).eval()
    seconds = 20.0 if quick else 240.0
    sr = 44100
    rng = np.random.default_rng(0)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    # a track-like signal: tones, a pulse of noise bursts, a little broadband noise
    x = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.1 * np.sin(2 * np.pi * 440 * t * (1 + 0.01 * np.sin(t)))
    x = x + 0.3 * rng.standard_normal(n) * (np.sin(2 * np.pi * 2 * t) > 0.95) + 0.01 * rng.standard_normal(n)
    mix = torch.from_numpy(np.stack([x, np.roll(x, 37)]).astype(np.float32)).to(device)
    repeats = 1 if quick else 3
    with torch.no_grad():
        separate_batched(model, mix[:, : sr * 10], batch_size=32)  # warm-up (kernels, allocator)
        apply_model(model, mix[None, :, : sr * 10], shifts=0, split=True, overlap=0.25)
        t_ref, ref = _best(
            lambda: apply_model(model, mix[None], shifts=0, split=True, overlap=0.25)[0], device, repeats
        )
        t32, o32 = _best(lambda: separate_batched(model, mix, batch_size=32), device, repeats)
        rows = [
            {"name": "ours batched fp32 (32)", "seconds": t32, "realtime_x": seconds / t32},
            {"name": "demucs apply_model", "seconds": t_ref, "realtime_x": seconds / t_ref},
        ]
        ref_np = ref.float().cpu().numpy()
        agree32 = min(sdr(ref_np[k], o32.cpu().numpy()[k]) for k in range(len(SOURCES)))
        rows[0]["note"] = f"{seconds:.0f} s stereo; vs apply_model: SDR {agree32:.1f} dB (worst stem)"
        if device.startswith("cuda"):
            t16, o16 = _best(lambda: separate_batched(model, mix, batch_size=32, bf16=True), device, repeats)
            agree16 = min(sdr(ref_np[k], o16.cpu().numpy()[k]) for k in range(len(SOURCES)))
            rows.insert(
                1,
                {
                    "name": "ours batched bf16 (32)",
                    "seconds": t16,
                    "realtime_x": seconds / t16,
                    "note": f"vs apply_model: SDR {agree16:.1f} dB (worst stem)",
                },
            )
        rows[-1]["note"] = (
            f"HTDemucs {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, random weights; "
            + (torch.cuda.get_device_name() if device.startswith("cuda") else "cpu")
        )
    return rows


def _quality_rows(device: str, quick: bool) -> list[dict[str, Any]]:
    from demucs.apply import apply_model

    from ai.separation.baseline import separate_baseline
    from ai.separation.demucs_models import load_demucs, separate_batched
    from ai.separation.evaluate import evaluate
    from ai.separation.train import SAMPLE_RATE, load_split_arrays, medians, model_separator, song_items

    default = Path(__file__).resolve().parents[1] / "ai" / "models" / "weights" / "strum4stem.th"
    weights = Path(os.environ.get("STRUM_SEP_WEIGHTS", default))
    data = Path(os.environ.get("STRUM_SEP_DATA", "data/sep"))
    if not weights.is_file() or not (data / "test").is_dir():
        return [
            {
                "name": "trained 4-stem model",
                "value": 0.0,
                "unit": "dB",
                "note": f"skipped: no {weights.name} or {data}/test",
            }
        ]
    model = load_demucs(weights).to(device).eval()
    songs = load_split_arrays(data, "test")
    if quick:
        songs = songs[:2]
    items = song_items(songs)
    cuda = device.startswith("cuda")
    runs = {
        "apply": lambda x: apply_model(model, x[None], shifts=0, split=True, overlap=0.25)[0],
        "fp32": lambda x: separate_batched(model, x, batch_size=32),
        "bf16": lambda x: separate_batched(model, x, batch_size=32, bf16=cuda),
    }
    timing = {name: 0.0 for name in runs}
    results = {}
    for name, run in runs.items():

        def timed(x: Any, name: str = name, run: Any = run) -> Any:
            t, est = _best(lambda: run(x), device, 1)
            timing[name] += t
            return est

        results[name] = medians(evaluate(model_separator(model, device, timed), items, SAMPLE_RATE))
    results["base"] = medians(evaluate(separate_baseline, items, SAMPLE_RATE))
    total_s = sum(song.shape[1] for song in songs) / SAMPLE_RATE

    def med(m: str) -> tuple[float, str]:
        per = {s: v for s, v in results[m].items() if s != "mean" and np.isfinite(v)}
        return results[m]["mean"], ", ".join(f"{s} {v:.2f}" for s, v in per.items())

    rows = []
    for m, label in (
        ("fp32", "trained, ours fp32"),
        ("apply", "trained, apply_model"),
        ("bf16", "trained, ours bf16"),
        ("base", "HPSS+bands baseline"),
    ):
        mean, text = med(m)
        note = f"median SDR per stem: {text}; {len(songs)} held-out songs"
        if m in timing:
            note += f"; {total_s / timing[m]:.0f}x real time"
        rows.append({"name": label, "value": mean, "unit": "dB", "note": note, "ratio": False})
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return _speed_rows(device, quick or device == "cpu") + _quality_rows(device, quick or device == "cpu")
