"""StrumSpace's audio engine: graph, render plan, transport, sequencer, parameters, mixer and renderers.

Submodules are imported on demand (``from engine.graph import Graph``) so that tools which only need a
part of the engine start fast.
"""

__version__ = "0.1.0"
