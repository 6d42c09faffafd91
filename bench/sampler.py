"""The sampler against FluidSynth: General MIDI files played through the same SoundFont at 48 kHz.

1. Speed, same work: a 3-minute pop song (``strum generate --genre pop --duration 180 --seed 7 --midi``,
   written into a temporary folder at the start) and a denser file built here (8 channels of chords,
   bass, lead and pads, and a 16th-note drum part, 60 s), each played with TimGM6mb and FluidR3_GM:

   - ours dry in-process (the first row): :func:`bridge.midi_import.session_from_midi` with ``dry=True``
     (no reverb and chorus returns; it calls ``load_bank``, the bank cache cleared before each run, so
     the font is read and packed every time), ``session.build`` with the CLI's render threads,
     :func:`engine.render.render` into a 16-bit :class:`engine.render.WavSink` (dithered, as the CLI
     writes it) and its commit (fsync, rename). ``render only`` is the render call alone (the WAV blocks
     are written inside it). ``ours fx in-process``: the same with the reverb and chorus returns the
     importer adds by default (each voice sending the font's amounts).
   - ours CLI: ``strum render SONG --soundfont FONT -o OUT --bit-depth 16 --no-progress`` (``--dry`` or
     not), the process's wall time: Python start-up, imports, loading Numba's cached kernels, the work.
   - FluidSynth 2.3 (Debian): ``fluidsynth -ni -q -F OUT -r 48000 FONT SONG``, its process's wall time
     (start-up, loading the font, rendering, writing its 16-bit WAV): with ``-R 0 -C 0`` (no reverb and
     chorus: the work of ours dry) and with its defaults (reverb and chorus on: ours fx). FluidSynth
     renders on one core (``synth.cpu-cores`` 1) with 4th-order interpolation; ours uses the CLI's
     threads (one per core, up to 4) and cubic interpolation: each row notes its CPU seconds too.

   The contenders take turns, each round starting one further along (this is a shared machine: a slow
   spell falls on all of them alike); rows give the median of the rounds, and each row's note gives its
   time over that of the like-for-like ours (same reverb and chorus setting; in-process and CLI), as a
   ratio of medians and round by round. Every contender runs once on a one-note file first (font in
   the page cache, kernels loaded), untimed. Only the first case (pop, TimGM6mb) is in seconds with the
   ratio column (row / ours dry in-process); the other cases give their times as values, ratios in the
   notes.
2. Onsets: a file of isolated notes, one every 752 ms (a multiple of 4 ms, so that FluidSynth's
   millisecond player clock and its 64-sample blocks both land on the note times), 300 ms long, over a
   range of GM programs, pitches and velocities, then drum hits on channel 10; rendered by ours and by
   FluidSynth, both dry (no reverb or chorus), FluidSynth to 32-bit float. Each render's onset in each
   note's window is the first sample (of the mono sum) above 1e-3 of the window's peak, or above twice
   the level just before the note if a previous note still rings there; the same detector on both.
   Alignment overall: the lag that maximises the cross-correlation of the two renders' envelopes (|x|
   over 0.5 ms); the onset differences are also given with that lag taken out (FluidSynth's player
   applies MIDI events one 64-sample block late, 1.33 ms at 48 kHz).
3. Spectra: the first 400 ms from each note's time, Hann-windowed, in 1/12-octave bands over
   50 Hz..16 kHz, in dB relative to each spectrum's loudest band (so gain does not count), floored at
   -60 dB; the log-spectral distance is the RMS of the difference in dB. A pitch check finds the shift
   (in 25-cent steps, within +-15 semitones) that best matches the two finer, 1/48-octave spectra. The
   level difference compares RMS levels (FluidSynth applies its default gain of 0.2; ours the importer's
   -6 dB per track). Notes whose window starts with a previous note still ringing within 20 dB of their
   peak (in either render) are left out of the onset and spectral figures, and named.
4. Memory: in a fresh process (imports done, kernels loaded with a one-note bank, the compiler's pages
   given back as ``strum render`` does), resident memory (VmRSS) before and after
   ``load_bank(FluidR3_GM.sf2)`` and after building a ``Sampler`` on it (which packs the regions), and
   the peak meanwhile (VmHWM, reset before the load); growth over the file's size, goal under 1.3x.
   FluidSynth's peak RSS playing one note with the same font (``/usr/bin/time -f %M``), and with
   TimGM6mb for its base size.

``--quick``: TimGM6mb only (memory included), one round, a 30 s pop song, a 10 s dense file, fewer notes.
"""

from __future__ import annotations

import gc
import json
import math
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FLUIDSYNTH", "FONTS", "run"]

ROOT = Path(__file__).resolve().parents[1]
SR = 48000
BLOCK = 8192  # the CLI's default block size
FONT_DIR = Path("/usr/share/sounds/sf2")
FONTS = {"Tim": FONT_DIR / "TimGM6mb.sf2", "R3": FONT_DIR / "FluidR3_GM.sf2"}
FLUIDSYNTH = shutil.which("fluidsynth")
GNU_TIME = Path("/usr/bin/time")
MEMORY_GOAL = 1.3  # resident growth / font file size

# isolated notes: 1 MIDI tick = 1 ms (480 ticks per beat at 480000 us per beat)
TICKS_PER_BEAT = 480
TEMPO_US = 480000
NOTE_SPACING_MS = 752
NOTE_LENGTH_MS = 300
ONSET_REL = 1e-3  # of the window's peak
MASK_DB = -20.0  # a previous note's tail this close to a note's peak leaves it out of the comparisons
PRE_S = 0.005  # the onset search starts this long before the note time
FLOOR_S = (0.020, 0.005)  # a previous note's tail is read over [t - 20 ms, t - 5 ms]
SPECTRUM_S = 0.4
SPECTRUM_HZ = (50.0, 16000.0)
SPECTRUM_FLOOR_DB = -60.0
NFFT = 1 << 16
SILENT = 1e-5  # a window whose peak is below this holds no note

