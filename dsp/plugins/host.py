"""Hosting pedalboard plugins: opening a bundle, the error type, and what effects and instruments share.

:func:`open_plugin` loads one plugin from a VST3 bundle (an Audio Unit on macOS) with clear errors.
:class:`PluginBase` is the common part of :class:`dsp.plugins.effect.PluginProcessor` and
:class:`instruments.plugin_instrument.PluginInstrument`: the plugin's parameters as engine parameters
(:mod:`dsp.plugins.bindings`), state and presets, latency, and the sub-block loop for automation.

Automation granularity: a block in which any parameter moves (an automation lane, or the ramp after a
``set``) is split into sub-blocks on a grid of :data:`AUTOMATION_GRANULARITY` (32) timeline samples,
and at its segment boundaries (loop wraps). Each parameter's value at a grid point is written to the
plugin before the sub-block from there runs (``reset=False``, so the stream continues) and holds until
the next grid point, whatever the block size. A lane therefore lands at most 31 samples late (at the
first grid point at or after the sample it names); in between, the plugin holds the value (and smooths it
as it likes). Blocks where nothing moves run whole, and once a block has found every parameter still,
later blocks do not look at the parameters again until one is set or automated (or the processor is
prepared or reset): see :class:`dsp.plugins.bindings.ParamDriver`.

State: :meth:`PluginBase.get_state` returns bytes that carry the plugin's identity (name, identifier,
path), the engine values of its parameters and, for VST3/AU, pedalboard's ``raw_state``;
:meth:`PluginBase.set_state` refuses a state saved from another plugin. Both are control-side calls,
made while the plugin is not processing. VST3 plugins take parameter changes into their state only while
processing, so ``get_state`` (and ``set_state``/``load_vstpreset`` when values were set since the last
block) first run a few silent samples through the plugin.

Errors::

    engine.errors.EngineError
    └── PluginError (also a ValueError)   every refusal here: missing or broken bundle, ambiguous or
                                          unknown plugin name, bad channels/mode, foreign or corrupt state,
                                          unreadable preset
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dsp.plugins.bindings import Binding, ParamDriver
from dsp.plugins.stream import is_external
from engine.errors import EngineError
from engine.processor import BlockContext, Processor

__all__ = [
    "AUTOMATION_GRANULARITY",
    "FLUSH_SAMPLES",
    "MONO_MODES",
    "PluginBase",
    "PluginError",
    "PluginIdentity",
    "open_plugin",
    "pack_state",
    "unpack_state",
]

AUTOMATION_GRANULARITY = 32
MONO_MODES = ("dual_mono", "downmix")
STATE_MAGIC = b"STRUMSPACE-PLUGIN-STATE\n"
FLUSH_SAMPLES = 4  # silent samples run to make a VST3 plugin take pending values into its state


class PluginError(EngineError, ValueError):
    """A plugin could not be loaded, configured or restored; the message names the plugin or file."""


@dataclass(frozen=True)
class PluginIdentity:
    """Who a plugin is: ``identifier`` is what a saved state must match (``path`` may differ between
    machines). ``kind`` is ``"vst3"`` (any external plugin) or ``"builtin"`` (pedalboard's own)."""

    name: str
    identifier: str
    path: str = ""
    kind: str = "vst3"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1].strip() if text else type(exc).__name__


