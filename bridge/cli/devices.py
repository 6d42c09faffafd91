"""``strum devices``: the audio output devices (PortAudio: JACK, ALSA, CoreAudio, WASAPI) and the MIDI
ports of every MIDI backend that works here."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--midi-api", default=None, help="list the MIDI ports of this backend only")


def run(args: argparse.Namespace) -> int:
    from engine.live import AudioDeviceError, list_audio_devices
    from engine.midi_io import MIDI_APIS, MidiPortError, list_midi_ports

    print("Audio outputs:")
    try:
        rows = [r for r in list_audio_devices() if r["outputs"] > 0]
    except AudioDeviceError as exc:
        rows = []
        print(f"  (none: {exc})")
    for r in rows:
        print(
            f"  {r['index']:3d}  {r['name']}  [{r['hostapi']}]  {r['outputs']} ch,"
            f" {r['sample_rate']:g} Hz, low latency {r['low_latency_ms']:.1f} ms"
        )
    if not rows:
        print("  (none: no sound card here? start a JACK server, e.g. jackd -d dummy -r 48000 -p 128)")
    apis = [args.midi_api] if args.midi_api else list(MIDI_APIS)
    for api in apis:
        try:
            ports = list_midi_ports(api)
        except MidiPortError as exc:
            if args.midi_api:
                print(f"MIDI ({api}): {exc}")
            continue
        print(f"MIDI ports ({api}):")
        if not ports:
            print("  (none)")
        for port in ports:
            arrow = "in " if port.direction == "in" else "out"
            print(f"  {arrow} {port.index:3d}  {port.name}")
    return 0
