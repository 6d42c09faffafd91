"""How engine parameters reach a pedalboard plugin: one binding per parameter, applied before each block.

A :class:`Binding` pairs an engine :class:`engine.params.Parameter` with a way to write its value to every
instance of a plugin (two for dual mono) and to read it back. :func:`external_bindings` builds them for a
VST3/AU plugin from pedalboard's parameter table; :mod:`dsp.plugins.builtin` builds them for pedalboard's
own effects (:class:`AttrBinding`). A :class:`ParamDriver` runs them on the audio side: a still parameter
is written once when its value changes, a moving one (automated, or ramping after a set) at the start of
every sub-block (see :data:`dsp.plugins.host.AUTOMATION_GRANULARITY`). The parameters of one plugin are
:class:`engine.params.WatchedParameter` s sharing one flag (``Binding.watch``), raised by a set or an
automation lane, so the driver skips them all in a block where none was touched and none moves.

Which VST3 parameters become engine parameters (:data:`SKIP_REASONS` gives the wording):

- only automatable ones: this drops DPF's host-side pseudo-parameters (``buffer_size_frames``,
  ``sample_rate_frames``, ``latency_frames``: settings the host owns, never the user) and read-only meters
  (``gain_reduction_db``, ``output_level_db``: outputs of the plugin, which writing would not change);
- not the program selector (``current_program``/``program``): a program change rewrites the other
  parameters behind the engine's back; load a preset or a state instead;
- not one whose value has a single setting or does not vary monotonically with the raw value.

Continuous values map to pedalboard's raw 0..1 values through the knots pedalboard reads from the plugin
(its value text at 1,001 raw points), linearly between knots: exact for linear parameters, within one knot
spacing for curved ones. Booleans, lists (texts) and parameters with at most :data:`MAX_STEPS` steps are
stepped: no smoothing, values jump; a list is exposed as its index 0..N-1 (``Binding.choices`` names them).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.params import Parameter, WatchedParameter, Watcher, WatchFlag
from engine.processor import BlockContext

__all__ = [
    "MAX_STEPS",
    "PROGRAM_PARAMETERS",
    "SKIP_REASONS",
    "AttrBinding",
    "Binding",
    "ExternalBinding",
    "ParamDriver",
    "external_bindings",
]

MAX_STEPS = 128  # a parameter with more steps than this is treated as continuous
PROGRAM_PARAMETERS = ("current_program", "program")
SKIP_REASONS = {
    "automation": "not automatable (a host-side setting or a read-only meter of the plugin)",
    "program": "the program selector: load a preset or a state instead",
    "single": "has a single setting",
    "curve": "its value does not vary monotonically with the plugin's raw value",
}


class Binding:
    """One engine parameter and how it reaches the plugin instances. ``last`` is the value written last
    (NaN: none yet), so a value is written only when it changes. ``watch`` is the flag ``param`` raises
    when it is set or automated (``param`` is a :class:`engine.params.WatchedParameter` of it), or None
    for a plain :class:`engine.params.Parameter`, which the driver then looks at every block."""

    __slots__ = ("choices", "last", "param", "watch")

    def __init__(self, param: Parameter, choices: Sequence[str] = (), watch: Watcher | None = None) -> None:
        self.param = param
        self.choices = tuple(choices)
        self.last = math.nan
        self.watch = watch

    def refresh(self, instances: Sequence[Any]) -> None:
        """Look up the plugin's parameter objects again (after an instance was created or reloaded)."""

    def write(self, value: float) -> None:
        raise NotImplementedError

    def read(self) -> float:
        """The plugin's current value in engine units, from the first instance."""
        raise NotImplementedError

    def apply(self, value: float) -> None:
        if value != self.last:
            self.write(value)
            self.last = value


class AttrBinding(Binding):
    """A parameter that is a Python attribute of the plugin object (pedalboard's built-in effects)."""

    __slots__ = ("_attr", "_instances", "_to_plugin", "_to_value")

    def __init__(
        self,
        param: Parameter,
        attr: str,
        to_plugin: Callable[[float], Any] = float,
        to_value: Callable[[Any], float] = float,
        choices: Sequence[str] = (),
        watch: Watcher | None = None,
    ) -> None:
        super().__init__(param, choices, watch)
        self._attr = attr
        self._to_plugin = to_plugin
        self._to_value = to_value
        self._instances: list[Any] = []

    def refresh(self, instances: Sequence[Any]) -> None:
        self._instances = list(instances)

    def write(self, value: float) -> None:
        v = self._to_plugin(value)
        for inst in self._instances:
            setattr(inst, self._attr, v)

    def read(self) -> float:
        return float(self._to_value(getattr(self._instances[0], self._attr)))


