"""The editable audio graph (control side): named nodes holding processors, and connections between ports.

Audio connections sum where several meet at one input (fan-in) and may leave one output for many inputs
(fan-out); a connection between ports of different channel counts is adapted (mono spreads to every
channel, several channels fold to mono by their mean, otherwise channel ``c`` feeds channel ``c``).
Event connections merge in time order. A cycle is refused unless it passes through a :class:`Feedback`
node, which hands its input to its output one block later.

Next: :func:`engine.plan.compile_plan` turns the graph into an immutable render plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import (
    CycleError,
    DuplicateNodeError,
    GraphError,
    PortTypeError,
    UnknownNodeError,
    UnknownPortError,
)
from engine.events import EventBuffer
from engine.processor import AudioPort, BlockContext, Processor

__all__ = ["Connection", "Feedback", "Graph"]


@dataclass(frozen=True)
class Connection:
    """A wire from ``source``'s output port to ``dest``'s input port; ``kind`` is "audio" or "event"."""

    source: str
    source_port: str
    dest: str
    dest_port: str
    kind: str

    def __str__(self) -> str:
        return f"{self.source}.{self.source_port} -> {self.dest}.{self.dest_port}"


class Feedback(Processor):
    """Closes a loop in the graph: its output is its input of the previous block (one block of delay).

    The plan reads the stored block out before anything else in the block and stores the new input once
    the nodes feeding it have run, so a cycle through this node has a well-defined order.
    """

    def __init__(self, channels: int = 2) -> None:
        super().__init__()
        self.audio_inputs = (AudioPort("in", channels),)
        self.audio_outputs = (AudioPort("out", channels),)
        self.channels = channels
        self._stored = np.zeros((channels, 1), dtype=np.float32)
        self._stored_frames = 0

    def prepare(self, sample_rate: float, max_block_size: int) -> None:
        super().prepare(sample_rate, max_block_size)
        self._stored = np.zeros((self.channels, max_block_size), dtype=np.float32)
        self._stored_frames = 0

    def reset(self) -> None:
        super().reset()
        self._stored[:] = 0.0
        self._stored_frames = 0

    def read(self, out: np.ndarray, frames: int) -> None:
        """Write the stored block (zero-padded to ``frames``) into ``out``."""
        k = min(frames, self._stored_frames)
        out[:, :k] = self._stored[:, :k]
        out[:, k:frames] = 0.0

    def store(self, inp: np.ndarray, frames: int) -> None:
        self._stored[:, :frames] = inp[:, :frames]
        self._stored_frames = frames

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        # The plan calls read() and store() itself; this path serves a Feedback used on its own.
        self.read(audio_out[0], ctx.frames)
        self.store(audio_in[0], ctx.frames)


def _port_names(ports: Sequence[object]) -> list[str]:
    return [p.name for p in ports]  # type: ignore[attr-defined]


class Graph:
    """Nodes and connections. Every edit is checked at once and a refused edit changes nothing.

    ``version`` goes up with every edit, so an engine knows when to compile a new plan.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, Processor] = {}
        self.connections: list[Connection] = []
        self.output: tuple[str, str] | None = None
        self.version = 0

    # -- nodes ------------------------------------------------------------------------------------------
    def add(self, name: str, processor: Processor) -> str:
        """Add a node; returns its name."""
        if not isinstance(name, str) or not name or "." in name:
            raise GraphError(f"node name must be a non-empty string without '.', got {name!r}")
        if name in self.nodes:
            raise DuplicateNodeError(f"a node named {name!r} is already in the graph")
        if not isinstance(processor, Processor):
            raise GraphError(f"node {name!r}: expected a Processor, got {type(processor).__name__}")
        self.nodes[name] = processor
        self.version += 1
        return name

    def remove(self, name: str) -> None:
        """Remove a node and every connection to or from it."""
        self._node(name)
        del self.nodes[name]
        self.connections = [c for c in self.connections if name not in (c.source, c.dest)]
        if self.output is not None and self.output[0] == name:
            self.output = None
        self.version += 1

    def node(self, name: str) -> Processor:
        return self._node(name)

    def _node(self, name: str) -> Processor:
        try:
            return self.nodes[name]
        except KeyError:
            known = ", ".join(self.nodes) or "none"
            raise UnknownNodeError(f"no node named {name!r} in the graph (nodes: {known})") from None

    # -- connections ------------------------------------------------------------------------------------
    def connect(self, source: str, dest: str) -> Connection:
        """Connect ``"node.port"`` to ``"node.port"``. The port may be left out where the node has exactly
        one output (for the source) or one input (for the dest) of a kind both ends share, or where one of
        several is the main port, named ``out`` or ``in``."""
        src_node, src_port = self._split(source)
        dst_node, dst_port = self._split(dest)
        sp = self._node(src_node)
        dp = self._node(dst_node)
        src_port, src_kind = self._resolve(src_node, sp, src_port, output=True)
        dst_port, dst_kind = self._resolve(dst_node, dp, dst_port, output=False, prefer=src_kind)
        if src_kind != dst_kind:
            raise PortTypeError(
                f"cannot connect {src_node}.{src_port} ({src_kind}) to {dst_node}.{dst_port} ({dst_kind})"
            )
        conn = Connection(src_node, src_port, dst_node, dst_port, src_kind)
        if conn in self.connections:
            raise GraphError(f"{conn} is already connected")
        self.connections.append(conn)
        try:
            self.processing_order()
        except CycleError:
            self.connections.pop()
            raise
        self.version += 1
        return conn

    def disconnect(self, source: str, dest: str) -> None:
        src_node, src_port = self._split(source)
        dst_node, dst_port = self._split(dest)
        for c in self.connections:
            if (
                c.source == src_node
                and c.dest == dst_node
                and (src_port is None or c.source_port == src_port)
                and (dst_port is None or c.dest_port == dst_port)
            ):
                self.connections.remove(c)
                self.version += 1
                return
        raise GraphError(f"{source} is not connected to {dest}")

    def set_output(self, source: str) -> None:
        """Name the audio output (``"node.port"``) that the engine plays and renders."""
        node, port = self._split(source)
        proc = self._node(node)
        port, kind = self._resolve(node, proc, port, output=True, prefer="audio")
        if kind != "audio":
            raise PortTypeError(f"the graph output must be an audio port, {node}.{port} carries events")
        self.output = (node, port)
        self.version += 1

    @staticmethod
    def _split(ref: str) -> tuple[str, str | None]:
        if not isinstance(ref, str) or not ref:
            raise GraphError(f"a port reference is 'node' or 'node.port', got {ref!r}")
        node, _, port = ref.partition(".")
        return node, (port or None)

    @staticmethod
    def _resolve(
        node: str, proc: Processor, port: str | None, *, output: bool, prefer: str | None = None
    ) -> tuple[str, str]:
        audio = proc.audio_outputs if output else proc.audio_inputs
        events = proc.event_outputs if output else proc.event_inputs
        side = "output" if output else "input"
        if port is None:
            candidates = [(p.name, "audio") for p in audio] + [(p.name, "event") for p in events]
            if prefer is not None and any(k == prefer for _, k in candidates):
                candidates = [c for c in candidates if c[1] == prefer]
            main = "out" if output else "in"
            if len(candidates) > 1 and any(n == main for n, _ in candidates):
                # the main port by convention: a compressor's "in", not its "sidechain"
                candidates = [c for c in candidates if c[0] == main]
            if len(candidates) != 1:
                names = ", ".join(n for n, _ in candidates) or "none"
                raise UnknownPortError(f"node {node!r}: name the {side} port (ports: {names})")
            return candidates[0]
        if port in _port_names(audio):
            return port, "audio"
        if port in _port_names(events):
            return port, "event"
        known = ", ".join(_port_names(audio) + _port_names(events)) or "none"
        raise UnknownPortError(f"node {node!r} has no {side} port {port!r} ({side}s: {known})")

    # -- order ------------------------------------------------------------------------------------------
    def dependencies(self) -> dict[str, list[str]]:
        """For each node, the nodes that must run before it (edges into a Feedback node do not count)."""
        deps: dict[str, list[str]] = {name: [] for name in self.nodes}
        for c in self.connections:
            if isinstance(self.nodes[c.dest], Feedback):
                continue
            if c.source not in deps[c.dest]:
                deps[c.dest].append(c.source)
        return deps

    def processing_order(self) -> list[str]:
        """Node names in an order where every node runs after its inputs; raises CycleError naming a cycle."""
        deps = self.dependencies()
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done
        for root in self.nodes:
            if state.get(root):
                continue
            # iterative depth-first search so deep chains do not hit the recursion limit
            stack: list[tuple[str, int]] = [(root, 0)]
            path: list[str] = []
            while stack:
                name, i = stack.pop()
                if i == 0:
                    state[name] = 1
                    path.append(name)
                d = deps[name]
                if i < len(d):
                    stack.append((name, i + 1))
                    nxt = d[i]
                    st = state.get(nxt, 0)
                    if st == 1:
                        cycle = path[path.index(nxt) :]
                        # deps point backwards (dest -> source); show the cycle in signal-flow order
                        raise CycleError(list(reversed(cycle)))
                    if st == 0:
                        stack.append((nxt, 0))
                else:
                    state[name] = 2
                    path.pop()
                    order.append(name)
        return order

    def inputs_of(self, name: str) -> list[Connection]:
        return [c for c in self.connections if c.dest == name]

    def outputs_of(self, name: str) -> list[Connection]:
        return [c for c in self.connections if c.source == name]
