"""all / any / not, nested, with explanations that stop where the answer was decided."""

from __future__ import annotations

from tests.rules.support import judge, mail

MSG = mail(sender="alice@bigcorp.example", subject="Urgent: printer", body="It is on fire.\n")


def test_a_list_under_if_is_all_and_stops_at_the_first_no() -> None:
    outcome = judge(
        """
        - from: {domain: bigcorp.example}
        - subject: {contains: invoice}
        - body: fire
        """,
        MSG,
    )
    assert (outcome.matched, outcome.why) == (
        False,
        "from domain bigcorp.example: yes (alice@bigcorp.example); "
        "subject contains 'invoice': no ('Urgent: printer')",
    )


def test_all_at_the_top_reads_flat() -> None:
    outcome = judge("all: [{from: bigcorp}, {subject: urgent}]", MSG)
    assert (outcome.matched, outcome.why) == (
        True,
        "from contains 'bigcorp': yes (alice@bigcorp.example); subject contains 'urgent': yes",
    )


def test_any_stops_at_the_first_yes() -> None:
    outcome = judge("any: [{subject: invoice}, {body: fire}, {from: nobody}]", MSG)
    assert (outcome.matched, outcome.why) == (
        True,
        "any of (subject contains 'invoice': no ('Urgent: printer'); "
        "body contains 'fire': yes): yes",
    )
    outcome = judge("any: [{subject: invoice}, {body: water}]", MSG)
    assert (outcome.matched, outcome.why) == (
        False,
        "any of (subject contains 'invoice': no ('Urgent: printer'); "
        "body contains 'water': no): no",
    )


def test_not() -> None:
    outcome = judge("not: {subject: urgent}", MSG)
    assert (outcome.matched, outcome.why) == (False, "not (subject contains 'urgent': yes): no")
    outcome = judge("not: {subject: invoice}", MSG)
    assert (outcome.matched, outcome.why) == (
        True,
        "not (subject contains 'invoice': no ('Urgent: printer')): yes",
    )


def test_nesting() -> None:
    condition = """
    any:
      - all:
          - from: {domain: bigcorp.example}
          - not: {any: [{subject: invoice}, {body: water}]}
      - subject: never
    """
    outcome = judge(condition, MSG)
    assert (outcome.matched, outcome.why) == (
        True,
        "any of (all of (from domain bigcorp.example: yes (alice@bigcorp.example); "
        "not (any of (subject contains 'invoice': no ('Urgent: printer'); "
        "body contains 'water': no): no): yes): yes): yes",
    )
    other = mail(sender="bob@other.example", subject="never mind")
    assert judge(condition, other).matched
    assert judge(condition, mail(sender="bob@other.example")).matched is False


def test_always() -> None:
    assert judge("always: true", MSG).why == "always: yes"
    outcome = judge("always: false", MSG)
    assert (outcome.matched, outcome.why) == (False, "always false: no")
