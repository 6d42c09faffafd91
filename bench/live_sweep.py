"""Running live clients against a private JACK server and judging their xruns against a one-voice reference.

The building blocks of the live-engine benchmark (its orchestrator composes them):

- :func:`run_client` runs ``python -m bench.live_clients KIND ...`` against a :class:`~bench.jackd.JackServer`
  and adds the xruns jackd logged while the client's stream ran (all, and those blamed on the client).
- :func:`interleaved` runs a list of clients, each between one-voice ``reference`` runs of the same length in
  the same minutes: this VM's host pauses make every client xrun now and then, so a client is judged against
  what the reference suffered next to it, never against zero.
- :func:`max_voices_at_reference` raises a kind's voice count until its xruns leave the reference level
  (:func:`at_reference_level` is the rule); :func:`gil_experiment` runs ``bare`` with each busy mode.

``python -m bench.live_sweep --quick`` shows them working (5 s runs); ``--sweep`` and ``--gil`` run the full
ones.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.jackd import JackServer

__all__ = [
    "SLACK_XRUNS",
    "at_reference_level",
    "gil_experiment",
    "interleaved",
    "max_voices_at_reference",
    "run_client",
]

#: Xrun lines allowed beyond the reference's noise: about one 20 ms host pause (7-8 periods of 2.67 ms, one
#: line each) that happened to fall in the tested run and in neither neighbouring reference run.
SLACK_XRUNS = 8
SETTLE_S = 0.15  # jackd's lines reach our reader within milliseconds; wait a little longer before counting

Progress = Callable[[dict[str, Any]], None] | None


def _cli_options(opts: dict[str, Any]) -> list[str]:
    """``voices=256, busy="thread", verbose=True`` -> ``--voices 256 --busy thread --verbose`` (None/False
    dropped): any option a kind's function accepts passes through unchanged."""
    argv: list[str] = []
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        argv += [flag] if value is True else [flag, str(value)]
    return argv


def run_client(
    server: JackServer, kind: str, seconds: float, *, timeout_s: float | None = None, **opts: Any
) -> dict[str, Any]:
    """Runs one live client for ``seconds`` against ``server``; returns its JSON result plus xrun counts.

    Added keys: ``xruns`` (all ``JackEngine::XRun`` lines in the stream's window), ``blamed`` (those naming
    the client), ``blamed_running`` / ``blamed_triggered``, ``process_errors``, ``by_client``,
    ``xruns_process`` (all lines from launch to exit, start-up and shut-down included), ``wall_s``. On
    failure: ``error`` and ``returncode`` instead. ``opts`` become CLI options (:func:`_cli_options`).
    """
    argv = [
        sys.executable,
        "-m",
        "bench.live_clients",
        kind,
        "--seconds",
        str(seconds),
        "--rate",
        str(server.rate),
        "--period",
        str(server.period),
        *_cli_options(opts),
    ]
    launched = server.mark()
    try:
        proc = subprocess.run(
            argv, env=server.env, capture_output=True, text=True, timeout=timeout_s or seconds + 120.0
        )
    except subprocess.TimeoutExpired as e:
        return {
            "kind": kind,
            "seconds": seconds,
            **opts,
            "error": f"timed out after {e.timeout} s",
            "returncode": None,
        }
    time.sleep(SETTLE_S)
    exited = server.mark()
    result = _last_json_line(proc.stdout)
    if proc.returncode != 0 or result is None:
        return {
            "kind": kind,
            "seconds": seconds,
            **opts,
            "returncode": proc.returncode,
            "error": (proc.stderr or proc.stdout)[-2000:],
        }
    window = server.xruns_between(result["stream_start_mono"], result["stream_stop_mono"] + SETTLE_S)
    result.update(window.as_dict(result["client"]))
    result["xruns_process"] = server.xruns_between(launched, exited).total
    result["wall_s"] = exited - launched
    return result


