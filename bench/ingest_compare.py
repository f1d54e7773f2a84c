"""Ingest speed of an older commit and of this tree, measured side by side.

A change that must not make ingest slower is judged by running both versions
on the same machine at the same moment: this script checks the older commit
out into a temporary git worktree and runs ``bench/ingest.py`` there and here
alternately (old, new, old, new, ...), each with its own code on
``PYTHONPATH`` and the same virtualenv, then prints every run and the median
messages/s per backend with the ratio new/old. Alternating spreads the noise
of a shared machine over both sides.

Run from the repository root::

    .venv/bin/python bench/ingest_compare.py BASE_COMMIT [--rounds 3] [--conversations 600]
        [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_side(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    """One ``bench/ingest.py`` run of the code in ``tree``: messages/s per backend."""
    argv = [
        sys.executable,
        str(tree / "bench" / "ingest.py"),
        "--conversations",
        str(args.conversations),
        "--repeat",
        "1",
        "--json",
    ]
    if args.only:
        argv += ["--only", args.only]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench/ingest.py failed in {tree}:\n{proc.stdout}\n{proc.stderr}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return {r["backend"]: float(r["rate"]) for r in figures["results"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the older commit (any git revision)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=600)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    rates: dict[tuple[str, str], list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="echodesk-base-") as scratch:
        base = Path(scratch) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.base],
            check=True,
        )
        try:
            for round_no in range(1, args.rounds + 1):
                for side, tree in (("old", base), ("new", ROOT)):
                    for backend, rate in run_side(tree, args).items():
                        rates[(backend, side)].append(rate)
                        shown = f"round {round_no} {side:3} {backend:10} {rate:7.0f} msg/s"
                        print(shown, flush=True)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False
            )
    print(f"\nmedians over {args.rounds} alternating rounds ({args.base} vs this tree):")
    for backend in sorted({b for b, _ in rates}):
        old = statistics.median(rates[(backend, "old")])
        new = statistics.median(rates[(backend, "new")])
        print(f"  {backend:10} old {old:7.0f} msg/s  new {new:7.0f} msg/s  new/old {new / old:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