def open_plugin(path: str | Path, plugin_name: str | None = None) -> tuple[Any, PluginIdentity]:
    """Load one plugin from a bundle (control side; may take a second). PluginError says what is wrong."""
    import pedalboard

    p = Path(path)
    if not p.exists():
        raise PluginError(f"plugin not found: {p} (no such file or folder)")
    fmt = getattr(pedalboard, "AudioUnitPlugin", None) if p.suffix == ".component" else pedalboard.VST3Plugin
    if fmt is None:
        raise PluginError(f"{p}: Audio Units load only on macOS")
    try:
        names = list(fmt.get_plugin_names_for_file(str(p)))
    except Exception as exc:
        raise PluginError(f"{p} is not a plugin bundle pedalboard can read ({_first_line(exc)})") from None
    if not names:
        raise PluginError(f"{p} holds no plugins")
    if plugin_name is None and len(names) > 1:
        raise PluginError(f"{p} holds {len(names)} plugins: {', '.join(names)}; choose one with plugin_name=")
    if plugin_name is not None and plugin_name not in names:
        raise PluginError(f"{p} has no plugin named {plugin_name!r} (it holds: {', '.join(names)})")
    name = plugin_name if plugin_name is not None else names[0]
    try:
        plugin: Any = pedalboard.load_plugin(str(p), plugin_name=name)
    except Exception as exc:
        raise PluginError(f"could not load {name!r} from {p}: {_first_line(exc)}") from None
    return plugin, PluginIdentity(str(plugin.name), str(plugin.identifier), str(p), "vst3")


def pack_state(identity: PluginIdentity, params: Mapping[str, float], payload: bytes = b"") -> bytes:
    """The saved form: magic, header length, JSON header (identity and parameter values), payload."""
    header = json.dumps({"version": 1, **asdict(identity), "params": dict(params)}).encode()
    return STATE_MAGIC + struct.pack(">I", len(header)) + header + payload


def unpack_state(blob: bytes) -> tuple[dict[str, Any], bytes]:
    """(header, payload) of a saved state; PluginError if it is not one."""
    if not isinstance(blob, (bytes, bytearray)) or not bytes(blob).startswith(STATE_MAGIC):
        raise PluginError("not a StrumSpace plugin state (it lacks the header that names the plugin)")
    start = len(STATE_MAGIC)
    try:
        (size,) = struct.unpack(">I", blob[start : start + 4])
        header = json.loads(bytes(blob[start + 4 : start + 4 + size]))
        ok = isinstance(header, dict) and isinstance(header.get("identifier"), str)
        ok = ok and isinstance(header.get("params"), dict)
    except (struct.error, ValueError):
        ok = False
    if not ok:
        raise PluginError("corrupt plugin state: its header cannot be read")
    return header, bytes(blob[start + 4 + size :])


