"""A JACK client in its own process that records audio ports and the MIDI arriving at a port.

    python -m bench.jack_capture OUT.npz SECONDS --audio PORT [PORT] [--midi-of PORT]

It records every cycle at its JACK frame time (so a skipped cycle leaves a hole, not a shift), and with
``--midi-of`` it listens to whatever is connected to that MIDI port (it connects the same sources to its
own input, checking for new ones as they appear) and records each event's frame time: the time the event
reached that port. Prints ``ready`` when it is recording.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import jack
import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--audio", nargs="+", default=[])
    ap.add_argument("--midi-of")
    ap.add_argument("--midi-from")
    a = ap.parse_args()
    client = jack.Client("strum-capture", no_start_server=True)
    sr = client.samplerate
    n = int(a.seconds * sr) + 8192
    audio = np.zeros((len(a.audio), n), dtype=np.float32)
    ins = [client.inports.register(f"in_{k}") for k in range(len(a.audio))]
    midi_in = client.midi_inports.register("midi") if (a.midi_of or a.midi_from) else None
    events: list[tuple[int, bytes]] = []
    state = {"start": -1, "cycles": 0, "last": 0}
    # the first frame of every cycle recorded: a cycle this client missed is a hole in the recording (left
    # silent in ``audio``), which the analysis must not take for the recorded program's silence
    block = client.blocksize
    cycle_frames = np.zeros(n // max(1, block) + 16, dtype=np.int64)
    done = threading.Event()

    @client.set_process_callback
    def process(frames: int) -> None:
        t = client.last_frame_time
        if state["start"] < 0:
            state["start"] = t
        at = t - state["start"]
        if at + frames > n:
            done.set()
            return
        for k, port in enumerate(ins):
            audio[k, at : at + frames] = port.get_array()
        if midi_in is not None:
            for offset, data in midi_in.incoming_midi_events():
                events.append((t + offset, bytes(data)))
        c = state["cycles"]
        if c < len(cycle_frames):
            cycle_frames[c] = at
        state["cycles"] = c + 1
        state["last"] = at + frames

    client.activate()
    for port, src in zip(ins, a.audio, strict=True):
        client.connect(src, port)
    if a.midi_from and midi_in is not None:
        client.connect(a.midi_from, midi_in)
    print("ready", flush=True)
    connected: set[str] = set()
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline and not done.is_set():
        if a.midi_of and midi_in is not None:
            for src in client.get_all_connections(a.midi_of):
                if src.name not in connected and src.name != midi_in.name:
                    try:
                        client.connect(src.name, midi_in.name)
                    except jack.JackError:
                        continue
                    connected.add(src.name)
        time.sleep(0.02)
    client.deactivate()
    client.close()
    last = state["last"]
    np.savez(
        a.out,
        audio=audio[:, :last],
        start=state["start"],
        rate=sr,
        cycle_frames=cycle_frames[: min(state["cycles"], len(cycle_frames))],
        block=block,
        event_frames=np.array([e[0] for e in events], dtype=np.int64),
        event_bytes=np.array(
            [list(e[1][:3]) + [0] * (3 - len(e[1][:3])) for e in events], dtype=np.int64
        ).reshape(-1, 3),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
