"""Separation quality on held-out renders: :func:`evaluate` runs a separator over a split of the data set
(:func:`ai.separation.dataset.load_split`) and reports SDR per stem.

Two figures per stem, both the plain SDR of :func:`ai.separation.metrics.sdr` (no projection, so no
gain or filter is forgiven):

- ``sdr``: over the whole song (the SiSEC 2021/MDX "new SDR"); the table's main figure, the median and
  mean over songs.
- ``sdr_1s``: the median over the song's 1-second windows (non-overlapping) of the SDR of each window,
  as BSS Eval v4 (museval) aggregates its frames; then the median and mean over songs. Windows whose
  reference is silent are skipped, as museval's NaN frames are.

A song whose reference stem is silent (RMS under :data:`SILENT_RMS`: the drums of a classical piece)
has no SDR for that stem and is left out of that stem's figures (``n`` says how many songs count).

``python -m ai.separation.evaluate DATA --method baseline`` prints the table; ``--method mix`` (every
stem estimated as the whole mix) and ``--method oracle`` (ideal soft masks from the true stems) give the
floor and a ceiling for masking methods.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ai.separation.dataset import SAMPLE_RATE, STEMS
from ai.separation.metrics import sdr

__all__ = ["METHODS", "SILENT_RMS", "WINDOW_SECONDS", "evaluate", "format_table", "main", "window_sdr"]

SILENT_RMS = 1e-4  # -80 dBFS: a reference this quiet is "no part" and scores no SDR
WINDOW_SECONDS = 1.0

Separator = Callable[[np.ndarray, int], dict[str, np.ndarray]]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def window_sdr(
    reference: np.ndarray, estimate: np.ndarray, sr: int, seconds: float = WINDOW_SECONDS
) -> float:
    """The median SDR over non-overlapping windows of ``seconds`` (a shorter last window counts), skipping
    windows with a silent reference; NaN when every window is silent."""
    step = max(1, round(seconds * sr))
    values = [
        sdr(reference[i : i + step], estimate[i : i + step])
        for i in range(0, reference.shape[-1], step)
        if _rms(reference[i : i + step]) >= SILENT_RMS
    ]
    return float(np.median(values)) if values else float("nan")


def evaluate(separate_fn: Separator, split_items: Sequence[dict[str, np.ndarray]], sr: int) -> dict[str, Any]:
    """Separate every song's ``"mix"`` with ``separate_fn(mix, sr)`` and score each stem against the song's
    own; returns ``{"songs": n, "stems": {stem: {"n", "sdr_median", "sdr_mean", "sdr_1s_median",
    "sdr_1s_mean"}}, "per_song": [{stem: {"sdr", "sdr_1s"}}]}`` (NaN where a reference is silent)."""
    per_song: list[dict[str, dict[str, float]]] = []
    for k, item in enumerate(split_items):
        missing = [s for s in (*STEMS, "mix") if s not in item]
        if missing:
            raise ValueError(f"song {k}: missing {', '.join(missing)}")
        estimates = separate_fn(item["mix"], sr)
        scores = {}
        for stem in STEMS:
            ref = item[stem]
            est = np.asarray(estimates[stem])
            if est.shape != ref.shape:
                raise ValueError(
                    f"song {k}: the {stem} estimate has shape {est.shape}, the reference {ref.shape}"
                )
            if _rms(ref) < SILENT_RMS:
                scores[stem] = {"sdr": float("nan"), "sdr_1s": float("nan")}
            else:
                scores[stem] = {"sdr": sdr(ref, est), "sdr_1s": window_sdr(ref, est, sr)}
        per_song.append(scores)
    stems: dict[str, dict[str, float]] = {}
    for stem in STEMS:
        song = np.array([s[stem]["sdr"] for s in per_song if np.isfinite(s[stem]["sdr"])])
        win = np.array([s[stem]["sdr_1s"] for s in per_song if np.isfinite(s[stem]["sdr_1s"])])
        stems[stem] = {
            "n": int(song.size),
            "sdr_median": float(np.median(song)) if song.size else float("nan"),
            "sdr_mean": float(np.mean(song)) if song.size else float("nan"),
            "sdr_1s_median": float(np.median(win)) if win.size else float("nan"),
            "sdr_1s_mean": float(np.mean(win)) if win.size else float("nan"),
        }
    return {"songs": len(per_song), "stems": stems, "per_song": per_song}


def _mix_estimate(mix: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    return {stem: np.asarray(mix, dtype=np.float32) for stem in STEMS}


def _oracle(items: Sequence[dict[str, np.ndarray]]) -> Separator:
    """Ideal soft (Wiener, power 2) masks from the true stems of each song, on the baseline's STFT."""
    from scipy.signal import istft, stft

    truth = {id(item["mix"]): item for item in items}

    def separate(mix: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        item = truth[id(mix)]
        nfft, hop = 2048, 512
        specs = {s: stft(item[s], sr, nperseg=nfft, noverlap=nfft - hop)[2] for s in STEMS}
        _, _, x = stft(mix, sr, nperseg=nfft, noverlap=nfft - hop)
        power = {s: np.abs(v) ** 2 for s, v in specs.items()}
        total = sum(power.values()) + 1e-10
        out = {}
        for s in STEMS:
            y = istft(x * power[s] / total, sr, nperseg=nfft, noverlap=nfft - hop)[1][: mix.shape[0]]
            out[s] = np.pad(y, (0, mix.shape[0] - y.shape[0])).astype(np.float32)
        return out

    return separate


METHODS = ("baseline", "mix", "oracle")


def format_table(result: dict[str, Any], title: str = "") -> str:
    """The figures of :func:`evaluate` as a text table (dB)."""
    lines = [title] if title else []
    lines.append(f"{'stem':<7} {'songs':>5} {'SDR med':>8} {'SDR mean':>9} {'1s med':>8} {'1s mean':>8}")
    for stem, f in result["stems"].items():
        lines.append(
            f"{stem:<7} {f['n']:>5} {f['sdr_median']:>8.2f} {f['sdr_mean']:>9.2f}"
            f" {f['sdr_1s_median']:>8.2f} {f['sdr_1s_mean']:>8.2f}"
        )
    means = [f["sdr_mean"] for f in result["stems"].values() if np.isfinite(f["sdr_mean"])]
    lines.append(f"{'all':<7} {result['songs']:>5} {'':>8} {np.mean(means) if means else float('nan'):>9.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from ai.separation.dataset import load_split

    p = argparse.ArgumentParser(prog="python -m ai.separation.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("data", metavar="DATA", help="a data set folder (python -m ai.separation.dataset)")
    p.add_argument("--method", choices=METHODS, default="baseline", help="the separator (default baseline)")
    p.add_argument("--split", default="test", help="the split to score (default test)")
    p.add_argument("--json", metavar="FILE", help="also write the figures, per song too, as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        items = load_split(args.data, args.split)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.method == "baseline":
        from ai.separation.baseline import separate_baseline

        fn: Separator = separate_baseline
    elif args.method == "mix":
        fn = _mix_estimate
    else:
        fn = _oracle(items)
    from tqdm import tqdm

    bar = tqdm(total=len(items), unit="song", file=sys.stderr, disable=args.no_progress)

    def counted(mix: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        out = fn(mix, sr)
        bar.update(1)
        return out

    result = evaluate(counted, items, SAMPLE_RATE)
    bar.close()
    print(format_table(result, f"{args.method} on {args.data} ({args.split}), SDR in dB"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"method": args.method, "split": args.split, **result}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
