"""``strum generate``: from a request (genre, key, tempo, length, a prompt) to a finished song in WAV.

The arranger (:func:`ai.arranger.arrange`) runs stage by stage under a progress bar, the arrangement
becomes a song document (:mod:`ai.song`), and the engine renders it the way ``strum render`` does (its
checks and helpers are reused from :mod:`bridge.cli.render`). With ``--duration`` the WAV is exactly that
many samples long: whole bars, the last chord ringing to the end, and a short fade onto the last sample;
with ``--bars`` it is exactly that many bars plus the release tail. The same ``--seed`` gives identical
WAV, song and MIDI bytes.

Exit status: 0 written; 2 a bad request or option (one line naming the field and what is allowed),
before anything is written; 1 a failure on a good request. torch is never imported here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bridge.cli.render import add_render_options

__all__ = ["FADE_SECONDS", "FadeSink", "add_arguments", "add_request_arguments", "read_request", "run"]

FADE_SECONDS = 0.05  # the fade onto the last sample of a --duration render
# progress bar weights: each arranger stage, the song document, the render
_STAGE_UNITS, _SONG_UNITS, _RENDER_UNITS = 25, 50, 850


def add_request_arguments(p: argparse.ArgumentParser) -> None:
    """The request's options, shared with ``strum arrange``."""
    p.add_argument("--genre", help="pop, rock, jazz, electronic, hip-hop, classical, country, blues or folk")
    p.add_argument(
        "--key", help="the tonic (C, C#, Db ... B), optionally with major/minor, e.g. 'Eb' or 'A minor'"
    )
    p.add_argument("--mode", help="major or minor (default: the key's, the prompt's or the genre's)")
    p.add_argument("--tempo", type=float, metavar="BPM", help="tempo in beats per minute, 20..300")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--duration", type=float, metavar="SECONDS", help="the exact length of the WAV")
    length.add_argument("--bars", type=int, metavar="N", help="the number of bars (plus the release tail)")
    p.add_argument("--energy", help="low, mid or high (default mid, or the prompt's mood)")
    p.add_argument("--prompt", default="", help='free text, e.g. "mellow jazz ballad in Eb at 70 bpm"')
    p.add_argument("--seed-midi", metavar="FILE.mid", help="a MIDI idea to continue: its key, tempo and tune")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature, 0..5 (default 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the K likeliest tokens (0: all)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0): same seed, same song")
    p.add_argument("--no-models", action="store_true", help="use the genre grammars alone, no trained models")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_request_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="SONG.wav", help="the WAV file to write")
    p.add_argument("--song", metavar="SONG.yaml", help="also write the song file")
    p.add_argument("--midi", metavar="SONG.mid", help="also write a Standard MIDI File")
    p.add_argument("--plot", metavar="PNG", help="also draw the rendered audio into a PNG")
    add_render_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.epilog = (
        "Example: strum generate --genre jazz --key Eb --tempo 70 --bars 16 -o jazz.wav --midi jazz.mid"
    )


class FadeSink:
    """Passes blocks to ``sink``, fading the last ``fade`` of ``total`` frames to silence (a cut that does
    not click); frames past ``total`` are dropped."""

    def __init__(self, sink: Any, total: int, fade: int) -> None:
        self.sink, self.total, self.fade, self.done = sink, int(total), max(1, int(fade)), 0

    def write(self, block: Any) -> None:
        import numpy as np  # here, not at the top: `strum --help` imports no numerics

        n = min(block.shape[1], self.total - self.done)
        if n <= 0:
            return
        idx = np.arange(self.done, self.done + n)
        gain = np.clip((self.total - idx) / self.fade, 0.0, 1.0).astype(np.float32)
        self.sink.write(block[:, :n] * gain)
        self.done += n


def read_request(args: argparse.Namespace) -> Any:
    from ai.errors import RequestError
    from ai.request import make_request
    from bridge.cli import CliError

    key, tempo = args.key, args.tempo
    seed_notes: tuple[Any, ...] = ()
    if args.seed_midi:
        from ai.seed import read_seed

        try:
            seed = read_seed(args.seed_midi)
        except ValueError as exc:
            raise CliError(f"--seed-midi: {exc}", 2) from None
        key = key if key is not None else seed.key
        tempo = tempo if tempo is not None else seed.tempo_bpm
        seed_notes = seed.notes
    try:
        request = make_request(
            args.genre,
            key,
            args.mode,
            tempo,
            duration_s=args.duration,
            bars=args.bars,
            energy=args.energy,
            prompt=args.prompt,
            seed=args.seed,
            temperature=args.temperature,
            top_k=args.top_k,
            seed_notes=seed_notes,
        )
    except RequestError as exc:
        raise CliError(str(exc), 2) from None
    return request


