"""A Maildir is imported in the order its messages were delivered."""

from __future__ import annotations

from pathlib import Path

from echodesk.mailbox.files import count_messages, iter_messages
from tests.support.mail import make_mail


def test_a_maildir_is_read_in_delivery_order_not_name_order(tmp_path: Path) -> None:
    box = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    # The same second: 987 microseconds came before 12345 (as names, "M12345" < "M987").
    names = {
        "1700000000.M12345P7Q2.host": "second",
        "1700000000.M987P7Q1.host": "first",
        "1700000001.M5P7Q3.host": "third",
        "odd-name": "last",
    }
    for name, subject in names.items():
        (box / "new" / name).write_bytes(
            make_mail(message_id=f"{subject}@customer.test", subject=subject)
        )
    (box / "cur" / "1600000000.M1P1Q1.host:2,S").write_bytes(
        make_mail(message_id="seen@customer.test", subject="seen")
    )
    read = [item.raw for item in iter_messages(str(box))]
    order = [next(s for s in (*names.values(), "seen") if f"<{s}@" in raw.decode()) for raw in read]
    assert order == ["first", "second", "third", "last", "seen"]
    assert count_messages([str(box)]) == 5
