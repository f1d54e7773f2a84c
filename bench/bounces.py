"""Measure how well Echo recognises bounces and complaints and names who failed.

Run from the repository root::

    .venv/bin/python bench/bounces.py [--failures]

The corpus lives in ``shared/corpus`` next to the repository (override with the
``ECHODESK_CORPUS`` environment variable). The sets and what they are measured
against (each set's ``SOURCE.md`` says where its expectations come from):

* sisimai-set-of-emails: the messages of ``expected-results.tsv`` whose reason is
  not ``vacation`` (auto-reply), ``feedback`` (ARF complaint) or ``delivered``.
  ``recognised`` is ``classify()`` saying bounce. The tsv has one row per failed
  recipient but no addresses, so ``exact failed-recipient set`` asks for as many
  recipients as the tsv has rows and, where the bounce returns the original's
  headers and they name at least that many addressees, for every recipient to
  be one of the original's To/Cc (an independent source: the address the sender
  wrote to). A miss there is not always wrong: a forward or a list expansion
  reports the address it turned the original's into when the report gives no
  Original-Recipient. ``status exact`` compares the first recipient's status with
  the tsv's where the tsv gives a real RFC 3463 code; sisimai's own pseudo codes
  (``x.0.9nn``, its reasons written as codes) are counted separately, by class
  only, since no report contains them. ``perm/temp`` compares hard and soft with
  Echo's rule: the tsv's 5.x.x (or ``hardbounce``) is permanent; its 4.x.x is
  temporary only in a delay notice (the raw report says ``Action: delayed`` or
  its subject speaks of a delay or a warning); a 4.x.x in a report whose sender
  has given up is permanent for Echo, since nothing will retry the message.
* flanker ``bounce/``: the transcribed facts of its SOURCE.md (status of
  ``zed.eml`` and ``office365.eml``). ``delayed.eml`` is called a delay there,
  but its report says ``Action: failed`` after five days of retries: permanent
  for Echo. SOURCE.md names no addresses; each message reports one recipient,
  so the exact set is one recipient, among the original's To/Cc where known.
* others: cpython ``msg_16.txt``, rt ``multipart-report``, zammad ``mail033-*``
  (one recipient each, as for flanker).
* complaints: sisimai ``arf-*`` and its SES complaint (``lhost-amazonses-11``),
  flanker ``complaints/``: each must be classified ``complaint``, name no failed
  recipient, and say who complained or which message it is about.
* auto-replies: sisimai ``rfc3834-*`` must stay auto-replies.
* negatives: sisimai ``maildir/not`` and flanker ``signed.eml``: customer mail,
  no failed recipient (the customer would be marked bounced).
* line endings: sisimai ``maildir/dos`` (CRLF) and ``maildir/mac`` (CR) copies
  must give the same first recipient and status as the LF original.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from echodesk.mailbox.bounce import BounceReport, read_bounce  # noqa: E402
from echodesk.mailbox.classify import Kind, classify  # noqa: E402
from echodesk.mailbox.complaint import ComplaintReport, read_complaint  # noqa: E402
from echodesk.mailbox.parse import parse_message  # noqa: E402

NOT_BOUNCES = frozenset({"vacation", "feedback", "delivered"})


def corpus_root() -> Path:
    """Where the shared fixture corpus lives (``ECHODESK_CORPUS`` overrides)."""
    override = os.environ.get("ECHODESK_CORPUS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@dataclass(frozen=True)
class Expected:
    """What a file's labels say about its first failed recipient."""

    status: str = ""  # RFC 3463 code, or '' when the labels give none
    severity: str = ""  # "permanent" | "temporary" | "" (unknown)
    count: int = 0  # failed recipients the labels list (0: unknown)


@dataclass
class Case:
    """One message to read, with what it is expected to say."""

    name: str
    path: Path
    expected: Expected = field(default_factory=Expected)


@dataclass
class Outcome:
    """What reading one case gave."""

    case: Case
    report: BounceReport
    kind: Kind
    seconds: float
    complaint: ComplaintReport | None = None

    @property
    def bounce(self) -> bool:
        return self.kind is Kind.BOUNCE

    @property
    def first_status(self) -> str:
        return self.report.recipients[0].status if self.report.recipients else ""


def is_pseudo(status: str) -> bool:
    """sisimai's own codes (``5.0.910``): a reason written as a status, in no report."""
    parts = status.split(".")
    return len(parts) == 3 and parts[1] == "0" and len(parts[2]) == 3 and parts[2][0] == "9"


_DELAY_SUBJECT = re.compile(
    r"delay|warning|still being retried|could not send message for past|will be retried", re.I
)
_DELAYED_ACTION = re.compile(rb"^action:[ \t]*delayed", re.I | re.M)


