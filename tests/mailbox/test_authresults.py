"""Authentication-Results (RFC 8601): failures refuse, only trusted passes vouch."""

from __future__ import annotations

from echodesk.mailbox.authresults import failures, parse, passes


def test_results_and_their_domains_are_read_through_comments() -> None:
    value = (
        "mx.desk.test 1; dkim=fail (signature (really) bad) header.d=example.com "
        "header.i=@example.com; spf=pass smtp.mailfrom=bob@example.com; "
        "dmarc=fail header.from=example.com"
    )
    got = [(r.authserv_id, r.method, r.result, r.domains) for r in parse(value)]
    assert got == [
        ("mx.desk.test", "dkim", "fail", ("example.com", "example.com")),
        ("mx.desk.test", "spf", "pass", ("example.com",)),
        ("mx.desk.test", "dmarc", "fail", ("example.com",)),
    ]


def test_a_failure_for_the_from_domain_counts_a_third_party_one_does_not() -> None:
    assert failures(["mx; dkim=fail header.d=example.com"], "example.com") == ["dkim=fail"]
    assert failures(["mx; spf=fail smtp.mailfrom=a@mail.example.com"], "example.com") == [
        "spf=fail"
    ]
    assert failures(["mx; dkim=fail header.d=lists.other.org"], "example.com") == []
    both = ["mx; dkim=fail header.d=example.com; dkim=pass header.d=example.com"]
    assert failures(both, "example.com") == []  # one valid signature is enough
    assert failures(["mx; dkim=fail"], "example.com") == ["dkim=fail"]


def test_trusted_hosts_filter_and_only_they_can_vouch() -> None:
    headers = [
        "evil.test; dkim=fail header.d=example.com",
        "mx.desk.test; dkim=pass header.d=example.com",
    ]
    assert failures(headers, "example.com", ["mx.desk.test"]) == []
    assert passes(headers, "example.com", ["mx.desk.test"]) == ["dkim=pass"]
    assert passes(headers, "example.com", []) == []
    assert (
        passes(["evil.test; dkim=pass header.d=example.com"], "example.com", ["mx.desk.test"]) == []
    )


def test_junk_never_raises() -> None:
    for junk in ("", ";;;", "((((", "x; =; dkim=", "a" * 10000, "mx; dkim=pass header.d="):
        assert isinstance(failures([junk], "example.com"), list)
