"""The SFZ reader: an ``.sfz`` text file and the samples it names -> one :class:`Bank` of one preset.

Call :func:`read_sfz`; the bank's one preset (bank 0, program 0, named after the file) holds a flat
:class:`Region` per ``<region>``, its opcodes inherited from ``<group>``, ``<master>`` and ``<global>``
(a later header's opcode wins; ``<global>`` starts a new master and group, ``<master>`` a new group).
``<control>`` sets ``default_path``, ``note_offset`` and ``octave_offset``. ``//`` and ``/* */`` comments,
``#define $NAME value`` and ``#include "file.sfz"`` (relative to the including file) are understood.

Units: SFZ ``loop_end`` and ``end`` name the last frame played, so the model's exclusive ends are one more.
``ampeg_decay``/``ampeg_release`` seconds map straight onto ``amp_decay_s``/``amp_release_s``, i.e. they
are read as the time of a 100 dB fall, linear in dB (SF2's definition, which the kernel plays); SFZ
players differ here, and this keeps one envelope shape for every format. ``ampeg_sustain`` percent is an
amplitude (50% = -6 dB). ``fileg_*`` drive the modulation envelope into the filter; ``pitcheg_*`` drive it
into pitch only in regions with no ``fileg_*`` (one modulation envelope). The filter is on only where
``cutoff`` is given (``lpf_2p`` unless ``fil_type`` says otherwise). A stereo sample becomes two regions
panned hard left and right (plus ``pan``). Without ``loop_mode`` a region loops (``loop_continuous``)
when its sample file has a ``smpl`` loop, else plays through (``no_loop``). Sample paths are relative to
the main file's folder (plus ``default_path``), matched without regard to case when no exact name exists;
``pitch_keycenter=sample`` takes a WAV's ``smpl`` unity note. ``lokey``/``hikey``/``end`` of -1 mute a
region (it is left out).

Unknown opcodes and headers are warned once each in :attr:`Bank.warnings` and ignored; a malformed file,
a value out of range, a missing sample or include raise :class:`SampleFileError` (file and line named),
and a sample or include path leaving the SFZ file's folder raises :class:`SamplePathError`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from instruments.errors import SampleFileError, SamplePathError
from instruments.sampler.audio import PoolBuilder, find_file, inside_folder, note_number
from instruments.sampler.model import (
    FILTER_LP2,
    FILTER_NONE,
    FILTER_TYPES,
    LOOP_CONTINUOUS,
    LOOP_MODES,
    LOOP_SUSTAIN,
    NO_LOOP,
    TRIGGER_RELEASE,
    TRIGGERS,
    Bank,
    Preset,
    Region,
)

__all__ = ["read_sfz"]

_Op = tuple[Any, str]  # a parsed opcode value and where it was written ("path:line")
_KEY_TEXT = "a key 0..127 or a note name like c4"


def _num(lo: float, hi: float, integer: bool = False, unit: str = "") -> Callable[[str], Any]:
    kind = "a whole number" if integer else "a number"

    def parse(s: str) -> Any:
        try:
            v = float(s)
        except ValueError:
            v = math.nan
        if not lo <= v <= hi or (integer and v != int(v)):
            raise ValueError(f"{kind} from {lo:g} to {hi:g}{unit}")
        return int(v) if integer else v

    return parse


def _key(allow_off: bool = False, allow_sample: bool = False) -> Callable[[str], Any]:
    def parse(s: str) -> Any:
        if allow_sample and s.lower() == "sample":
            return None  # the sample file's root key
        k = note_number(s)
        if k is None and re.fullmatch(r"-?\d+", s):
            k = int(s)
        if k is not None and (0 <= k <= 127 or (allow_off and k == -1)):
            return k
        raise ValueError(_KEY_TEXT + (" (or -1: no key)" if allow_off else ""))

    return parse


def _choice(table: Mapping[str, int]) -> Callable[[str], Any]:
    def parse(s: str) -> Any:
        if s not in table:
            raise ValueError("one of " + ", ".join(table))
        return table[s]

    return parse


_TIME, _PCT, _FRAME = _num(0, 100, unit=" s"), _num(0, 100, unit=" %"), _num(0, 2**32, True)
_SPEC: dict[str, Callable[[str], Any]] = {
    "sample": str, "default_path": str, "note_offset": _num(-127, 127, True),
    "octave_offset": _num(-10, 10, True), "lokey": _key(True), "hikey": _key(True), "key": _key(),
    "pitch_keycenter": _key(allow_sample=True), "lovel": _num(0, 127, True), "hivel": _num(0, 127, True),
    "pitch_keytrack": _num(-1200, 1200, unit=" cents"), "transpose": _num(-127, 127, True),
    "tune": _num(-9600, 9600, unit=" cents"), "volume": _num(-144, 48, unit=" dB"), "amplitude": _PCT,
    "pan": _num(-100, 100), "amp_veltrack": _num(-100, 100, unit=" %"), "offset": _FRAME,
    "end": _num(-1, 2**32, True), "loop_mode": _choice(LOOP_MODES), "loop_start": _FRAME, "loop_end": _FRAME,
    "fil_type": str, "cutoff": _num(0, 100000, unit=" Hz"), "resonance": _num(0, 40, unit=" dB"),
    "fil_veltrack": _num(-9600, 9600, unit=" cents"), "fil_keytrack": _num(-1200, 1200, unit=" cents"),
    "fil_keycenter": _key(), "seq_length": _num(1, 100, True), "seq_position": _num(1, 100, True),
    "lorand": _num(0, 1), "hirand": _num(0, 1),
    "trigger": _choice({**TRIGGERS, "release_key": TRIGGER_RELEASE}),
    "group": _num(0, 2**31 - 1, True), "off_by": _num(0, 2**31 - 1, True), "effect1": _PCT, "effect2": _PCT,
}  # fmt: skip
for _eg in ("ampeg", "fileg", "pitcheg"):
    _SPEC.update({f"{_eg}_{s}": _TIME for s in ("delay", "attack", "hold", "decay", "release")})
    _SPEC[f"{_eg}_sustain"] = _PCT
    if _eg != "ampeg":
        _SPEC[f"{_eg}_depth"] = _num(-12000, 12000, unit=" cents")
_ALIASES = {"loopmode": "loop_mode", "loopstart": "loop_start", "loopend": "loop_end", "filtype": "fil_type",
            "offby": "off_by"}  # fmt: skip
# SFZ filter types the kernel plays as one of its own without a word (state-variable and one-pole
# band filters sound close enough); any other type is played as the nearest kind, with a warning
_FILTER_ALIASES = {"lpf_2p_sv": "lpf_2p", "hpf_2p_sv": "hpf_2p", "bpf_2p_sv": "bpf_2p", "brf_2p_sv": "brf_2p",
                   "bpf_1p": "bpf_2p", "brf_1p": "brf_2p"}  # fmt: skip
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_TOKEN = re.compile(r"\s*(?:<(?P<h>[^<>\s]*)>|(?P<op>\w+)=(?P<val>.*?)(?=\s+\w+=|\s*<|\s*$))")
_HEADERS = ("control", "global", "master", "group", "region")
_KNOWN_HEADERS = ("curve", "effect", "midi", "sample")  # valid SFZ the sampler does not play


class _Parser:
    """Reads SFZ text into one opcode dict per region, inherited opcodes included."""

    def __init__(self, sfz: Path) -> None:
        self.main = sfz
        self.root = sfz.parent
        self.defines: dict[str, str] = {}
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self.levels: dict[str, dict[str, _Op]] = {h: {} for h in _HEADERS[:4]}
        self.target: dict[str, _Op] | None = None  # where opcodes go: None before any header, or skipped
        self.skipping = False
        self.regions: list[dict[str, _Op]] = []

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(message)

    def read(self, path: Path, stack: tuple[Path, ...]) -> None:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # older instruments are often written in a Windows code page
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        # comments become blanks (their newlines kept) so line numbers stay true
        text = _COMMENT.sub(lambda m: " " + "\n" * m.group(0).count("\n"), text)
        if (i := text.find("/*")) >= 0:
            raise SampleFileError(f"{path}:{text.count(chr(10), 0, i) + 1}: unclosed /* comment")
        for n, line in enumerate(text.split("\n"), 1):
            if s := line.strip():
                self.line(path, n, s, stack)

    def line(self, path: Path, n: int, s: str, stack: tuple[Path, ...]) -> None:
        where = f"{path}:{n}"
        if s.startswith("#"):
            if m := re.fullmatch(r"#define\s+\$(\w+)\s+(.+)", s):
                self.defines[m.group(1)] = self.substitute(m.group(2).strip(), where)
            elif m := re.fullmatch(r'#include\s+"([^"]+)"', s):
                self.include(self.substitute(m.group(1), where), where, stack)
            else:
                raise SampleFileError(f"{where}: malformed directive {s!r} (expected #define $NAME value "
                                      f'or #include "file.sfz")')  # fmt: skip
            return
        s = self.substitute(s, where)
        pos = 0
        while pos < len(s) and s[pos:].strip():
            m = _TOKEN.match(s, pos)
            if m is None:
                raise SampleFileError(
                    f"{where}: expected a <header> or opcode=value, found {s[pos:].strip()!r}"
                )
            pos = m.end()
            if m.group("op") is None:
                self.header(m.group("h"), path, n)
            elif not m.group("val").strip():
                raise SampleFileError(f"{where}: opcode '{m.group('op')}' has no value")
            else:
                self.opcode(_ALIASES.get(m.group("op"), m.group("op")), m.group("val").strip(), path, n)

    def substitute(self, s: str, where: str) -> str:
        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            for k in range(len(name), 0, -1):  # the longest defined name wins: $DIR_piano -> $DIR + _piano
                if name[:k] in self.defines:
                    return self.defines[name[:k]] + name[k:]
            raise SampleFileError(f"{where}: ${name} is not #defined")

        return re.sub(r"\$(\w+)", value, s) if "$" in s else s

    def include(self, name: str, where: str, stack: tuple[Path, ...]) -> None:
        target = Path(os.path.normpath(stack[-1].parent / name.replace("\\", "/")))
        if not inside_folder(str(target), self.root):
            raise SamplePathError(
                f'{where}: #include "{name}" leaves the folder of {self.main.name} ({self.root})'
            )
        if target in stack:
            chain = " -> ".join(p.name for p in (*stack, target))
            raise SampleFileError(f'{where}: #include "{name}" makes a cycle: {chain}')
        if not target.is_file():
            raise SampleFileError(f'{where}: included file "{name}" not found ({target})')
        self.read(target, (*stack, target))

    def header(self, h: str, path: Path, n: int) -> None:
        self.skipping = h not in _HEADERS
        self.target = None
        if self.skipping:
            what = "is not supported" if h in _KNOWN_HEADERS else "is unknown"
            if not h:
                raise SampleFileError(f"{path}:{n}: empty header <>")
            self.warn_once(f"<{h}>", f"{path.name}:{n}: header <{h}> {what} (ignored with its opcodes)")
            return
        if h == "region":
            lv = self.levels
            here = {"<region>": (None, f"{path}:{n}")}  # where the region starts, for its warnings
            self.target = {**lv["control"], **lv["global"], **lv["master"], **lv["group"], **here}
            self.regions.append(self.target)
            return
        if h != "control":  # <global> starts a fresh global, master and group; <control> accumulates
            for lower in _HEADERS[_HEADERS.index(h) : 4]:
                self.levels[lower] = {}
        self.target = self.levels[h]

    def opcode(self, name: str, raw: str, path: Path, n: int) -> None:
        if self.skipping:
            return
        if self.target is None:
            self.warn_once(
                f"outside:{name}", f"{path.name}:{n}: opcode '{name}' outside any header (ignored)"
            )
            return
        if name not in _SPEC:
            self.warn_once(name, f"{path.name}:{n}: unknown opcode '{name}' (ignored)")
            return
        try:
            value = _SPEC[name](raw)
        except ValueError as e:
            raise SampleFileError(f"{path}:{n}: {name}={raw} is out of range: must be {e}") from None
        if name == "fil_type":
            value = self.filter_type(value, path, n)
        for k in ("lokey", "hikey", "pitch_keycenter") if name == "key" else (name,):
            self.target[k] = (value, f"{path}:{n}")

    def filter_type(self, s: str, path: Path, n: int) -> int:
        s = _FILTER_ALIASES.get(s, s)
        if s in FILTER_TYPES:
            return FILTER_TYPES[s]
        near = next((f"{k}_2p" for k in ("hpf", "bpf", "brf") if s.startswith(k)), "lpf_2p")
        self.warn_once(
            f"fil_type:{s}", f"{path.name}:{n}: fil_type '{s}' is not supported (played as {near})"
        )
        return FILTER_TYPES[near]

    def sample_path(self, raw: str, where: str, default_path: str) -> Path:
        joined = os.path.normpath(self.root / default_path.replace("\\", "/") / raw.replace("\\", "/"))
        if not inside_folder(joined, self.root):
            raise SamplePathError(
                f"{where}: sample path '{raw}' leaves the folder of {self.main.name} ({self.root})"
            )
        found = find_file(self.root, os.path.relpath(joined, self.root))
        if found is None:
            raise SampleFileError(f"{where}: sample file '{raw}' not found ({joined})")
        return found

    def build(self, ops: dict[str, _Op], pool: PoolBuilder) -> list[Region]:
        """The regions (two for a stereo sample) of one ``<region>``'s opcodes; none when it cannot sound."""

        def get(name: str, default: Any = None) -> Any:
            return ops[name][0] if name in ops else default

        def fail(name: str, why: str) -> SampleFileError:
            return SampleFileError(f"{ops[name][1]}: {name}={ops[name][0]}: {why}")

        if "sample" not in ops:
            at = os.path.basename(ops["<region>"][1])
            self.warn_once("no sample", f"{at}: <region> has no sample= (skipped)")
            return []
        raw, where = ops["sample"]
        if raw.startswith("*"):
            at = os.path.basename(where)
            self.warn_once(raw, f"{at}: built-in sample '{raw}' is not supported (region skipped)")
            return []
        if -1 in (get("lokey"), get("hikey"), get("end")):  # SFZ's way of saying "never by key"/"muted"
            return []
        try:
            fs = pool.add_file(self.sample_path(raw, where, get("default_path", "")))
        except SamplePathError:
            raise
        except SampleFileError as e:
            raise SampleFileError(f"{where}: sample '{raw}': {e}") from e
        frames = fs.frames
        shift = get("note_offset", 0) + 12 * get("octave_offset", 0)

        def key(name: str, default: int) -> int:
            if get(name) is None:
                return default
            k = int(get(name)) + shift
            if not 0 <= k <= 127:
                raise fail(name, f"with note_offset/octave_offset the key is {k}, outside 0..127")
            return k

        keycenter = fs.root_key if "pitch_keycenter" in ops and get("pitch_keycenter") is None else None
        mode = get("loop_mode", LOOP_CONTINUOUS if fs.loop else NO_LOOP)
        loop_start, loop_end = get("loop_start"), get("loop_end")
        loop_end = None if loop_end is None else min(loop_end + 1, frames)  # inclusive -> exclusive
        if mode in (LOOP_CONTINUOUS, LOOP_SUSTAIN):
            file_loop = fs.loop or (0, frames)
            loop_start = file_loop[0] if loop_start is None else loop_start
            loop_end = file_loop[1] if loop_end is None else loop_end
            if loop_start >= loop_end:
                name = "loop_start" if "loop_start" in ops else "loop_end"
                raise fail(
                    name, f"the loop ({loop_start}..{loop_end - 1}) is empty in a sample of {frames} frames"
                )
        offset = get("offset", 0)
        if offset >= frames:
            raise fail("offset", f"past the end of the sample ({frames} frames)")
        end = None if get("end") is None else min(get("end") + 1, frames)
        if end is not None and end <= offset:
            raise fail("end", f"not after offset {offset}")
        if get("seq_position", 1) > get("seq_length", 1):
            raise fail("seq_position", f"must be 1..seq_length ({get('seq_length', 1)})")
        volume = get("volume", 0.0)
        if "amplitude" in ops:
            volume += 20 * math.log10(get("amplitude") / 100) if get("amplitude") > 0 else -144.0
        sustain = get("ampeg_sustain", 100.0)
        eg_names = {k.split("_")[0] for k in ops if k.startswith(("fileg_", "pitcheg_"))}
        eg = "fileg" if "fileg" in eg_names else "pitcheg" if eg_names else None
        if eg_names == {"fileg", "pitcheg"}:
            first = os.path.basename(next(v[1] for k, v in ops.items() if k.startswith("pitcheg_")))
            self.warn_once("pitcheg", f"{first}: pitcheg_* ignored: the region also has fileg_* and the "
                           "sampler has one modulation envelope")  # fmt: skip
        depth = get(f"{eg}_depth", 0.0)
        region = Region(
            sample=fs.samples[0],
            lokey=key("lokey", 0),
            hikey=key("hikey", 127),
            lovel=max(1, get("lovel", 1)),
            hivel=get("hivel", 127),
            trigger=get("trigger", TRIGGERS["attack"]),
            lorand=get("lorand", 0.0),
            hirand=get("hirand", 1.0),
            seq_length=get("seq_length", 1),
            seq_position=get("seq_position", 1),
            pitch_keycenter=float(keycenter if keycenter is not None else key("pitch_keycenter", 60)),
            pitch_keytrack_cents=get("pitch_keytrack", 100.0),
            tune_cents=100.0 * get("transpose", 0) + get("tune", 0.0),
            volume_db=volume,
            pan=get("pan", 0.0) / 100,
            amp_veltrack=get("amp_veltrack", 100.0) / 100,
            offset=offset,
            end=end,
            loop_mode=mode,
            loop_start=loop_start,
            loop_end=loop_end,
            amp_delay_s=get("ampeg_delay", 0.0),
            amp_attack_s=get("ampeg_attack", 0.0),
            amp_hold_s=get("ampeg_hold", 0.0),
            amp_decay_s=get("ampeg_decay", 0.0),
            amp_sustain_db=max(-100.0, 20 * math.log10(sustain / 100)) if sustain > 0 else -100.0,
            amp_release_s=get("ampeg_release", 0.0),
            mod_delay_s=get(f"{eg}_delay", 0.0),
            mod_attack_s=get(f"{eg}_attack", 0.0),
            mod_hold_s=get(f"{eg}_hold", 0.0),
            mod_decay_s=get(f"{eg}_decay", 0.0),
            mod_sustain=get(f"{eg}_sustain", 0.0 if eg else 100.0) / 100,  # SFZ's EG sustain defaults to 0
            mod_release_s=get(f"{eg}_release", 0.0),
            mod_to_pitch_cents=depth if eg == "pitcheg" else 0.0,
            mod_to_filter_cents=depth if eg == "fileg" else 0.0,
            filter_type=FILTER_NONE if "cutoff" not in ops else get("fil_type", FILTER_LP2),
            cutoff_hz=get("cutoff", 20000.0),
            resonance_db=get("resonance", 0.0),
            fil_veltrack_cents=get("fil_veltrack", 0.0),
            fil_keytrack_cents=get("fil_keytrack", 0.0),
            fil_keycenter=get("fil_keycenter", 60),
            group=get("group", 0),
            off_by=get("off_by", 0),
            reverb_send=get("effect1", 0.0) / 100,
            chorus_send=get("effect2", 0.0) / 100,
        )
        if len(fs.samples) == 1:
            return [region]
        return [
            replace(region, sample=s, pan=max(-1.0, min(1.0, region.pan + side)))
            for s, side in zip(fs.samples, (-1, 1), strict=True)
        ]


def read_sfz(path: str | os.PathLike[str]) -> Bank:
    """Read an SFZ file and every sample it names into a :class:`Bank` (kind ``"sfz"``) of one preset.

    Raises :class:`SampleFileError` (or :class:`SamplePathError`) naming the file and line at fault."""
    p = Path(os.path.abspath(path))
    if not p.is_file():
        raise SampleFileError(f"{p}: SFZ file not found")
    parser = _Parser(p)
    parser.read(p, (p,))
    pool = PoolBuilder()
    regions = [r for ops in parser.regions for r in parser.build(ops, pool)]
    if not regions:
        raise SampleFileError(f"{p}: no playable <region> (each needs a sample=)")
    return Bank(str(p), "sfz", pool.build(), pool.samples, [Preset(p.stem, 0, 0, regions)], parser.warnings)
