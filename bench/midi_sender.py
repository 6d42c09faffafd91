"""Another process that plays notes into a MIDI port through mido on rtmidi's JACK API.

    MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK python -m bench.midi_sender PORT SCHEDULE.json OUT.json

PORT is a port to connect to (a substring of its name) or ``virtual:NAME`` to make one.
SCHEDULE.json is a list of [seconds_from_start, status, data1, data2]; OUT.json gets the
``time.monotonic`` moment each message was sent (``monotonic``), and the JACK frame due just
before and just after the send (``jack_frames``, ``jack_frames_after``: a process the machine set aside
there shows as a wide bracket).
"""

from __future__ import annotations

import json
import sys
import time

import mido


def _jack_clock():
    """A JACK client whose ``frame_time`` says which frame is due now (the server's estimate, which follows
    the driver even when a loaded machine makes it lose time), or None without the JACK binding."""
    try:
        import jack

        return jack.Client("strum-sender-clock", no_start_server=True)
    except Exception:
        return None


def main() -> int:
    port_name, schedule_file, out_file = sys.argv[1:4]
    schedule = json.loads(open(schedule_file).read())
    if port_name.startswith("virtual:"):
        # a port of our own that the engine finds by name and connects to (a controller plugged in)
        port = mido.open_output(port_name.split(":", 1)[1], virtual=True)
        settle = 1.5
    else:
        names = mido.get_output_names()
        match = [n for n in names if port_name in n]
        if not match:
            print(f"no port {port_name!r} among {names}", file=sys.stderr)
            return 2
        port = mido.open_output(match[0])
        settle = 0.5
    clock = _jack_clock()
    sent: list[float] = []
    sent_frames: list[int] = []
    sent_frames_after: list[int] = []
    with port:
        time.sleep(settle)  # let the listeners connect
        t0 = time.monotonic() + 0.1
        for at, status, d1, d2 in schedule:
            target = t0 + at
            while True:
                left = target - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(left, 0.0005) if left < 0.002 else left - 0.0015)
            before = clock.frame_time if clock is not None else 0
            port.send(mido.Message.from_bytes([status, d1, d2]))
            sent.append(time.monotonic())
            if clock is not None:
                sent_frames.append(before)
                sent_frames_after.append(clock.frame_time)
        time.sleep(0.3)
    with open(out_file, "w") as fh:
        json.dump({"monotonic": sent, "jack_frames": sent_frames, "jack_frames_after": sent_frames_after}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
