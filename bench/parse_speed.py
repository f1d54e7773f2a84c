"""Parsing and reply-trimming speed, in process, without a database.

Parses every message of a set with ``parse_message`` and trims its text with
``trim_reply`` exactly as the intake pipeline does (``trim_reply(msg.text,
sender)``), ``--repeat`` times, and prints messages per second for parsing,
trimming and both, per set: the generated support mailbox of
``bench/mailgen.py`` (as ``bench/ingest.py`` builds it: 1,000 conversations,
seed 1) and, when present, the shared corpus (``../shared/corpus`` or
``ECHODESK_CORPUS``; the messages ``tests/mailbox/test_parse_digest.py``
pins). The best of the repetitions is reported (the least disturbed by the
rest of the machine). With ``--profile`` one more pass over all sets runs
under cProfile and the top functions are printed.

To compare two versions of the code, run the script on each and read the
figures side by side; the output of one run holds only its own figures.

Run from the repository root::

    .venv/bin/python bench/parse_speed.py [--conversations N] [--seed S]
        [--repeat N] [--no-corpus] [--profile] [--top N] [--json]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import mailgen  # noqa: E402  (bench/ is not a package)

from echodesk.mailbox.message import ParsedMessage  # noqa: E402
from echodesk.mailbox.parse import parse_message  # noqa: E402
from echodesk.mailbox.trim import trim_reply  # noqa: E402


@dataclass
class Figures:
    """One set's best pass: CPU seconds spent parsing, trimming, and the rates."""

    name: str
    messages: int
    megabytes: float
    parse_seconds: float
    trim_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.parse_seconds + self.trim_seconds

    def rate(self, seconds: float) -> float:
        return self.messages / seconds if seconds else 0.0


def corpus_root() -> Path:
    return Path(os.environ.get("ECHODESK_CORPUS") or ROOT.parent / "shared" / "corpus")


def corpus_messages(root: Path) -> list[bytes]:
    """The corpus messages the digest test pins (mail and bare reply bodies)."""
    from tests.mailbox.test_parse_digest import FOLDERS, samples

    return [raw for name in FOLDERS if (root / name).is_dir() for _, raw, _ in samples(root, name)]


def _sender(msg: ParsedMessage) -> str:
    return f"{msg.from_.name} {msg.from_.email}" if msg.from_ is not None else ""


def one_pass(messages: list[bytes]) -> tuple[float, float]:
    """CPU seconds parsing and trimming, one pass over ``messages``.

    CPU time of this process, not wall-clock time: the work is single-threaded
    and the figures should not move with whatever else the machine runs.
    """
    clock = time.process_time
    parse_s = trim_s = 0.0
    for raw in messages:
        start = clock()
        msg = parse_message(raw)
        middle = clock()
        trim_reply(msg.text, _sender(msg))
        parse_s += middle - start
        trim_s += clock() - middle
    return parse_s, trim_s


def measure(name: str, messages: list[bytes], repeat: int) -> Figures:
    """The best of ``repeat`` passes (by total time)."""
    passes = [one_pass(messages) for _ in range(repeat)]
    parse_s, trim_s = min(passes, key=sum)
    size = sum(len(raw) for raw in messages) / 1e6
    return Figures(name, len(messages), size, parse_s, trim_s)


def profile(sets: list[list[bytes]], top: int) -> str:
    """One pass over every set under cProfile: the top functions, two orders."""
    profiler = cProfile.Profile()
    profiler.enable()
    for messages in sets:
        one_pass(messages)
    profiler.disable()
    report: list[str] = []
    for order in ("tottime", "cumulative"):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        lines = stream.getvalue().splitlines()
        total = next((ln.strip() for ln in lines if "function calls" in ln), "")
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
        table = "\n".join(ln for ln in lines[start:] if ln.strip())
        report.append(f"--- top {top} by {order} ({total}) ---\n{table}")
    return "\n\n".join(report)


def print_table(results: list[Figures]) -> None:
    row: Callable[..., str] = "{:<12} {:>8} {:>7} {:>9} {:>9} {:>9} {:>12}".format
    print(row("set", "messages", "MB", "parse/s", "trim/s", "both/s", "CPU seconds"))
    for r in results:
        print(
            row(
                r.name,
                r.messages,
                f"{r.megabytes:.1f}",
                f"{r.rate(r.parse_seconds):,.0f}",
                f"{r.rate(r.trim_seconds):,.0f}",
                f"{r.rate(r.total_seconds):,.0f}",
                f"{r.total_seconds:.2f}",
            )
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="passes per set; the best counts")
    parser.add_argument("--no-corpus", action="store_true", help="the generated mailbox only")
    parser.add_argument("--profile", action="store_true", help="print a cProfile top list")
    parser.add_argument("--top", type=int, default=15, help="functions in the profile")
    parser.add_argument("--json", action="store_true", help="figures as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    box = mailgen.generate(args.conversations, args.seed)
    sets = {"generated": [mail.raw for mail in box.mails]}
    root = corpus_root()
    if not args.no_corpus:
        if root.is_dir():
            sets["corpus"] = corpus_messages(root)
        else:
            print(f"corpus not found at {root}: the generated mailbox only", file=sys.stderr)
    results = [measure(name, messages, args.repeat) for name, messages in sets.items()]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=1))
    else:
        print(f"best of {args.repeat} passes, Python {sys.version.split()[0]}")
        print_table(results)
    if args.profile:
        print()
        print(profile(list(sets.values()), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
