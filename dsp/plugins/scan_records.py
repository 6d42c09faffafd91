"""What a plugin scan reports: the records of :mod:`dsp.plugins.scan` and their errors.

:class:`PluginInfo` and :class:`ParameterInfo` are built from the probe's JSON (``from_probe``); a
:class:`BundleResult` is what happened to one bundle, a :class:`ScanReport` the whole scan. Import them
from :mod:`dsp.plugins.scan`, which re-exports everything here.

Errors::

    ScanError              (a path to scan does not exist or is not a bundle or folder)
    └── PluginLookupError  (find_plugin: no such plugin, or several match; ``candidates`` lists names)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BlockedBundle",
    "BundleResult",
    "ParameterInfo",
    "PathLike",
    "PluginInfo",
    "PluginLookupError",
    "ScanError",
    "ScanReport",
]

PathLike = str | os.PathLike[str]


class ScanError(Exception):
    """A path handed to :func:`scan` does not exist or is neither a plugin bundle nor a folder."""


class PluginLookupError(ScanError, LookupError):
    """:func:`find_plugin` found no plugin, or several; ``candidates`` holds the names to choose from."""

    def __init__(self, message: str, candidates: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


@dataclass(frozen=True)
class ParameterInfo:
    """One parameter as the probe saw it: ``python_name`` is the attribute pedalboard sets."""

    python_name: str
    name: str
    type: str  # "float", "bool" or "str"
    min_value: Any
    max_value: Any
    default_value: Any
    unit: str | None
    is_discrete: bool
    is_boolean: bool
    num_steps: int | None
    valid_values: tuple[str, ...] | None

    @classmethod
    def from_probe(cls, d: dict[str, Any]) -> ParameterInfo:
        vv = d.get("valid_values")
        return cls(
            python_name=str(d["python_name"]),
            name=str(d["name"]),
            type=str(d["type"]),
            min_value=d.get("min"),
            max_value=d.get("max"),
            default_value=d.get("default"),
            unit=d.get("unit"),
            is_discrete=bool(d.get("is_discrete")),
            is_boolean=bool(d.get("is_boolean")),
            num_steps=d.get("num_steps"),
            valid_values=tuple(vv) if vv is not None else None,
        )


@dataclass(frozen=True)
class PluginInfo:
    """One plugin of a scanned bundle. Load it with ``pedalboard.load_plugin(path, plugin_name=name)``."""

    name: str
    vendor: str
    category: str
    version: str
    identifier: str
    path: str
    is_instrument: bool
    is_effect: bool
    channels: int | None  # main bus width
    accepted_channels: tuple[int, ...]
    latency_samples: int
    sample_rate: float  # the rate latency_samples was measured at
    parameters: tuple[ParameterInfo, ...]

    @property
    def kind(self) -> str:
        return "instrument" if self.is_instrument else "effect"

    @classmethod
    def from_probe(cls, d: dict[str, Any], path: str, sample_rate: float) -> PluginInfo:
        return cls(
            name=str(d["name"]),
            vendor=str(d.get("vendor", "")),
            category=str(d.get("category", "")),
            version=str(d.get("version", "")),
            identifier=str(d.get("identifier", "")),
            path=path,
            is_instrument=bool(d.get("is_instrument")),
            is_effect=bool(d.get("is_effect")),
            channels=d.get("channels"),
            accepted_channels=tuple(d.get("accepted_channels") or ()),
            latency_samples=int(d.get("latency_samples") or 0),
            sample_rate=float(sample_rate),
            parameters=tuple(ParameterInfo.from_probe(p) for p in d.get("parameters", ())),
        )


@dataclass(frozen=True)
class BlockedBundle:
    """A bundle that crashed, hung (``kind="timeout"``) or failed to load, and why."""

    path: str
    kind: str  # "timeout", "crash" or "error"
    reason: str


@dataclass(frozen=True)
class BundleResult:
    """What happened to one bundle in a scan; handed to ``on_result`` as each one finishes."""

    path: str
    status: str  # "ok", "blocked" or "cached"
    plugins: tuple[PluginInfo, ...]
    blocked: BlockedBundle | None
    duration_s: float
    index: int  # 1-based, in the order results arrive
    total: int


@dataclass
class ScanReport:
    """The outcome of :func:`scan`: every plugin and blocklisted bundle under the scanned paths."""

    plugins: list[PluginInfo] = field(default_factory=list)
    blocklist: list[BlockedBundle] = field(default_factory=list)
    results: list[BundleResult] = field(default_factory=list)
    skipped: int = 0  # bundles answered from the cache
    probed: int = 0  # bundles loaded in a probe process this time
    elapsed_s: float = 0.0
    cache_path: Path | None = None
    cache_warning: str | None = None  # set when the cache was corrupt and has been rebuilt

    @property
    def found(self) -> int:
        return len(self.plugins)

    @property
    def blocked(self) -> int:
        return len(self.blocklist)
