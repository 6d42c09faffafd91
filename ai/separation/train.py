"""Training the project's own 4-stem separator: an HTDemucs (the hybrid time/spectrogram transformer Demucs)
sized to commit, on mono 22.05 kHz multitrack renders of the project's own arranger.

    python -m ai.separation.train DATA --out ai/models/weights/strum4stem.th --minutes 8 --device cuda

``DATA`` is a folder written by :mod:`ai.separation.dataset` (``train/`` and ``test/`` songs, one FLAC per
stem, and ``manifest.json``). Each step draws a batch of ``segment`` -second excerpts and remixes them as
Demucs' own training does: every stem from a song and a moment of its own, with a random gain, so the model
hears far more mixes than there are songs. The loss is the L1 distance of the waveforms. Held-out songs are
separated whole (every segment batched, the same code as separation) and scored by SDR every
``eval_every`` steps; the final model is written as a Demucs model package (float16 weights) with the
recipe, the seed and the scores beside it in ``NAME.json``.

Only torch, numpy, soundfile and the demucs package are needed here (no numba, no engine), so a GPU machine
trains from the data folder alone.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ARCH", "STEMS", "SepTrainConfig", "build_model", "load_split_arrays", "train"]

STEMS = ("drums", "bass", "lead", "other")
SAMPLE_RATE = 22050
# 4.1M parameters: 8 MB as float16
ARCH: dict[str, Any] = {
    "sources": list(STEMS),
    "audio_channels": 1,
    "samplerate": SAMPLE_RATE,
    "segment": 4,
    "channels": 24,
    "depth": 4,
    "nfft": 2048,
    "t_layers": 2,
}


@dataclass
class SepTrainConfig:
    seed: int = 0
    steps: int = 4000
    minutes: float | None = None  # stop at this wall-clock budget, whichever comes first
    batch: int = 32
    lr: float = 3e-4
    segment_s: float = 4.0
    device: str = "cpu"
    bf16: bool = True  # autocast to bfloat16 on a GPU
    eval_every: int = 1000
    eval_songs: int = 0  # 0: all held-out songs


def build_model(**overrides: Any) -> Any:
    from demucs.htdemucs import HTDemucs

    return HTDemucs(**{**ARCH, **overrides})


def load_split_arrays(data: Path, split: str) -> list[np.ndarray]:
    """Every song of a split as float32 (4, frames), stems in STEMS order."""
    import soundfile as sf

    songs = []
    for d in sorted((data / split).iterdir()):
        if not d.is_dir():
            continue
        parts = []
        for s in STEMS:
            x, sr = sf.read(str(d / f"{s}.flac"), dtype="float32", always_2d=True)
            if sr != SAMPLE_RATE:
                raise ValueError(f"{d / s}.flac is at {sr} Hz, the recipe is {SAMPLE_RATE} Hz")
            parts.append(x.mean(axis=1))
        n = min(len(p) for p in parts)
        songs.append(np.stack([p[:n] for p in parts]))
    if not songs:
        raise ValueError(f"no songs under {data / split}")
    return songs


def _remixed_batch(songs: list[np.ndarray], rng: random.Random, batch: int, length: int) -> np.ndarray:
    """(batch, stems, length): each stem from its own song and moment, gain 0.25..1.25, sign flipped at
    random; a stem left out now and then (a song without a bass), as mixes go."""
    out = np.zeros((batch, len(STEMS), length), np.float32)
    for b in range(batch):
        for k in range(len(STEMS)):
            if rng.random() < 0.1:
                continue
            song = songs[rng.randrange(len(songs))]
            start = rng.randrange(max(1, song.shape[1] - length))
            x = song[k, start : start + length]
            g = rng.uniform(0.25, 1.25) * (1 if rng.random() < 0.5 else -1)
            out[b, k, : len(x)] = g * x
    return out


def song_items(songs: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Songs as (4, frames) arrays -> the items :func:`ai.separation.evaluate.evaluate` scores."""
    return [{**{s: song[k] for k, s in enumerate(STEMS)}, "mix": song.sum(axis=0)} for song in songs]


def model_separator(
    model: Any, device: str, run: Callable[[Any], Any]
) -> Callable[..., dict[str, np.ndarray]]:
    """A mono mix -> stems function of a mono model, normalised as separation does; ``run`` takes the
    normalised (1, frames) tensor to the model's (stems, 1, frames) estimate."""
    import torch

    def separate(mix: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(mix[None, :], dtype=np.float32)).to(device)
        mean, std = x.mean(), x.std().clamp_min(1e-8)
        with torch.no_grad():
            est = (run((x - mean) / std) * std + mean).float().cpu().numpy()[:, 0]
        return {s: est[k] for k, s in enumerate(STEMS)}

    return separate


def medians(result: dict[str, Any]) -> dict[str, float]:
    """Median SDR per stem of an :func:`ai.separation.evaluate.evaluate` result, and their mean."""
    out = {s: float(result["stems"][s]["sdr_median"]) for s in STEMS}
    out["mean"] = float(np.nanmean([out[s] for s in STEMS]))
    return out


