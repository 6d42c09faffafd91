"""The WAV-folder and drum-kit readers: a folder of sample files, or a ``kit.yaml`` pad map -> a Bank.

:func:`read_wav_folder` reads every ``.wav``/``.flac``/``.ogg``/``.aif``/``.aiff`` file of a folder (not its
subfolders; names starting with ``.`` are skipped) as one sampled note, the note read from the file name:

- a note name token (``piano_C4.wav``, ``F#3``, ``Db5``; ``c4`` = 60) or, when there is none, a MIDI number
  token 0..127 (``Piano-60-v2.wav``, ``060.wav``); the first such token counts;
- a velocity layer token: ``v1``, ``vel3``, ``L2`` (ordered by number) or a dynamic ``ppp pp p mp mf f ff
  fff`` (ordered by loudness). The layers of one note split velocities 1..127 evenly, softest first.

Each sampled note plays at its recorded pitch on its key and is stretched over the keys halfway to its
sampled neighbours (the lowest down to 0, the highest up to 127). A file with a ``smpl`` loop loops
(``loop_continuous``); others play through. A stereo file sounds as two regions panned hard left and right.

Drum kits: a folder holding a ``kit.yaml`` is read by :func:`read_kit` (see there). A folder without one
whose every file names a General MIDI drum (``kick``/``bd`` 36, ``rim``/``side stick`` 37, ``snare``/``sd``
38, ``clap`` 39, closed hat (``hh_closed``, ``chh``, a bare ``hihat``) 42, ``pedal hat`` 44, ``open hat``/
``ohh`` 46, ``tom low``/``mid``/``high`` 45/47/50, ``crash`` 49, ``ride`` 51, ``tambourine`` 54,
``cowbell`` 56) and none a note name is read as a kit on that map, the hats one choke group; numbers in
such names (``kick_01``) are taken as numbering, not keys. Kits are banks of kind ``"kit"``: one-shot
regions, each on its one key at recorded pitch.

Next: :func:`instruments.sampler.load_bank` calls these for folders and ``.yaml`` kit maps.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from instruments.errors import SampleFileError, SamplePathError
from instruments.sampler.audio import AUDIO_EXTENSIONS, PoolBuilder, find_file, inside_folder, note_number
from instruments.sampler.model import LOOP_CONTINUOUS, NO_LOOP, ONE_SHOT, Bank, Preset, Region

__all__ = ["KIT_FIELDS", "drum_key", "name_layer", "name_note", "read_kit", "read_wav_folder"]

KIT_FIELDS = ("sample", "velocity_layers", "volume_db", "pan", "choke")
_NOTE_TOKEN = re.compile(r"(?<![a-z0-9#])([a-g](?:#|b)?-?\d)(?![a-z0-9#])")
_NUMBER_TOKEN = re.compile(r"(?<![a-z0-9#.])(\d{1,3})(?![a-z0-9#])")
_LAYER_TOKEN = re.compile(r"(?<![a-z0-9])(?:v|vel|l)(\d{1,3})(?![a-z0-9])")
_DYNAMICS = ("ppp", "pp", "p", "mp", "mf", "f", "ff", "fff")
_DYNAMIC_TOKEN = re.compile(r"(?<![a-z0-9#])(ppp|pp|p|mp|mf|fff|ff|f)(?![a-z0-9#])")
_HAT_CHOKE = 1


def name_note(stem: str) -> tuple[int, bool] | None:
    """The key a file name names and whether it was a note name (else a MIDI number), or ``None``."""
    low = stem.lower()
    for m in _NOTE_TOKEN.finditer(low):
        if (k := note_number(m.group(1))) is not None:
            return k, True
    for m in _NUMBER_TOKEN.finditer(low):
        if int(m.group(1)) <= 127:
            return int(m.group(1)), False
    return None


def name_layer(stem: str) -> int | None:
    """The velocity layer rank named in a file name (``v2`` -> 2; ``ppp`` 0 .. ``fff`` 7) or ``None``."""
    low = stem.lower()
    if m := _LAYER_TOKEN.search(low):
        return int(m.group(1))
    if m := _DYNAMIC_TOKEN.search(low):
        return _DYNAMICS.index(m.group(1))
    return None


def drum_key(stem: str) -> tuple[int, int] | None:
    """The General MIDI key and choke group (0: none) of a drum named in a file name, or ``None``."""
    tokens = re.sub(r"[^a-z]+", " ", stem.lower()).split()
    words, joined = set(tokens), "".join(tokens)
    if words & {"chh", "ohh", "phh", "hh"} or "hat" in joined:
        if "ohh" in words or "open" in joined:
            return 46, _HAT_CHOKE
        if "phh" in words or "pedal" in joined or "foot" in joined:
            return 44, _HAT_CHOKE
        return 42, _HAT_CHOKE  # closed, or a hat that does not say
    if "cowbell" in joined:
        return 56, 0
    if "tambourine" in joined or "tamb" in words:
        return 54, 0
    if any(t.startswith("rim") for t in tokens) or "sidestick" in joined:
        return 37, 0
    if any(t.startswith("tom") for t in tokens):
        if "low" in joined or "lo" in words or "floor" in joined:
            return 45, 0
        return (50, 0) if "high" in joined or "hi" in words else (47, 0)
    for word, key in (("crash", 49), ("ride", 51), ("clap", 39), ("snare", 38), ("kick", 36)):
        if any(t.startswith(word) for t in tokens):
            return key, 0
    if words & {"sd", "snr"}:
        return 38, 0
    if "bd" in words or "bassdrum" in joined:
        return 36, 0
    return None


def _layered(
    pool: PoolBuilder,
    files: list[Path],
    keys: tuple[int, int, int],
    one_shot: bool,
    where: str = "",
    volume_db: float = 0.0,
    pan: float = 0.0,
    choke: int = 0,
) -> list[Region]:
    """Regions for velocity layers ``files`` (softest first) on ``keys`` = (lokey, hikey, keycenter)."""
    regions = []
    for i, f in enumerate(files):
        try:
            fs = pool.add_file(f)
        except SampleFileError as e:
            raise SampleFileError(f"{where}{e}") from e
        mode = ONE_SHOT if one_shot else LOOP_CONTINUOUS if fs.loop else NO_LOOP
        pans = [pan] if len(fs.samples) == 1 else [max(-1.0, pan - 1), min(1.0, pan + 1)]
        for s, p in zip(fs.samples, pans, strict=True):
            regions.append(
                Region(sample=s, lokey=keys[0], hikey=keys[1], lovel=1 + i * 127 // len(files),
                       hivel=(i + 1) * 127 // len(files), pitch_keycenter=float(keys[2]), volume_db=volume_db,
                       pan=p, loop_mode=mode, group=choke, off_by=choke)
            )  # fmt: skip
    return regions


def _by_key(folder: Path, found: list[tuple[Path, int]]) -> dict[int, list[Path]]:
    """Files grouped by key, each key's velocity layers in order; two files on one key and layer fail."""
    grouped: dict[int, list[tuple[int, Path]]] = {}
    for f, key in found:
        layer = name_layer(f.stem)
        for other_rank, other in grouped.get(key, []):
            if other_rank == (-1 if layer is None else layer):
                hint = (
                    "the same velocity layer"
                    if layer is not None
                    else "no velocity layer token (v1, v2, pp..ff)"
                )
                raise SampleFileError(
                    f"{folder}: {other.name} and {f.name} both map to key {key} with {hint}"
                )
        grouped.setdefault(key, []).append((-1 if layer is None else layer, f))
    return {k: [f for _, f in sorted(v)] for k, v in sorted(grouped.items())}


