"""``strum bench NAME``: run a benchmark from bench/ with its peers and print the table."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]

NAMES = ("plan_overhead", "synth_voices", "effect_chain", "plugin_host", "startup", "render_memory", "all")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=NAMES, help="the benchmark to run")
    p.add_argument("--quick", action="store_true", help="a short smoke run, not for reporting")
    p.epilog = "Example: strum bench plan_overhead"


def run(args: argparse.Namespace) -> int:
    from bench.__main__ import main as bench_main

    return bench_main([args.name, *(["--quick"] if args.quick else [])])
