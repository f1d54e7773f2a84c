"""Measure how often ``trim_reply(...).text`` matches upstream reply-trimming fixtures.

Run from the repository root::

    .venv/bin/python bench/trim_accuracy.py [--failures] [--verbose]

The fixture sets live in ``shared/corpus`` next to the repository (override with the
``ECHODESK_CORPUS`` environment variable). Each set's ``SOURCE.md`` says what its
expected files mean; this script maps each to "the text the author wrote":

* discourse-email_reply_trimmer: ``emails/X`` against ``trimmed/X``, both stripped
  (upstream compares after ``strip()``).
* github-email_reply_parser: ``expected.json``. ``visible_text`` is exact; fixtures
  whose fragment model has a single fragment must come back unchanged; a first
  fragment given verbatim while all later fragments are hidden is the visible text.
  Regex checks on the first fragment and the ``max_seconds`` limits are reported
  as extra checks, not as exact matches. Upstream's fragments lose trailing blanks
  on each line, so lines are compared without them.
* talon: ``standard_replies/*.eml`` (first text/plain part). Talon removes quotations
  but keeps signatures, so the compared view is ``text`` plus the cut ``signature``;
  lines are compared without trailing blanks. ``reply-quotations-share-block.eml``
  has only a check (non-empty, no "From"). The HTML fixtures are skipped (this is a
  plain-text trimmer). ``signature/emails/stripped`` is reported as its own set:
  the expected body is the stripped body minus the expected signature, trimmed with
  the fixture's sender (as the pipeline passes the From name and address); the
  positive samples in ``signature/emails/P`` that have a sender file must yield a
  signature.
* crisp-email-reply-parser: ``expected-literals.tsv``. ``visible_text``,
  ``first_fragment_trimmed`` and ``first_fragment`` are compared stripped (the first
  fragment is the new reply unless the author answered inline) and without trailing
  blanks on each line; a ``fragment_count`` of 1 means the body must come back
  unchanged.
"""

from __future__ import annotations

import argparse
import difflib
import email
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from echodesk.mailbox.trim import Trimmed, trim_reply  # noqa: E402

View = Callable[[Trimmed], str]
Check = Callable[[Trimmed], bool]


