"""Multitrack songs rendered by the project's own arranger, as 4-stem training data for separation.

Each song is what ``strum generate`` makes (:func:`ai.arranger.arrange` -> :func:`ai.song.song_document`
-> the engine), with a request drawn from the song's own seed: the genre cycles through
:data:`ai.plan.GENRES`; the tonic, mode, tempo (70..160 bpm), energy (mid or high: see
:data:`ENERGIES`) and duration (``seconds`` +-15 %) are random. The tracks are grouped into four stems
by the role the arranger gives them (:data:`STEM_OF_ROLE`): ``drums``; ``bass``; ``lead``, the melody
(the part a singer would take); ``other``, everything else (chords, pads, counter-melodies).

Rendering the stems: every track is routed to a bus of its stem (``stem_<name>``), and its reverb send
goes to a reverb bus of its own stem (``reverb_<name>``, the song's reverb settings) that feeds the same
stem bus, so a stem carries its own reverb tail. The song's master chain (glue compressor, limiter) is
left out: it is not linear (on 35 s songs it moved samples by up to 0.057 of full scale), and without
it the master is exactly the sum of the four stem buses (the four reverbs sum to the song's one within
1e-7). The
mix of a song is therefore *defined* as the sum of its stems, as stored. The render runs at
:data:`RENDER_RATE`; each stem is made mono (the mean of its channels), resampled to
:data:`SAMPLE_RATE` (polyphase, anti-aliased), faded out over the last 50 ms as ``strum generate
--duration`` does, scaled by one gain per song (peak of the mix and of every stem at
:data:`PEAK`) and stored as 16-bit FLAC: ``DIR/<split>/<song_id>/{drums,bass,lead,other}.flac`` plus
``DIR/manifest.json``. Train and test songs come from disjoint seed ranges (:func:`song_seed`).

The same ``seed`` gives identical samples. Call :func:`build_dataset`, then :func:`load_split`;
``python -m ai.separation.dataset OUT --train N --test M --seed S --seconds X`` from the shell.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_SECONDS",
    "DEFAULT_TEST",
    "DEFAULT_TRAIN",
    "SAMPLE_RATE",
    "SPLITS",
    "STEMS",
    "STEM_OF_ROLE",
    "SongSpec",
    "build_dataset",
    "load_split",
    "main",
    "render_song",
    "song_seed",
    "song_spec",
    "stem_document",
]

STEMS = ("drums", "bass", "lead", "other")
# the arranger's part roles (ai/instrumentation.py) -> the stem they go to
STEM_OF_ROLE = {
    "drums": "drums",
    "bass": "bass",
    "melody": "lead",
    "chords": "other",
    "pad": "other",
    "counter": "other",
}
SPLITS = ("train", "test")
SAMPLE_RATE = 22050  # what is stored (and what the models run at)
RENDER_RATE = 44100  # what the engine renders at, two samples for each one stored
PEAK = 0.9  # each song is scaled so that its mix and stems peak at most here
FADE_SECONDS = 0.05  # as `strum generate --duration`
TEMPO_RANGE_BPM = (70, 160)
DURATION_SPREAD = 0.15  # each song lasts seconds * (1 +- this)
# "low" thins the arrangement to one or two parts for whole sections: too little mix per MiB of data
ENERGIES = ("mid", "high")
TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# seeds: song i of a split is arranged with seed * SEED_STRIDE + SPLIT_OFFSET[split] + i
SEED_STRIDE = 1_000_000
SPLIT_OFFSET = {"train": 0, "test": 500_000}
# defaults: ~50 MiB of FLAC; measured: about 66 KiB per second of song for the four stems, so ~13 min
DEFAULT_TRAIN, DEFAULT_TEST, DEFAULT_SECONDS = 36, 9, 17.0
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SongSpec:
    """What one song of the data set is: its id, split, arranger seed and request."""

    song_id: str
    split: str
    index: int
    seed: int
    genre: str
    key: str
    mode: str
    tempo_bpm: float
    energy: str
    seconds: float


def song_seed(split: str, index: int, seed: int) -> int:
    """The arranger seed of song ``index`` of ``split``: train and test draw from disjoint ranges."""
    if split not in SPLIT_OFFSET:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not 0 <= index < SEED_STRIDE - SPLIT_OFFSET["test"]:
        raise ValueError(f"song index must be in 0..{SEED_STRIDE - SPLIT_OFFSET['test'] - 1}, got {index}")
    return seed * SEED_STRIDE + SPLIT_OFFSET[split] + index


def song_spec(split: str, index: int, seed: int, seconds: float) -> SongSpec:
    """The request of song ``index`` of ``split``, drawn from its own seed (so any song can be remade
    alone); the genre cycles through the nine genres."""
    from ai.plan import GENRES
    from ai.request import MODES

    s = song_seed(split, index, seed)
    rng = np.random.default_rng(s)
    lo, hi = TEMPO_RANGE_BPM
    return SongSpec(
        song_id=f"{split}-{index:04d}",
        split=split,
        index=index,
        seed=s,
        genre=GENRES[index % len(GENRES)],
        key=TONICS[int(rng.integers(len(TONICS)))],
        mode=MODES[int(rng.integers(len(MODES)))],
        tempo_bpm=float(rng.integers(lo, hi + 1)),
        energy=ENERGIES[int(rng.integers(len(ENERGIES)))],
        seconds=round(float(seconds * rng.uniform(1 - DURATION_SPREAD, 1 + DURATION_SPREAD)), 1),
    )


def stem_document(doc: dict[str, Any], stem_of_track: dict[str, str]) -> dict[str, Any]:
    """A copy of song document ``doc`` routed for stems: each track to the bus ``stem_<stem>`` of its stem
    (``stem_of_track``: track name -> stem), its reverb send to that stem's own reverb bus, the master
    chain removed (so the master is the plain sum of the stem buses)."""
    out = copy.deepcopy(doc)
    buses = {b["name"]: b for b in doc.get("buses", [])}
    new_buses: list[dict[str, Any]] = [{"name": f"stem_{stem}", "volume_db": 0.0} for stem in STEMS]
    verbs: set[str] = set()
    for track in out["tracks"]:
        stem = stem_of_track[track["name"]]
        track["output"] = f"stem_{stem}"
        for send in track.get("sends", []):
            if send["bus"] not in buses:
                raise ValueError(f"track {track['name']!r} sends to an unknown bus {send['bus']!r}")
            name = f"{send['bus']}_{stem}"
            if name not in verbs:
                verbs.add(name)
                bus = copy.deepcopy(buses[send["bus"]])
                bus.update(name=name, output=f"stem_{stem}")
                new_buses.append(bus)
            send["bus"] = name
    out["buses"] = new_buses
    out["master"] = {"volume_db": 0.0, "inserts": []}
    return out


def _stem_of_parts(parts: Sequence[Any]) -> dict[str, str]:
    stems = {}
    for part in parts:
        if part.role not in STEM_OF_ROLE:
            raise ValueError(f"part {part.name!r} has a role {part.role!r} that no stem takes")
        stems[part.name] = STEM_OF_ROLE[part.role]
    return stems


def render_song(spec: SongSpec, threads: int = 1) -> dict[str, np.ndarray]:
    """The four stems of ``spec`` as mono float32 at :data:`SAMPLE_RATE`, before the song's gain (a stem
    no track plays is silence); their sum is the song's mix."""
    from scipy.signal import resample_poly

    from ai.arranger import arrange, end_beats
    from ai.request import make_request
    from ai.song import song_document, song_session
    from engine.render import render_array

    request = make_request(
        spec.genre,
        spec.key,
        spec.mode,
        spec.tempo_bpm,
        duration_s=spec.seconds,
        energy=spec.energy,
        seed=spec.seed,
    )
    arrangement = arrange(request)
    doc = song_document(arrangement, end_beats(request))
    session = song_session(stem_document(doc, _stem_of_parts(arrangement.parts)))
    built = session.build(RENDER_RATE, 8192, threads)
    frames = round(spec.seconds * RENDER_RATE)
    taps = {stem: built.stems[f"stem_{stem}"] for stem in STEMS}
    _mix, stereo, _ = render_array(built.engine, frames, taps, tail=0.0)
    n = round(spec.seconds * SAMPLE_RATE)
    fade = np.clip((n - np.arange(n)) / round(FADE_SECONDS * SAMPLE_RATE), 0.0, 1.0)
    down = RENDER_RATE // SAMPLE_RATE
    out = {}
    for stem in STEMS:
        mono = stereo[stem].astype(np.float64).mean(axis=0)
        out[stem] = (resample_poly(mono, 1, down)[:n] * fade).astype(np.float32)
    return out


