"""Turning bytes of unknown or mislabelled charsets into text without losing the mail.

Mail in the wild names charsets Python does not know (``ks_c_5601-1987``,
``unicode-1-1-utf-7``), names the wrong one (``us-ascii`` on 8-bit text,
``iso-2022-jp`` on Shift_JIS bytes, ``iso-8859-1`` on UTF-8), or names none
at all. These helpers decode with the best candidate and say when they had to
guess, instead of raising.

RFC 2047 encoded words are decoded here rather than with
``email.header.decode_header``: the stdlib turns the plain-text pieces of a
mixed header into ``raw-unicode-escape`` bytes, which garbles any non-Latin
text that arrived as raw 8-bit next to an encoded word.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re

# Labels seen in real mail that Python's codec registry does not resolve, or
# resolves to a narrower charset than senders actually use.
_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601-1989": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "iso-gb2312": "gb18030",
    "x-gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "windows-874": "cp874",
    "x-sjis": "cp932",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "ascii": "ascii",
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "default": "",
    "x-user-defined": "",
    "utf8": "utf-8",
    "utf-7": "utf-7",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "unicode-2-0-utf-7": "utf-7",
    "cp-1250": "cp1250",
    "cp-1251": "cp1251",
    "cp-1252": "cp1252",
}

# When bytes do not fit the declared codec, the charsets senders really used
# instead (supersets and same-language siblings), tried strictly in order.
_SIBLINGS = {
    "iso2022_jp": ("iso2022_jp_ext", "iso2022_jp_2", "cp932", "euc_jp"),
    "iso2022_jp_2": ("cp932", "euc_jp"),
    "euc_jp": ("cp932",),
    "cp932": ("euc_jp",),
    "big5hkscs": ("cp950",),
    "iso2022_kr": ("cp949",),
    "koi8_r": ("koi8_u",),
}

# Codecs that can represent CJK text: preferred when guessing the charset of
# raw 8-bit header bytes, because a Latin codec decodes anything (wrongly).
_MULTIBYTE = frozenset(
    {
        "gb18030",
        "big5hkscs",
        "cp950",
        "cp949",
        "cp932",
        "euc_jp",
        "iso2022_jp",
        "iso2022_jp_2",
        "iso2022_jp_ext",
        "iso2022_kr",
    }
)

# Single-byte codecs decode any byte string, so their label cannot be trusted
# against UTF-8: real single-byte text is practically never valid multi-byte
# UTF-8, while UTF-8 mislabelled as Latin-1 is everyday mail.
_SINGLE_BYTE_PREFIXES = ("ascii", "cp125", "cp8", "cp4", "iso8859", "latin", "koi8", "mac_")


def normalise_charset(label: str | None) -> str:
    """Map a MIME charset label to a Python codec name ('' when unknown)."""
    if not label:
        return ""
    name = label.strip().strip("\"'").lower()
    return _codec(_ALIASES.get(name, name)) if name.isascii() else ""


# Python codecs that are not charsets a sender can mean, or that raise on
# bytes instead of replacing them.
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "unicode_escape", "raw_unicode_escape", "undefined", "mbcs", "oem"}
)


@functools.lru_cache(maxsize=256)
def _codec(name: str) -> str:
    """The codec for ``name`` if it decodes bytes to text, else ''."""
    if not name:
        return ""
    try:
        codec = codecs.lookup(name).name
        b"".decode(codec)  # rejects bytes-to-bytes codecs such as base64_codec
    except (LookupError, ValueError, TypeError):
        return ""
    return "" if codec in _NOT_CHARSETS else codec


def is_multibyte(codec: str) -> bool:
    """True for the CJK codecs worth trying first on undeclared 8-bit header bytes."""
    return codec in _MULTIBYTE


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):
        return None


def _single_byte(codec: str) -> bool:
    return codec.startswith(_SINGLE_BYTE_PREFIXES)


def decode_bytes(data: bytes, label: str | None) -> tuple[str, str | None]:
    """Decode ``data`` declared as ``label``; return (text, defect or None).

    ISO-8859-1 is read as Windows-1252 (what senders mean in practice: smart
    quotes and the euro sign). 8-bit data under an ASCII or Latin label that is
    valid UTF-8 is read as UTF-8 (the commonest mislabelling). Bytes that do
    not fit the declared codec are tried with its known siblings, then UTF-8;
    undecodable bytes become U+FFFD and the defect says so.
    """
    codec = normalise_charset(label)
    single = _single_byte(codec)
    if (single or codec in ("", "utf-8")) and data.isascii():
        return data.decode("ascii"), None
    if single:
        text = _strict(data, "utf-8")
        if text is not None:
            return text, None if codec == "ascii" else f"charset {label!r} was utf-8"
    if codec and codec != "ascii":
        text = _strict(data, codec)
        if text is not None:
            return text, None
        if codec.startswith("iso2022_jp"):
            text = decode_jis(data)
            if text is not None:
                return text, None
        for sibling in _SIBLINGS.get(codec, ()):
            if data.isascii() and not sibling.startswith("iso2022"):
                continue  # an 8-bit codec "decodes" 7-bit data by ignoring its escapes
            text = _strict(data, sibling)
            if text is not None:
                return text, f"charset {label!r} did not fit; decoded as {sibling}"
    return _fallback(data, label, codec)


_JIS_MODES = {b"$B": "jis", b"$@": "jis", b"(B": "ascii", b"(J": "ascii", b"(I": "kana"}


def decode_jis(data: bytes) -> str | None:
    """ISO-2022-JP as Windows writes it (CP50220): JIS X 0208 plus NEC/IBM extensions.

    Python's ``iso2022_jp`` rejects the NEC row-13 characters (circled digits,
    ``㈱``) that Outlook and Windows mailers put in subjects and file names.
    Each two-byte JIS character is mapped to its Shift_JIS code and the result
    decoded as cp932, which has the extensions. None if this is not ISO-2022-JP.
    """
    out = bytearray()
    mode = "ascii"
    i = 0
    size = len(data)
    while i < size:
        byte = data[i]
        if byte == 0x1B:
            mode = _JIS_MODES.get(data[i + 1 : i + 3], "")
            if not mode:
                return None
            i += 3
        elif byte >= 0x80 or (mode == "jis" and i + 1 >= size):
            return None
        elif mode == "jis" and byte > 0x20:
            out += _jis_to_sjis(byte, data[i + 1])
            i += 2
        else:
            out.append(byte + 0x80 if mode == "kana" and byte > 0x20 else byte)
            i += 1
    return _strict(bytes(out), "cp932")


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    s1 = ((j1 + 1) >> 1) + (0x70 if j1 < 0x5F else 0xB0)
    s2 = j2 + (0x1F + (j2 >= 0x60) if j1 % 2 else 0x7E)
    return bytes((s1 & 0xFF, s2 & 0xFF))


def _fallback(data: bytes, label: str | None, codec: str) -> tuple[str, str | None]:
    """Last resorts for bytes their label does not describe: UTF-8, then replacement."""
    if label and not codec:
        what = f"unknown charset {label!r}"
    elif codec == "ascii" or not label:
        what = f"charset {label or 'none'!r} on 8-bit text"
    else:
        what = f"charset {label!r} did not fit"
    text = _strict(data, "utf-8")
    if text is not None:
        return text, None if not label else f"{what}; decoded as utf-8"
    if codec and codec != "ascii":
        try:
            return data.decode(codec, "replace"), f"{what}: undecodable bytes replaced"
        except (UnicodeError, LookupError):  # pragma: no cover - codec is a vetted charset
            pass
    text = data.decode("utf-8", "replace")
    if _mostly_utf8(data, text):
        return text, f"{what}: utf-8 with undecodable bytes replaced"
    guess = "cp1252" if codec else guess_8bit(data)
    return data.decode(guess, "replace"), f"{what}; read as {guess}"


_HIGH = bytes(range(0x80, 0x100))
_HIGH_RUN = re.compile(rb"[\x80-\xff]{2,}")
# Anchored at word starts: an unanchored "\S*[high]" backtracks quadratically
# over long words without high bytes (base64 lines).
_HIGH_WORD = re.compile(rb"(?<!\S)\S*?[\x80-\xff]\S*")
_CJK_GUESSES = ("gb18030", "big5hkscs", "cp949")
_GUESS_SAMPLE = 16384  # plenty of evidence for a guess, bounded cost
_OUTSIDE = {
    (low, high): bytes(b for b in range(0x100) if not low <= b < high)
    for low, high in ((0xC0, 0xE0), (0xE0, 0x100), (0x80, 0xA1))
}
_ASCII = bytes(range(0x80))
_NOT_ASCII_LETTER = bytes(b for b in range(0x100) if not chr(b).isascii() or not chr(b).isalpha())


def guess_8bit(data: bytes) -> str:
    """A codec for 8-bit text that declares no charset and is not UTF-8.

    A cheap byte-pattern guess, not a detector. In Latin text, words with
    high bytes have more ASCII letters than high bytes; Cyrillic and CJK
    words are nearly all high bytes. Russian letters sit at 0xC0-0xFF, the
    frequent lower-case ones in the lower half for KOI8-R and the upper half
    for Windows-1251; CJK double-byte text spreads over the whole range,
    Shift_JIS with many lead bytes below 0xA1, which GB2312, Big5 and EUC-KR
    do not use.
    """
    sample = data[:_GUESS_SAMPLE]
    if len(data) > _GUESS_SAMPLE and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n")]  # never a CJK trail byte: a safe cut
    words = b"".join(_HIGH_WORD.findall(sample))  # only words with 8-bit letters
    high = len(words) - len(words.translate(None, _HIGH))
    letters = len(words.translate(None, _NOT_ASCII_LETTER))
    if not high or high < letters:
        return "cp1252"
    runs = b"".join(_HIGH_RUN.findall(sample)) or sample.translate(None, _ASCII)
    if _count(runs, 0xC0, 0xE0) * 10 >= len(runs) * 7:
        return "koi8_r"
    if _count(runs, 0xE0, 0x100) * 10 >= len(runs) * 7:
        return "cp1251"
    sjis = _count(runs, 0x80, 0xA1) * 10 > len(runs)
    order = ("cp932", *_CJK_GUESSES) if sjis else _CJK_GUESSES
    return next((c for c in order if _strict(sample, c) is not None), "cp1252")


def _count(data: bytes, low: int, high: int) -> int:
    """How many bytes of ``data`` lie in [low, high), counted in C by bytes.translate."""
    return len(data.translate(None, _OUTSIDE[(low, high)]))


def _mostly_utf8(data: bytes, text: str) -> bool:
    """True when UTF-8 decoding left far fewer replacements than it found characters.

    Undeclared 8-bit text that is UTF-8 with one broken sequence reads better
    as UTF-8 with a U+FFFD than as Windows-1252 mojibake throughout.
    """
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    return good > 3 * bad


_SURROGATES = re.compile("[\udc80-\udcff]")


def has_raw_bytes(value: str) -> bool:
    """True when ``value`` carries undecoded 8-bit bytes (stdlib surrogateescape).

    ASCII text, nearly every header, is told apart without the regex scan.
    """
    return not value.isascii() and _SURROGATES.search(value) is not None


def decode_raw(value: str, fallback: str | None) -> tuple[str, str | None]:
    """Recover text that arrived as raw 8-bit bytes (kept as surrogates by the parser).

    UTF-8 first (what modern mailers send undeclared), then ``fallback`` (a
    charset the message declares elsewhere) and its siblings, then
    Windows-1252, which decodes anything.
    """
    if not has_raw_bytes(value):
        return value, None
    raw = value.encode("ascii", "surrogateescape")
    text = _strict(raw, "utf-8")
    if text is not None:
        return text, None
    text, _ = decode_bytes(raw, fallback or guess_8bit(raw))
    return text, "header with raw 8-bit bytes decoded by guess"


# An encoded word, leniently: spaces inside the encoded text are tolerated
# (seen from Exchange), newlines are not (headers are unfolded first).
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*?)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r?\n")
_SPACES = re.compile(r"[ \t\r\n]+")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def decode_header(
    value: object, fallback_charset: str | None = None, *, keep_spaces: bool = False
) -> tuple[str, list[str]]:
    """Decode an RFC 2047 header value to text; return (text, defects).

    Raw 8-bit headers are read as UTF-8, else as ``fallback_charset`` (a
    charset the message declares) or Windows-1252. Adjacent encoded words in
    one charset are joined before decoding, so a multi-byte character split
    across two words survives. A malformed encoded word is kept as written.
    Runs of ASCII whitespace are collapsed to one space unless ``keep_spaces``
    (file names), where only the folding line breaks are removed.
    """
    defects: list[str] = []
    text = value if isinstance(value, str) else str(value or "")
    text, defect = decode_raw(text, fallback_charset)
    if defect:
        defects.append(defect)
    if "\n" in text:  # both substitutions change only what they find; most values have none
        text = _FOLD.sub("", text)
    if "=?" in text:
        text = _decode_words(text, defects)
    if keep_spaces:
        return text.replace("\r", "").replace("\n", "").strip(), defects
    if "  " in text or "\t" in text or "\r" in text or "\n" in text:
        text = _SPACES.sub(" ", text)
    return text.strip(), defects


def _decode_words(text: str, defects: list[str]) -> str:
    """Replace every encoded word in ``text``; whitespace between two words is dropped."""
    out: list[str] = []
    pending: list[bytes] = []
    label = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        pos = match.end()
        adjacent = bool(pending) and not gap.strip(" \t")
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            defects.append("malformed encoded word kept as written")
            _flush(out, pending, label, defects)
            out.append(gap + match.group(0))
            continue
        word_label = match.group(1).split("*", 1)[0]
        if adjacent and word_label.lower() == label.lower():
            pending.append(data)
            continue
        _flush(out, pending, label, defects)
        if not adjacent:
            out.append(gap)
        pending, label = [data], word_label
    _flush(out, pending, label, defects)
    out.append(text[pos:])
    return "".join(out)


def _flush(out: list[str], pending: list[bytes], label: str, defects: list[str]) -> None:
    if not pending:
        return
    piece, problem = decode_bytes(b"".join(pending), label)
    if problem:
        defects.append(f"encoded word: {problem}")
    out.append(piece)
    pending.clear()


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    """The bytes of one encoded word's payload (Q or B), or None when unreadable."""
    try:
        raw = payload.encode("ascii")
    except UnicodeEncodeError:
        return None
    if encoding in "qQ":
        return binascii.a2b_qp(raw, header=True)
    raw = raw.replace(b" ", b"").rstrip(b"=")
    if _NOT_BASE64.search(raw):
        return None  # not base64: keep the word as written
    if len(raw) % 4 == 1:
        raw = raw[:-1]
    try:
        return base64.b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return None