def read_wav_folder(path: str | os.PathLike[str]) -> Bank:
    """Read a folder of samples (or a kit, see the module docstring) into a :class:`Bank` of one preset.

    Raises :class:`SampleFileError` naming the folder or file: an empty folder, a file whose name names
    no note, two files on one key and layer, a sample that cannot be read."""
    folder = Path(os.path.abspath(path))
    if folder.is_file() and folder.suffix.lower() in (".yaml", ".yml"):
        return read_kit(folder)
    if not folder.is_dir():
        raise SampleFileError(f"{folder}: sample folder not found")
    if (folder / "kit.yaml").is_file():
        return read_kit(folder / "kit.yaml")
    files = sorted(
        f for f in folder.iterdir()
        if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS and not f.name.startswith(".")
    )  # fmt: skip
    if not files:
        raise SampleFileError(f"{folder}: no sample files ({', '.join(AUDIO_EXTENSIONS)}) in the folder")
    notes = {f: name_note(f.stem) for f in files}
    drums = {f: drum_key(f.stem) for f in files}
    pool = PoolBuilder()
    regions: list[Region] = []
    if all(d is not None for d in drums.values()) and not any(n and n[1] for n in notes.values()):
        chokes = {d[0]: d[1] for d in drums.values() if d is not None}
        for key, layers in _by_key(folder, [(f, d[0]) for f, d in drums.items() if d is not None]).items():
            regions += _layered(pool, layers, (key, key, key), True, choke=chokes[key])
        kind = "kit"
    else:
        nameless = [f for f, n in notes.items() if n is None]
        if nameless:  # name the file that fits neither reading, when one does not
            f = next((f for f in nameless if drums[f] is None), nameless[0])
            raise SampleFileError(
                f"{f}: no note name or MIDI number in the file name (name samples like piano_C4.wav "
                "or piano-60.wav, drums like kick.wav, or put a kit.yaml in the folder)"
            )
        grouped = _by_key(folder, [(f, n[0]) for f, n in notes.items() if n is not None])
        keys = list(grouped)
        for i, key in enumerate(keys):
            lo = 0 if i == 0 else (keys[i - 1] + key) // 2 + 1
            hi = 127 if i == len(keys) - 1 else (key + keys[i + 1]) // 2
            regions += _layered(pool, grouped[key], (lo, hi, key), False)
        kind = "wav-folder"
    return Bank(str(folder), kind, pool.build(), pool.samples, [Preset(folder.name, 0, 0, regions)])


