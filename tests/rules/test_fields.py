"""Address and text fields with every operator, case-insensitively, with their explanations."""

from __future__ import annotations

import dataclasses

import pytest

from echodesk.mailbox.message import Address
from echodesk.rules.base import MAX_BODY
from tests.rules.support import judge, mail

VIP = mail(
    sender="Alice Big <Alice@Sales.BigCorp.example>",
    to="support@desk.test, Help Desk <help@desk.test>",
    cc="Bob Builder <bob@partner.example>",
    subject="URGENT: Invoice 4711 overdue",
    body="Hello,\nplease refund invoice 4711.\n",
    headers={"X-Priority": "1 (Highest)", "X-Mailer": "Outlook 16"},
)


@pytest.mark.parametrize(
    ("condition", "matched", "why"),
    [
        (
            "from: {domain: bigcorp.example}",
            True,
            "from domain bigcorp.example: yes (alice@sales.bigcorp.example)",
        ),
        (
            "from: {domain: sales.bigcorp.example}",
            True,
            "from domain sales.bigcorp.example: yes (alice@sales.bigcorp.example)",
        ),
        (
            "from: {domain: corp.example}",
            False,
            "from domain corp.example: no (alice@sales.bigcorp.example)",
        ),
        (
            "from: {domain: [other.example, '@BIGCORP.example']}",
            True,
            "from domain other.example or bigcorp.example: yes (alice@sales.bigcorp.example)",
        ),
        (
            "from: {is: ALICE@sales.bigcorp.example}",
            True,
            "from is 'ALICE@sales.bigcorp.example': yes (alice@sales.bigcorp.example)",
        ),
        ("from: {is: alice}", False, "from is 'alice': no (alice@sales.bigcorp.example)"),
        (
            "from: {starts_with: alice@}",
            True,
            "from starts with 'alice@': yes (alice@sales.bigcorp.example)",
        ),
        (
            "from: {starts_with: big}",
            False,
            "from starts with 'big': no (alice@sales.bigcorp.example)",
        ),
        (
            "from: {contains: 'alice big'}",
            True,
            "from contains 'alice big': yes (alice@sales.bigcorp.example)",
        ),
        ("from: sales", True, "from contains 'sales': yes (alice@sales.bigcorp.example)"),
        ("from: carol", False, "from contains 'carol': no (alice@sales.bigcorp.example)"),
        (
            "from: {matches: '^alice b'}",
            True,
            "from matches /^alice b/: yes (alice@sales.bigcorp.example)",
        ),
        ("from: {matches: '^big'}", False, "from matches /^big/: no (alice@sales.bigcorp.example)"),
        (
            "from: {in: [x@y.example, alice@SALES.bigcorp.example]}",
            True,
            "from in [x@y.example, alice@SALES.bigcorp.example]: yes (alice@sales.bigcorp.example)",
        ),
        ("from: {in: [alice big]}", False, "from in [alice big]: no (alice@sales.bigcorp.example)"),
    ],
)
def test_from(condition: str, matched: bool, why: str) -> None:
    outcome = judge(condition, VIP)
    assert (outcome.matched, outcome.why) == (matched, why)


def test_domain_is_not_a_suffix_of_another_name() -> None:
    msg = mail(sender="eve@evilbigcorp.example")
    outcome = judge("from: {domain: bigcorp.example}", msg)
    assert (outcome.matched, outcome.why) == (
        False,
        "from domain bigcorp.example: no (eve@evilbigcorp.example)",
    )


def test_to_matches_any_of_the_addresses() -> None:
    assert (
        judge("to: {is: help@desk.test}", VIP).why == "to is 'help@desk.test': yes (help@desk.test)"
    )
    assert judge("to: {contains: 'help desk'}", VIP).matched
    outcome = judge("to: {domain: other.example}", VIP)
    assert outcome.why == "to domain other.example: no (support@desk.test, help@desk.test)"


