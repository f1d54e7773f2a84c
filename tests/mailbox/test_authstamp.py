"""Echo as the receiving host: forged Authentication-Results out, its own on top."""

from __future__ import annotations

from echodesk.mailbox.authresults import summarize
from echodesk.mailbox.authstamp import clean, stamp

BODY = b"From: bob@desk.test\r\nSubject: hi\r\n\r\nAuthentication-Results: echo; dkim=pass\r\n"


def test_headers_in_echos_own_name_are_removed_wherever_they_are() -> None:
    raw = (
        b"Received: from a by b\r\nAuthentication-Results: Echo;\r\n dkim=pass\r\n"
        b"X-Other: 1\r\nauthentication-results: (c) echo; dmarc=pass\r\n" + BODY
    )
    out = clean(raw, "echo", (), trusted_hop=True)
    assert out == b"Received: from a by b\r\nX-Other: 1\r\n" + BODY  # the body stays as it was


def test_only_the_topmost_header_of_a_trusted_host_counts() -> None:
    genuine = b"Authentication-Results: mx.desk.test; dkim=fail header.d=desk.test\r\n"
    forged = b"Authentication-Results: mx.desk.test; dkim=pass header.d=desk.test\r\n"
    raw = genuine + b"Received: from evil by mx.desk.test\r\n" + forged + BODY
    out = clean(raw, "echo", ("mx.desk.test",), trusted_hop=True)
    assert out == genuine + b"Received: from evil by mx.desk.test\r\n" + BODY
    values = [out.split(b"\r\n")[0].partition(b": ")[2].decode()]
    assert summarize(values, "desk.test", ["mx.desk.test"]).dkim == "fail"


def test_mail_straight_from_the_sender_cannot_carry_a_trusted_hosts_word() -> None:
    forged = b"Authentication-Results: mx.desk.test; dkim=pass header.d=desk.test\r\n"
    assert clean(forged + BODY, "echo", ("mx.desk.test",), trusted_hop=False) == BODY


def test_echos_header_goes_on_top_in_the_messages_line_ends() -> None:
    lf = BODY.replace(b"\r\n", b"\n")
    out = stamp(lf, "echo; spf=pass smtp.mailfrom=desk.test; dkim=none; dmarc=none")
    assert out == (
        b"Authentication-Results: echo;\n\tspf=pass smtp.mailfrom=desk.test;\n\tdkim=none;\n"
        b"\tdmarc=none\n" + lf
    )
    assert stamp(BODY, "echo; dkim=none").startswith(b"Authentication-Results: echo;\r\n\t")


def test_a_message_without_headers_is_left_alone() -> None:
    for raw in (b"", b"\x00\xff garbage", b"\r\nbody only", b"no header here\r\n\r\nx"):
        assert clean(raw, "echo", ("mx",), trusted_hop=False) == raw
        assert stamp(raw, "echo; dkim=none") == raw
