"""Organisational domains (RFC 7489 §3.2) from the Public Suffix List.

DMARC alignment compares organisational domains: ``mail.example.co.uk`` and
``example.co.uk`` align, ``example.co.uk`` and ``other.co.uk`` do not. The
list is the copy ``authheaders`` ships, parsed once per process: authheaders
itself re-reads the whole file on every look-up (tens of milliseconds), so
its DMARC code is pointed at :func:`org_domain` by :mod:`echodesk.mailbox.mailauth`.
"""

from __future__ import annotations

import functools
import importlib.resources
import threading

from publicsuffix2 import PublicSuffixList

_LOCK = threading.Lock()
_LIST: list[PublicSuffixList] = []


def _suffixes() -> PublicSuffixList:
    """The list, built once even when many threads ask at once (it takes ~0.2 s)."""
    if _LIST:
        return _LIST[0]
    with _LOCK:
        if not _LIST:
            ref = importlib.resources.files("authheaders") / "public_suffix_list.txt"
            with importlib.resources.as_file(ref) as path, open(path, encoding="utf-8") as f:
                _LIST.append(PublicSuffixList(f))
    return _LIST[0]


def warm() -> None:
    """Build the list now (at start-up), not in the first message's time."""
    _suffixes()


@functools.lru_cache(maxsize=50_000)
def org_domain(domain: str) -> str:
    """``example.co.uk`` for ``mail.example.co.uk``; the name itself if it is no domain."""
    name = domain.strip().lower().rstrip(".")
    try:
        found = _suffixes().get_public_suffix(name, strict=True)
    except Exception:  # noqa: BLE001 - the list refuses names that cannot be domains
        return name
    if found:
        return str(found)
    # A top-level domain the list does not know: its default rule "*" makes the
    # last label the public suffix (publicsuffix2 would answer the bare label).
    return ".".join(name.split(".")[-2:])


def aligned(a: str, b: str) -> bool:
    """Relaxed DMARC alignment: the same organisational domain."""
    return bool(a) and bool(b) and org_domain(a) == org_domain(b)


__all__ = ["aligned", "org_domain", "warm"]