def test_cc_and_no_cc() -> None:
    assert judge("cc: {domain: partner.example}", VIP).why == (
        "cc domain partner.example: yes (bob@partner.example)"
    )
    assert judge("cc: builder", VIP).matched
    outcome = judge("cc: {domain: partner.example}", mail())
    assert (outcome.matched, outcome.why) == (
        False,
        "cc domain partner.example: no (no Cc addresses)",
    )


def test_many_addresses_are_listed_shortly() -> None:
    msg = mail(to=", ".join(f"u{i}@x.example" for i in range(6)))
    assert judge("to: nobody", msg).why == (
        "to contains 'nobody': no (u0@x.example, u1@x.example, u2@x.example and 3 more)"
    )


def test_missing_from_matches_nothing_and_says_so() -> None:
    msg = dataclasses.replace(mail(), from_=None)
    outcome = judge("from: {domain: customer.test}", msg)
    assert (outcome.matched, outcome.why) == (
        False,
        "from domain customer.test: no (no From address)",
    )
    assert judge("not: {from: alice}", msg).matched


def test_an_address_without_email_is_shown_by_name() -> None:
    msg = dataclasses.replace(mail(), from_=Address(name="Just A Name", email=""))
    assert judge("from: {contains: just}", msg).why == "from contains 'just': yes ('Just A Name')"


@pytest.mark.parametrize(
    ("condition", "matched", "why"),
    [
        ("subject: urgent", True, "subject contains 'urgent': yes"),
        ("subject: {contains: INVOICE 4711}", True, "subject contains 'INVOICE 4711': yes"),
        (
            "subject: refund",
            False,
            "subject contains 'refund': no ('URGENT: Invoice 4711 overdue')",
        ),
        ("subject: {starts_with: 'urgent:'}", True, "subject starts with 'urgent:': yes"),
        (
            "subject: {starts_with: invoice}",
            False,
            "subject starts with 'invoice': no ('URGENT: Invoice 4711 overdue')",
        ),
        (
            "subject: {is: '  urgent: invoice 4711 OVERDUE '}",
            True,
            "subject is '  urgent: invoice 4711 OVERDUE ': yes",
        ),
        (
            "subject: {is: urgent}",
            False,
            "subject is 'urgent': no ('URGENT: Invoice 4711 overdue')",
        ),
        ("subject: {matches: 'invoice \\d+'}", True, "subject matches /invoice \\d+/: yes"),
        (
            "subject: {matches: '^invoice'}",
            False,
            "subject matches /^invoice/: no ('URGENT: Invoice 4711 overdue')",
        ),
        (
            "subject: {in: [hello, 'urgent: invoice 4711 overdue']}",
            True,
            "subject in [hello, urgent: invoice 4711 overdue]: yes",
        ),
        (
            "subject: {in: [urgent]}",
            False,
            "subject in [urgent]: no ('URGENT: Invoice 4711 overdue')",
        ),
    ],
)
def test_subject(condition: str, matched: bool, why: str) -> None:
    outcome = judge(condition, VIP)
    assert (outcome.matched, outcome.why) == (matched, why)


def test_several_operators_must_all_hold() -> None:
    outcome = judge("subject: {starts_with: urgent, contains: refund}", VIP)
    assert (outcome.matched, outcome.why) == (
        False,
        "subject starts with 'urgent': yes; "
        "subject contains 'refund': no ('URGENT: Invoice 4711 overdue')",
    )
    assert judge("subject: {starts_with: urgent, contains: overdue}", VIP).matched


def test_empty_subject() -> None:
    outcome = judge("subject: hello", mail(subject=""))
    assert (outcome.matched, outcome.why) == (False, "subject contains 'hello': no (empty subject)")
    assert judge("subject: {is: ''}", mail(subject="")).matched