def _to_pcm16(stems: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
    """The stems scaled by one gain (the mix and every stem peak at :data:`PEAK` at most) as int16."""
    mix = np.sum([stems[s] for s in STEMS], axis=0, dtype=np.float64)
    peak = max(
        float(np.abs(mix).max(initial=0.0)), *(float(np.abs(v).max(initial=0.0)) for v in stems.values())
    )
    gain = PEAK / peak if peak > 0 else 1.0
    pcm = {s: np.round(stems[s].astype(np.float64) * gain * 32767.0).astype(np.int16) for s in STEMS}
    return pcm, gain


def _write_song(folder: Path, pcm: dict[str, np.ndarray]) -> int:
    """Write the stems into ``folder`` (through a temporary folder renamed into place); returns bytes."""
    import soundfile as sf

    tmp = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for stem in STEMS:
        sf.write(
            tmp / f"{stem}.flac",
            pcm[stem],
            SAMPLE_RATE,
            subtype="PCM_16",
            format="FLAC",
            compression_level=1.0,
        )
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return sum(f.stat().st_size for f in folder.iterdir())


def _generator() -> dict[str, Any]:
    """Which code made the data: the package version, the git commit (if any) and the arranger models."""
    from importlib.metadata import PackageNotFoundError, version

    from ai.walker import load_optional

    info: dict[str, Any] = {}
    try:
        info["strumspace"] = version("strumspace")
    except PackageNotFoundError:
        info["strumspace"] = None
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        info["commit"] = head.stdout.strip()
        info["dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        info["commit"], info["dirty"] = None, None
    info["models"] = [name for name in ("chords", "melody") if load_optional(name) is not None]
    return info


def build_dataset(
    out_dir: str | os.PathLike[str],
    n_train: int,
    n_test: int,
    seed: int = 0,
    seconds: float = DEFAULT_SECONDS,
    progress: Callable[[int, int], None] | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Render ``n_train`` + ``n_test`` songs of about ``seconds`` each into ``out_dir`` and write its
    ``manifest.json`` last; returns the manifest. ``progress(done, total)`` is called after each song.
    Song folders already there are replaced (the same seed remakes the same songs)."""
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{name} must be a whole number >= 0, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**40:
        raise ValueError(f"seed must be a whole number in 0..2**40-1, got {seed!r}")
    if not np.isfinite(seconds) or not 2.0 <= seconds <= 600.0:
        raise ValueError(f"seconds must be in 2..600, got {seconds!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = [song_spec("train", i, seed, seconds) for i in range(n_train)]
    specs += [song_spec("test", i, seed, seconds) for i in range(n_test)]
    songs = []
    for done, spec in enumerate(specs, 1):
        pcm, gain = _to_pcm16(render_song(spec, threads))
        size = _write_song(out / spec.split / spec.song_id, pcm)
        rms_db = {
            s: round(20 * np.log10(max(float(np.sqrt(np.mean((pcm[s] / 32768.0) ** 2))), 1e-10)), 1)
            for s in STEMS
        }
        songs.append({**asdict(spec), "gain": gain, "bytes": size, "rms_db": rms_db})
        if progress is not None:
            progress(done, len(specs))
    manifest = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "seconds": seconds,
        "sample_rate": SAMPLE_RATE,
        "render_rate": RENDER_RATE,
        "stems": list(STEMS),
        "stem_of_role": STEM_OF_ROLE,
        "mix": "the sum of the four stems as stored (no master processing)",
        "generator": _generator(),
        "splits": {split: sum(1 for s in songs if s["split"] == split) for split in SPLITS},
        "bytes": sum(s["bytes"] for s in songs),
        "songs": songs,
    }
    tmp = out / ".manifest.json.part"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, out / "manifest.json")
    return manifest


def load_split(data_dir: str | os.PathLike[str], split: str) -> list[dict[str, np.ndarray]]:
    """The songs of ``split`` in ``data_dir`` in manifest order: each a dict of the four stems and
    ``"mix"`` (their sum), float32 mono at :data:`SAMPLE_RATE`, all of one length."""
    import soundfile as sf

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = Path(data_dir)
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{root}: no manifest.json (build it with build_dataset)") from None
    items = []
    for song in manifest["songs"]:
        if song["split"] != split:
            continue
        item: dict[str, np.ndarray] = {}
        for stem in STEMS:
            audio, sr = sf.read(root / split / song["song_id"] / f"{stem}.flac", dtype="float32")
            if sr != SAMPLE_RATE or audio.ndim != 1:
                raise ValueError(f"{song['song_id']}/{stem}.flac: expected mono at {SAMPLE_RATE} Hz")
            item[stem] = audio
        item["mix"] = np.stack([item[s] for s in STEMS]).sum(axis=0, dtype=np.float32)
        items.append(item)
    return items


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ai.separation.dataset", description=__doc__.split("\n")[0])
    p.add_argument("out", metavar="OUT", help="the folder to write the data set into")
    p.add_argument(
        "--train", type=int, default=DEFAULT_TRAIN, help=f"training songs (default {DEFAULT_TRAIN})"
    )
    p.add_argument("--test", type=int, default=DEFAULT_TEST, help=f"held-out songs (default {DEFAULT_TEST})")
    p.add_argument("--seed", type=int, default=0, help="the data set's seed (default 0)")
    p.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help=f"mean song length (default {DEFAULT_SECONDS:g})",
    )
    p.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 4), help="render threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    from tqdm import tqdm

    bar = tqdm(total=args.train + args.test, unit="song", file=sys.stderr, disable=args.no_progress)
    try:
        manifest = build_dataset(
            args.out,
            args.train,
            args.test,
            args.seed,
            args.seconds,
            progress=lambda done, total: bar.update(done - bar.n),
            threads=args.threads,
        )
    except ValueError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    for split in SPLITS:
        songs = [s for s in manifest["songs"] if s["split"] == split]
        minutes = sum(s["seconds"] for s in songs) / 60
        mib = sum(s["bytes"] for s in songs) / 2**20
        print(f"{split}: {len(songs)} songs, {minutes:.1f} min, {mib:.1f} MiB")
    total_s = sum(s["seconds"] for s in manifest["songs"])
    mib = manifest["bytes"] / 2**20
    per_s = manifest["bytes"] / max(total_s, 1e-9) / 1024
    print(
        f"total: {mib:.1f} MiB of FLAC for {total_s / 60:.1f} min of songs ({per_s:.1f} KiB per song-second)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
