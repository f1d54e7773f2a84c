"""Where each folder of the shared mail corpus keeps its messages.

The corpus (``../shared/corpus``, or ``ECHODESK_CORPUS``; see its README) is
read by several tests; they agree here on which files are messages, which are
mbox files to split, and which are bare reply bodies.
"""

from __future__ import annotations

from pathlib import Path

#: Files that are never messages: expectations, licences, notes.
NOT_MAIL_SUFFIXES = frozenset({".md", ".tsv", ".json", ".yml", ".xml", ".out", ".bin", ".html"})
NOT_MAIL_NAMES = frozenset(
    {"LICENSE", "LICENSE.txt", "NOTICE.txt", "COPYING", "COPYING-GPL-3", "ARTISTIC-LICENSE.txt"}
)
#: Unix mbox files, split into their messages with the stdlib.
MBOXES = {
    "cpython-test_email": ["data/mailbox_01.mbox"],
    "sisimai-set-of-emails": ["mailbox/mbox-0", "mailbox/mbox-1"],
    "rt-request-tracker": ["emails/8859-15-message-series/dir"],
}
#: Where each folder keeps its messages (globs relative to the folder).
MESSAGE_GLOBS = {
    "zammad-mail": ["mail/*.box"],
    "cpython-test_email": ["data/*.txt"],
    "apache-james-mime4j": ["*/*.msg"],
    "spamscope-mail-parser": ["mails/*"],
    "flanker": ["messages/**/*.eml"],
    "otobo-emailparser": ["EmailParser/*.box", "EmailParser/*.eml"],
    "rt-request-tracker": ["emails/**/*"],
    "django-helpdesk": ["test_files/*.eml"],
    "sisimai-set-of-emails": ["maildir/**/*.eml"],
    "notmuch-corpora": [
        "lkml/**/*",
        "default/**/*",
        "threading/**/*",
        "broken/**/*",
        "duplicate/**/*",
    ],
    "talon": ["fixtures/**/*.eml"],
}
#: Reply-trimming corpora: bodies without headers. Parsed too (they must not
#: break the parser), but a bare body has no subject or MIME structure to check.
BODY_GLOBS = {
    "discourse-email_reply_trimmer": ["**/*.txt"],
    "github-email_reply_parser": ["emails/*.txt"],
    "crisp-email-reply-parser": ["fixtures/*.txt"],
    "talon": ["fixtures/**/*"],
}


def mail_files(folder: Path, globs: list[str]) -> list[Path]:
    """The files the globs find in ``folder`` that may be mail, each once, in order."""
    found: dict[Path, None] = {}
    for pattern in globs:
        for path in sorted(folder.glob(pattern)):
            if (
                path.is_file()
                and path.suffix not in NOT_MAIL_SUFFIXES
                and path.name not in NOT_MAIL_NAMES
            ):
                found.setdefault(path, None)
    return list(found)