def test_body() -> None:
    assert judge("body: REFUND", VIP).why == "body contains 'REFUND': yes"
    assert judge("body: {starts_with: hello}", VIP).matched
    assert judge("body: {matches: 'refund\\s+invoice'}", VIP).matched
    outcome = judge("body: cancel", VIP)
    assert (outcome.matched, outcome.why) == (False, "body contains 'cancel': no")
    assert judge("body: {is: 'hello,'}", VIP).matched is False
    short = mail(body=" Yes please \n")
    assert judge("body: {is: 'YES PLEASE'}", short).matched
    assert judge("body: {in: [no, yes please]}", short).why == "body in [no, yes please]: yes"
    assert judge("body: {in: [no, maybe]}", short).matched is False
    assert judge("body: {starts_with: please}", short).matched is False


def test_case_folding_beyond_ascii() -> None:
    msg = mail(subject="Straße gesperrt", body="ÄRGER mit der Rechnung\n")
    assert judge("subject: STRASSE", msg).matched
    assert judge("body: ärger", msg).matched
    assert judge("body: {matches: 'ärger'}", msg).matched


def test_body_reads_the_first_megabyte_only() -> None:
    text = "x" * MAX_BODY + "needle"
    msg = dataclasses.replace(mail(), text=text)
    outcome = judge("body: needle", msg)
    assert (outcome.matched, outcome.why) == (
        False,
        f"body contains 'needle': no (read the first {MAX_BODY} characters)",
    )
    assert judge("body: {matches: 'needle'}", msg).matched is False
    near = dataclasses.replace(mail(), text="x" * (MAX_BODY - 6) + "needle")
    assert judge("body: needle", near).matched


@pytest.mark.parametrize(
    ("condition", "matched", "why"),
    [
        (
            "header: X-Priority\nis: '1 (highest)'",
            True,
            "header x-priority is '1 (highest)': yes ('1 (Highest)')",
        ),
        (
            "header: x-priority\nstarts_with: '1'",
            True,
            "header x-priority starts with '1': yes ('1 (Highest)')",
        ),
        ("header: X-Priority\nis: 1", False, "header x-priority is '1': no ('1 (Highest)')"),
        (
            "header: X-Mailer\ncontains: outlook",
            True,
            "header x-mailer contains 'outlook': yes ('Outlook 16')",
        ),
        (
            "header: X-Mailer\nmatches: 'outlook \\d+'",
            True,
            "header x-mailer matches /outlook \\d+/: yes ('Outlook 16')",
        ),
        (
            "header: X-Mailer\nin: [thunderbird, mutt]",
            False,
            "header x-mailer in [thunderbird, mutt]: no ('Outlook 16')",
        ),
        (
            "header: List-Id\ncontains: x",
            False,
            "header list-id contains 'x': no (no list-id header)",
        ),
        ("header: X-Mailer", True, "header x-mailer present: yes ('Outlook 16')"),
        ("header: List-Id", False, "header list-id present: no"),
    ],
)
def test_header(condition: str, matched: bool, why: str) -> None:
    outcome = judge(condition, VIP)
    assert (outcome.matched, outcome.why) == (matched, why)


def test_header_with_several_values_matches_any() -> None:
    msg = dataclasses.replace(VIP, headers={"x-tag": ("alpha", "beta")})
    assert judge("header: X-Tag\nis: beta", msg).why == "header x-tag is 'beta': yes ('beta')"
    assert (
        judge("header: X-Tag\nis: gamma", msg).why
        == "header x-tag is 'gamma': no ('alpha', 'beta')"
    )


def test_header_with_several_operators() -> None:
    outcome = judge("header: X-Mailer\ncontains: outlook\nstarts_with: thunder", VIP)
    assert (outcome.matched, outcome.why) == (
        False,
        "header x-mailer contains 'outlook': yes ('Outlook 16'); "
        "header x-mailer starts with 'thunder': no ('Outlook 16')",
    )


def test_unprintable_values_are_escaped_in_explanations() -> None:
    msg = dataclasses.replace(VIP, subject="line one\nline two \udc80")
    assert (
        judge("subject: zzz", msg).why
        == "subject contains 'zzz': no ('line one\\nline two \\udc80')"
    )
    assert judge("subject: {matches: 'one.line'}", msg).matched is False
    assert judge("subject: {matches: 'one\\sline'}", msg).matched
