"""OSC for the live engine in its own process: a service (:attr:`engine.live_process.LiveSpec.services`)
started there once the engine plays."""

from __future__ import annotations

import time
from typing import Any

from bridge.osc.control import OscControl
from bridge.osc.server import OscServer

__all__ = ["serve_osc"]


def serve_osc(le: Any, spec: Any) -> OscServer:
    """Serve OSC for a started live engine on the spec's ports; returns the running server."""
    from engine.live_process import session_mapper

    def frame_at(unix_time: float) -> int:
        return int(le.frame_at(time.monotonic() + (unix_time - time.time())))

    if le.live.mapper is None:  # MIDI learn over OSC needs one, even for a song without mappings
        le.live.mapper = session_mapper(le.session, le.built)
    control = OscControl(
        le.session,
        le.built,
        frame_at=frame_at,
        live_midi=le.live,
        armed=le.armed,
        mapper=le.live.mapper,
        song_path=spec.song,
    )
    server = OscServer(control, spec.osc_host, spec.osc_udp_port, spec.osc_tcp_port)
    server.start()
    return server
