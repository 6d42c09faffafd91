"""The arranger: trained models against n-gram baselines, generated parts against held-out tunes, speed.

1. Held-out NLL (nats per token) of the ``chords`` and ``melody`` models, recomputed: the music21 corpus
   (cached under ``.cache/strumspace``), split by piece (:func:`ai.corpus.dataset.split`), each held-out
   piece scored by onnxruntime, against add-0.1 unigram and bigram models fitted on the training pieces
   and scored on the same targets. The ratio is baseline / model: above 1, the model wins.
2. Melody quality of ``arrange()`` (32 bars, every genre, a few seeds and keys) beside held-out folk
   tunes decoded from their tokens: in-scale rate, chord tones on beats 1 and 3 (generated only: the
   tunes carry no chords), pitch-class entropy (length-weighted, relative to the tonic, mean per piece)
   and groove consistency (mean Jaccard similarity of the 16th-note onset sets of consecutive bars where
   both bars play; held-out bars are 16 sixteenths from the first note, as tokens carry no meter), and the
   groove consistency of the drum parts.
3. ``arrange()`` of a 3-minute song per genre in a fresh process pinned to one core: the first call, the
   median of later calls (each loads the models again), and the stages alone with models loaded once.
4. ``strum generate`` of a 3-minute pop song end to end in a fresh process (after one warm-up run that
   fills the Numba cache and writes the song file), beside ``strum render`` of that very song file: wall
   time and peak resident memory (VmHWM of the child itself; ``ru_maxrss`` of children is inherited).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEED_TARGET_S, E2E_TARGET_S, E2E_TARGET_MB = 0.3, 5.0, 300.0
KEYS = ("C", "Eb", "A", "F#", "D")

PROBE = r"""
import sys
from bridge.cli import main
code = main(sys.argv[1:])
rss = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) / 1024
print(f'PEAK_MB {rss:.1f}', file=sys.stderr)
sys.exit(code)
"""

Onsets = Iterable[tuple[float, int | None, float]]  # (start in sixteenths, pitch class or None, length)


def _entropy_bits(weights: Mapping[int, float]) -> float:
    total = sum(weights.values())
    return -sum(w / total * math.log2(w / total) for w in weights.values() if w > 0) if total else 0.0


def _groove(starts_16th: Iterable[float], bar_16th: int = 16) -> list[float]:
    """Jaccard similarities of the onset sets of consecutive bars that both have onsets."""
    bars: dict[int, set[int]] = {}
    for s in starts_16th:
        q = round(s)
        bars.setdefault(q // bar_16th, set()).add(q % bar_16th)
    return [len(bars[b] & bars[b + 1]) / len(bars[b] | bars[b + 1]) for b in bars if b + 1 in bars]


def _pct(xs: Sequence[float]) -> float:
    return 100.0 * statistics.fmean(xs) if xs else float("nan")


def _decode_folk(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int, int]]]:
    """(mode, [(onset in sixteenths, semitones above the tonic, length in sixteenths)]) of a melody piece."""
    mode = "minor" if tokens[0] == "<minor>" else "major"
    notes, t, pitch = [], 0, None
    for tok in tokens[1:]:
        if tok.startswith("p") or tok == "r":
            pitch = None if tok == "r" else int(tok[1:])
        elif tok.startswith("d"):
            d = int(tok[1:])
            if pitch is not None:
                notes.append((t, pitch, d))
            t += d
    return mode, notes


# 1. held-out NLL


def _nll_rows(quick: bool) -> list[dict[str, Any]]:
    from ai.corpus.dataset import split
    from ai.corpus.ngram import bigram_nll, unigram_nll
    from ai.models.runtime import load_model
    from ai.train.pipeline import VOCABS, default_pieces, encode

    rows: list[dict[str, Any]] = []
    for name, corpus in (("chords", "Bach chorales"), ("melody", "folk tunes")):
        model = load_model(name)
        train_p, held_p = split(default_pieces(name)[0])
        held_p = held_p[:10] if quick else held_p
        train, held = encode(train_p, VOCABS[name]), encode(held_p, VOCABS[name])
        scores = [model.score(ids) for ids in held]
        ours = sum(s for s, _ in scores) / sum(n for _, n in scores)
        uni, bi = unigram_nll(train, held, len(VOCABS[name])), bigram_nll(train, held, len(VOCABS[name]))
        meta = model.meta
        first = not rows
        rows.append(
            {
                "name": f"{name} LSTM",
                "value": ours,
                "unit": "nats/tok",
                "ratio": first,
                "note": f"held-out {corpus}: {len(held)} pieces, {sum(n for _, n in scores)} tokens; "
                f"meta {meta['held_out_nll']:.3f} on {meta['data']['held_out_pieces']}",
            }
        )
        for base, v in (("unigram", uni), ("bigram", bi)):
            note = f"add-0.1, fitted on {len(train)} training pieces; meta {meta['baselines'][base]:.3f}"
            if not first:  # the ratio column divides by the first row only: give this one in the note
                note = f"{v / ours:.2f}x the model's; " + note
            rows.append(
                {"name": f"  {name} {base}", "value": v, "unit": "nats/tok", "ratio": first, "note": note}
            )
    return rows


# 2. generated parts against held-out tunes


def _quality_rows(quick: bool) -> list[dict[str, Any]]:
    from ai.arranger import arrange
    from ai.corpus.dataset import split
    from ai.parts.common import chord_at
    from ai.plan import GENRES, SCALES
    from ai.request import make_request
    from ai.train.pipeline import default_pieces

    seeds = range(1 if quick else 3)
    m: dict[str, dict[str, list[float]]] = {k: {} for k in ("scale", "strong", "entropy", "groove", "drums")}
    for genre in GENRES:
        for s in seeds:
            req = make_request(genre, KEYS[s % len(KEYS)], None, None, bars=32, seed=s)
            arr = arrange(req)
            bpb = req.beats_per_bar
            for part in arr.parts:
                if part.role == "drums" and part.notes:
                    m["drums"].setdefault(genre, []).extend(_groove([n.start_beats * 4 for n in part.notes]))
                if part.role != "melody" or not part.notes:
                    continue
                scale = set(req.key.scale_pcs)
                pcs = [n.pitch % 12 for n in part.notes]
                m["scale"].setdefault(genre, []).extend(float(pc in scale) for pc in pcs)
                m["strong"].setdefault(genre, []).extend(
                    float(n.pitch % 12 in chord_at(arr.chords, n.start_beats).pitch_classes)
                    for n in part.notes
                    if min(abs(n.start_beats % bpb - b) for b in (0.0, 2.0)) < 1e-3
                )
                hist: defaultdict[int, float] = defaultdict(float)
                for n in part.notes:
                    hist[(n.pitch - req.key.tonic_pc) % 12] += n.length_beats
                m["entropy"].setdefault(genre, []).append(_entropy_bits(hist))
                m["groove"].setdefault(genre, []).extend(_groove([n.start_beats * 4 for n in part.notes]))

    held = split(default_pieces("melody")[0])[1]
    h_scale: list[float] = []
    h_entropy: list[float] = []
    h_groove: list[float] = []
    for piece in held:
        mode, notes = _decode_folk(piece.tokens)
        h_scale += [float(p % 12 in SCALES[mode]) for _, p, _ in notes]
        hist_h: defaultdict[int, float] = defaultdict(float)
        for _, p, d in notes:
            hist_h[p % 12] += d
        h_entropy.append(_entropy_bits(hist_h))
        h_groove += _groove(t for t, _, _ in notes)

    def gen(metric: str, label: str, unit: str, pct: bool, what: str) -> dict[str, Any]:
        per = {g: (_pct(v) if pct else statistics.fmean(v)) for g, v in m[metric].items() if v}
        allv = [x for v in m[metric].values() for x in v]
        value = _pct(allv) if pct else statistics.fmean(allv)
        spread = " ".join(f"{g} {v:.0f}" if pct else f"{g} {v:.2f}" for g, v in per.items())
        note = f"generated {what}, {len(per)} genres x {len(seeds)} seed(s): {spread}"
        return {"name": label, "value": value, "unit": unit, "ratio": False, "note": note}

    def folk(label: str, value: float, unit: str) -> dict[str, Any]:
        note = f"held-out folk, {len(held)} tunes"
        return {"name": label, "value": value, "unit": unit, "ratio": False, "note": note}

    return [
        gen("scale", "melody in scale", "%", True, "melody"),
        folk("  folk in scale", _pct(h_scale), "%"),
        gen("strong", "melody chord tones 1&3", "%", True, "melody, onsets on beats 1 and 3"),
        gen("entropy", "melody pc entropy", "bits", False, "melody, mean per song"),
        folk("  folk pc entropy", statistics.fmean(h_entropy), "bits"),
        gen("groove", "melody groove", "%", True, "melody, Jaccard of consecutive bars"),
        folk("  folk groove", _pct(h_groove), "%"),
        gen("drums", "drum groove", "%", True, "drums (classical has none)"),
    ]


# 3. arrangement speed, in a child process pinned to one core


def speed_probe(runs: int) -> None:
    """Run in the child: prints JSON {genre: [first, median arrange(), median stages preloaded]}."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import numpy as np

    from ai.arranger import STAGES, ArrangeState, arrange
    from ai.plan import GENRES
    from ai.request import make_request
    from ai.walker import load_optional

    def timed(fn: Any) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    out: dict[str, list[float]] = {}
    models: dict[str, Any] = {}
    for genre in GENRES:
        req = make_request(genre, "C", None, None, duration_s=180)
        first = timed(lambda r=req: arrange(r))  # the very first one loads onnxruntime too
        models = models or {n: load_optional(n) for n in ("chords", "melody")}
        later = statistics.median(timed(lambda r=req: arrange(r)) for _ in range(runs))

        def stages(r: Any = req, loaded: dict[str, Any] = models) -> None:  # arrange() less its loading
            state = ArrangeState(r, np.random.default_rng(r.seed), models=dict(loaded))
            for _, stage in STAGES:
                stage(state)

        pre = statistics.median(timed(stages) for _ in range(runs))
        out[genre] = [first, later, pre]
    print("SPEED " + json.dumps(out))


