"""``python -m bench NAME [--quick]``: run a benchmark and print its table (``all`` runs every one)."""

from __future__ import annotations

import argparse
import sys

from bench.harness import BENCHMARKS, run_benchmark


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description="StrumSpace benchmarks against peers")
    p.add_argument("name", choices=[*BENCHMARKS, "all"], help="the benchmark to run")
    p.add_argument("--quick", action="store_true", help="a short run (smoke test), not for reporting")
    args = p.parse_args(argv)
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    for n in names:
        print(run_benchmark(n, args.quick), flush=True)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