def _outputs(args: argparse.Namespace) -> dict[str, Path]:
    from bridge.cli import CliError
    from bridge.cli.render import check_writable

    outs = {"output": Path(args.output)}
    for what in ("song", "midi", "plot"):
        if getattr(args, what):
            outs[what] = Path(getattr(args, what))
    wanted = {"output": (".wav",), "song": (".yaml", ".yml"), "midi": (".mid", ".midi"), "plot": (".png",)}
    for what, path in outs.items():
        if path.suffix.lower() not in wanted[what]:
            raise CliError(f"{path}: the {what} must be a {' or '.join(wanted[what])} file", 2)
        check_writable(path, what)
    if len({p.resolve() for p in outs.values()}) < len(outs):
        raise CliError("two outputs name the same file", 2)
    return outs


def run(args: argparse.Namespace) -> int:
    from bridge.cli import CliError

    outs = _outputs(args)
    request = read_request(args)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(
            total=4 * _STAGE_UNITS + _SONG_UNITS + _RENDER_UNITS,
            desc="arrange",
            file=sys.stderr,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
        )

    def step(name: str, units: int) -> None:
        if bar is not None:
            if bar.desc != name:
                bar.set_description_str(name, refresh=False)  # tqdm redraws at most every 0.1 s
            bar.update(units)

    try:
        return _generate(args, outs, request, step, bar)
    except (ValueError, OSError) as exc:
        raise CliError(f"{outs['output']}: {exc}") from None
    finally:
        if bar is not None:
            bar.close()


def _generate(args, outs, request, step, bar) -> int:
    from ai.arranger import arrange, end_beats
    from ai.song import song_document, song_midi, song_session, write_song
    from bridge.cli.render import _Tee, make_dirs
    from engine.memory import release_compiler_pages
    from engine.render import WavSink, peak_db, render
    from presets.storage import atomic_write

    arrangement = arrange(
        request, use_models=False if args.no_models else None, on_stage=lambda name: step(name, _STAGE_UNITS)
    )
    doc = song_document(arrangement, end_beats(request))
    session = song_session(doc, str(outs.get("song", "<generated>")))
    step("song", _SONG_UNITS)
    sr = int(args.sample_rate)
    release_compiler_pages()
    from bridge.cli.render import render_threads

    built = session.build(sr, args.block_size, render_threads(args.threads, args.block_size))
    total: int | None = None
    end_sample: int = built.end_sample
    tail: str | float = "auto"
    if request.duration_s is not None:
        total = end_sample = round(request.duration_s * sr)
        tail = 0.0
    done = [0]

    def progress(frac: float) -> None:
        units = int(frac * _RENDER_UNITS)
        if bar is not None and units > done[0]:
            step("render", units - done[0])
            done[0] = units

    for path in outs.values():
        make_dirs(path.parent)
    wav = WavSink(outs["output"], sr, 2, "24")
    summary = None
    if "plot" in outs:
        from bridge.plots import AudioSummary

        summary = AudioSummary(sr, 2)
    sink: Any = _Tee(wav, summary) if summary is not None else wav
    if total is not None:
        sink = FadeSink(sink, total, round(FADE_SECONDS * sr))
    try:
        stats = render(
            built.engine, end_sample, sink, block_size=args.block_size, tail=tail, progress=progress
        )
    except BaseException:
        wav.abort()
        raise
    wav.publish()
    if "song" in outs:
        write_song(doc, outs["song"])
    if "midi" in outs:
        atomic_write(outs["midi"], song_midi(doc), backup=False)
    if summary is not None:
        from bridge.plots import plot_render, write_png

        fig, _ = plot_render(summary, session, name=outs["output"].stem, peak_dbfs=peak_db(stats.peak))
        write_png(fig, outs["plot"])
    if bar is not None:
        bar.close()
    key = doc["key"]
    print(
        f"wrote {outs['output']}: {request.genre}, {key}, {request.tempo_bpm:g} bpm, {request.bars} bars,"
        f" {stats.seconds:.2f} s at {sr} Hz, peak {peak_db(stats.peak):.1f} dBFS"
        + "".join(f"; {what} {path}" for what, path in outs.items() if what != "output")
    )
    if request.prompt:
        from ai.prompt import read_prompt

        unused = read_prompt(request.prompt).unused
        if unused:
            print(f"prompt: words not used: {' '.join(unused)}")
    return 0