class ExternalBinding(Binding):
    """A VST3/AU parameter, written as pedalboard's raw 0..1 value through :class:`_Curve` or
    :class:`_Steps` (the C++ parameter objects are cached; :meth:`refresh` after a reload)."""

    __slots__ = ("_cpp", "_map", "cpp_name")

    def __init__(
        self,
        param: Parameter,
        cpp_name: str,
        mapping: _Curve | _Steps,
        choices: Sequence[str] = (),
        watch: Watcher | None = None,
    ) -> None:
        super().__init__(param, choices, watch)
        self.cpp_name = cpp_name
        self._map = mapping
        self._cpp: list[Any] = []

    def refresh(self, instances: Sequence[Any]) -> None:
        self._cpp = [inst._get_parameter(self.cpp_name) for inst in instances]

    def write(self, value: float) -> None:
        raw = self._map.to_raw(value)
        for cpp in self._cpp:
            cpp.raw_value = raw

    def read(self) -> float:
        # the plugin keeps raw values in float32 (about 7 digits): 79.99999773 is read as the 80 it was
        v = self._map.to_value(float(self._cpp[0].raw_value))
        if abs(v) < (self.param.max_value - self.param.min_value) * 1e-7:
            return 0.0
        return float(f"{v:.7g}")


class _Curve:
    """A monotonic value <-> raw map sampled at knots (raws ascending), linear between them."""

    def __init__(self, raws: list[float], values: list[float]) -> None:
        self.raws = raws
        self.sign = 1.0 if values[-1] >= values[0] else -1.0  # a falling curve is searched negated
        self.keys = [self.sign * v for v in values]

    def to_raw(self, value: float) -> float:
        keys, raws = self.keys, self.raws
        k = self.sign * value
        i = bisect_left(keys, k)
        if i <= 0:
            return raws[0]
        if i >= len(keys):
            return raws[-1]
        if keys[i] == k:
            return raws[i]
        k0, k1 = keys[i - 1], keys[i]
        return raws[i - 1] + (raws[i] - raws[i - 1]) * (k - k0) / (k1 - k0)

    def to_value(self, raw: float) -> float:
        keys, raws = self.keys, self.raws
        i = bisect_right(raws, raw)
        if i <= 0:
            return self.sign * keys[0]
        if i >= len(raws):
            return self.sign * keys[-1]
        r0, r1 = raws[i - 1], raws[i]
        return self.sign * (keys[i - 1] + (keys[i] - keys[i - 1]) * (raw - r0) / (r1 - r0))


class _Steps:
    """A stepped map: ``values[k]`` is written as ``raws[k]``; a raw value reads as the step whose range
    (``starts[k]`` up to the next start) holds it."""

    def __init__(self, values: list[float], raws: list[float], starts: list[float]) -> None:
        self.values = values
        self.raws = raws
        self.starts = starts

    def to_raw(self, value: float) -> float:
        best = min(range(len(self.values)), key=lambda k: abs(self.values[k] - value))
        return self.raws[best]

    def to_value(self, raw: float) -> float:
        return self.values[max(0, bisect_right(self.starts, raw) - 1)]


def _step_raws(ranges: list[tuple[float, float]]) -> list[float]:
    """The raw value to write for each step: k/(N-1), the VST3 convention, where that lies in the step's
    range, else the middle of the range."""
    n = len(ranges)
    out = []
    for k, (lo, hi) in enumerate(ranges):
        exact = k / (n - 1)
        out.append(exact if lo <= exact <= hi else (lo + hi) / 2.0)
    return out


def _binding_for(name: str, w: Any, watch: Watcher) -> ExternalBinding | str:
    """The binding of one pedalboard parameter wrapper (its parameter raising ``watch``), or the key of the
    reason to skip it."""
    if not w.is_automatable:
        return "automation"
    if name in PROGRAM_PARAMETERS:
        return "program"
    ranges = sorted(w.ranges.items(), key=lambda item: item[0][0])  # ((lo, hi), value) by raw
    if len(ranges) < 2:
        return "single"
    spans = [r for r, _ in ranges]
    starts = [lo for lo, _ in spans]
    unit = (w.label or "").strip()
    mapping: _Curve | _Steps
    choices: list[str] = []
    steps = int(getattr(w, "num_steps", 0) or 0)
    if w.type is float and not (0 < steps <= MAX_STEPS):
        raws = [*starts, 1.0] if starts[-1] < 1.0 else starts
        values = [float(v) for _, v in ranges]
        values = [*values, values[-1]] if len(raws) > len(values) else values
        diffs = np.diff(values)
        if min(values) == max(values):
            return "single"
        if not (np.all(diffs >= 0) or np.all(diffs <= 0)):
            return "curve"
        mapping = _Curve(raws, values)
        lo_v, hi_v = min(values), max(values)
        stepped = False
    else:
        labels = [v for _, v in ranges]
        numeric = w.type is float and all(float(v).is_integer() for v in labels)
        if w.type is bool:
            values = [1.0 if v else 0.0 for v in labels]
            choices = ["off" if not v else "on" for v in labels]
        elif numeric:
            values = [float(v) for v in labels]
        else:  # a list of texts (or non-integer steps): exposed as the index
            values = [float(k) for k in range(len(labels))]
            choices = [str(v) for v in labels]
        if len(set(values)) < 2:
            return "single"
        mapping = _Steps(values, _step_raws(spans), starts)
        lo_v, hi_v = min(values), max(values)
        unit = unit if numeric else ""
        stepped = True
    default = min(hi_v, max(lo_v, mapping.to_value(float(w.default_raw_value))))
    param = WatchedParameter(watch, name, lo_v, hi_v, default, unit, stepped=stepped)
    return ExternalBinding(param, str(w.name), mapping, choices, watch)