def corpus_root() -> Path:
    """Where the shared fixture corpus lives (``ECHODESK_CORPUS`` overrides)."""
    override = os.environ.get("ECHODESK_CORPUS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def _strip(text: str) -> str:
    """Discourse's comparison: surrounding whitespace does not count."""
    return text.strip()


def _strip_lines(text: str) -> str:
    """GitHub/Crisp/talon comparison: trailing blanks on each line do not count either."""
    return "\n".join(line.rstrip() for line in text.strip().split("\n")).strip()


def _text_view(result: Trimmed) -> str:
    """The reply text: what every set but talon expects."""
    return result.text


def _talon_view(result: Trimmed) -> str:
    """Talon strips quotations only, so its expected replies still carry the signature."""
    if result.signature:
        return f"{result.text}\n\n{result.signature}"
    return result.text


@dataclass
class Case:
    """One fixture: input body, expected output and how to compare them."""

    name: str
    body: str
    expected: str = ""
    view: View = _text_view
    normalise: Callable[[str], str] = _strip
    check: Check | None = None
    note: str = ""
    sender: str = ""

    def run(self) -> tuple[bool, str, float]:
        """Trim the body; return (passed, compared actual text, seconds taken)."""
        started = time.perf_counter()
        result = trim_reply(self.body, self.sender)
        elapsed = time.perf_counter() - started
        actual = self.normalise(self.view(result))
        if self.check is not None:
            return self.check(result), actual, elapsed
        return actual == self.normalise(self.expected), actual, elapsed


@dataclass
class FixtureSet:
    """A named group of cases plus fixtures that were skipped, with reasons."""

    name: str
    cases: list[Case] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    extra_checks: list[tuple[str, Check, str]] = field(default_factory=list)


@dataclass
class SetResult:
    """Outcome of running one fixture set."""

    name: str
    total: int
    passed: int
    failures: list[tuple[Case, str]]
    skipped: list[tuple[str, str]]
    extra_passed: int
    extra_total: int
    extra_failures: list[str]
    slowest: tuple[str, float]

    @property
    def rate(self) -> float:
        """Exact matches in percent of the compared cases."""
        return 100.0 * self.passed / self.total if self.total else 0.0

    @property
    def failing_names(self) -> list[str]:
        """Names of the cases that did not match."""
        return [case.name for case, _ in self.failures]


def _read(path: Path) -> str:
    """Read a fixture as UTF-8 keeping its line endings (CRLF fixtures stay CRLF)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return handle.read()


def _missing(found: FixtureSet, base: Path) -> FixtureSet:
    """Report a fixture set whose folder is absent instead of failing on it."""
    found.skipped.append((str(base), "fixture folder not found"))
    return found


# --- discourse -----------------------------------------------------------------------


def load_discourse(root: Path) -> FixtureSet:
    """emails/NAME.txt against trimmed/NAME.txt, compared after strip()."""
    base = root / "discourse-email_reply_trimmer"
    found = FixtureSet("discourse-email_reply_trimmer")
    if not base.is_dir():
        return _missing(found, base)
    for path in sorted((base / "emails").glob("*.txt")):
        expected = base / "trimmed" / path.name
        if not expected.exists():
            found.skipped.append((path.name, "no trimmed/ expectation"))
            continue
        found.cases.append(Case(path.stem, _read(path), _read(expected)))
    return found


# --- github --------------------------------------------------------------------------


def _github_expected(spec: dict[str, object], body: str) -> str | None:
    """Exact visible text a fixture implies, or None when only checks are given."""
    if isinstance(spec.get("visible_text"), str):
        return str(spec["visible_text"])
    fragments = spec.get("fragments")
    if isinstance(fragments, dict) and fragments.get("count") == 1:
        return body
    hidden = fragments.get("hidden") if isinstance(fragments, dict) else None
    checks = spec.get("fragment_checks")
    if isinstance(hidden, list) and hidden and not hidden[0] and all(hidden[1:]):
        for check in checks if isinstance(checks, list) else []:
            if check.get("index") == 0 and isinstance(check.get("equals"), str):
                return str(check["equals"])
    return None


def _matches(pattern: re.Pattern[str]) -> Check:
    """Check that the trimmed text contains a match (Ruby ``=~`` semantics)."""

    def check(result: Trimmed) -> bool:
        """True when the pattern matches somewhere in the reply text."""
        return pattern.search(result.text) is not None

    return check


def _github_checks(name: str, spec: dict[str, object], body: str) -> list[tuple[str, Check]]:
    """Portable extra checks: first-fragment regexes and time limits."""
    out: list[tuple[str, Check]] = []
    fragments = spec.get("fragments")
    quoted = fragments.get("quoted") if isinstance(fragments, dict) else None
    first_quoted = isinstance(quoted, list) and bool(quoted) and bool(quoted[0])
    checks = spec.get("fragment_checks")
    for check in checks if isinstance(checks, list) else []:
        if check.get("index") == 0 and "regex" in check and not first_quoted:
            pattern = re.compile(str(check["regex"]), re.MULTILINE)
            out.append((f"{name}: text matches {pattern.pattern!r}", _matches(pattern)))
    limit = spec.get("max_seconds")
    if isinstance(limit, int | float):

        def timed(_: Trimmed, body: str = body, limit: float = float(limit)) -> bool:
            """Upstream's ReDoS guard: trimming this body must finish in time."""
            started = time.perf_counter()
            trim_reply(body)
            return time.perf_counter() - started <= limit

        out.append((f"{name}: finishes within {limit}s", timed))
    return out


def load_github(root: Path) -> FixtureSet:
    """expected.json visible texts (exact) plus portable fragment checks."""
    base = root / "github-email_reply_parser"
    found = FixtureSet("github-email_reply_parser")
    if not base.is_dir():
        return _missing(found, base)
    specs = json.loads(_read(base / "expected.json"))
    for path in sorted((base / "emails").glob("*.txt")):
        spec = specs.get(path.stem)
        if not isinstance(spec, dict):
            found.skipped.append((path.name, "no expectation in expected.json"))
            continue
        body = _read(path)
        for label, check in _github_checks(path.stem, spec, body):
            found.extra_checks.append((label, check, body))
        expected = _github_expected(spec, body)
        if expected is None:
            found.skipped.append((path.name, "only regex/flag checks (see extra checks)"))
            continue
        found.cases.append(Case(path.stem, body, expected, normalise=_strip_lines))
    return found


# --- talon ---------------------------------------------------------------------------


def _plain_part(path: Path) -> str | None:
    """First text/plain part of a message file, transfer-decoded (talon's input)."""
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/plain" and isinstance(part, EmailMessage):
            content = part.get_content()
            return content if isinstance(content, str) else None
    return None


def _no_from_check(result: Trimmed) -> bool:
    """Talon's only check for reply-quotations-share-block: non-empty, no "From"."""
    return bool(result.text) and "From" not in result.text


def load_talon(root: Path) -> FixtureSet:
    """standard_replies/*.eml: reply text with the quotation removed."""
    base = root / "talon" / "fixtures"
    found = FixtureSet("talon")
    if not base.is_dir():
        return _missing(found, base)
    replies = base / "standard_replies"
    for path in sorted(replies.glob("*.eml")):
        body = _plain_part(path)
        if body is None:
            found.skipped.append((path.name, "no text/plain part"))
            continue
        expected_file = replies / f"{path.stem}_reply_text"
        expected = _read(expected_file) if expected_file.exists() else "Hello"
        found.cases.append(Case(path.stem, body, expected, _talon_view, _strip_lines))
    share = base / "reply-quotations-share-block.eml"
    share_body = _plain_part(share) if share.exists() else None
    if share_body is not None:
        found.cases.append(
            Case(
                share.stem, share_body, check=_no_from_check, note="check: non-empty and no 'From'"
            )
        )
    for path in sorted([*base.glob("*.html"), *(base / "html_replies").glob("*.html")]):
        found.skipped.append((path.name, "HTML body: trim_reply works on plain text"))
    return found


def load_talon_signatures(root: Path) -> FixtureSet:
    """signature/emails/stripped: body minus the expected signature."""
    base = root / "talon" / "fixtures" / "signature" / "emails"
    found = FixtureSet("talon-signatures")
    if not base.is_dir():
        return _missing(found, base)
    for path in sorted((base / "stripped").glob("*_body")):
        stem = path.name[: -len("_body")]
        body = _read(path)
        signature = _read(path.with_name(f"{stem}_signature")).strip()
        sender = _read(path.with_name(f"{stem}_sender")).strip()
        stripped = body.strip()
        expected = stripped[: len(stripped) - len(signature)] if signature else stripped
        found.cases.append(Case(stem, body, expected, sender=sender))
    for path in sorted((base / "P").glob("*_body")):
        stem = path.name[: -len("_body")]
        found.cases.append(
            Case(
                f"P/{stem}",
                _read(path),
                sender=_read(path.with_name(f"{stem}_sender")).strip(),
                check=lambda result: bool(result.signature),
                note="positive sample: a signature must be found",
            )
        )
    for path in sorted((base / "P").glob("*")):
        if not path.name.endswith(("_body", "_sender")):
            found.skipped.append((f"P/{path.name}", "positive sample without a sender file"))
    return found


# --- crisp ---------------------------------------------------------------------------

_CRISP_PREFERENCE = ("visible_text", "first_fragment_trimmed", "first_fragment")


def load_crisp(root: Path) -> FixtureSet:
    """expected-literals.tsv: first fragment / visible text, or unchanged bodies."""
    base = root / "crisp-email-reply-parser"
    found = FixtureSet("crisp-email-reply-parser")
    if not base.is_dir():
        return _missing(found, base)
    rows: dict[str, dict[str, object]] = {}
    for line in _read(base / "expected-literals.tsv").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 4:
            rows.setdefault(parts[0], {})[parts[2]] = json.loads(parts[3])
    for path in sorted((base / "fixtures").glob("*.txt")):
        checks = rows.get(path.stem, {})
        body = _read(path)
        expected = next((checks[k] for k in _CRISP_PREFERENCE if k in checks), None)
        if expected is None and checks.get("fragment_count") == 1:
            expected = body
        if isinstance(expected, str):
            found.cases.append(Case(path.stem, body, expected, normalise=_strip_lines))
        else:
            found.skipped.append((path.name, "no literal text expectation"))
    return found


LOADERS: dict[str, Callable[[Path], FixtureSet]] = {
    "discourse-email_reply_trimmer": load_discourse,
    "github-email_reply_parser": load_github,
    "talon": load_talon,
    "talon-signatures": load_talon_signatures,
    "crisp-email-reply-parser": load_crisp,
}


def run_set(fixtures: FixtureSet) -> SetResult:
    """Run every case and extra check of a fixture set."""
    failures: list[tuple[Case, str]] = []
    slowest = ("", 0.0)
    for case in fixtures.cases:
        passed, actual, elapsed = case.run()
        slowest = max(slowest, (case.name, elapsed), key=lambda item: item[1])
        if not passed:
            failures.append((case, actual))
    extra_failures = [
        label for label, check, body in fixtures.extra_checks if not check(trim_reply(body))
    ]
    return SetResult(
        name=fixtures.name,
        total=len(fixtures.cases),
        passed=len(fixtures.cases) - len(failures),
        failures=failures,
        skipped=fixtures.skipped,
        extra_passed=len(fixtures.extra_checks) - len(extra_failures),
        extra_total=len(fixtures.extra_checks),
        extra_failures=extra_failures,
        slowest=slowest,
    )


def run_all(root: Path) -> list[SetResult]:
    """Load and run every fixture set found under ``root``."""
    return [run_set(loader(root)) for loader in LOADERS.values()]


def _diff(case: Case, actual: str) -> str:
    """A short unified diff (or the check's note) for --verbose."""
    if case.check is not None:
        return f"    ({case.note}) got: {actual[:200]!r}"
    expected = case.normalise(case.expected).splitlines()
    lines = difflib.unified_diff(
        expected, actual.splitlines(), "expected", "actual", lineterm="", n=1
    )
    return "\n".join(f"    {line}" for line in list(lines)[:40])


def _report(result: SetResult, failures: bool, verbose: bool) -> None:
    """Print one set's figures, then failures and skips as asked."""
    print(
        f"{result.name:32} files {result.total:4}  exact {result.passed:4}  "
        f"rate {result.rate:6.1f}%"
    )
    pad = " " * 33
    if result.total:
        print(f"{pad}slowest {result.slowest[0]}: {result.slowest[1] * 1000:.1f} ms")
    if result.extra_total:
        print(f"{pad}extra checks {result.extra_passed}/{result.extra_total}")
    reasons = Counter(reason for _, reason in result.skipped)
    for reason, count in sorted(reasons.items()):
        print(f"{pad}skipped {count}: {reason}")
    if failures or verbose:
        for case, actual in result.failures:
            print(f"  FAIL {case.name}")
            if verbose:
                print(_diff(case, actual))
        for label in result.extra_failures:
            print(f"  FAIL check {label}")
    if verbose:
        for name, reason in result.skipped:
            print(f"  skip {name}: {reason}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit status 2 when the corpus is missing."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--failures", action="store_true", help="list failing fixtures")
    parser.add_argument("--verbose", action="store_true", help="show diffs and skips")
    args = parser.parse_args(argv)
    root = corpus_root()
    if not root.is_dir():
        print(f"corpus not found at {root} (set ECHODESK_CORPUS)", file=sys.stderr)
        return 2
    print(f"corpus: {root}")
    for result in run_all(root):
        _report(result, args.failures, args.verbose)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