def _speed_rows(quick: bool) -> list[dict[str, Any]]:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    code = f"import bench.ai as b; b.speed_probe({2 if quick else 7})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-400:])
    data = json.loads(next(x for x in r.stdout.splitlines() if x.startswith("SPEED "))[6:])
    rows = []
    for i, (genre, (first, later, pre)) in enumerate(data.items()):
        flag = "" if later < SPEED_TARGET_S else "; OVER TARGET"
        first_note = f"first call {first:.3f} s" + (" (fresh process)" if i == 0 else "")
        rows.append(
            {
                "name": f"arrange 3 min {genre}",
                "seconds": later,
                "note": f"median of later calls; models preloaded {pre:.3f} s; {first_note}; "
                f"target < {SPEED_TARGET_S} s{flag}",
            }
        )
    return rows


# 4. strum generate end to end, beside strum render of the same song


def _cli(args: list[str]) -> tuple[float, float]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-400:])
    return wall, float(next(x for x in r.stderr.splitlines() if x.startswith("PEAK_MB ")).split()[1])


def _e2e_rows(quick: bool) -> list[dict[str, Any]]:
    runs = 1 if quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        wav, song, wav2 = (str(Path(tmp) / f) for f in ("gen.wav", "gen.yaml", "render.wav"))
        gen = ["generate", "--genre", "pop", "--key", "C", "--tempo", "120", "--duration", "180"]
        _cli([*gen, "-o", wav, "--song", song, "--no-progress"])  # warm-up: Numba cache, the song file
        g = [_cli([*gen, "-o", wav, "--no-progress"]) for _ in range(runs)]
        r = [_cli(["render", song, "-o", wav2, "--no-progress"]) for _ in range(runs)]
    g_s, g_mb = statistics.median(x for x, _ in g), max(x for _, x in g)
    r_s, r_mb = statistics.median(x for x, _ in r), max(x for _, x in r)
    med = f"median of {runs} after a warm-up" if runs > 1 else "one run after a warm-up"
    return [
        {
            "name": "strum generate pop 3 min",
            "seconds": g_s,
            "realtime_x": 180.0 / g_s,
            "note": f"{med}, fresh process; target < {E2E_TARGET_S:g} s"
            + ("" if g_s < E2E_TARGET_S else "; OVER TARGET"),
        },
        {
            "name": "  strum render, same song",
            "seconds": r_s,
            "realtime_x": 180.0 / r_s,
            "note": f"the song file generate wrote; generate - render = {g_s - r_s:.2f} s",
        },
        {
            "name": "  generate peak RSS",
            "value": g_mb,
            "unit": "MB",
            "ratio": False,
            "note": f"VmHWM; target < {E2E_TARGET_MB:g} MB"
            + ("" if g_mb < E2E_TARGET_MB else "; OVER TARGET"),
        },
        {"name": "  render peak RSS", "value": r_mb, "unit": "MB", "ratio": False, "note": "VmHWM"},
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    os.environ.setdefault("STRUMSPACE_CACHE", str(ROOT / ".cache" / "strumspace"))
    return [*_nll_rows(quick), *_quality_rows(quick), *_speed_rows(quick), *_e2e_rows(quick)]
