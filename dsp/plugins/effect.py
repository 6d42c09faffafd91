"""A pedalboard plugin as an audio effect of the engine graph: a loaded VST3/AU or a pedalboard built-in.

:func:`load_plugin_processor` opens a bundle and wraps it; :class:`PluginProcessor` wraps a plugin object
you already have (``PluginProcessor(pedalboard.Reverb())``). Ports: audio ``in`` and ``out`` with the
track's ``channels`` (1 or 2). Parameters: every plugin parameter under pedalboard's ``python_name``
(which ones and how: :mod:`dsp.plugins.bindings`; automation granularity: :mod:`dsp.plugins.host`).

Channels: the plugin's main-bus width is found at load by processing a short buffer in 2 and in 1
channels (and, for a plugin that takes neither, in 4, 6 and 8), or set with ``bus_channels``. A plugin that
takes the track's width runs directly. A mono-only plugin on a stereo track runs
``mono_mode="dual_mono"`` (two instances, one per side, parameters and state kept in step) or
``"downmix"`` (one instance on (L+R)/2, its output on both sides). A stereo-only plugin on a mono track
gets the mono signal on both inputs; its two outputs are summed back at half gain each (their mean), so a
neutral plugin passes the signal at unity. A plugin whose main bus is wider (quad, 5.1, 7.1: the narrowest
it takes) gets the track on its first two channels (left and right, or the mono signal on both) and
silence on the others, and its first two outputs come back (averaged for a mono track).

Sidechain: none. pedalboard 0.9.26 feeds a VST3 only its main bus: it disables other input buses where
the plugin allows and otherwise hands them zeros, and it has no API for a second input. A plugin's own
sidechain switch (ZamCompX2's ``sidechain``) is an ordinary parameter here and keys from that silence.

Latency: ``latency_samples`` is the plugin's ``reported_latency_samples`` (VST3/AU), or for a built-in
the latency pedalboard compensates inside it, measured at prepare (0 for every built-in that streams).
The output is the input delayed by that much (:mod:`dsp.plugins.stream`), so the plan aligns parallel
paths. A plugin whose latency changes needs ``engine.commit()`` and a reset to be aligned again.

The real-time rule: pedalboard's ``process`` allocates its output array (and a VST3 call allocates in
C++ too), so a plugin's ``process`` is NOT allocation-free; for live playback run plugins where an
allocation per block is tolerable. Everything else here works in buffers allocated by ``prepare``
(numpy views of them are taken per sub-block).

The common case is kept short: a plugin at the track's width gets the block as it is (pedalboard reads a
non-contiguous view as it reads a copy, and answers with a new array, so the output may alias the input),
and while no parameter is touched or moving ``process`` makes that one call and copies its answer out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dsp.plugins.bindings import Binding, external_bindings
from dsp.plugins.host import FLUSH_SAMPLES, MONO_MODES, PluginBase, PluginError, PluginIdentity, open_plugin
from dsp.plugins.stream import OutputQueue, is_external, measure_latency, prime, probe_widths
from engine.processor import AudioPort, BlockContext

__all__ = ["PluginProcessor", "load_plugin_processor"]

_DIRECT, _DUAL, _DOWNMIX, _SPREAD, _WIDE = "direct", "dual_mono", "downmix", "mono_to_stereo", "wide"
WIDE_WIDTHS = (4, 6, 8)  # main-bus widths probed when a plugin takes neither 1 nor 2 channels
MAX_BUS_CHANNELS = 8


class PluginProcessor(PluginBase):
    """A pedalboard plugin as an effect (module docstring). ``factory`` makes another instance of the
    same plugin (needed for dual mono; :func:`load_plugin_processor` passes one). For a built-in,
    ``bindings`` may be given; by default they come from :data:`dsp.plugins.builtin.BUILTIN_PARAMS`.
    ``bus_channels`` (1..8) runs the plugin's main bus at that width instead of the one found by probing
    (a plugin that offers several layouts); the plugin must take it."""

    in_place = True

    def __init__(
        self,
        plugin: Any,
        *,
        channels: int = 2,
        mono_mode: str = "dual_mono",
        factory: Callable[[], Any] | None = None,
        identity: PluginIdentity | None = None,
        bindings: Sequence[Binding] | None = None,
        sample_rate: float = 48000,
        bus_channels: int | None = None,
    ) -> None:
        if channels not in (1, 2):
            raise PluginError(f"channels must be 1 or 2, got {channels!r}")
        if mono_mode not in MONO_MODES:
            raise PluginError(f"mono_mode must be one of {', '.join(MONO_MODES)}, got {mono_mode!r}")
        external = is_external(plugin)
        label = str(getattr(plugin, "name", type(plugin).__name__))
        if external and not plugin.is_effect:
            raise PluginError(
                f"{label} is an instrument: host it with instruments.plugin_instrument.PluginInstrument"
            )
        widths, refused = _bus_widths(plugin, label, sample_rate, external, bus_channels)
        if channels in widths:
            mode, width = _DIRECT, channels
        elif channels == 2 and 1 in widths:
            mode, width = mono_mode, 1
        elif channels == 1 and 2 in widths:
            mode, width = _SPREAD, 2
        elif widths:
            mode, width = _WIDE, min(widths)
        else:
            why = "; ".join(f"{ch}: {msg}" for ch, msg in refused.items())
            raise PluginError(f"{label}: its main bus takes none of 1, 2, 4, 6 or 8 channels ({why})")
        skipped: dict[str, str] = {}
        if bindings is None:
            if external:
                bindings, skipped = external_bindings(plugin)
            else:
                from dsp.plugins.builtin import builtin_bindings

                bindings = builtin_bindings(plugin)
        if identity is None:
            identity = (
                PluginIdentity(label, str(plugin.identifier), "", "vst3")
                if external
                else PluginIdentity(label, f"pedalboard.{type(plugin).__name__}", "", "builtin")
            )
        instances = [plugin]
        if mode == _DUAL:
            if factory is None:
                raise PluginError(
                    f"{label} is mono: dual mono on a stereo track needs a second instance; pass factory= "
                    "(load_plugin_processor does) or use mono_mode='downmix'"
                )
            instances.append(factory())
        super().__init__(instances, bindings, identity, skipped, sample_rate)
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self.channels = channels
        self.mode = mode
        self.plugin_channels = width
        self._whole = plugin if mode == _DIRECT else None  # the instance run on the block as it is
        self._watch = self._driver.watch  # raised while a parameter is set, automated or moving
        self._latency = 0
        self._allocate(512)
        if mode == _DUAL:
            self._flush()  # the first instance's values reach its state; the twin starts from it
            instances[1].raw_state = bytes(plugin.raw_state)
            self._refresh_all()
        if not external:
            self._latency = self._measure(sample_rate, 512)
            self._allocate(512)

    def _refresh_all(self) -> None:
        for b in self._bindings:
            b.refresh(self.instances)

    def _measure(self, sample_rate: float, length: int) -> int:
        latency = measure_latency(self.plugin, sample_rate, self.plugin_channels, length)
        if latency is None:
            raise PluginError(f"{self.name} gave no output for 10 s of input")
        return latency

    def _allocate(self, max_block_size: int) -> None:
        self._prime_len = max(64, max_block_size)
        w = self.plugin_channels
        self._flat = np.zeros(w * self._prime_len, dtype=np.float32)
        self._pair = np.zeros((max(2, w), self._prime_len), dtype=np.float32)
        self._queues = [OutputQueue(w, self.latency_samples, self._prime_len) for _ in self.instances]
        self._queue = self._queues[0]

    @property
    def latency_samples(self) -> int:
        return int(self.plugin.reported_latency_samples) if self.external else self._latency

    @property
    def underruns(self) -> int:
        """Blocks that got output later than the reported latency (0 for a well-behaved plugin)."""
        return sum(q.underruns for q in self._queues)

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        if not self.external:
            self._driver.apply_set_values()  # the latency may depend on them
            self._latency = self._measure(sample_rate, max(64, max_block_size))
        self._allocate(max_block_size)
        self._restart()

    def reset(self) -> None:
        super().reset()
        if self.sample_rate > 0:
            self._restart()

    def _restart(self) -> None:
        latency = self.latency_samples
        for inst, queue in zip(self.instances, self._queues, strict=True):
            owed = prime(inst, self.sample_rate, self.plugin_channels, self._prime_len)
            queue.clear(latency - owed)
        self._refresh_all()  # a plugin pedalboard reloads on reset has new parameter objects
        self._unflushed = False

    def _flush(self) -> None:
        w = self.plugin_channels
        silence = self._flat[: w * FLUSH_SAMPLES].reshape(w, FLUSH_SAMPLES)
        silence[:] = 0.0
        for inst in self.instances:
            inst.process(silence, self._rate(), buffer_size=self._prime_len, reset=False)

    def process(self, ctx: BlockContext, audio_in, audio_out, events_in, events_out) -> None:
        inst = self._whole
        if inst is not None and not self._watch.touched:
            # at the track's width with nothing to write: the block whole, as _blocks and _emit would run it
            # (arguments by position: pedalboard's binding parses keywords measurably slower, ~0.5 us a call)
            y = audio_out[0]
            out = inst.process(audio_in[0], self.sample_rate, self._prime_len, False)
            queue = self._queue
            # (item assignment: a third of np.copyto's call cost on a block this small)
            if queue.fill == 0 and out.shape == y.shape:
                y[...] = out
            else:
                queue.push(out)
                queue.pop_into(y)
            if ctx.num_segments == 1:  # (its segment starts at sample_pos)
                self._next_pos = ctx.sample_pos + ctx.frames
            else:
                k = ctx.num_segments - 1
                self._next_pos = int(ctx.seg_start[k] + ctx.seg_frames[k])
            return
        self._x = audio_in[0]
        self._y = audio_out[0]
        self._blocks(ctx)

    def _emit(self, i: int, buf: np.ndarray, dest: np.ndarray) -> None:
        """Run instance ``i`` on ``buf`` and write exactly ``dest``'s length of output to ``dest``."""
        out = self.instances[i].process(buf, self.sample_rate, self._prime_len, False)  # (see process)
        queue = self._queues[i]
        if queue.fill == 0 and out.shape == dest.shape:
            dest[...] = out
        else:
            queue.push(out)
            queue.pop_into(dest)

    def _run(self, s: int, e: int) -> None:
        x, y, m = self._x, self._y, e - s
        mode = self.mode
        if mode == _DIRECT:
            # the view as it is (module docstring); pedalboard reads a (2, 1) or (2, 2) block by the channel
            # count of its last call that was not square, so every block as channels x samples (prime)
            self._emit(0, x[:, s:e], y[:, s:e])
            return
        buf = self._flat[: self.plugin_channels * m].reshape(self.plugin_channels, m)
        if mode == _DUAL:
            for c in (0, 1):  # out[0] may alias in[0]; in[1] is read after, untouched
                np.copyto(buf[0], x[c, s:e])
                self._emit(c, buf, y[c : c + 1, s:e])
        elif mode == _DOWNMIX:
            np.add(x[0, s:e], x[1, s:e], out=buf[0])
            buf *= 0.5
            self._emit(0, buf, y[0:1, s:e])
            np.copyto(y[1, s:e], y[0, s:e])
        elif mode == _SPREAD:  # a stereo plugin on a mono track
            np.copyto(buf[0], x[0, s:e])
            np.copyto(buf[1], x[0, s:e])
            pair = self._pair[:2, :m]
            self._emit(0, buf, pair)
            np.add(pair[0], pair[1], out=y[0, s:e])
            y[0, s:e] *= 0.5
        else:  # _WIDE: the track on the first two channels of a wider bus, silence on the rest
            buf[0] = x[0, s:e]
            buf[1] = x[self.channels - 1, s:e]
            buf[2:] = 0.0
            wide = self._pair[: self.plugin_channels, :m]
            self._emit(0, buf, wide)
            if self.channels == 2:
                y[:, s:e] = wide[:2]
            else:
                np.add(wide[0], wide[1], out=y[0, s:e])
                y[0, s:e] *= 0.5