class PluginBase(Processor):
    """A plugin hosted through pedalboard as a graph node (see the module docstring).

    ``instances`` are the plugin objects (two for a mono plugin run dual mono, kept in step), ``bindings``
    their parameters. ``skipped_parameters`` maps each plugin parameter that is not an engine parameter to
    the reason. Subclasses set the ports, implement ``_run(start, end)`` and ``_flush()``.
    """

    def __init__(
        self,
        instances: Sequence[Any],
        bindings: Sequence[Binding],
        identity: PluginIdentity,
        skipped: Mapping[str, str] | None = None,
        sample_rate: float = 48000,
    ) -> None:
        super().__init__()
        self.instances = list(instances)
        self.plugin = self.instances[0]
        self.identity = identity
        self.skipped_parameters = dict(skipped or {})
        self.external = is_external(self.plugin)
        self._bindings = list(bindings)
        for b in self._bindings:
            b.refresh(self.instances)
            self.add_param(b.param)
        self._driver = ParamDriver(self._bindings)
        self._load_rate = float(sample_rate)
        self._unflushed = self.external  # values may have been set on the plugin object before wrapping
        self._next_pos = -1  # the timeline sample after the last block (-1: none yet)

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def path(self) -> str:
        return self.identity.path

    def choices(self, name: str) -> tuple[str, ...]:
        """The labels of a list parameter's steps (index 0..N-1), or () for other parameters."""
        self.param(name)
        return next((b.choices for b in self._bindings if b.param.name == name), ())

    def set_params(self, values: Mapping[str, float]) -> None:
        """Set several parameters (validated, all or none) and start there without a ramp. Control side."""
        checked = [(self.param(str(k)), v) for k, v in values.items()]
        for p, v in checked:
            p.validate(v)
        for p, v in checked:
            p.set(v)
            p.reset()

    # -- the audio side ---------------------------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self._driver.touch()

    def reset(self) -> None:
        super().reset()
        self._next_pos = -1
        self._driver.touch()

    def _run(self, start: int, end: int) -> None:
        raise NotImplementedError

    def _blocks(self, ctx: BlockContext) -> None:
        """Run the block whole, or in sub-blocks on the timeline grid while a parameter moves (module
        docstring). A cell of the grid cut by a block edge keeps the value of its start, so the output
        does not depend on the block size."""
        driver = self._driver
        n = ctx.num_segments
        if not driver.begin_block(ctx):
            self._run(0, ctx.frames)
            self._next_pos = int(ctx.seg_start[n - 1] + ctx.seg_frames[n - 1])
            return
        grid = AUTOMATION_GRANULARITY
        for k in range(n):
            s = int(ctx.seg_offset[k])
            end = s + int(ctx.seg_frames[k])
            pos = int(ctx.seg_start[k])
            if pos % grid and pos != self._next_pos:
                driver.apply_at(s)  # a jump (locate, loop wrap) into a cell: start from the value here
            while s < end:
                if pos % grid == 0:
                    driver.apply_at(s)
                step = min(grid - pos % grid, end - s)
                self._run(s, s + step)
                s += step
                pos += step
            self._next_pos = pos

    # -- state and presets (control side) ---------------------------------------------------------------
    def _rate(self) -> float:
        return self.sample_rate if self.sample_rate > 0 else self._load_rate

    def _flush(self) -> None:
        """Run a few silent samples so a VST3 plugin takes pending parameter changes into its state."""
        raise NotImplementedError

    def _settle(self) -> None:
        if self.external and (self._driver.apply_set_values() or self._unflushed):
            self._flush()
        self._unflushed = False

    def get_state(self) -> bytes:
        """The plugin's state with its identity (module docstring)."""
        values = {name: p.value for name, p in self.params.items()}
        if not self.external:
            self._driver.apply_set_values()
            return pack_state(self.identity, values)
        self._settle()
        return pack_state(self.identity, values, bytes(self.plugin.raw_state))

    def set_state(self, blob: bytes) -> None:
        """Restore a state from :meth:`get_state`; PluginError (nothing changed) if it is another plugin's."""
        header, payload = unpack_state(blob)
        if header["identifier"] != self.identity.identifier:
            raise PluginError(
                f"this state is for plugin {header.get('name')!r} ({header['identifier']}), "
                f"not {self.identity.name!r} ({self.identity.identifier})"
            )
        values = {str(k): v for k, v in header["params"].items() if k in self.params}
        for name, v in values.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise PluginError(f"corrupt plugin state: parameter {name!r} has value {v!r:.40}")
        if self.external:
            self._settle()  # a parameter change still queued would land on top of the loaded state
            for inst in self.instances:
                try:
                    inst.raw_state = payload
                except Exception as exc:
                    raise PluginError(f"{self.name} refused the state: {_first_line(exc)}") from None
        self._adopt_plugin_values(values)

    def load_vstpreset(self, path: str | Path) -> None:
        """Load a ``.vstpreset`` file into the plugin (every instance); PluginError if it cannot."""
        p = Path(path)
        if not self.external:
            raise PluginError(f"{self.name} is one of pedalboard's own effects: it has no VST3 presets")
        if not p.is_file():
            raise PluginError(f"preset file not found: {p}")
        self._settle()
        for inst in self.instances:
            try:
                inst.load_preset(str(p))
            except Exception as exc:
                raise PluginError(f"could not load preset {p} into {self.name}: {_first_line(exc)}") from None
        self._adopt_plugin_values({})

    def _adopt_plugin_values(self, values: Mapping[str, float]) -> None:
        """After a state or preset load: each engine parameter takes the given value, or the value the
        plugin now has; VST3 values are not written back, so the plugin keeps its loaded state exactly."""
        for b in self._bindings:
            p = b.param
            v = values.get(p.name)
            if v is None:
                v = b.read() if self.external else p.value
            p.set(min(p.max_value, max(p.min_value, float(v))))
            p.reset()
            if self.external:
                b.last = p.value
            else:
                b.apply(p.value)
