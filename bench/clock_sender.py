"""Another process that sends MIDI clock from a JACK client, every pulse on its exact frame (a DAW's clock).

    python -m bench.clock_sender PORT BPM SECONDS OUT.json [--lead S]

It connects its output to the JACK MIDI port whose name contains PORT, waits ``--lead`` seconds (default
0.5), sends Start one frame before the first pulse, then 24 pulses per quarter note at BPM for SECONDS,
then Stop. OUT.json gets the frame of Start and of every pulse (JACK frame time), and the frame rate.
Prints ``ready`` once connected.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading

import jack

START, CLOCK, STOP = 0xFA, 0xF8, 0xFC


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("port")
    ap.add_argument("bpm", type=float)
    ap.add_argument("seconds", type=float)
    ap.add_argument("out")
    ap.add_argument("--lead", type=float, default=0.5)
    a = ap.parse_args()
    client = jack.Client("strum-clock-sender", no_start_server=True)
    out = client.midi_outports.register("clock")
    sr = client.samplerate
    spacing = sr * 60.0 / (a.bpm * 24)
    total = int(a.seconds * a.bpm / 60.0 * 24)
    state: dict = {"start": None, "next": 0, "stopped": False}
    pulses: list[int] = []
    done = threading.Event()

    @client.set_process_callback
    def process(frames: int) -> None:
        out.clear_buffer()
        t = client.last_frame_time
        start = state["start"]
        if start is None:
            return
        end = t + frames
        if t <= start - 1 < end:
            out.write_midi_event(start - 1 - t, bytes([START]))
        while state["next"] < total:
            f = start + round(state["next"] * spacing)
            if f >= end:
                break
            if f >= t:
                out.write_midi_event(f - t, bytes([CLOCK]))
            pulses.append(f)
            state["next"] += 1
        if state["next"] >= total and not state["stopped"]:
            out.write_midi_event(frames - 1, bytes([STOP]))
            state["stopped"] = True
            done.set()

    with client:
        targets = [p.name for p in client.get_ports(a.port, is_midi=True, is_input=True)]
        if not targets:
            print(f"no MIDI input port matching {a.port!r}", file=sys.stderr)
            return 2
        client.connect(out, targets[0])
        state["start"] = client.frame_time + round(a.lead * sr)
        print("ready", flush=True)
        done.wait(a.seconds + a.lead + 30)
    with open(a.out, "w") as fh:
        json.dump({"rate": sr, "start": state["start"], "pulses": pulses, "bpm": a.bpm}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
