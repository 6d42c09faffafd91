"""The Ableton Link test's two peers, run inside a network namespace of their own with only loopback (so
Link's multicast never leaves the process group): ``python link_rig.py peer BPM SECONDS`` is another Link
app (it sets the session's tempo, starts playing 1.5 s after the engine joins and changes the tempo 6 s
after that);
``python link_rig.py engine SECONDS OUT.json`` plays a click song live on the JACK server with a
:class:`engine.link_sync.LinkSync` and records, every 20 ms, the session's tempo, the engine's tempo and
the phase of the engine's last block against the session's beat grid (in ms). The test reads OUT.json.
"""

from __future__ import annotations

import json
import sys
import time


def peer(bpm: float, seconds: float) -> None:
    import link

    lk = link.Link(bpm)
    lk.enabled = True
    lk.startStopSyncEnabled = True
    clock = lk.clock()
    t_end = time.monotonic() + seconds
    while lk.numPeers() == 0 and time.monotonic() < t_end:  # the engine joins after its start-up
        time.sleep(0.02)
    # two sessions that meet become one with either's tempo: this app sets the tempo once they have met
    state = lk.captureAppSessionState()
    state.setTempo(bpm, clock.micros())
    lk.commitAppSessionState(state)
    changed = started = False
    t0 = time.monotonic()
    while time.monotonic() < t_end and lk.numPeers() > 0:  # until the engine leaves
        time.sleep(0.05)
        now = time.monotonic() - t0
        if not started and now > 1.5:
            state = lk.captureAppSessionState()
            state.setIsPlaying(True, clock.micros())
            lk.commitAppSessionState(state)
            started = True
        if not changed and now > 6.0:
            state = lk.captureAppSessionState()
            state.setTempo(bpm + 6.0, clock.micros())
            lk.commitAppSessionState(state)
            changed = True
    lk.enabled = False


def engine(seconds: float, out: str) -> None:
    from bench.live_latency import sine_synth
    from engine.link_sync import LinkSync
    from engine.live import LiveEngine, choose_device
    from engine.sequencer import Clip, Note
    from engine.session import Session, TrackSpec
    from engine.tempo import TempoMap

    notes = tuple(Note(84, float(b), 0.1, 100) for b in range(400))
    session = Session(
        tempo_map=TempoMap(bpm=120.0), tracks=[TrackSpec("click", sine_synth(), [Clip(0.0, notes)])]
    )
    dev = choose_device("jack")
    built = session.build(dev.sample_rate, dev.blocksize)
    sync = LinkSync(session, built, quantum=4.0)
    le = LiveEngine(built.engine, dev, client_name="strum-link")
    le.live.clock_sync = sync
    le.start()
    sync.start()
    rows = []
    tr = built.engine.transport
    sr = dev.sample_rate
    t_end = time.monotonic() + seconds
    try:
        while time.monotonic() < t_end:
            time.sleep(0.02)
            bt, _, pos = le.anchor
            state = sync.link.captureAppSessionState()
            offset = sync._offset()
            link_beat = state.beatAtTime(int((bt + offset) * 1e6), 4.0)
            session_bpm = state.tempo()
            row = {"t": time.monotonic(), "playing": pos >= 0, "session_bpm": session_bpm,
                   "engine_bpm": built.engine.ctx.tempo_bpm, "peers": sync.peers}  # fmt: skip
            if pos >= 0:
                own = tr.tempo_map.sample_to_beat(pos, sr)
                d = (link_beat - own) % 4.0
                d = d - 4.0 if d > 2.0 else d
                row["phase_ms"] = d * 60.0 / session_bpm * 1000.0
            rows.append(row)
    finally:
        sync.stop()
        le.stop()
    with open(out, "w") as fh:
        json.dump({"rows": rows, "nudges": sync.nudges, "locates": sync.locates, "retimes": sync.retimes}, fh)


if __name__ == "__main__":
    if sys.argv[1] == "peer":
        peer(float(sys.argv[2]), float(sys.argv[3]))
    else:
        engine(float(sys.argv[2]), sys.argv[3])