GM_NAMES = {
    0: "Acoustic Grand Piano",
    4: "Electric Piano 1",
    11: "Vibraphone",
    19: "Church Organ",
    24: "Nylon Guitar",
    25: "Steel Guitar",
    33: "Finger Bass",
    40: "Violin",
    48: "String Ensemble 1",
    56: "Trumpet",
    61: "Brass Section",
    73: "Flute",
    80: "Square Lead",
    88: "New Age Pad",
}
# (program, lowest pitch, highest pitch) for the isolated notes
MELODIC = (
    (0, 36, 96),
    (24, 45, 76),
    (25, 45, 76),
    (33, 28, 55),
    (48, 48, 84),
    (61, 48, 79),
    (19, 36, 84),
    (80, 55, 88),
    (88, 48, 79),
    (40, 55, 88),
    (56, 55, 82),
    (73, 60, 93),
    (11, 53, 89),
    (4, 40, 88),
)
VELOCITIES = (40, 72, 100, 127)
DRUM_HITS = ((36, 110), (38, 100), (42, 80), (46, 90), (36, 60), (38, 127), (42, 50), (45, 100), (51, 90))
CRASH = (49, 110)  # last: it rings longest
DRUM_NAMES = {
    36: "kick",
    38: "snare",
    42: "closed hat",
    45: "low tom",
    46: "open hat",
    49: "crash",
    51: "ride",
}


# -- MIDI files -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IsolatedNote:
    """One note of the onset file: its time in seconds, channel, GM program (-1 on the drum channel)."""

    time_s: float
    channel: int
    program: int
    pitch: int
    velocity: int

    @property
    def label(self) -> str:
        if self.program < 0:
            return f"drum {self.pitch} {DRUM_NAMES.get(self.pitch, '')} v{self.velocity}".replace("  ", " ")
        return f"prog {self.program} ({GM_NAMES.get(self.program, '?')}) pitch {self.pitch} v{self.velocity}"


def _isolated_notes(melodic_count: int, drum_count: int) -> list[IsolatedNote]:
    """``melodic_count`` notes cycling through :data:`MELODIC` (pitch and velocity varied per program),
    then ``drum_count`` drum hits (the crash last), one every :data:`NOTE_SPACING_MS` from 0.5 s."""
    melodic_channels = [c for c in range(16) if c != 9]
    notes: list[IsolatedNote] = []
    for i in range(melodic_count):
        j, k = i % len(MELODIC), i // len(MELODIC)
        program, low, high = MELODIC[j]
        pitch = low + (k * 11 + j * 5) % (high - low + 1)
        notes.append(IsolatedNote(0.0, melodic_channels[j], program, pitch, VELOCITIES[(j + k) % 4]))
    hits = [*DRUM_HITS[: max(0, drum_count - 1)], CRASH][:drum_count]
    notes += [IsolatedNote(0.0, 9, -1, p, v) for p, v in hits]
    return [
        IsolatedNote((500 + n * NOTE_SPACING_MS) / 1000.0, x.channel, x.program, x.pitch, x.velocity)
        for n, x in enumerate(notes)
    ]


def _write_isolated_midi(path: Path, notes: list[IsolatedNote]) -> Path:
    """A type-1 file: a tempo track, then one track per channel (its program at tick 0, then its notes)."""
    import mido

    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO_US, time=0)])
    mid.tracks.append(meta)
    for ch in sorted({n.channel for n in notes}):
        mine = [n for n in notes if n.channel == ch]
        events: list[tuple[int, mido.Message]] = []
        if mine[0].program >= 0:
            events.append((0, mido.Message("program_change", channel=ch, program=mine[0].program)))
        for n in mine:
            on = round(n.time_s * 1000)  # 1 tick = 1 ms
            events.append((on, mido.Message("note_on", channel=ch, note=n.pitch, velocity=n.velocity)))
            off = mido.Message("note_off", channel=ch, note=n.pitch, velocity=0)
            events.append((on + NOTE_LENGTH_MS, off))
        mid.tracks.append(_track(events))
    mid.save(str(path))
    return path


def _track(events: list[tuple[int, Any]]) -> Any:
    """A mido track of ``(absolute tick, message)`` events (stable order for equal ticks)."""
    import mido

    track = mido.MidiTrack()
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=tick - now))
        now = tick
    return track