def external_bindings(plugin: Any) -> tuple[list[ExternalBinding], dict[str, str]]:
    """Bindings for a loaded VST3/AU plugin's parameters, each at the plugin's current value, and the
    parameters left out with the reason (module docstring). The parameters share one watch flag."""
    bindings: list[ExternalBinding] = []
    skipped: dict[str, str] = {}
    watch = WatchFlag()
    for name, w in plugin.parameters.items():
        made = _binding_for(name, w, watch)
        if isinstance(made, str):
            skipped[name] = SKIP_REASONS[made]
            continue
        made.refresh([plugin])
        p = made.param
        p.set(min(p.max_value, max(p.min_value, made.read())))
        p.reset()
        made.last = p.value
        bindings.append(made)
    return bindings, skipped


class _Unwatched:
    """The flag of bindings that share none (a plain Parameter, or parameters raising different flags):
    always up, so the driver looks at every parameter every block."""

    __slots__ = ()

    @property
    def touched(self) -> bool:
        return True

    @touched.setter
    def touched(self, value: bool) -> None:
        pass


class ParamDriver:
    """Audio side: per block, :meth:`begin_block` writes still parameters whose value changed and returns
    whether any parameter moves in this block; then :meth:`apply_at` writes the moving ones' values at a
    sub-block start. Nothing is allocated (the lists are sized once).

    ``watch`` is the flag all the parameters raise when set or automated (``Binding.watch``). A block that
    finds every parameter still (no automation, no ramp under way) lowers it, and later blocks return at
    once until a parameter raises it again: every value was written then, so looking would write nothing.
    A block in which a parameter moves, or has a lane, keeps it up. :meth:`touch` raises it (reset,
    prepare)."""

    def __init__(self, bindings: Sequence[Binding]) -> None:
        self.bindings = list(bindings)
        self._moving: list[Binding] = list(self.bindings)
        self._values: list[np.ndarray] = [np.zeros(1)] * len(self.bindings)
        self.n_moving = 0
        shared: Watcher | None = self.bindings[0].watch if self.bindings else WatchFlag()
        if shared is None or any(b.watch is not shared for b in self.bindings):
            shared = _Unwatched()
        self.watch: Watcher = shared
        self.touch()

    def touch(self) -> None:
        """Have the next :meth:`begin_block` look at every parameter."""
        self.watch.touched = True

    def begin_block(self, ctx: BlockContext) -> bool:
        watch = self.watch
        if not watch.touched:
            return False  # n_moving is 0: the block that lowered the flag found nothing moving
        watch.touched = False  # lowered first, so that a set made while this runs raises it again
        still = True
        m = 0
        for b in self.bindings:
            p = b.param
            if p.automation is None and p.current == p.value:
                v = p.value  # settled: the common case, kept cheap
            else:
                still = False  # moving, or ending a ramp (the next block writes where it ends)
                arr = p.render(ctx)
                if not p.is_constant:
                    self._moving[m] = b
                    self._values[m] = arr
                    m += 1
                    continue
                v = float(arr[0])
            if v != b.last:
                b.write(v)
                b.last = v
        self.n_moving = m
        if not still:
            watch.touched = True
        return m > 0

    def apply_at(self, offset: int) -> None:
        for i in range(self.n_moving):
            b = self._moving[i]
            v = float(self._values[i][offset])
            if v != b.last:
                b.write(v)
                b.last = v

    def apply_set_values(self) -> bool:
        """Control side: write every parameter's set value now; True if anything was written."""
        wrote = False
        for b in self.bindings:
            v = b.param.value
            if v != b.last:
                b.write(v)
                b.last = v
                wrote = True
        return wrote
