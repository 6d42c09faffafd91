"""The terminal front-end of ``strum play`` and ``strum live``: keys for the transport, a live meter line,
and what happens when the audio server goes away.

The engine runs in its own process (:class:`engine.live_process.EngineProcess`); this process only reads
keys (blocking in ``select``, so it holds the GIL for microseconds at a time), prints the meter line ten
times a second and sends commands. Without a terminal (a script, a test), it plays for ``--seconds`` (or to
the end of the song) and prints a status line each second.

Keys: space play/stop, left/right arrows one bar back/forward, home (or 0) to the start, l loop the four
bars from the current one (again: loop off), r restart after the audio server went away, q quit.
"""

from __future__ import annotations

import argparse
import math
import os
import select
import sys
import time
from typing import Any

from bridge.cli import CliError

__all__ = ["add_live_options", "run_console", "spec_options"]

LOOP_BARS = 4


def add_live_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device", metavar="DEV", help="audio output: index, name or host API (default: JACK, if on)"
    )
    p.add_argument(
        "--blocksize", type=int, metavar="N", help="frames per block (on JACK: the server's period)"
    )
    p.add_argument(
        "--midi-in",
        action="append",
        default=None,
        metavar="PORT",
        help="MIDI input port (a part of its name; repeat for more); default: a port of our own,"
        " strum:midi_in",
    )
    p.add_argument("--midi-out", metavar="PORT", help="send MIDI clock and transport (24 ppqn) to this port")
    p.add_argument("--send-track", metavar="TRACK", help="with --midi-out: this track's notes go to the port")
    p.add_argument(
        "--midi-api",
        default="auto",
        choices=("auto", "jack", "alsa", "coremidi", "winmm"),
        help="MIDI backend (default auto: JACK when a JACK server runs)",
    )
    p.add_argument("--arm", metavar="TRACK", help="the track that live MIDI plays")
    p.add_argument(
        "--follow-clock",
        action="store_true",
        help="lock tempo and transport to the MIDI clock (24 ppqn, Start/Stop/Continue/SPP) on --midi-in",
    )
    p.add_argument("--link", action="store_true", help="play in time with an Ableton Link session")
    p.add_argument(
        "--link-quantum",
        type=float,
        default=4.0,
        metavar="BEATS",
        help="Link quantum (beats a bar, default 4)",
    )
    p.add_argument("--osc-port", type=int, metavar="N", help="serve OSC on this UDP port (0: any free port)")
    p.add_argument("--osc-tcp-port", type=int, metavar="N", help="serve OSC on this TCP port (SLIP framing)")
    p.add_argument(
        "--osc-host", default="127.0.0.1", metavar="ADDR", help="address OSC listens on (default 127.0.0.1)"
    )
    p.add_argument("--seconds", type=float, metavar="S", help="play this long, then quit (no key handling)")


def spec_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.send_track and not args.midi_out:
        raise CliError("--send-track needs --midi-out", 2)
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise CliError(f"--seconds must be a positive number, got {args.seconds}", 2)
    for name in ("osc_port", "osc_tcp_port"):
        port = getattr(args, name)
        if port is not None and not 0 <= port <= 65535:
            raise CliError(f"--{name.replace('_', '-')} must be in 0..65535, got {port}", 2)
    if args.link and args.follow_clock:
        raise CliError("--link and --follow-clock: follow one tempo source", 2)
    if not (math.isfinite(args.link_quantum) and 1 <= args.link_quantum <= 64):
        raise CliError(f"--link-quantum must be 1..64 beats, got {args.link_quantum}", 2)
    services: tuple[Any, ...] = ()
    if args.osc_port is not None or args.osc_tcp_port is not None:
        from bridge.osc.live import serve_osc

        services = (serve_osc,)
    return {
        "services": services,
        "link": args.link,
        "link_quantum": args.link_quantum,
        "follow_clock": args.follow_clock,
        "osc_host": args.osc_host,
        "osc_udp_port": args.osc_port,
        "osc_tcp_port": args.osc_tcp_port,
        "device": args.device,
        "blocksize": args.blocksize,
        "midi_in": args.midi_in if args.midi_in is not None else ["virtual:midi_in"],
        "midi_out": args.midi_out,
        "send_track": args.send_track,
        "midi_api": args.midi_api,
        "arm": args.arm,
        # the JACK/ALSA client name of the engine's MIDI ports (several engines on one machine: set it)
        "client_name": os.environ.get("STRUM_CLIENT_NAME", "strum"),
    }


def _bar(peak: float, width: int = 12) -> str:
    db = 20 * math.log10(peak) if peak > 1e-6 else -120.0
    filled = max(0, min(width, round((db + 60) / 60 * width)))
    return "#" * filled + "-" * (width - filled) + (f" {db:6.1f}" if db > -120 else "   -inf")


def _format_position(bar: int, inside: float) -> str:
    """bar.beat.thousandths, counted from 1, from a bar index and the quarter notes into the bar."""
    return f"{bar + 1:3d}.{int(inside) + 1}.{int((inside % 1) * 1000):03d}"