def _write_dense_midi(path: Path, seconds: float) -> Path:
    """8 melodic channels at 120 bpm over a I-vi-IV-V progression (piano 8ths, guitar strums, finger bass,
    string and pad chords, brass stabs, organ halves, a 16th-note square lead) and a drum part of 16th
    hats, kick, snare, ghost notes and a crash every 4 bars; velocities vary (seeded)."""
    import mido

    rng = np.random.default_rng(11)
    tpb = TICKS_PER_BEAT
    bars = max(1, round(seconds / 2.0))  # 2 s per 4/4 bar at 120 bpm
    progression = ((60, 64, 67, 72), (57, 60, 64, 69), (53, 57, 60, 65), (55, 59, 62, 67))
    parts: dict[int, list[tuple[int, Any]]] = {}

    def note(ch: int, pitch: int, start: int, length: int, base_vel: int) -> None:
        vel = int(np.clip(base_vel + rng.integers(-15, 16), 1, 127))
        parts.setdefault(ch, []).append(
            (start, mido.Message("note_on", channel=ch, note=pitch, velocity=vel))
        )
        off = mido.Message("note_off", channel=ch, note=pitch, velocity=0)
        parts[ch].append((start + length - 1, off))

    programs = {0: 0, 1: 24, 2: 33, 3: 48, 4: 61, 5: 19, 6: 80, 7: 88}
    for bar in range(bars):
        t0 = bar * 4 * tpb
        chord = progression[bar % 4]
        for e in range(8):  # piano: chord on every 8th
            for p in chord:
                note(0, p, t0 + e * tpb // 2, tpb // 2, 70)
        for q in range(4):  # guitar: strums of five notes, 10 ticks apart
            for s, p in enumerate((chord[0] - 12, *chord)):
                note(1, p, t0 + q * tpb + s * 10, tpb - s * 10, 80)
        for e in range(8):  # bass: root on every 8th
            note(2, chord[0] - 24 + (12 if e % 4 == 3 else 0), t0 + e * tpb // 2, tpb // 2, 95)
        for p in chord:  # strings and pad: the whole bar
            note(3, p, t0, 4 * tpb, 70)
            note(7, p - 12, t0, 4 * tpb, 60)
        for q in (1, 3):  # brass: stabs on 2 and 4
            for p in chord[1:]:
                note(4, p + 12, t0 + q * tpb, tpb // 4, 100)
        for h in range(2):  # organ: half notes
            for p in chord:
                note(5, p - 12, t0 + h * 2 * tpb, 2 * tpb, 65)
        for s in range(16):  # lead: arpeggiated 16ths
            note(6, chord[s % 4] + 12, t0 + s * tpb // 4, tpb // 4, 90)
        for s in range(16):  # drums
            st = t0 + s * tpb // 4
            note(9, 46 if s % 8 == 6 else 42, st, tpb // 8, 90 if s % 2 == 0 else 60)
            if s in (0, 8, 10) or (s == 14 and bar % 2):
                note(9, 36, st, tpb // 8, 115)
            if s in (4, 12):
                note(9, 38, st, tpb // 8, 110)
            elif s % 2 and rng.random() < 0.3:
                note(9, 38, st, tpb // 8, 35)  # ghost notes
        if bar % 4 == 0:
            note(9, 49, t0, tpb, 110)
        if bar % 4 == 3:
            for k, p in enumerate((50, 48, 45, 43)):
                note(9, p, t0 + 3 * tpb + k * tpb // 4, tpb // 4, 100)
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0)]))
    for ch, events in sorted(parts.items()):
        if ch in programs:
            events.insert(0, (0, mido.Message("program_change", channel=ch, program=programs[ch])))
        mid.tracks.append(_track(events))
    mid.save(str(path))
    return path


def _generate_pop(folder: Path, seconds: int) -> Path:
    """``strum generate --genre pop --seed 7`` of ``seconds``: its GM MIDI file."""
    mid = folder / "pop.mid"
    argv = [*_strum(), "generate", "--genre", "pop", "--duration", str(seconds), "--seed", "7"]
    argv += ["--midi", str(mid), "-o", str(folder / "pop-generated.wav"), "--no-progress"]
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
    return mid


def _one_note_midi(path: Path) -> Path:
    """One piano note, for warm-ups and FluidSynth's memory."""
    notes = [IsolatedNote(0.1, 0, 0, 60, 100)]
    return _write_isolated_midi(path, notes)


def _midi_seconds(path: Path) -> float:
    import mido

    return float(mido.MidiFile(str(path)).length)


# -- contenders -------------------------------------------------------------------------------------------


def _strum() -> list[str]:
    """The ``strum`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("strum")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bridge.cli import main; sys.exit(main(sys.argv[1:]))"]


def _child_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Timing:
    """One run: wall seconds, CPU seconds (all threads, or the child process), render-only seconds."""

    wall_s: float
    cpu_s: float
    render_s: float = float("nan")


def _render_threads() -> int:
    from bridge.cli.render import render_threads

    return render_threads(0, BLOCK)


def _ours_in_process(mid: Path, font: Path, out: Path, dry: bool) -> Timing:
    """What ``strum render`` does after its imports, timed from ``load_bank`` (bank cache cleared) to the
    committed 16-bit WAV, ``dry`` or with the reverb and chorus returns; the render call (blocks written
    to the sink inside it) timed alone too."""
    import instruments.sampler as sampler_pkg
    from bridge.midi_import import session_from_midi
    from engine.render import WavSink, render

    sampler_pkg._cache.clear()
    gc.collect()  # the previous run's bank goes before this one is read
    threads = _render_threads()
    c0, t0 = time.process_time(), time.perf_counter()
    session = session_from_midi(mid, soundfont=font, dry=dry)
    built = session.build(SR, BLOCK, threads)
    sink = WavSink(out, SR, 2, "16")
    t1 = time.perf_counter()
    render(built.engine, built.end_sample, sink, block_size=BLOCK)
    t2 = time.perf_counter()
    sink.commit()
    t3, c3 = time.perf_counter(), time.process_time()
    return Timing(t3 - t0, c3 - c0, t2 - t1)


def _process(argv: list[str]) -> Timing:
    """Wall and CPU time of a child process (which must succeed)."""
    c0, t0 = _child_cpu_s(), time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} exited {r.returncode}: {(r.stderr or r.stdout)[-300:]}")
    return Timing(wall, _child_cpu_s() - c0)


def _ours_cli(mid: Path, font: Path, out: Path, dry: bool) -> Timing:
    argv = [*_strum(), "render", str(mid), "--soundfont", str(font), "-o", str(out)]
    return _process([*argv, "--bit-depth", "16", "--no-progress", *(["--dry"] if dry else [])])


def _fluidsynth_argv(mid: Path, font: Path, out: Path, fx: bool, fmt: str = "s16") -> list[str]:
    argv = [str(FLUIDSYNTH), "-ni", "-q", "-O", fmt, "-F", str(out), "-r", str(SR)]
    if not fx:
        argv += ["-R", "0", "-C", "0"]
    return [*argv, str(font), str(mid)]


def _fluidsynth(mid: Path, font: Path, out: Path, fx: bool) -> Timing:
    return _process(_fluidsynth_argv(mid, font, out, fx))


OURS_DRY, OURS_FX, CLI_DRY, CLI_FX, FS_DRY, FS_FX = (
    "ours dry in-process",
    "ours fx in-process",
    "ours dry CLI",
    "ours fx CLI",
    "fluidsynth no fx",
    "fluidsynth fx",
)
CONTENDERS: tuple[tuple[str, Callable[[Path, Path, Path], Timing]], ...] = (
    (OURS_DRY, partial(_ours_in_process, dry=True)),
    (OURS_FX, partial(_ours_in_process, dry=False)),
    (CLI_DRY, partial(_ours_cli, dry=True)),
    (CLI_FX, partial(_ours_cli, dry=False)),
    (FS_DRY, partial(_fluidsynth, fx=False)),
    (FS_FX, partial(_fluidsynth, fx=True)),
)
# each row's notes compare it with these (same reverb and chorus setting)
LIKE_FOR_LIKE = {
    OURS_FX: (OURS_DRY,),
    CLI_DRY: (OURS_DRY,),
    CLI_FX: (OURS_FX,),
    FS_DRY: (OURS_DRY, CLI_DRY),
    FS_FX: (OURS_FX, CLI_FX),
}
WHAT = {
    OURS_FX: "the same with the importer's reverb and chorus returns (the font's send amounts)",
    CLI_DRY: "strum render --dry process: start-up + imports + kernels + the same work",
    CLI_FX: "strum render process, reverb and chorus returns",
    FS_DRY: "process, -R 0 -C 0: start-up + font + render + 16-bit WAV, 1 core",
    FS_FX: "process, its default reverb and chorus, 1 core",
}


# -- 1. speed ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One (MIDI file, SoundFont) pair of the speed section."""

    tag: str
    mid: Path
    font: Path
    song_s: float


Times = dict[tuple[str, str], list[Timing]]


def _speed_rounds(cases: list[Case], rounds: int, tmp: Path) -> tuple[Times, dict[tuple[str, str], str]]:
    """Each (case tag, contender)'s timings, one per round, and the error of any that failed (it runs no
    more); in each round every case runs its contenders in turn, starting one further along each round."""
    times: Times = {(c.tag, n): [] for c in cases for n, _ in CONTENDERS}
    errors: dict[tuple[str, str], str] = {}
    for r in range(rounds):
        for case in cases:
            for k in range(len(CONTENDERS)):
                name, fn = CONTENDERS[(r + k) % len(CONTENDERS)]
                key = (case.tag, name)
                if key in errors:
                    continue
                out = tmp / f"speed-{r}-{name.replace(' ', '-')}.wav"
                try:
                    times[key].append(fn(case.mid, case.font, out))
                except Exception as exc:  # reported in its row, not fatal
                    errors[key] = str(exc)
                out.unlink(missing_ok=True)
    return times, errors


def _speed_row(case: Case, first_case: bool, name: str, seconds: float, note: str) -> dict[str, Any]:
    """A timing row: in seconds (with the ratio column) for the first case, else a value in s."""
    row: dict[str, Any] = {"name": f"{case.tag} {name}", "realtime_x": case.song_s / seconds, "note": note}
    if first_case:
        return {**row, "seconds": seconds}
    return {**row, "value": seconds, "unit": "s", "ratio": False}


def _against(ts: list[Timing], refs: list[Timing], ref_name: str) -> str:
    """``ts`` against ``refs`` (same rounds): the ratio of medians and each round's ratio."""
    if not refs or len(refs) != len(ts):
        return f"no {ref_name} timing to compare with"
    med = statistics.median(t.wall_s for t in ts) / statistics.median(t.wall_s for t in refs)
    per_round = "/".join(f"{t.wall_s / r.wall_s:.2f}" for t, r in zip(ts, refs, strict=True))
    return f"{med:.2f}x {ref_name} (rounds {per_round})"


def _speed_rows(cases: list[Case], times: Times, errors: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    threads = _render_threads()
    rows: list[dict[str, Any]] = []
    for case in cases:
        first_case = not rows
        for name, _ in CONTENDERS:
            ts = times[(case.tag, name)]
            if not ts:
                why = errors.get((case.tag, name), "no round finished")
                rows.append({**_speed_row(case, first_case, name, math.nan, ""), "note": f"not run: {why}"})
                continue
            rounds = len(ts)
            head = f"median of {rounds}" if rounds > 1 else "1 round"
            wall = statistics.median(t.wall_s for t in ts)
            cpu = statistics.median(t.cpu_s for t in ts)
            if name == OURS_DRY:
                rounds_s = "/".join(f"{t.wall_s:.2f}" for t in ts)
                note = (
                    f"{head} ({rounds_s} s); no reverb/chorus; load_bank (cache cleared) + build + render "
                    f"({threads} threads) + 16-bit WAV; cpu {cpu:.2f} s; song {case.song_s:.0f} s, "
                    f"{case.mid.name} + {case.font.name}"
                )
                rows.append(_speed_row(case, first_case, name, wall, note))
                render = statistics.median(t.render_s for t in ts)
                rest = wall - render
                note = f"{head}; render() into the 16-bit sink; read, pack, build, commit {rest:.2f} s"
                rows.append(_speed_row(case, first_case, "  render only (dry)", render, note))
                continue
            against = "; ".join(_against(ts, times[(case.tag, ref)], ref) for ref in LIKE_FOR_LIKE[name])
            note = f"{against}; {head}; {WHAT[name]}; cpu {cpu:.2f} s"
            rows.append(_speed_row(case, first_case, name, wall, note))
    return rows


# -- 2. and 3. onsets and spectra -------------------------------------------------------------------------


def _mono(path: Path) -> np.ndarray:
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    if rate != SR:
        raise RuntimeError(f"{path}: {rate} Hz, expected {SR}")
    return data.mean(axis=1)


def _render_ours_array(mid: Path, font: Path) -> np.ndarray:
    """Ours, dry (no reverb or chorus returns), in-process, as float (mono sum of the stereo mix)."""
    from bridge.midi_import import session_from_midi
    from engine.render import render_array

    built = session_from_midi(mid, soundfont=font, dry=True).build(SR, BLOCK, _render_threads())
    mix, _, _ = render_array(built.engine, built.end_sample, block_size=BLOCK)
    return np.asarray(mix, dtype=np.float64).mean(axis=0)


def _render_fluidsynth_array(mid: Path, font: Path, tmp: Path) -> np.ndarray:
    out = tmp / "isolated-fluidsynth.wav"
    _process(_fluidsynth_argv(mid, font, out, fx=False, fmt="float"))
    return _mono(out)


def _peak_and_tail(x: np.ndarray, time_s: float, end_s: float) -> tuple[float, float]:
    """(peak |x| from ``time_s - PRE_S`` to ``end_s``, peak |x| over :data:`FLOOR_S` before the note):
    the note window's peak and what a previous note leaves ringing just before this one."""
    i0 = max(0, round((time_s - PRE_S) * SR))
    seg = np.abs(x[i0 : round(end_s * SR)])
    f0, f1 = (max(0, round((time_s - s) * SR)) for s in FLOOR_S)
    return float(seg.max()) if seg.size else 0.0, float(np.abs(x[f0:f1]).max()) if f1 > f0 else 0.0


def _onset_s(x: np.ndarray, time_s: float, end_s: float) -> float | None:
    """The first sample from ``time_s - PRE_S`` to ``end_s`` whose magnitude exceeds :data:`ONSET_REL` of
    the window's peak, or twice the tail left by a previous note if that is higher (seconds; None for a
    silent window or one that never rises above the tail)."""
    peak, tail = _peak_and_tail(x, time_s, end_s)
    if peak < SILENT:
        return None
    i0 = max(0, round((time_s - PRE_S) * SR))
    above = np.flatnonzero(np.abs(x[i0 : round(end_s * SR)]) > max(ONSET_REL * peak, 2.0 * tail))
    return (i0 + int(above[0])) / SR if above.size else None


def _envelope_lag_samples(ours: np.ndarray, fs: np.ndarray, max_lag_s: float = 0.05) -> int:
    """The lag (samples, > 0: ours later) maximising the cross-correlation of the two envelopes."""
    from scipy.signal import correlate

    n = min(ours.size, fs.size)
    width = round(0.0005 * SR)
    kernel = np.ones(width) / width
    a = np.convolve(np.abs(ours[:n]), kernel, "same")
    b = np.convolve(np.abs(fs[:n]), kernel, "same")
    a, b = a - a.mean(), b - b.mean()
    cc = correlate(a, b, mode="full", method="fft")
    lags = np.arange(-n + 1, n)
    keep = np.abs(lags) <= round(max_lag_s * SR)
    return int(lags[keep][np.argmax(cc[keep])])


def _band_matrix(bands_per_octave: int) -> tuple[np.ndarray, int]:
    """Each rfft bin's band index (or -1 outside 50 Hz..16 kHz) and the number of bands."""
    freqs = np.fft.rfftfreq(NFFT, 1.0 / SR)
    lo, hi = SPECTRUM_HZ
    count = math.ceil(bands_per_octave * math.log2(hi / lo))
    idx = np.floor(bands_per_octave * np.log2(np.maximum(freqs, 1e-9) / lo)).astype(np.int64)
    idx[(freqs < lo) | (freqs >= hi)] = -1
    return idx, count


_BANDS: dict[int, tuple[np.ndarray, int]] = {}


def _band_db(x: np.ndarray, start_s: float, bands_per_octave: int) -> np.ndarray:
    """The band-averaged power spectrum (dB relative to its loudest band, floored) of the
    :data:`SPECTRUM_S` from ``start_s``."""
    if bands_per_octave not in _BANDS:
        _BANDS[bands_per_octave] = _band_matrix(bands_per_octave)
    idx, count = _BANDS[bands_per_octave]
    i0 = round(start_s * SR)
    seg = x[i0 : i0 + round(SPECTRUM_S * SR)]
    power = np.abs(np.fft.rfft(seg * np.hanning(seg.size), NFFT)) ** 2
    ok = idx >= 0
    sums = np.bincount(idx[ok], power[ok], minlength=count)[:count]
    counts = np.maximum(np.bincount(idx[ok], minlength=count)[:count], 1)
    db = 10.0 * np.log10(sums / counts + 1e-30)
    return np.maximum(db - db.max(), SPECTRUM_FLOOR_DB)


def _pitch_shift_cents(ours: np.ndarray, fs: np.ndarray, start_s: float) -> int:
    """The shift of ours' 1/48-octave spectrum against FluidSynth's that best matches (cents, 25 a step;
    > 0: ours is higher), within +-15 semitones."""
    a = _band_db(ours, start_s, 48)
    b = _band_db(fs, start_s, 48)
    a, b = a - a.mean(), b - b.mean()
    best, best_score = 0, -math.inf
    for shift in range(-60, 61):
        if shift >= 0:
            score = float(np.dot(a[shift:], b[: b.size - shift])) / (b.size - shift)
        else:
            score = float(np.dot(a[:shift], b[-shift:])) / (b.size + shift)
        if score > best_score:
            best, best_score = shift, score
    return best * 25


@dataclass
class NoteResult:
    """The comparison of one isolated note."""

    note: IsolatedNote
    onset_ours_s: float | None
    onset_fs_s: float | None
    tail_db: float  # the louder render's tail before the note, relative to its note window's peak
    distance_db: float
    level_db: float  # ours - FluidSynth, RMS over the spectrum window
    shift_cents: int

    @property
    def masked(self) -> bool:
        """A previous note still rings within :data:`MASK_DB` of this one: onset and spectrum unreliable."""
        return self.tail_db > MASK_DB

    @property
    def tail_limited(self) -> bool:
        """The tail, not :data:`ONSET_REL`, set the onset threshold in at least one render."""
        return self.tail_db > 20.0 * math.log10(ONSET_REL / 2.0)

    @property
    def onset_diff_ms(self) -> float | None:
        if self.onset_ours_s is None or self.onset_fs_s is None:
            return None
        return 1000.0 * (self.onset_ours_s - self.onset_fs_s)


def _tail_db(x: np.ndarray, time_s: float, end_s: float) -> float:
    """What a previous note leaves ringing just before this one, in dB relative to this note's peak."""
    peak, tail = _peak_and_tail(x, time_s, end_s)
    return 20.0 * math.log10(max(tail, 1e-15) / max(peak, 1e-15))


def _compare_notes(ours: np.ndarray, fs: np.ndarray, notes: list[IsolatedNote]) -> list[NoteResult]:
    n = min(ours.size, fs.size)
    ours, fs = ours[:n], fs[:n]
    out: list[NoteResult] = []
    for k, note in enumerate(notes):
        end_s = notes[k + 1].time_s - PRE_S if k + 1 < len(notes) else note.time_s + NOTE_SPACING_MS / 1000
        i0, i1 = round(note.time_s * SR), round((note.time_s + SPECTRUM_S) * SR)
        rms_o = float(np.sqrt(np.mean(ours[i0:i1] ** 2)))
        rms_f = float(np.sqrt(np.mean(fs[i0:i1] ** 2)))
        silent = rms_o < SILENT or rms_f < SILENT
        spec_o, spec_f = _band_db(ours, note.time_s, 12), _band_db(fs, note.time_s, 12)
        out.append(
            NoteResult(
                note,
                _onset_s(ours, note.time_s, end_s),
                _onset_s(fs, note.time_s, end_s),
                max(_tail_db(ours, note.time_s, end_s), _tail_db(fs, note.time_s, end_s)),
                float(np.sqrt(np.mean((spec_o - spec_f) ** 2))) if not silent else math.nan,
                20.0 * math.log10(max(rms_o, 1e-12) / max(rms_f, 1e-12)),
                _pitch_shift_cents(ours, fs, note.time_s) if not silent else 0,
            )
        )
    return out


def _value(name: str, value: float, unit: str, note: str) -> dict[str, Any]:
    """A row of a measure other than time (no ratio column)."""
    return {"name": name, "value": value, "unit": unit, "ratio": False, "note": note}


def _onset_stats(diffs: list[tuple[NoteResult, float]]) -> tuple[float, float, int, str, str]:
    """(median |d|, max |d|, how many |d| <= 1 ms, the worst note, those over 1 ms) of signed ms diffs."""
    absd = [abs(d) for _, d in diffs]
    worst_r, worst_d = max(diffs, key=lambda x: abs(x[1]))
    over = [f"{r.note.label} {d:+.2f}" for r, d in diffs if abs(d) > 1.0]
    return (
        statistics.median(absd),
        max(absd),
        sum(a <= 1.0 for a in absd),
        f"{worst_r.note.label}: {worst_d:+.3f} ms",
        "; ".join(over) if over else "none",
    )


def _masked_note(results: list[NoteResult]) -> str:
    masked = [f"{r.note.label} ({r.tail_db:+.0f} dB)" for r in results if r.masked]
    return f"{len(masked)} left out, a previous note ringing within {-MASK_DB:.0f} dB: " + (
        "; ".join(masked) if masked else "none"
    )


def _onset_rows(results: list[NoteResult], lag: int) -> list[dict[str, Any]]:
    """Raw onset differences, the envelopes' lag, and the differences less that lag (a constant offset
    of either player, such as FluidSynth applying MIDI events a block late, taken out). Notes masked by a
    previous note's tail are left out; a note without an onset in either render is named."""
    kept = [r for r in results if not r.masked]
    diffs = [(r, d) for r in kept if (d := r.onset_diff_ms) is not None]
    lost = [
        f"{r.note.label} ({'ours' if r.onset_ours_s is None else 'fluidsynth'})"
        for r in kept
        if r.onset_diff_ms is None
    ]
    if not diffs:
        return [_value("onsets", math.nan, "ms", f"no onset found in both renders; {_masked_note(results)}")]
    lag_ms = 1000.0 * lag / SR
    median, worst, within, worst_note, over = _onset_stats(diffs)
    corrected = [(r, d - lag_ms) for r, d in diffs]
    c_median, c_worst, c_within, c_worst_note, c_over = _onset_stats(corrected)
    clean = [abs(d) <= 1.0 for r, d in corrected if not r.tail_limited]
    tail_limited = [abs(d) <= 1.0 for r, d in corrected if r.tail_limited]
    melodic = sum(r.note.program >= 0 for r in results)
    return [
        _value(
            "onset |ours-fs| median",
            median,
            "ms",
            f"{melodic} notes + {len(results) - melodic} drum hits, {_masked_note(results)}; mean ours-fs "
            f"{statistics.fmean(d for _, d in diffs):+.3f} ms; threshold {ONSET_REL:g} of the window peak"
            f" or twice a previous note's tail; NO ONSET (a note missing?) in: {', '.join(lost) or 'none'}",
        ),
        _value("onset |ours-fs| max", worst, "ms", worst_note),
        _value("onsets within 1 ms", float(within), f"of {len(diffs)}", f"over 1 ms: {over}"),
        _value(
            "envelope xcorr lag",
            float(lag),
            "samples",
            f"{lag_ms:+.3f} ms (> 0: ours later); |x| over 0.5 ms, whole renders",
        ),
        _value(
            "  within 1 ms, lag removed",
            float(c_within),
            f"of {len(diffs)}",
            f"ours-fs-lag: median |d| {c_median:.3f} ms, max {c_worst:.3f} ms ({c_worst_note}); "
            f"threshold at {ONSET_REL:g} of the peak in both {sum(clean)} of {len(clean)}, raised by a tail "
            f"{sum(tail_limited)} of {len(tail_limited)}; over 1 ms: {c_over}",
        ),
    ]


def _spectral_rows(results: list[NoteResult], ours: np.ndarray, fs: np.ndarray) -> list[dict[str, Any]]:
    """Log-spectral distances (median, p90, max, the worst five), pitch shifts and levels of the notes not
    masked by a previous note's tail."""
    scored = [r for r in results if math.isfinite(r.distance_db) and not r.masked]
    dist = np.array([r.distance_db for r in scored])
    rows = [
        _value(
            "spectral dist median",
            float(np.median(dist)),
            "dB",
            f"RMS dB over 1/12-oct bands 50 Hz..16 kHz, first {SPECTRUM_S * 1000:.0f} ms, each "
            f"relative to its peak band, floor {SPECTRUM_FLOOR_DB:.0f} dB; {len(scored)} notes, masked ones "
            "left out (see the onsets)",
        ),
        _value("spectral dist p90", float(np.percentile(dist, 90)), "dB", ""),
        _value("spectral dist max", float(dist.max()), "dB", ""),
    ]
    for k, r in enumerate(sorted(scored, key=lambda r: -r.distance_db)[:5]):
        d = r.onset_diff_ms
        onset = f"onset {d:+.2f} ms" if d is not None else "no onset"
        rows.append(
            _value(
                f"  worst {k + 1}",
                r.distance_db,
                "dB",
                f"{r.note.label}; level {r.level_db:+.1f} dB; pitch shift {r.shift_cents:+d} c; {onset}",
            )
        )
    shifted = [f"{r.note.label} {r.shift_cents:+d} c" for r in scored if abs(r.shift_cents) >= 50]
    rows.append(
        _value(
            "notes pitch-shifted",
            float(len(shifted)),
            f"of {len(scored)}",
            "best-matching shift of the 1/48-oct spectra >= 50 cents: "
            + ("; ".join(shifted) if shifted else "none"),
        )
    )
    n = min(ours.size, fs.size)
    overall = 20.0 * math.log10(
        float(np.sqrt(np.mean(ours[:n] ** 2))) / max(float(np.sqrt(np.mean(fs[:n] ** 2))), 1e-12)
    )
    levels = np.array([r.level_db for r in scored])
    median_level = float(np.median(levels))
    by_program: dict[int, list[float]] = {}
    for r in scored:
        by_program.setdefault(r.note.program, []).append(r.level_db)
    off = [
        f"{'drums' if p < 0 else f'prog {p}'} {statistics.median(v) - median_level:+.1f}"
        for p, v in sorted(by_program.items())
        if abs(statistics.median(v) - median_level) > 6.0
    ]
    rows.append(
        _value(
            "level ours - fs",
            overall,
            "dB",
            f"RMS of the whole renders (fluidsynth gain 0.2, ours -6 dB per track); per note median "
            f"{median_level:+.1f} dB, range {levels.min():+.1f}..{levels.max():+.1f}; programs more than "
            f"6 dB from that median: {', '.join(off) if off else 'none'}",
        )
    )
    spread = ", ".join(
        f"{'drums' if p < 0 else p} {statistics.median(v):+.1f}" for p, v in sorted(by_program.items())
    )
    rows.append(_value("  level per program", median_level, "dB", f"median ours - fs per program: {spread}"))
    return rows


def _note_rows(tag: str, iso: Path, font: Path, notes: list[IsolatedNote], tmp: Path) -> list[dict[str, Any]]:
    """Sections 2 and 3 for one font, each row's name led by the font's tag."""
    ours = _render_ours_array(iso, font)
    fs = _render_fluidsynth_array(iso, font, tmp)
    results = _compare_notes(ours, fs, notes)
    rows = [*_onset_rows(results, _envelope_lag_samples(ours, fs)), *_spectral_rows(results, ours, fs)]
    for r in rows:
        r["name"] = f"{tag} {r['name']}"
    rows[0]["note"] = f"{font.name}, isolated notes; " + rows[0]["note"]
    return rows


# -- 4. memory --------------------------------------------------------------------------------------------

MEMORY_PROBE = r"""
import gc, json, os, sys, tempfile
import numpy as np, soundfile as sf
from engine.memory import release_compiler_pages
from instruments.sampler import Sampler, load_bank

def status(key):
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key + ':')) * 1024

with tempfile.TemporaryDirectory() as folder:  # a one-note bank loads the kernels: the JIT is not the bank
    sf.write(os.path.join(folder, 'C4.wav'), np.sin(np.arange(4800) * 0.05).astype(np.float32), 48000)
    Sampler(load_bank(folder))
gc.collect()
release_compiler_pages()  # as strum render does once its kernels are loaded
try:
    with open('/proc/self/clear_refs', 'w') as fh:
        fh.write('5')  # VmHWM starts again from VmRSS
    hwm_reset = True
except OSError:
    hwm_reset = False
before = status('VmRSS')
bank = load_bank(sys.argv[1])
loaded = status('VmRSS')
sampler = Sampler(bank)
packed, peak = status('VmRSS'), status('VmHWM')
print('MEM ' + json.dumps({'before': before, 'loaded': loaded, 'packed': packed, 'peak': peak,
      'hwm_reset': hwm_reset, 'pool': int(bank.pool.nbytes), 'samples': len(bank.samples),
      'regions': sum(len(p.regions) for p in bank.presets)}))
"""


def _memory_probe(font: Path) -> dict[str, int]:
    r = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(font)], capture_output=True, text=True, cwd=ROOT
    )
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-400:])
    return dict(json.loads(next(x for x in r.stdout.splitlines() if x.startswith("MEM "))[4:]))


def _fluidsynth_peak_bytes(font: Path, tiny: Path, tmp: Path) -> int:
    """FluidSynth's peak RSS (GNU time's %M) playing the one-note file with ``font``."""
    argv = [str(GNU_TIME), "-f", "%M", *_fluidsynth_argv(tiny, font, tmp / "mem.wav", fx=True)]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-300:])
    return int(r.stderr.strip().splitlines()[-1]) * 1024


