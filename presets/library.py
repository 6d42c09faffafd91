"""The preset library: factory presets shipped as data, and a user folder beside them.

Three kinds of preset, each a YAML file named ``<name>.yaml`` in a folder of its kind:

- ``synth``: an instrument preset of the built-in synth (the format of
  :mod:`instruments.synth_presets`: parameter names and values, ``max_voices``, ``mode``).
- ``chain``: an effect chain, ``inserts: [{type, params}, ...]`` exactly as a song's inserts.
- ``track``: a track template, ``instrument`` plus optional ``inserts``, ``volume_db`` and ``pan``, as in a
  song's track (without name or clips).

Chains and tracks may carry a ``description``. Factory presets live in ``presets/factory/<kind>/``; user
presets in ``$STRUM_PRESETS_DIR/<kind>/`` (default ``$XDG_CONFIG_HOME/strumspace/presets``, that is
``~/.config/strumspace/presets``). A user preset of the same name hides the factory one. Saving
(:func:`save_preset`) checks the preset by building it first and writes it with
:func:`presets.storage.atomic_write`, so a failed or interrupted save leaves the old file as it was.
Songs use them as ``instrument: {type: synth, preset: NAME}`` and as ``{chain: NAME}`` among inserts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from presets.errors import PresetError

__all__ = [
    "FACTORY_ROOT",
    "KINDS",
    "PresetInfo",
    "build_chain",
    "find_preset",
    "list_presets",
    "load_preset_data",
    "save_preset",
    "user_root",
]

FACTORY_ROOT = Path(__file__).resolve().parent / "factory"
KINDS = ("synth", "chain", "track")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_ -]{0,63}$")
MAX_PRESET_BYTES = 1 << 20


@dataclass(frozen=True)
class PresetInfo:
    kind: str
    name: str
    source: str  # "factory" or "user"
    path: Path
    description: str


def user_root() -> Path:
    """The user preset folder (it need not exist yet)."""
    explicit = os.environ.get("STRUM_PRESETS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "strumspace" / "presets"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise PresetError(f"unknown preset kind {kind!r} (kinds: {', '.join(KINDS)})")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PresetError(
            f"preset name {name!r:.70}: letters, digits, space, '-' or '_', starting with a letter or digit,"
            " at most 64 characters"
        )


def _description(path: Path) -> str:
    try:
        data = yaml.safe_load(path.read_bytes()[:MAX_PRESET_BYTES])
    except (OSError, yaml.YAMLError):
        return "(unreadable)"
    return str(data.get("description", "")) if isinstance(data, dict) else ""


def list_presets(kind: str | None = None) -> list[PresetInfo]:
    """Every preset (of ``kind``, or of all kinds), user presets hiding factory ones of the same name."""
    kinds = KINDS if kind is None else (kind,)
    out: list[PresetInfo] = []
    for k in kinds:
        _check_kind(k)
        found: dict[str, PresetInfo] = {}
        for source, root in (("factory", FACTORY_ROOT), ("user", user_root())):
            for path in sorted((root / k).glob("*.yaml")):
                found[path.stem] = PresetInfo(k, path.stem, source, path, _description(path))
        out += [found[n] for n in sorted(found)]
    return out


def find_preset(kind: str, name: str) -> Path:
    """The file of preset ``name`` of ``kind`` (the user's if there is one); PresetError names the known."""
    _check_kind(kind)
    for root in (user_root(), FACTORY_ROOT):
        path = root / kind / f"{name}.yaml"
        if _NAME.match(name) and path.is_file():
            return path
    known = ", ".join(p.name for p in list_presets(kind)) or "none"
    raise PresetError(f"no {kind} preset {name!r:.70} (known: {known})")


def load_preset_data(kind: str, name: str) -> dict[str, Any]:
    """The checked contents of a preset as plain data."""
    path = find_preset(kind, name)
    return _parse(kind, path.read_bytes(), str(path))


def _parse(kind: str, raw: bytes, file: str) -> dict[str, Any]:
    if len(raw) > MAX_PRESET_BYTES:
        raise PresetError(f"{file}: larger than {MAX_PRESET_BYTES} bytes: not a preset")
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PresetError(f"{file}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise PresetError(f"{file}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise PresetError(f"{file}: a preset is a YAML mapping")
    _validate(kind, data, file)
    return data


def build_chain(data: Mapping[str, Any], file: str = "<chain>") -> list[Any]:
    """The processors of a chain preset's ``inserts``, in order."""
    from presets.devices import build_device

    inserts = data.get("inserts")
    if not isinstance(inserts, list) or not inserts:
        raise PresetError(f"{file}: inserts: a chain needs a list of one or more effects")
    procs = []
    for i, entry in enumerate(inserts):
        try:
            procs.append(build_device(entry, "effect"))
        except ValueError as exc:
            raise PresetError(f"{file}: inserts[{i}]: {exc}") from None
    return procs


def _validate(kind: str, data: Mapping[str, Any], file: str) -> None:
    """Build what the preset describes, so a bad preset is refused before it is used or saved."""
    from presets.devices import build_device

    if kind == "synth":
        from instruments.synth_presets import parse_synth_preset

        parse_synth_preset(yaml.safe_dump(dict(data), sort_keys=False), Path(file).name)
        return
    allowed = (
        ("description", "inserts")
        if kind == "chain"
        else ("description", "instrument", "inserts", "volume_db", "pan")
    )
    for key in data:
        if key not in allowed:
            raise PresetError(f"{file}: {key}: unknown field (allowed: {', '.join(allowed)})")
    if kind == "chain":
        build_chain(data, file)
        return
    if "instrument" not in data:
        raise PresetError(f"{file}: instrument: a track template needs one")
    try:
        build_device(data["instrument"], "instrument")
    except ValueError as exc:
        raise PresetError(f"{file}: instrument: {exc}") from None
    if "inserts" in data:
        build_chain(data, file)
    for key, lo, hi in (("volume_db", -96.0, 12.0), ("pan", -1.0, 1.0)):
        v = data.get(key, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            raise PresetError(f"{file}: {key}: must be a number in {lo:g}..{hi:g}, got {v!r:.40}")


def save_preset(kind: str, name: str, data: Mapping[str, Any] | bytes, *, overwrite: bool = False) -> Path:
    """Check ``data`` (a mapping, or the YAML text of a preset file) and save it as the user's preset
    ``name``; refuses to replace an existing user preset unless ``overwrite``. Returns the path."""
    from presets.storage import atomic_write

    _check_kind(kind)
    _check_name(name)
    if isinstance(data, bytes):
        text = data.decode("utf-8", errors="replace")
        parsed = _parse(kind, data, f"{name}.yaml")
    else:
        parsed = dict(data)
        _validate(kind, parsed, f"{name}.yaml")
        text = yaml.safe_dump(parsed, sort_keys=False, allow_unicode=True)
    path = user_root() / kind / f"{name}.yaml"
    if path.exists() and not overwrite:
        raise PresetError(f"{path} exists: give overwrite (--force) to replace it")
    del parsed
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, text)
