"""Spam score (every header form), size (with units) and the customer's ticket count."""

from __future__ import annotations

import dataclasses

import pytest

from echodesk.mailbox.message import ParsedMessage
from echodesk.rules import RulesContext
from echodesk.rules.measures import parse_size, score_of
from tests.rules.support import judge, mail


def with_headers(**headers: str) -> ParsedMessage:
    values: dict[str, tuple[str, ...]] = {
        name.replace("_", "-").lower(): (value,) for name, value in headers.items()
    }
    return dataclasses.replace(mail(), headers=values)


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Spam-Score": "6.1"}, "spam_score > 5: yes (6.1 from x-spam-score)"),
        (
            {"X-Spam-Status": "Yes, score=7.3 required=5.0 tests=BAYES_99"},
            "spam_score > 5: yes (7.3 from x-spam-status)",
        ),
        ({"X-Spam-Flag": "YES"}, "spam_score > 5: yes (x-spam-flag: 'YES' counts as spam)"),
        ({"X-Spam-Score": "2", "X-Spam-Flag": "YES"}, "spam_score > 5: no (2 from x-spam-score)"),
        (
            {"X-Spam-Status": "No, score=-0.1 required=5.0"},
            "spam_score > 5: no (-0.1 from x-spam-status)",
        ),
        (
            {"X-Spam-Flag": "NO"},
            "spam_score > 5: no (no spam score in x-spam-score, x-spam-status, x-spam-flag)",
        ),
        ({}, "spam_score > 5: no (no spam score in x-spam-score, x-spam-status, x-spam-flag)"),
    ],
)
def test_spam_score_from_each_header_form(headers: dict[str, str], why: str) -> None:
    msg = dataclasses.replace(mail(), headers={k.lower(): (v,) for k, v in headers.items()})
    outcome = judge("spam_score: {gt: 5}", msg)
    assert (outcome.matched, outcome.why) == (why.startswith("spam_score > 5: yes"), why)


def test_spam_score_through_the_parser() -> None:
    msg = mail(headers={"X-Spam-Status": "Yes, score=12.0 required=5.0"})
    assert (
        judge("spam_score: {gte: 12}", msg).why == "spam_score >= 12: yes (12 from x-spam-status)"
    )


def test_spam_score_from_a_named_header() -> None:
    msg = with_headers(X_Rspamd_Score="8.5", X_Spam_Score="1")
    outcome = judge("spam_score: {gt: 5, header: X-Rspamd-Score}", msg)
    assert (outcome.matched, outcome.why) == (True, "spam_score > 5: yes (8.5 from x-rspamd-score)")
    assert judge("spam_score: {gt: 5}", msg).matched is False
    stars = with_headers(X_Spam_Level="*******")
    assert judge("spam_score: {gte: 7, header: x-spam-level}", stars).why == (
        "spam_score >= 7: yes (7 from x-spam-level)"
    )


def test_spam_headers_come_from_the_context_in_order() -> None:
    msg = with_headers(X_Spam_Score="1", X_Other_Score="9")
    context = RulesContext(spam_headers=("x-other-score", "x-spam-score"))
    outcome = judge("spam_score: {gt: 5}", msg, context=context)
    assert outcome.why == "spam_score > 5: yes (9 from x-other-score)"


@pytest.mark.parametrize(
    ("comparison", "matched"),
    [
        ("{gt: 5}", False),
        ("{gte: 5}", True),
        ("{lt: 5}", False),
        ("{lte: 5}", True),
        ("{eq: 5}", True),
        ("{eq: 5.5}", False),
        ("{gt: 4.9, lt: 5.1}", True),
        ("{gt: 2, lt: 4}", False),
    ],
)
def test_comparisons(comparison: str, matched: bool) -> None:
    assert judge(f"spam_score: {comparison}", with_headers(X_Spam_Score="5.0")).matched is matched


def test_a_range_reads_as_one_condition() -> None:
    outcome = judge("spam_score: {gte: 2, lt: 4}", with_headers(X_Spam_Score="3"))
    assert outcome.why == "spam_score >= 2 and < 4: yes (3 from x-spam-score)"


def test_a_flag_is_spam_at_any_threshold_and_never_below_one() -> None:
    flagged = with_headers(X_Spam_Flag="YES")
    assert judge("spam_score: {gt: 1000}", flagged).matched
    assert judge("spam_score: {lt: 1000}", flagged).matched is False


@pytest.mark.parametrize(
    ("value", "score"),
    [
        ("6.1", 6.1),
        (" -2 ", -2.0),
        ("Yes, score=5.5 required=5.0", 5.5),
        ("No, SCORE=1.0", 1.0),
        ("***", 3.0),
        ("YES", float("inf")),
        ("yes (spam)", float("inf")),
        ("NO", None),
        ("", None),
        ("high", None),
        ("1" * 40, None),
    ],
)
def test_score_of_a_header_value(value: str, score: float | None) -> None:
    assert score_of(value) == score


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2048", 2048),
        ("10B", 10),
        ("500kB", 500_000),
        ("500 KB", 500_000),
        ("10MB", 10_000_000),
        ("1.5mb", 1_500_000),
        ("1GB", 1_000_000_000),
        ("2KiB", 2048),
        ("10MiB", 10 * 1024 * 1024),
        ("1GiB", 1024**3),
        ("10 parsecs", None),
        ("MB", None),
        ("-1MB", None),
        ("", None),
    ],
)
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size


def test_size() -> None:
    msg = dataclasses.replace(mail(), size=12_000_000)
    assert judge("size: {gt: 10MB}", msg).why == "size > 10MB: yes (12000000 bytes)"
    assert judge("size: {gt: 12MiB}", msg).why == "size > 12MiB: no (12000000 bytes)"
    assert judge("size: {lte: 12000000}", msg).why == "size <= 12000000: yes (12000000 bytes)"
    assert judge("size: {lt: 500kB}", mail()).matched


def test_customer_tickets_24h() -> None:
    outcome = judge("customer_tickets_24h: {gte: 3}", tickets=3)
    assert (outcome.matched, outcome.why) == (
        True,
        "customer_tickets_24h >= 3: yes (3 in the last 24 hours)",
    )
    outcome = judge("customer_tickets_24h: {gte: 3}", tickets=2)
    assert (outcome.matched, outcome.why) == (
        False,
        "customer_tickets_24h >= 3: no (2 in the last 24 hours)",
    )
    assert judge("customer_tickets_24h: {eq: 0}").matched