def severity_of(status: str, hard: bool, delay_notice: bool) -> str:
    """What Echo should make of the tsv's row: permanent, or temporary (a delay).

    5.x.x (or ``hardbounce``) is permanent. A 4.x.x is temporary only in a delay
    notice; a report whose sender has given up is final for Echo.
    """
    if status.startswith("5") or hard:
        return "permanent"
    if status.startswith("4"):
        return "temporary" if delay_notice else "permanent"
    return ""


def is_delay_notice(path: Path) -> bool:
    """Whether the raw report says it is still retrying: ``Action: delayed`` or its subject."""
    raw = path.read_bytes()
    return bool(_DELAYED_ACTION.search(raw)) or bool(
        _DELAY_SUBJECT.search(parse_message(raw).subject)
    )


def run_case(case: Case) -> Outcome:
    """Parse, classify and read one message; time only ``read_bounce``."""
    msg = parse_message(case.path.read_bytes())
    kind = classify(msg).kind
    started = time.perf_counter()
    report = read_bounce(msg)
    seconds = time.perf_counter() - started
    complaint = read_complaint(msg) if kind is Kind.COMPLAINT else None
    return Outcome(case, report, kind, seconds, complaint)


# -- measures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """A named yes/no question over outcomes; ``applies`` picks the outcomes asked."""

    name: str
    applies: Callable[[Outcome], bool]
    passed: Callable[[Outcome], bool]


def _found(o: Outcome) -> bool:
    return bool(o.report.recipients)


def _checkable(o: Outcome) -> bool:
    return bool(o.report.recipients and o.report.original_to)


def _in_original(o: Outcome) -> bool:
    return o.report.recipients[0].address in o.report.original_to


def _real_status(o: Outcome) -> bool:
    return bool(o.case.expected.status) and not is_pseudo(o.case.expected.status)


def _pseudo_status(o: Outcome) -> bool:
    return is_pseudo(o.case.expected.status)


def _same_class(o: Outcome) -> bool:
    return o.first_status[:1] == o.case.expected.status[:1]


def _has_severity(o: Outcome) -> bool:
    return bool(o.case.expected.severity)


def _severity_agrees(o: Outcome) -> bool:
    if not o.report.recipients:
        return False
    first = o.report.recipients[0]
    if o.case.expected.severity == "permanent":
        return first.permanent and not first.temporary
    return first.temporary and not first.permanent


def _exact_set(o: Outcome) -> bool:
    """As many recipients as the labels list, each among the original's To/Cc when known."""
    found = [r.address for r in o.report.recipients]
    if len(found) != o.case.expected.count:
        return False
    to = o.report.original_to
    if not to or len(to) < len(found):
        return True
    return all(address in to for address in found)


MEASURES = (
    Measure("recognised (classified bounce)", lambda o: True, lambda o: o.bounce),
    Measure("recipient found", lambda o: True, _found),
    Measure(
        "failed-recipient count as labelled",
        lambda o: o.case.expected.count > 0,
        lambda o: len(o.report.recipients) == o.case.expected.count,
    ),
    Measure("exact set (+ in original To/Cc)", lambda o: o.case.expected.count > 0, _exact_set),
    Measure("returned original's To/Cc known", _found, lambda o: bool(o.report.original_to)),
    Measure("recipient in original_to", _checkable, _in_original),
    Measure(
        "status exact (RFC 3463)", _real_status, lambda o: o.first_status == o.case.expected.status
    ),
    Measure("status class (pseudo codes)", _pseudo_status, _same_class),
    Measure("perm/temp agrees", _has_severity, _severity_agrees),
)
DELIVERED = Measure(
    "read as delivered",
    lambda o: True,
    lambda o: bool(o.report.recipients) and o.report.recipients[0].action == "delivered",
)
NEGATIVE = Measure("no recipient (no false alarm)", lambda o: True, lambda o: not _found(o))
CUSTOMER = Measure("classified as customer mail", lambda o: True, lambda o: o.kind is Kind.CUSTOMER)
AUTO_REPLY = Measure("stays an auto-reply", lambda o: True, lambda o: o.kind is Kind.AUTO_REPLY)
COMPLAINTS = (
    Measure("classified as complaint", lambda o: True, lambda o: o.kind is Kind.COMPLAINT),
    NEGATIVE,
    Measure(
        "complainant or original named",
        lambda o: o.complaint is not None,
        lambda o: (
            o.complaint is not None
            and bool(o.complaint.recipients or o.complaint.original_message_id)
        ),
    ),
)


# -- loading the sets ------------------------------------------------------------------