def _pad_key(raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw if 0 <= raw <= 127 else None
    if isinstance(raw, str):
        s = raw.strip()
        return int(s) if s.isdigit() and int(s) <= 127 else note_number(s)
    return None


def _number(kit: Path, pad: Any, spec: dict[str, Any], name: str, lo: float, hi: float, whole: bool) -> Any:
    v = spec.get(name, 0)
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi or (whole and v != int(v)):
        kind = "a whole number" if whole else "a number"
        raise SampleFileError(f"{kit}: pad {pad!r}: {name} must be {kind} from {lo:g} to {hi:g}, not {v!r}")
    return int(v) if whole else float(v)


def read_kit(path: str | os.PathLike[str]) -> Bank:
    """Read a drum kit map (``kit.yaml``, or a folder holding one) into a :class:`Bank` of kind ``"kit"``.

    The map is ``{name: optional preset name, pads: {key: pad}}``; a key is a MIDI number 0..127 or a
    note name (``C1`` = 24, ``c4`` = 60), a pad either a sample path or a mapping of ``sample`` (or
    ``velocity_layers``: sample paths, softest first), ``volume_db`` (-144..24), ``pan`` (-1..1) and
    ``choke`` (a group number: a hit on any pad of the group cuts the others short). Sample paths are
    relative to the map's folder and may not leave it (:class:`SamplePathError`). Every pad plays its
    samples once through on its key at recorded pitch. Anything else in the map raises
    :class:`SampleFileError` naming the map, the pad and the fault."""
    kit = Path(os.path.abspath(path))
    if kit.is_dir():
        kit = kit / "kit.yaml"
    if not kit.is_file():
        raise SampleFileError(f"{kit}: kit map not found")
    folder = kit.parent
    try:
        doc = yaml.safe_load(kit.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise SampleFileError(f"{kit}: not a readable YAML kit map: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("pads"), dict) or not doc["pads"]:
        raise SampleFileError(f"{kit}: a kit map needs 'pads': a mapping of key -> sample or pad settings")
    for field in doc:
        if field not in ("name", "pads"):
            raise SampleFileError(f"{kit}: unknown field {field!r} (allowed: name, pads)")
    pool = PoolBuilder()
    regions: list[Region] = []
    seen: dict[int, Any] = {}
    for pad, spec in doc["pads"].items():
        key = _pad_key(pad)
        if key is None:
            raise SampleFileError(f"{kit}: pad key {pad!r} is not a MIDI key 0..127 or a note name like C1")
        if key in seen:
            raise SampleFileError(f"{kit}: pads {seen[key]!r} and {pad!r} both name key {key}")
        seen[key] = pad
        spec = {"sample": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict):
            raise SampleFileError(
                f"{kit}: pad {pad!r}: expected a sample path or a mapping of {', '.join(KIT_FIELDS)}"
            )
        for field in spec:
            if field not in KIT_FIELDS:
                raise SampleFileError(
                    f"{kit}: pad {pad!r}: unknown field {field!r} (allowed: {', '.join(KIT_FIELDS)})"
                )
        if "sample" in spec and "velocity_layers" in spec:
            raise SampleFileError(f"{kit}: pad {pad!r}: give 'sample' or 'velocity_layers', not both")
        if "sample" not in spec and "velocity_layers" not in spec:
            raise SampleFileError(f"{kit}: pad {pad!r}: missing sample (give 'sample' or 'velocity_layers')")
        names = [spec["sample"]] if "sample" in spec else spec["velocity_layers"]
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n.strip() for n in names)
        ):
            what = (
                "'sample' must be a path" if "sample" in spec else "'velocity_layers' must be a list of paths"
            )
            raise SampleFileError(f"{kit}: pad {pad!r}: {what}")
        files = []
        for name in names:
            joined = os.path.normpath(folder / name.strip().replace("\\", "/"))
            if not inside_folder(joined, folder):
                raise SamplePathError(
                    f"{kit}: pad {pad!r}: sample path {name!r} leaves the kit's folder ({folder})"
                )
            found = find_file(folder, os.path.relpath(joined, folder))
            if found is None:
                raise SampleFileError(f"{kit}: pad {pad!r}: sample file {name!r} not found ({joined})")
            files.append(found)
        volume_db = _number(kit, pad, spec, "volume_db", -144, 24, False)
        pan = _number(kit, pad, spec, "pan", -1, 1, False)
        choke = _number(kit, pad, spec, "choke", 0, 2**31 - 1, True)
        regions += _layered(
            pool, files, (key, key, key), True, f"{kit}: pad {pad!r}: ", volume_db, pan, choke
        )
    name = doc["name"] if isinstance(doc.get("name"), str) else folder.name
    return Bank(str(kit), "kit", pool.build(), pool.samples, [Preset(name, 0, 0, regions)])
