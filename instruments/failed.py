"""An instrument that could not be built: a silent stand-in that says why, so its song still loads.

A song track whose sampler names a missing or corrupt file gets a :class:`FailedInstrument`: the track
is kept (its clips, mixer settings and sends), plays silence, and the session's warnings name the file
and the cause. It has the parameters the instrument would have had, so automation aimed at them loads (and
moves nothing). Saving the song keeps the instrument's entry as it was written.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.events import EventBuffer
from engine.params import Parameter
from engine.processor import AudioPort, BlockContext, EventPort, Processor

__all__ = ["FailedInstrument"]


class FailedInstrument(Processor):
    """A silent instrument standing for one that failed to load; ``reason`` says why."""

    event_inputs = (EventPort("midi"),)
    audio_outputs = (AudioPort("out", 2),)
    bypassed = True
    failed = True

    def __init__(self, path: str, reason: str, params: Sequence[Parameter] = ()) -> None:
        super().__init__()
        self.path = str(path)
        self.reason = reason
        for p in params:  # the instrument's own, so automation written for it still loads
            self.add_param(p)

    def process(
        self,
        ctx: BlockContext,
        audio_in: Sequence[np.ndarray],
        audio_out: Sequence[np.ndarray],
        events_in: Sequence[EventBuffer],
        events_out: Sequence[EventBuffer],
    ) -> None:
        audio_out[0][:, : ctx.frames] = 0.0

    def __repr__(self) -> str:
        return f"FailedInstrument({self.path!r}: {self.reason})"