def _last_json_line(stdout: str) -> dict[str, Any] | None:
    # pyo prints banners on stdout: the result is the last line that parses as a JSON object.
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def at_reference_level(blamed: int, reference_blamed: Sequence[int], slack: int = SLACK_XRUNS) -> bool:
    """The rule: a run is at the reference level when its blamed xrun lines are at most
    ``max(ref) + 3 * sqrt(max(ref)) + slack``, ``ref`` being the blamed xruns of its neighbouring reference
    runs.

    Why: host pauses are bursty (one pause of d ms blames the running client for about d / 2.67 lines at
    128/48k), so the worse neighbour is the baseline, 3 sqrt(.) covers count noise around it, and ``slack``
    one short pause that hit the tested run alone. A client that cannot keep up blames itself every few
    periods: hundreds of lines in 20 s, far beyond this allowance.
    """
    worst = max(reference_blamed, default=0)
    return blamed <= worst + 3.0 * math.sqrt(worst) + slack


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("kind", "voices", "busy", "client", "blamed", "xruns", "late", "callbacks", "underflows", "error")
    return {k: r[k] for k in keys if k in r}


def interleaved(
    server: JackServer,
    runs: list[dict[str, Any]],
    reference_every: int = 1,
    reference_seconds: float | None = None,
    progress: Progress = None,
) -> list[dict[str, Any]]:
    """Runs each entry of ``runs`` (``run_client`` keyword arguments: ``kind``, ``seconds``, options) with a
    one-voice reference run before the first and after every ``reference_every`` runs (and after the last).

    Returns the runs' results, each with ``references`` (summaries of the reference runs before and after its
    group), ``reference_blamed`` (their blamed xruns) and ``at_reference`` (:func:`at_reference_level`).
    Reference runs last ``reference_seconds`` (default: the run's own ``seconds``, so counts compare
    directly).
    """
    return _interleave(server, runs, reference_every, reference_seconds, progress)[0]


def _interleave(
    server: JackServer,
    runs: list[dict[str, Any]],
    reference_every: int = 1,
    reference_seconds: float | None = None,
    progress: Progress = None,
    before: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """:func:`interleaved`, starting from an already-run reference ``before`` if given; also returns the last
    reference run, so that a caller going on (a sweep) shares it with its next run."""

    def reference(seconds: float) -> dict[str, Any]:
        r = run_client(server, "reference", reference_seconds or seconds)
        if progress:
            progress(r)
        return r

    if not runs:
        return [], before
    results: list[dict[str, Any]] = []
    if before is None:
        before = reference(runs[0]["seconds"])
    group: list[dict[str, Any]] = []
    for i, spec in enumerate(runs):
        r = run_client(server, **spec)
        group.append(r)
        if progress:
            progress(r)
        if (i + 1) % reference_every == 0 or i == len(runs) - 1:
            after = reference(spec["seconds"])
            for g in group:
                _judge(g, [before, after])
                results.append(g)
            group, before = [], after
    return results, before


def _judge(r: dict[str, Any], refs: list[dict[str, Any]]) -> None:
    r["references"] = [_summary(x) for x in refs]
    r["reference_blamed"] = [x.get("blamed", 0) for x in refs if "error" not in x]
    r["at_reference"] = "error" not in r and at_reference_level(r["blamed"], r["reference_blamed"])


def max_voices_at_reference(
    server: JackServer,
    kind: str,
    counts: Sequence[int],
    seconds: float = 20.0,
    confirm: bool = True,
    progress: Progress = None,
    **opts: Any,
) -> dict[str, Any]:
    """Raises the voice count through ``counts`` (ascending), each run between reference runs (R n1 R n2 R
    ...: neighbours share a reference), until a count's xruns leave the reference level
    (:func:`at_reference_level`).

    With ``confirm``, a failing count is run once more (before the next reference) and fails only if it fails
    again (a capacity limit repeats; a host pause rarely hits the same run twice). Returns ``max_voices`` (the
    largest count passed before the first confirmed failure; None if the first fails), ``rule`` and ``steps``
    (every run judged, in order).
    """
    steps: list[dict[str, Any]] = []
    best: int | None = None
    ref: dict[str, Any] | None = None
    for n in sorted(counts):
        spec = {"kind": kind, "seconds": seconds, "voices": n, **opts}
        tries, ref = _interleave(server, [spec], progress=progress, before=ref)
        if confirm and not tries[0]["at_reference"]:
            again, ref = _interleave(server, [spec], progress=progress, before=ref)
            tries += again
        steps += tries
        if not any(t["at_reference"] for t in tries):
            break
        best = n
    rule = f"blamed <= max(ref) + 3*sqrt(max(ref)) + {SLACK_XRUNS}"
    return {
        "kind": kind,
        "max_voices": best,
        "seconds": seconds,
        "rule": rule + (", a failure confirmed by a second run" if confirm else ""),
        "steps": steps,
    }


def gil_experiment(
    server: JackServer, seconds: float = 20.0, voices: int = 256, progress: Progress = None
) -> list[dict[str, Any]]:
    """``bare`` at ``voices`` with each busy mode (none, a Python thread at the default and at a 0.5 ms switch
    interval, another process), interleaved with reference runs: xruns and late callbacks per mode."""
    modes = ("none", "thread", "thread-short", "process")
    return interleaved(
        server,
        [{"kind": "bare", "seconds": seconds, "voices": voices, "busy": m} for m in modes],
        progress=progress,
    )


# -- demonstration -------------------------------------------------------------------------------------------
def _line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['kind']:<9} ERROR {r['error'].strip().splitlines()[-1] if r['error'].strip() else ''}"
    dur = (
        f"{r['dur_us_p50']:8.1f} {r['dur_us_p99']:8.1f} {r['dur_us_max']:8.1f}"
        if r.get("dur_us_p50")
        else " " * 26
    )
    nsvs = f"{r['ns_per_voice_sample']:6.2f}" if r.get("ns_per_voice_sample") else " " * 6
    late = f"{r['late']:5d}" if r.get("late") is not None else "    -"
    verdict = (
        ""
        if "at_reference" not in r
        else ("ok " if r["at_reference"] else "OVER") + f" refs {r['reference_blamed']}"
    )
    return (
        f"{r['kind']:<9} {r.get('voices', ''):>5} {r.get('busy', ''):<12} blamed {r['blamed']:5d} "
        f"all {r['xruns']:5d} late {late} dur(us) {dur} ns/vs {nsvs} cpu/s {r['cpu_per_s']:5.2f} {verdict}"
    )