def _memory_rows(font: Path, tiny: Path, tmp: Path) -> list[dict[str, Any]]:
    mb = 1024.0 * 1024.0
    size = font.stat().st_size
    m = _memory_probe(font)
    load, packed, peak = m["loaded"] - m["before"], m["packed"] - m["before"], m["peak"] - m["before"]
    verdict = "met" if packed / size < MEMORY_GOAL else "NOT MET"
    rows = [
        _value(
            "load_bank RSS growth",
            load / mb,
            "MB",
            f"{load / size:.2f}x the file ({size / mb:.1f} MB, {font.name}); {m['samples']} samples, "
            f"{m['regions']} regions; fresh process, imports and kernels loaded before (MB = 2^20 bytes)",
        ),
        _value(
            "  + Sampler (packed)",
            packed / mb,
            "MB",
            f"{packed / size:.2f}x the file (goal < {MEMORY_GOAL}x {verdict}); pool {m['pool'] / mb:.1f} MB "
            f"after packing (unrolled loops included)",
        ),
        _value(
            "  peak growth",
            peak / mb,
            "MB",
            f"{peak / size:.2f}x the file (VmHWM - VmRSS before load"
            + ("" if m["hwm_reset"] else ", VmHWM not reset: includes the imports")
            + f"; process total {m['peak'] / mb:.0f} MB)",
        ),
    ]
    if FLUIDSYNTH and GNU_TIME.is_file():
        fs_peak = _fluidsynth_peak_bytes(font, tiny, tmp)
        base = _fluidsynth_peak_bytes(FONTS["Tim"], tiny, tmp) if font != FONTS["Tim"] else None
        base_note = f"; with TimGM6mb {base / mb:.0f} MB" if base else ""
        extra = f" (minus that: {(fs_peak - base) / size:.2f}x the file)" if base else ""
        rows.append(
            _value(
                "fluidsynth peak RSS",
                fs_peak / mb,
                "MB",
                f"whole process playing one note with {font.name}{extra}{base_note}; ours in total "
                f"{m['packed'] / mb:.0f} MB after packing",
            )
        )
    return rows


