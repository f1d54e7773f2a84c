"""Echo's own DKIM, SPF and DMARC checks, answered by a real DNS server (dnsmasq).

The zone (tests/support/dnszone.py) gives each domain one behaviour; a
client at 127.0.0.1 is the domains' own mail server, 127.0.0.66 a stranger.
"""

from __future__ import annotations

import time

import pytest

from echodesk.mailbox.authresults import summarize
from echodesk.mailbox.mailauth import Authenticator, Connection, Resolver
from tests.support.dnszone import DnsZone, silent_port

ID = "echodesk.desk.test"
OWN = "127.0.0.1"
STRANGER = "127.0.0.66"


def _mail(sender: str, body: bytes = b"Hello, my printer is on fire.\r\n") -> bytes:
    return (
        f"From: Alice <{sender}>\r\nTo: support@desk.test\r\nSubject: Printer\r\n"
        f"Message-ID: <m1@x.test>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n\r\n"
    ).encode() + body


@pytest.fixture
def checker(dns_zone: DnsZone) -> Authenticator:
    return Authenticator(ID, Resolver(dns_zone.server, 2.0))


def _results(checker: Authenticator, raw: bytes, ip: str | None, domain: str) -> dict[str, str]:
    conn = Connection(ip, f"alice@{domain}", f"mx.{domain}") if ip else None
    value = checker.check(raw, conn)
    summary = summarize([value], domain, [ID])
    return {"dkim": summary.dkim, "spf": summary.spf, "dmarc": summary.dmarc, "p": summary.policy}


def test_dkim_pass_fail_and_missing(checker: Authenticator, dns_zone: DnsZone) -> None:
    signed = dns_zone.sign(_mail("alice@good.test"), "good.test")
    assert _results(checker, signed, None, "good.test")["dkim"] == "pass"
    tampered = signed.replace(b"on fire", b"fine now")
    assert _results(checker, tampered, None, "good.test")["dkim"] == "fail"
    assert _results(checker, _mail("alice@good.test"), None, "good.test")["dkim"] == "none"


def test_spf_pass_fail_and_softfail(checker: Authenticator) -> None:
    raw = _mail("alice@good.test")
    assert _results(checker, raw, OWN, "good.test")["spf"] == "pass"
    assert _results(checker, raw, STRANGER, "good.test")["spf"] == "fail"
    assert _results(checker, _mail("alice@soft.test"), STRANGER, "soft.test")["spf"] == "softfail"
    # Without the connection (IMAP, webhook) SPF is not guessed.
    assert _results(checker, raw, None, "good.test")["spf"] == "none"


def test_dmarc_pass_fail_and_none_with_each_policy(
    checker: Authenticator, dns_zone: DnsZone
) -> None:
    good = dns_zone.sign(_mail("alice@good.test"), "good.test")
    assert _results(checker, good, STRANGER, "good.test") == {
        "dkim": "pass",
        "spf": "fail",
        "dmarc": "pass",
        "p": "reject",
    }
    forged = _mail("alice@good.test")
    assert _results(checker, forged, STRANGER, "good.test")["dmarc"] == "fail"
    assert _results(checker, forged, STRANGER, "good.test")["p"] == "reject"
    assert _results(checker, forged, OWN, "good.test")["dmarc"] == "pass"  # aligned SPF
    lax = _results(checker, _mail("alice@lax.test"), STRANGER, "lax.test")
    assert (lax["dmarc"], lax["p"]) == ("fail", "none")
    bare = dns_zone.sign(_mail("alice@bare.test"), "bare.test")
    assert _results(checker, bare, STRANGER, "bare.test")["dmarc"] == "none"


def test_a_signature_for_another_domain_does_not_align(
    checker: Authenticator, dns_zone: DnsZone
) -> None:
    raw = dns_zone.sign(_mail("alice@good.test"), "bare.test")
    found = _results(checker, raw, STRANGER, "good.test")
    assert (found["dkim"], found["dmarc"]) == ("none", "fail")  # bare.test's pass is not theirs


def test_garbage_is_an_error_never_a_pass(checker: Authenticator, dns_zone: DnsZone) -> None:
    junk_sig = b"DKIM-Signature: v=1; a=rsa-sha256; d=good.test; s=sel; garbage\r\n"
    found = _results(checker, junk_sig + _mail("alice@good.test"), None, "good.test")
    assert found["dkim"] == "permerror" and found["dmarc"] == "fail"
    bad_key = (
        b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=junk.test; s=sel; "
        b"h=from:subject; bh=YWJj; b=YWJj\r\n"
    )
    found = _results(checker, bad_key + _mail("alice@junk.test"), STRANGER, "junk.test")
    assert found["dkim"] == "permerror" and found["spf"] == "permerror"
    assert "pass" not in found.values()
    long_from = b"From: a@" + b"x" * 3000 + b"\r\n\r\n"
    for raw in (b"", b"\x00\xff" * 5000, b"From: \r\n\r\n", long_from):
        value = checker.check(raw, Connection(STRANGER, "", ""))
        assert "=pass" not in value


def test_a_dns_server_that_does_not_answer_is_temperror(dns_zone: DnsZone) -> None:
    silent = Authenticator(ID, Resolver(f"127.0.0.1:{silent_port()}", 0.5))
    raw = dns_zone.sign(_mail("alice@good.test"), "good.test")
    started = time.monotonic()
    found = _results(silent, raw, OWN, "good.test")
    assert found == {"dkim": "temperror", "spf": "temperror", "dmarc": "temperror", "p": ""}
    assert time.monotonic() - started < 3  # one time budget for all of its look-ups