def sisimai_rows(root: Path) -> dict[str, dict[str, str]]:
    """The tsv's first-recipient row per file, with ``count``: how many rows the file has."""
    rows: dict[str, dict[str, str]] = {}
    counts: Counter[str] = Counter()
    with (root / "expected-results.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            counts[row["file"]] += 1
            if row["index"] == "1":
                rows.setdefault(row["file"], row)
    for name, row in rows.items():
        row["count"] = str(counts[name])
    return rows


def load_sisimai(root: Path) -> tuple[list[Case], list[Case]]:
    """(bounces, negatives) of the sisimai set; negatives must name no failed recipient."""
    base = root / "sisimai-set-of-emails"
    bounces: list[Case] = []
    negatives: list[Case] = []
    for name, row in sorted(sisimai_rows(base).items()):
        path = base / "maildir" / "bsd" / name
        if row["reason"] in ("vacation", "feedback"):
            negatives.append(Case(name, path))
        elif row["reason"] not in NOT_BOUNCES:
            hard = row["hardbounce"] == "true"
            severity = severity_of(row["status"], hard, is_delay_notice(path))
            bounces.append(Case(name, path, Expected(row["status"], severity, int(row["count"]))))
    negatives += [Case(f"not/{p.name}", p) for p in sorted((base / "maildir" / "not").glob("*"))]
    return bounces, negatives


def load_sisimai_delivered(root: Path) -> list[Case]:
    """Success DSNs: they must yield a recipient whose action is ``delivered``."""
    base = root / "sisimai-set-of-emails"
    rows = sisimai_rows(base)
    names = sorted(n for n, r in rows.items() if r["reason"] == "delivered")
    return [Case(n, base / "maildir" / "bsd" / n) for n in names]


FLANKER_FACTS = {
    "zed.eml": Expected("5.1.1", "permanent", 1),
    "office365.eml": Expected("5.1.10", "permanent", 1),
    "delayed.eml": Expected("", "permanent", 1),  # Action: failed after 5 days: given up
}


def load_flanker(root: Path) -> tuple[list[Case], list[Case]]:
    """(bounces, negatives) of flanker's messages; complaints are among the negatives."""
    base = root / "flanker" / "messages"
    bounces = [
        Case(p.name, p, FLANKER_FACTS.get(p.name, Expected(count=1)))
        for p in sorted((base / "bounce").glob("*.eml"))
    ]
    negatives = [Case("signed.eml", base / "signed.eml")]
    negatives += [Case(f"complaints/{p.name}", p) for p in sorted((base / "complaints").glob("*"))]
    return bounces, [c for c in negatives if c.path.exists()]


def load_others(root: Path) -> list[Case]:
    """The few bounces of the parsing sets (one failed recipient each)."""
    paths = [
        root / "cpython-test_email" / "data" / "msg_16.txt",
        root / "rt-request-tracker" / "emails" / "multipart-report",
        *sorted((root / "zammad-mail" / "mail").glob("mail033-*.box")),
    ]
    return [Case(p.name, p, Expected(count=1)) for p in paths if p.exists()]


def load_complaints(root: Path) -> list[Case]:
    """Abuse feedback reports: sisimai ``arf-*`` and its SES complaint, flanker ``complaints/``.

    sisimai's ``arf-26`` is left out: Apple Mail's unsubscribe request, an
    ordinary auto-submitted message and no feedback report (sisimai files it
    under "feedback" by its own rule).
    """
    base = root / "sisimai-set-of-emails" / "maildir" / "bsd"
    paths = [p for p in sorted(base.glob("arf-*.eml")) if p.name != "arf-26.eml"]
    paths += [base / "lhost-amazonses-11.eml"]
    paths += sorted((root / "flanker" / "messages" / "complaints").glob("*"))
    return [Case(p.name, p) for p in paths if p.exists()]


def load_auto_replies(root: Path) -> list[Case]:
    """sisimai's RFC 3834 auto-replies: they must not turn into bounces or complaints."""
    base = root / "sisimai-set-of-emails" / "maildir" / "bsd"
    return [Case(p.name, p) for p in sorted(base.glob("rfc3834-*.eml"))]


def load_ordinary(root: Path) -> list[Case]:
    """Ordinary mail among the bounce sets: sisimai ``maildir/not``, flanker ``signed.eml``."""
    not_dir = root / "sisimai-set-of-emails" / "maildir" / "not"
    paths = [*sorted(not_dir.glob("*")), root / "flanker" / "messages" / "signed.eml"]
    return [Case(p.name, p) for p in paths if p.exists()]


# -- reporting ---------------------------------------------------------------------------


@dataclass
class Tally:
    """Counts of one measure over one set."""

    asked: int = 0
    passed: int = 0
    failing: list[str] = field(default_factory=list)

    def line(self, label: str) -> str:
        rate = 100.0 * self.passed / self.asked if self.asked else 0.0
        return f"  {label:36} {self.passed:4}/{self.asked:<4} {rate:6.1f}%"


def tally(outcomes: list[Outcome], measure: Measure) -> Tally:
    result = Tally()
    for outcome in outcomes:
        if measure.applies(outcome):
            result.asked += 1
            if measure.passed(outcome):
                result.passed += 1
            else:
                result.failing.append(outcome.case.name)
    return result


def describe(outcome: Outcome) -> str:
    """One line for --failures: what was read."""
    report = outcome.report
    first = report.recipients[0] if report.recipients else None
    got = f"{first.address} {first.status or '-'} {first.action}" if first else "nothing"
    want = outcome.case.expected.status or outcome.case.expected.severity or "?"
    return f"{got} [{report.format or '-'}] want {want} to={list(report.original_to)[:3]}"


def report_set(
    name: str, outcomes: list[Outcome], measures: tuple[Measure, ...], failures: bool
) -> None:
    """Print one set's figures (and failing files when asked)."""
    seconds = sum(o.seconds for o in outcomes)
    per = 1000.0 * seconds / len(outcomes) if outcomes else 0.0
    slowest = max(outcomes, key=lambda o: o.seconds, default=None)
    print(f"{name}: {len(outcomes)} messages, read_bounce {per:.2f} ms/message", end="")
    print(f" (slowest {slowest.case.name} {slowest.seconds * 1000:.1f} ms)" if slowest else "")
    formats = Counter(o.report.format or "-" for o in outcomes)
    print("  formats: " + ", ".join(f"{name} {count}" for name, count in formats.most_common()))
    by_name = {o.case.name: o for o in outcomes}
    for measure in measures:
        result = tally(outcomes, measure)
        if not result.asked:
            continue
        print(result.line(measure.name))
        if failures:
            for failing in result.failing:
                print(f"      {failing}: {describe(by_name[failing])}")


def line_endings(root: Path, failures: bool) -> None:
    """CRLF and CR copies must read as their LF original does."""
    base = root / "sisimai-set-of-emails" / "maildir"
    for folder in ("dos", "mac"):
        agree, total, failing = 0, 0, []
        for path in sorted((base / folder).glob("*.eml")):
            original = base / "bsd" / path.name
            if not original.exists():
                continue
            total += 1
            want, got = run_case(Case(path.name, original)), run_case(Case(path.name, path))
            if _key(want.report) == _key(got.report):
                agree += 1
            else:
                failing.append(f"{path.name}: {_key(got.report)} != {_key(want.report)}")
        rate = 100.0 * agree / total if total else 0.0
        print(f"  {folder + ' copies agree with LF':36} {agree:4}/{total:<4} {rate:6.1f}%")
        for line in failing if failures else []:
            print(f"      {line}")


def _key(report: BounceReport) -> tuple[str, str]:
    first = report.recipients[0] if report.recipients else None
    return (first.address, first.status) if first else ("", "")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit status 2 when the corpus is missing."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument(
        "--failures", action="store_true", help="list the files each measure misses"
    )
    args = parser.parse_args(argv)
    root = corpus_root()
    if not root.is_dir():
        print(f"corpus not found at {root} (set ECHODESK_CORPUS)", file=sys.stderr)
        return 2
    print(f"corpus: {root}")
    sisimai, _ = load_sisimai(root)
    flanker, _ = load_flanker(root)
    report_set("sisimai bounces", [run_case(c) for c in sisimai], MEASURES, args.failures)
    delivered = [run_case(c) for c in load_sisimai_delivered(root)]
    report_set("sisimai delivered DSNs", delivered, (DELIVERED,), args.failures)
    report_set("flanker bounce/", [run_case(c) for c in flanker], MEASURES, args.failures)
    report_set("others", [run_case(c) for c in load_others(root)], MEASURES, args.failures)
    complaints = [run_case(c) for c in load_complaints(root)]
    report_set("complaints (ARF, SES)", complaints, COMPLAINTS, args.failures)
    auto = [run_case(c) for c in load_auto_replies(root)]
    report_set("auto-replies (rfc3834)", auto, (AUTO_REPLY, NEGATIVE), args.failures)
    ordinary = [run_case(c) for c in load_ordinary(root)]
    report_set("ordinary mail", ordinary, (CUSTOMER, NEGATIVE), args.failures)
    print("line endings:")
    line_endings(root, args.failures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