def _bus_widths(
    plugin: Any, label: str, sample_rate: float, external: bool, bus_channels: int | None
) -> tuple[list[int], dict[int, str]]:
    """The main-bus widths to choose from, and why a probed width was refused."""
    if bus_channels is not None:
        if (
            isinstance(bus_channels, bool)
            or not isinstance(bus_channels, int)
            or not (1 <= bus_channels <= MAX_BUS_CHANNELS)
        ):
            what = f"{bus_channels!r:.40}"
            raise PluginError(f"bus_channels must be a whole number 1..{MAX_BUS_CHANNELS}, got {what}")
        if external:
            ok, refused = probe_widths(plugin, sample_rate, (bus_channels,))
            if not ok:
                raise PluginError(
                    f"{label}: its main bus does not take {bus_channels} channels ({refused[bus_channels]})"
                )
        return [bus_channels], {}
    if not external:
        return [2, 1], {}  # pedalboard's built-ins take any width
    widths, refused = probe_widths(plugin, sample_rate)
    if not widths:
        widths, wider = probe_widths(plugin, sample_rate, WIDE_WIDTHS)
        refused.update(wider)
    return widths, refused


def load_plugin_processor(
    path: str | Path,
    *,
    plugin_name: str | None = None,
    channels: int = 2,
    mono_mode: str = "dual_mono",
    sample_rate: float = 48000,
    params: Mapping[str, float] | None = None,
    bus_channels: int | None = None,
) -> PluginProcessor:
    """Load a VST3 (AU on macOS) effect as a processor for a track of ``channels`` channels.

    ``sample_rate`` is the rate the plugin is probed at (the engine's prepare sets the running rate);
    ``params`` sets parameters by name. PluginError for a missing or broken bundle, an ambiguous or
    unknown ``plugin_name``, an instrument, bad channels/mode or a bad parameter value.
    """
    plugin, identity = open_plugin(path, plugin_name)

    def another() -> Any:
        return open_plugin(path, identity.name)[0]

    proc = PluginProcessor(
        plugin,
        channels=channels,
        mono_mode=mono_mode,
        factory=another,
        identity=identity,
        sample_rate=sample_rate,
        bus_channels=bus_channels,
    )
    if params:
        try:
            proc.set_params(params)
        except (KeyError, ValueError) as exc:
            raise PluginError(f"{identity.name}: {exc.args[0] if exc.args else exc}") from None
    return proc
