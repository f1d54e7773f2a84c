"""Authentication-Results (RFC 8601): only counted hosts speak, and a failure wins."""

from __future__ import annotations

from echodesk.mailbox.authresults import parse, summarize


def test_results_and_their_domains_are_read_through_comments() -> None:
    value = (
        "mx.desk.test 1; dkim=fail (signature (really) bad) header.d=example.com "
        "header.i=@example.com; spf=pass smtp.mailfrom=bob@example.com; "
        "dmarc=fail header.from=example.com policy.dmarc=reject"
    )
    got = [(r.authserv_id, r.method, r.result, r.domains, r.policy) for r in parse(value)]
    assert got == [
        ("mx.desk.test", "dkim", "fail", ("example.com", "example.com"), ""),
        ("mx.desk.test", "spf", "pass", ("example.com",), ""),
        ("mx.desk.test", "dmarc", "fail", ("example.com",), "reject"),
    ]


def test_only_counted_hosts_speak() -> None:
    headers = [
        "evil.test; dkim=pass header.d=example.com; dmarc=pass header.from=example.com",
        "mx.desk.test; dkim=none; dmarc=none",
    ]
    summary = summarize(headers, "example.com", ["mx.desk.test"])
    assert (summary.dkim, summary.dmarc, summary.hosts) == ("none", "none", ("mx.desk.test",))


def test_a_fail_wins_over_a_pass_for_the_same_domain() -> None:
    headers = [
        "mx.desk.test; dkim=fail header.d=example.com",
        "echodesk.desk.test; dkim=pass header.d=example.com; dmarc=pass header.from=example.com",
    ]
    summary = summarize(headers, "example.com", ["mx.desk.test", "echodesk.desk.test"])
    assert (summary.dkim, summary.dmarc) == ("fail", "pass")


def test_results_about_another_organisation_do_not_count() -> None:
    headers = ["mx; dkim=fail header.d=lists.other.org; dkim=pass header.d=mail.example.co.uk"]
    summary = summarize(headers, "example.co.uk", ["mx"])
    assert summary.dkim == "pass"
    # example.co.uk and other.co.uk share only the public suffix: not aligned.
    assert summarize(["mx; dkim=pass header.d=other.co.uk"], "example.co.uk", ["mx"]).dkim == "none"


def test_junk_never_raises() -> None:
    for junk in ("", ";;;", "((((", "x; =; dkim=", "a" * 10000, "mx; dkim=pass header.d="):
        assert summarize([junk], "example.com", ["mx", "x", "a"]).dkim in ("none", "pass")