# -- run --------------------------------------------------------------------------------------------------


def _not_run(names: list[str], why: str) -> list[dict[str, Any]]:
    return [{"name": n, "seconds": math.nan, "note": f"not run: {why}"} for n in names]


def run(quick: bool = False) -> list[dict[str, Any]]:
    fonts = {"Tim": FONTS["Tim"]} if quick else dict(FONTS)
    missing = [str(p) for p in fonts.values() if not p.is_file()]
    if FLUIDSYNTH is None or missing:
        why = "fluidsynth is not installed" if FLUIDSYNTH is None else f"missing {', '.join(missing)}"
        return _not_run(
            [n for n, _ in CONTENDERS], f"{why} (Debian: fluidsynth, fluid-soundfont-gm, timgm6mb-soundfont)"
        )
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="bench-sampler-") as tmp_name:
        tmp = Path(tmp_name)
        pop = _generate_pop(tmp, 30 if quick else 180)
        dense = _write_dense_midi(tmp / "dense.mid", 10.0 if quick else 60.0)
        tiny = _one_note_midi(tmp / "tiny.mid")
        cases = [
            Case(f"{song}/{tag}", mid, font, _midi_seconds(mid))
            for song, mid in (("pop", pop), ("dense", dense))
            for tag, font in fonts.items()
        ]
        for font in fonts.values():  # untimed: the font in the page cache, kernels loaded
            for _, fn in CONTENDERS:
                try:
                    fn(tiny, font, tmp / "warm.wav")
                except Exception:
                    pass  # the rounds fail the same way and report it
        rows = _speed_rows(cases, *_speed_rounds(cases, rounds, tmp))

        notes = _isolated_notes(12 if quick else 40, 4 if quick else 10)
        iso = _write_isolated_midi(tmp / "isolated.mid", notes)
        for tag, font in fonts.items():
            rows += _note_rows(tag, iso, font, notes, tmp)
        rows += _memory_rows(FONTS["Tim"] if quick else FONTS["R3"], tiny, tmp)
    return rows


if __name__ == "__main__":
    from bench.harness import format_table

    print(format_table("sampler", run("--quick" in sys.argv)))