def _verdicts(results: list[dict[str, Any]]) -> None:
    """Prints each judged run's verdict: at the reference level (ok) or OVER, with its neighbours' xruns."""
    for r in results:
        tag = "ok" if r.get("at_reference") else "OVER"
        what = f"{r['kind']} {r.get('voices', '')} busy={r.get('busy', '')}"
        refs = r.get("reference_blamed")
        print(f"  {what:<32} {tag:<4} blamed {r.get('blamed', '-')} vs references {refs}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.live_sweep", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="5 s runs, small counts: a smoke test")
    p.add_argument("--seconds", type=float, default=None, help="seconds per run (default 20, 5 with --quick)")
    p.add_argument("--sweep", action="store_true", help="max voices at reference level for pyo and bare")
    p.add_argument("--gil", action="store_true", help="the busy-thread experiment")
    p.add_argument("--json", default=None, help="write all results to this file")
    args = p.parse_args(argv)
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    everything = not (args.sweep or args.gil)
    out: dict[str, Any] = {}

    def show(r: dict[str, Any]) -> None:
        print(_line(r), flush=True)

    with JackServer() as server:
        print(f"jackd {server.name}: dummy {server.rate} Hz, period {server.period}; log {server.log_path}")
        if everything:
            print(f"\n-- interleaved: bare 256 and pyo 64 with references, {seconds:g} s each")
            out["interleaved"] = interleaved(
                server,
                [
                    {"kind": "bare", "seconds": seconds, "voices": 256},
                    {"kind": "pyo", "seconds": seconds, "voices": 64},
                ],
                progress=show,
            )
            _verdicts(out["interleaved"])
        if args.gil or everything:
            print(f"\n-- GIL experiment: bare 256 voices, {seconds:g} s each")
            out["gil"] = gil_experiment(server, seconds, progress=show)
            _verdicts(out["gil"])
        if args.sweep or args.quick:
            sweeps = {"pyo": [64, 128, 256, 512, 768], "bare": [256, 512, 1024, 2048, 3072]}
            if args.quick:
                sweeps = {"pyo": [64, 256], "bare": [256, 1024]}
            out["sweeps"] = {}
            for kind, counts in sweeps.items():
                print(f"\n-- max voices at reference level: {kind} {counts}, {seconds:g} s each")
                res = max_voices_at_reference(server, kind, counts, seconds, progress=show)
                out["sweeps"][kind] = res
                _verdicts(res["steps"])
                print(f"{kind}: max voices at reference level = {res['max_voices']} ({res['rule']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