def status_line(ep: Any) -> str:
    from engine.live_process import (
        BAR,
        BAR_BEAT,
        BPM,
        CALLBACKS,
        MIDI_IN,
        P50_US,
        PEAK_L,
        PEAK_R,
        PERIOD_US,
        XRUNS,
    )

    state = ">" if ep.playing else "#"
    period = ep.value(PERIOD_US) or 1.0
    where = _format_position(int(ep.value(BAR)), ep.value(BAR_BEAT))
    return (
        f"{state} {where}  {ep.value(BPM):6.1f} bpm  L {_bar(ep.value(PEAK_L))}"
        f"  R {_bar(ep.value(PEAK_R))}  dsp {100 * ep.value(P50_US) / period:4.1f}%"
        f"  xruns {int(ep.value(XRUNS))}  midi {int(ep.value(MIDI_IN))}  blocks {int(ep.value(CALLBACKS))}"
    )


class _Keys:
    """Raw single-key input from a terminal, restored on exit."""

    def __init__(self) -> None:
        import termios
        import tty

        self.fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)

    def read(self, timeout: float) -> str | None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return None
        ch = os.read(self.fd, 8).decode(errors="replace")
        return {"\x1b[D": "left", "\x1b[C": "right", "\x1b[H": "home", "\x1b[1~": "home"}.get(ch, ch[:1])

    def close(self) -> None:
        import termios

        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)


def _wait_restart(ep: Any, tries: int = 15) -> bool:
    from engine.live import AudioDeviceError

    for _ in range(tries):
        time.sleep(2.0)
        try:
            ep.restart()
            return True
        except AudioDeviceError:
            continue
    return False


def run_console(ep: Any, seconds: float | None, until_end: bool, title: str) -> int:
    """Drive an engine process from the terminal (or for ``seconds``); returns the exit status."""
    from engine.live import AudioDeviceError
    from engine.live_process import BAR, END, RATE

    try:
        ep.start()
    except AudioDeviceError as exc:
        raise CliError(str(exc)) from None
    info = ep.info
    print(
        f"{title}: {info['device']} ({info['hostapi']}), {int(ep.value(RATE))} Hz,"
        f" {info['blocksize']} frames",
        file=sys.stderr,
    )
    if info.get("osc_udp_port") is not None or info.get("osc_tcp_port") is not None:
        host = ep.spec.osc_host
        ports = [f"udp {host}:{info['osc_udp_port']}"] if info.get("osc_udp_port") is not None else []
        ports += [f"tcp {host}:{info['osc_tcp_port']}"] if info.get("osc_tcp_port") is not None else []
        print(f"{title}: OSC on {', '.join(ports)}", file=sys.stderr, flush=True)
    interactive = seconds is None and sys.stdin.isatty() and sys.stdout.isatty()
    keys = _Keys() if interactive else None
    if keys:
        print("space play/stop  <- -> bar  0 start  l loop  r restart  q quit", file=sys.stderr)
    started = time.monotonic()
    last_print = 0.0
    loop_on = False
    status = 0
    try:
        while True:
            fault = ep.poll()
            if fault is not None:
                print(f"\n{title}: {fault}", file=sys.stderr)
                if keys is None:
                    print(f"{title}: waiting for the audio server to come back...", file=sys.stderr)
                    if not _wait_restart(ep):
                        return 1
                    print(f"{title}: playing again from {status_line(ep)[2:12].strip()}", file=sys.stderr)
                    continue
                print("press r to restart, q to quit", file=sys.stderr)
            key = keys.read(0.1) if keys else None
            if key is None and keys is None:
                time.sleep(0.1)
            try:
                if key == "q":
                    break
                if key == "r" and ep.fault is not None:
                    try:
                        ep.restart()
                    except AudioDeviceError as exc:
                        print(f"\n{title}: {exc}", file=sys.stderr)
                elif ep.fault is None and key is not None:
                    bar = int(ep.value(BAR))
                    if key == " ":
                        ep.send("toggle")
                    elif key == "left":
                        ep.send("locate_bar", max(0, bar - 1))
                    elif key == "right":
                        ep.send("locate_bar", bar + 1)
                    elif key in ("home", "0"):
                        ep.send("locate", 0)
                    elif key == "l":
                        loop_on = not loop_on
                        if loop_on:
                            ep.send("loop_bars", bar, LOOP_BARS, True)
                        else:
                            ep.send("loop_enable", False)
            except AudioDeviceError:
                continue
            now = time.monotonic()
            if keys is not None and now - last_print > 0.1:
                sys.stdout.write("\r" + status_line(ep) + "\x1b[K")
                sys.stdout.flush()
                last_print = now
            elif keys is None and now - last_print >= 1.0:
                print(status_line(ep), flush=True)
                last_print = now
            if seconds is not None and now - started >= seconds:
                break
            end = ep.value(END)
            if until_end and keys is None and seconds is None and end > 0 and ep.position >= end:
                break
    except KeyboardInterrupt:
        status = 130
    finally:
        if keys:
            keys.close()
            print()
        bye = ep.close()
    if bye:
        st = bye["stats"]
        print(
            f"{title}: {st['callbacks']} blocks, {st['xruns']} xruns, callback p50"
            f" {st['duration_p50_us']:.0f} us / p99 {st['duration_p99_us']:.0f} us"
            f" of {st['period_us']:.0f} us, {st['midi_received']} MIDI in",
            file=sys.stderr,
        )
    return status