def evaluate(model: Any, songs: list[np.ndarray], device: str, bf16: bool) -> dict[str, float]:
    """Median SDR per stem (and their mean) over whole held-out songs, separated as separation does."""
    from ai.separation.demucs_models import separate_batched
    from ai.separation.evaluate import evaluate as score

    model.eval()
    fn = model_separator(model, device, lambda x: separate_batched(model, x, batch_size=32, bf16=bf16))
    return medians(score(fn, song_items(songs), SAMPLE_RATE))


def train(
    data: Path, out: Path, config: SepTrainConfig, log: Callable[[str], None] = print
) -> dict[str, Any]:
    import torch

    from ai.separation.demucs_models import save_demucs

    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    train_songs = load_split_arrays(data, "train")
    test_songs = load_split_arrays(data, "test")
    if config.eval_songs:
        test_songs = test_songs[: config.eval_songs]
    manifest = json.loads((data / "manifest.json").read_text()) if (data / "manifest.json").is_file() else {}
    device = config.device
    model = build_model().to(device)
    params = sum(p.numel() for p in model.parameters())
    log(
        f"{params / 1e6:.2f}M parameters; {len(train_songs)} training songs"
        f" ({sum(s.shape[1] for s in train_songs) / SAMPLE_RATE / 60:.1f} min), {len(test_songs)} held out"
    )
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    length = int(config.segment_s * SAMPLE_RATE)
    use_bf16 = config.bf16 and device.startswith("cuda")
    t0 = time.monotonic()
    history = []
    step = 0
    running = 0.0
    while step < config.steps:
        if config.minutes is not None and time.monotonic() - t0 > config.minutes * 60:
            break
        frac = step / config.steps  # of the run, by steps or by the time budget, whichever is further
        if config.minutes is not None:
            frac = max(frac, (time.monotonic() - t0) / (config.minutes * 60))
        lr = config.lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        for g in opt.param_groups:
            g["lr"] = lr
        stems = torch.from_numpy(_remixed_batch(train_songs, rng, config.batch, length)).to(device)
        mix = stems.sum(dim=1, keepdim=True)  # (B, 1, L)
        target = stems[:, :, None, :]  # (B, 4, 1, L)
        model.train()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            est = model(mix)
        loss = torch.nn.functional.l1_loss(est.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        value = float(loss.detach())
        running = 0.98 * running + 0.02 * value if step else value
        step += 1
        if step % 100 == 0:
            log(f"step {step}: loss {running:.5f}, lr {lr:.2e}, {time.monotonic() - t0:.0f} s")
        if step % config.eval_every == 0:
            scores = evaluate(model, test_songs, device, use_bf16)
            history.append({"step": step, "seconds": round(time.monotonic() - t0, 1), **scores})
            log(f"step {step}: held-out SDR " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    final = evaluate(model, test_songs, device, use_bf16)
    history.append({"step": step, "seconds": round(time.monotonic() - t0, 1), **final})
    meta = {
        "name": out.stem,
        "architecture": "HTDemucs",
        "arch": ARCH,
        "parameters": params,
        "stems": list(STEMS),
        "sample_rate": SAMPLE_RATE,
        "config": asdict(config),
        "steps": step,
        "train_seconds": round(time.monotonic() - t0, 1),
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "data": {
            "folder": str(data),
            "recipe": {
                k: manifest.get(k)
                for k in ("format_version", "seed", "seconds", "sample_rate", "stem_of_role", "generator")
            },
            "command": (
                f"python -m ai.separation.dataset DATA --train {len(train_songs)} --test {len(test_songs)}"
                f" --seed {manifest.get('seed')} --seconds {manifest.get('seconds')}"
            ),
            "train_songs": len(train_songs),
            "test_songs": len(test_songs),
        },
        "held_out_sdr_db": final,
        "history": history,
        "script": "python -m ai.separation.train",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_demucs(model.cpu(), out, half=True, extra={k: meta[k] for k in ("name", "stems", "steps", "config")})
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    log("held-out SDR (median dB): " + ", ".join(f"{k} {v:.2f}" for k, v in final.items()))
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ai.separation.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="a folder written by python -m ai.separation.dataset")
    ap.add_argument("--out", type=Path, required=True, help="the model file to write (NAME.th, NAME.json)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=SepTrainConfig.steps)
    ap.add_argument("--minutes", type=float, help="stop after this many minutes")
    ap.add_argument("--batch", type=int, default=SepTrainConfig.batch)
    ap.add_argument("--lr", type=float, default=SepTrainConfig.lr)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--eval-every", type=int, default=SepTrainConfig.eval_every)
    ap.add_argument("--eval-songs", type=int, default=0)
    ap.add_argument("--no-bf16", action="store_true")
    a = ap.parse_args(argv)
    config = SepTrainConfig(
        seed=a.seed, steps=a.steps, minutes=a.minutes, batch=a.batch, lr=a.lr, device=a.device,
        bf16=not a.no_bf16, eval_every=a.eval_every, eval_songs=a.eval_songs,
    )  # fmt: skip
    train(a.data, a.out, config, log=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
