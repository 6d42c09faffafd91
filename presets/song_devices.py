"""The devices of a song file: inserts (effects, chain presets, plugins), track templates.

A plugin's ``path`` is relative to the song file. A plugin that cannot be loaded (missing, broken, hangs
while loading, blocklisted by the plugin scan) becomes a bypassed slot that says why; the song loads and
plays on, and :func:`failed_plugins` lists those slots so the caller can tell the user.
"""

from __future__ import annotations

from typing import Any

from engine.processor import Processor
from presets.checker import Checker
from presets.devices import build_device
from presets.marked import MarkedDict, copy_marked, marked_as

__all__ = ["device", "failed_plugins", "parse_inserts", "with_template"]


def device(c: Checker, container: Any, key: Any, where: str, kind: str) -> Processor:
    """Build the instrument or effect entry ``container[key]`` (a plugin path taken relative to the song)."""
    entry = container[key]
    if isinstance(entry, dict) and entry.get("type") == "sampler" and isinstance(entry.get("path"), str):
        entry = {**entry, "path": (c.base_dir / entry["path"]).as_posix()}
    if isinstance(entry, dict) and entry.get("type") == "plugin" and isinstance(entry.get("path"), str):
        entry = {**entry, "path": (c.base_dir / entry["path"]).as_posix()}
        if isinstance(entry.get("vstpreset"), str):
            entry["vstpreset"] = (c.base_dir / entry["vstpreset"]).as_posix()
    return c.wrap(container, key, where, build_device, entry, kind)


def parse_inserts(c: Checker, d: MarkedDict, where: str) -> list:
    if "inserts" not in d:
        return []
    seq = c.sequence(d, "inserts", f"{where}.inserts")
    out = []
    for i, entry in enumerate(seq):
        w = f"{where}.inserts[{i}]"
        c.mapping(seq, i, w)
        if "chain" in entry:
            # a chain preset: its effects take this place in order (automation counts them as fxK too)
            c.keys(entry, ("chain",), w)
            name = c.text(entry, "chain", f"{w}.chain")
            out += c.wrap(entry, "chain", f"{w}.chain", _chain_preset, name)
            continue
        out.append(device(c, seq, i, w, "effect"))
    return out


def _chain_preset(name: str) -> list[Processor]:
    from presets.library import build_chain, find_preset, load_preset_data

    return build_chain(load_preset_data("chain", name), str(find_preset("chain", name)))


def with_template(c: Checker, d: MarkedDict, w: str) -> MarkedDict:
    """The track's fields over those of its template (a track preset): instrument, inserts, volume, pan."""
    from presets.library import load_preset_data

    name = c.text(d, "template", f"{w}.template")
    data = c.wrap(d, "template", f"{w}.template", load_preset_data, "track", name)
    out = copy_marked(d)
    for key in ("instrument", "inserts", "volume_db", "pan"):
        if key in data and key not in d:
            # values from the template: an error in them points at the template field of the track
            out[key] = marked_as(data[key], d.key_marks["template"])
            out.key_marks[key] = out.name_marks[key] = d.key_marks["template"]
    return out


def failed_plugins(procs: list[Processor]) -> list[str]:
    """One line per bypassed plugin slot or failed instrument among ``procs``: its path and why it failed;
    then what a sampler's bank read but does not play (an unknown SFZ opcode, say)."""
    from dsp.plugins.failed import FailedPlugin
    from instruments.failed import FailedInstrument
    from instruments.sampler.sampler import Sampler

    lines: list[str] = []
    banks: set[int] = set()
    for p in procs:
        if isinstance(p, FailedPlugin):
            lines.append(f"{p.path}: {p.reason} (bypassed)")
        elif isinstance(p, FailedInstrument):
            lines.append(f"{p.reason} (the track plays silence)")
        elif isinstance(p, Sampler):
            bank = p.bank
            if id(bank) not in banks:
                banks.add(id(bank))
                lines += list(bank.warnings)
    return lines
