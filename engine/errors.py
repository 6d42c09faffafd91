"""Errors raised by the engine. Every message names the thing at fault.

Tree::

    EngineError
    ├── GraphError              (an edit the graph refuses)
    │   ├── UnknownNodeError    (a node name that is not in the graph)
    │   ├── UnknownPortError    (a port name that the node does not have)
    │   ├── DuplicateNodeError  (a node name used twice)
    │   ├── PortTypeError       (audio wired to events, or an output used as an input)
    │   └── CycleError          (a loop not closed through a Feedback node)
    ├── SessionError            (a song/session that cannot be built: bad clip, unknown bus...)
    └── RenderError             (an offline render that could not finish; nothing is written)
"""

from __future__ import annotations

__all__ = [
    "CycleError",
    "DuplicateNodeError",
    "EngineError",
    "GraphError",
    "PortTypeError",
    "RenderError",
    "SessionError",
    "UnknownNodeError",
    "UnknownPortError",
]


class EngineError(Exception):
    """Base of every engine error."""


class GraphError(EngineError, ValueError):
    """An edit of the graph was refused; the graph is unchanged."""


class UnknownNodeError(GraphError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownPortError(GraphError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DuplicateNodeError(GraphError):
    pass


class PortTypeError(GraphError):
    pass


class CycleError(GraphError):
    """A cycle without a Feedback node; ``cycle`` lists the node names in order."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        path = " -> ".join([*cycle, cycle[0]])
        super().__init__(
            f"cycle in the graph: {path}; close a loop through a Feedback node (one block of delay)"
        )


class SessionError(EngineError, ValueError):
    pass


class RenderError(EngineError):
    pass
