"""Cut quoted history, attribution lines and signatures from an inbound reply body.

A help desk shows the agent what the customer *wrote in this message*; the quoted
history is already in the ticket, so repeating it buries the new words. This module
works on the plain-text body only and never looks at headers or HTML.

How it works, and why this way:

* The body is split into lines and every line gets one *kind* (empty, text, quote,
  attribution such as "On ... wrote:", header field such as "From:", forward marker,
  signature delimiter, separator rule, mobile footer). Deciding per line keeps every
  regular expression short, anchored and bounded, so no input can make one backtrack
  for long; multi-line attributions are recognised by joining at most a few lines.
* A handful of ordered rules then decide what to keep: the first signature delimiter
  ends the reply; a forward marker or header block after some text ends it too; an
  attribution ends it unless the author answered inline below the quote; a quote at
  the very end is history.
* If the rules would leave nothing although the body had content (only a quote, only
  a forward), the whole body is returned: an empty ticket message is worse than a
  long one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Trimmed", "trim_reply"]


@dataclass(frozen=True)
class Trimmed:
    """Result of :func:`trim_reply`.

    ``text`` is the new text the author wrote, ``removed`` everything that was cut
    (quoted history and signature) and ``signature`` just the signature part.
    All three are stripped of surrounding whitespace.
    """

    text: str
    removed: str
    signature: str


# Line kinds. Single letters keep the rule code readable and cheap to compare.
_EMPTY = "e"
_TEXT = "t"
_QUOTE = "q"
_ATTRIB = "b"  # "On <date>, <name> wrote:" and its translations
_FIELD = "h"  # a line of an embedded header block ("From: ...", "Betreff: ...")
_MARKER = "f"  # "-----Original Message-----", "Begin forwarded message:"
_DELIM = "d"  # "-- " signature delimiter, Outlook underscore line, Gmail's tracker dot
_RULE = "w"  # a line of dashes, equals signs, stars: separator or markdown rule
_MOBILE = "s"  # "Sent from my iPhone" and friends

_HISTORY = frozenset({_QUOTE, _ATTRIB, _FIELD, _MARKER})
_JUNK = frozenset({_EMPTY, _QUOTE, _ATTRIB, _FIELD, _MARKER, _DELIM, _RULE, _MOBILE})

_MAX_HEADER_LEN = 400  # an attribution longer than this is prose, not a header
_MAX_JOIN = 4  # attributions wrap over at most this many extra lines
_MAX_SIG_LINES = 10  # a "signature" after a separator rule is short

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_RULE_CHARS = frozenset("-=*~+#_ \t")
_DASH_CHARS = frozenset("\u2014\u2013 \t")  # em and en dashes
_GMAIL_TRACKER = "\u1427"  # the dot some Gmail add-ons append below the reply

# --- quotes ----------------------------------------------------------------------

# ">" quoting, plus the "C>" / "Richard>" initials style some old clients use.
_QUOTE_RE = re.compile(r"[ \t]*(?:>|[A-Z]{1,3}>(?= |$)|[A-Z][a-z]{1,14}>(?= |$))")
_FENCE_RE = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})")

# --- attribution lines ("On ... wrote:") ---------------------------------------

_VERBS = (
    r"wrote|writes|schrieb|geschrieben|a\s+écrit|écrit|escribió|escreveu|ha\s+scritto|"
    r"scritto|schreef|geschreven|skrev|skriver|kirjoitti|napisał\(a\)|napisała|napisał|"
    r"napisal|napsal|napsala|написал\(а\)|написала|написал|написав|пише|писал|έγραψε|"
    r"yazdı|írta|scrise|rašė|rakstīja|kirjutas|menulis"
)
_CJK_VERBS = r"写道|寫道|書きました|のメッセージ|작성"
_VERB_RE = re.compile(rf"(?<!\w)(?:{_VERBS})(?!\w)|{_CJK_VERBS}", re.IGNORECASE)
_VERB_END_RE = re.compile(rf"(?:(?<!\w)(?:{_VERBS})|{_CJK_VERBS})$", re.IGNORECASE)
# "Name <mail@x> wrote", "mail@x (Name) writes": the verb right after an address.
_MAIL_VERB_RE = re.compile(
    rf"(?:[>)\]\"'»;]|@[\w.-]{{1,100}})\s{{0,3}}(?:(?:{_VERBS})(?!\w)|{_CJK_VERBS})",
    re.IGNORECASE,
)
_OPENER_RE = re.compile(
    r"(?:on|am|le|el|em|op|il|den|på|dnia|w\s+dniu|dne|dňa|at|quoting|zitat\s+von|"
    r"citando|in\s+article|в|у|στις|pada|vào|kl|"
    r"mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"(?!\w)|\d|在",
    re.IGNORECASE,
)
_DATE_RE = re.compile(
    r"\d{1,2}[:.]\d{2}(?!\d)|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,4}\s?[年月日]"
)
_YEAR_RE = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_DAY_RE = re.compile(r"(?<![\d:.])\d{1,2}(?![\d:])")
_DATE_START_RE = re.compile(
    r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}:\d{2}|\d{4}\s?年|"
    r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]{0,6},?\s+\d",
    re.IGNORECASE,
)
_GMAIL_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{1,2}:\d{2} GMT[+-]\d{1,2}:\d{2} \S")

# --- header blocks ("From: ... / Sent: ... / To: ... / Subject: ...") -------------

_FIELD_RE = re.compile(r"[ \t]*[*_]{0,2}([^:：*_\n]{1,32}?)[ \t]*[*_]{0,2}[ \t]*[:：]")
_FIELD_KEYS: dict[str, str] = {}
for _cat, _words in {
    "from": "from|von|de|da|van|från|fra|lähettäjä|od|от|від|发件人|寄件者|差出人|"
    "보낸 사람|kimden|feladó|afzender|remitente|expéditeur|absender|mittente|frá",
    "date": "sent|date|gesendet|datum|envoyé|envoyé le|enviado|enviada|inviato|data|"
    "verzonden|skickat|sendt|dato|lähetetty|päivämäärä|wysłano|wysłane|отправлено|дата|"
    "надіслано|发送时间|日期|送信日時|日付|날짜|gönderildi|tarih|fecha|message du|"
    "date de l'envoi|sent at|verstuurd|odesláno|elküldve",
    "to": "to|an|à|a|para|aan|till|til|vastaanottaja|do|кому|收件人|宛先|받는 사람|kime|"
    "destinataire|per|címzett|komu|pour",
    "cc": "cc|kopie|copie|copie à|kopia|kopio|копия|копія|抄送|bcc|dw|cci|kópia|kopi",
    "subject": "subject|betreff|objet|asunto|assunto|oggetto|onderwerp|ämne|emne|aihe|"
    "temat|тема|主题|主旨|件名|제목|konu|sujet|tárgy|předmět|aiheeseen",
    "reply": "reply-to|risposta|antwort an|répondre à|responder a|rispondi a",
}.items():
    for _word in _words.split("|"):
        _FIELD_KEYS[_word] = _cat

# --- forward / original-message markers ------------------------------------------

_MARKER_PHRASES = frozenset(
    "original message|forwarded message|forwarded email|message transféré|"
    "message d'origine|mail original|message original|ursprüngliche nachricht|"
    "weitergeleitete nachricht|originalnachricht|mensaje original|mensaje reenviado|"
    "mensagem original|mensagem encaminhada|messaggio originale|messaggio inoltrato|"
    "oorspronkelijk bericht|origineel bericht|doorgestuurd bericht|ursprungligt meddelande|"
    "vidarebefordrat meddelande|oprindelig besked|oprindelig meddelelse|videresendt besked|"
    "videresendt meddelelse|opprinnelig melding|videresendt melding|alkuperäinen viesti|"
    "välitetty viesti|oryginalna wiadomość|wiadomość oryginalna|przekazana wiadomość|"
    "исходное сообщение|пересылаемое сообщение|пересланное сообщение|"
    "оригінальне повідомлення|переслане повідомлення|původní zpráva|přeposlaná zpráva|"
    "orijinal mesaj|iletilen mesaj|原始邮件|原始郵件|转发的邮件|轉寄的郵件|元のメッセージ|"
    "転送されたメッセージ|원본 메시지|전달된 메시지".split("|")
)
# Phrases that mark a forward on their own, without surrounding dashes.
_STANDALONE_MARKERS = frozenset(
    "begin forwarded message|anfang der weitergeleiteten nachricht|"
    "début du message réexpédié|début du message transféré|inicio del mensaje reenviado|"
    "início da mensagem reencaminhada|inizio messaggio inoltrato|"
    "begin doorgestuurd bericht|vidarebefordrat brev".split("|")
)

# --- mobile footers ------------------------------------------------------------

_MD_LINK_RE = re.compile(r"\[([^\]\n]{0,100})\]\([^)\n]{0,300}\)")
_ANGLE_URL_RE = re.compile(r"<(?:https?://|mailto:|www\.)[^<>\s]{0,300}>", re.IGNORECASE)
_BARE_URL_RE = re.compile(r"(?:https?://|www\.)\S{0,300}", re.IGNORECASE)
_CLAUSE_END_RE = re.compile(r"[,;.!(]")
_MOBILE_PREFIXES = (
    "sent from ", "sent via ", "sent with ", "sent using ", "sent by ", "sent on ",
    "posted from ", "get outlook for ", "envoyé de ", "envoyé depuis ", "envoye de ",
    "envoye depuis ", "envoyé à partir de ", "envoyé avec ", "obtenir outlook pour ",
    "gesendet von ", "gesendet mit ", "gesendet vom ", "von meinem ",
    "diese nachricht wurde von meinem ", "enviado desde ", "enviado do ", "enviado de ",
    "enviado con ", "enviado com ", "enviado a partir do ", "inviato da ", "inviato dal ",
    "inviato dalla ", "inviato con ", "verzonden vanaf ", "verzonden met ",
    "verzonden vanuit ", "verstuurd vanaf ", "verstuurd met ", "verzonden van ",
    "skickat från ", "sendt fra ", "sendt från ", "lähetetty ", "wysłane z ", "wysłano z ",
    "отправлено с ", "отправлено из ", "надіслано з ", "надіслано із ", "odesláno z ",
    "odoslané z ", "从我的", "從我的", "发自我的", "發自我的", "from my ",
)
_MOBILE_SUFFIXES = ("から送信", "에서 보냄", "'dan gönderildi", "’dan gönderildi")
_DEVICE_WORDS = frozenset(
    "iphone ipad ipod android blackberry mobile phone cell cellphone smartphone tablet "
    "galaxy samsung htc nokia huawei xiaomi pixel nexus motorola moto sony xperia oneplus "
    "windows outlook mail gmail yahoo aol mailbox airmail spark device handheld wiko "
    "alcatel verizon sprint t-mobile kindle surface watch mobilgerät handy appareil "
    "portable téléphone móvil movil celular dispositivo telefono cellulare mobiel "
    "telefoon mobiltelefon".split()
)
_EXCUSE_WORDS = ("excuse", "typo", "brevity", "brief", "short")

# --- signature after a separator rule ------------------------------------------


def _is_prose(line: str) -> bool:
    """Say whether a line reads like a sentence rather than a signature item.

    Signature blocks hold names, titles, numbers and links; a full sentence after a
    separator means the separator was decoration inside the message.
    """
    words = line.split()
    ends_sentence = line.rstrip().endswith((".", "!", "?", ":"))
    return (len(words) >= 6 and ends_sentence) or len(words) >= 12


# --- per-line predicates --------------------------------------------------------


def _is_blank(line: str) -> bool:
    """Treat whitespace and invisible zero-width characters as an empty line."""
    return not line.strip().strip(_ZERO_WIDTH).strip()


def _is_strong_delimiter(stripped: str) -> bool:
    """Recognise lines that always start a signature or a pasted footer.

    "-- " is the RFC 3676 signature delimiter; runs of underscores are what Outlook
    and mailing-list software put above quoted headers and footers.
    """
    if stripped in ("--", _GMAIL_TRACKER):
        return True
    return len(stripped) >= 3 and set(stripped) == {"_"}


def _is_rule(stripped: str) -> bool:
    """Recognise decorative separator lines (dashes, equals signs, stars, em dashes)."""
    if len(stripped) >= 3 and set(stripped) <= _RULE_CHARS:
        return len(set(stripped) - {" ", "\t"}) > 0
    return len(stripped) >= 2 and set(stripped) <= _DASH_CHARS


def _is_marker(stripped: str) -> bool:
    """Recognise "-----Original Message-----" style separators in many languages."""
    if len(stripped) > 80:
        return False
    core = stripped.strip("*_-=<>[] \t").strip().rstrip(":：").strip().lower()
    if core in _STANDALONE_MARKERS:
        return True
    return core in _MARKER_PHRASES and "--" in stripped


def _clean_footer(line: str) -> str:
    """Reduce a candidate footer line to lowercase words without links or brackets."""
    core = _MD_LINK_RE.sub(r"\1", line)
    core = _ANGLE_URL_RE.sub("", core)
    core = _BARE_URL_RE.sub("", core)
    return core.strip().strip("()<>[]*_~\"'").strip().rstrip(".!").strip().lower()


def _is_mobile(line: str) -> bool:
    """Recognise mobile and webmail footers such as "Sent from my iPhone".

    A prefix alone is not enough ("Sent from my desk, is much easier..." is prose),
    so the words after it must be few and either name a device or end the line.
    """
    if len(line) > 200:
        return False
    core = _clean_footer(line)
    if not core or len(core) > 100:
        return False
    if core.endswith(_MOBILE_SUFFIXES):
        return len(core.split()) <= 6
    for prefix in _MOBILE_PREFIXES:
        if core.startswith(prefix):
            return _looks_like_device_tail(core[len(prefix) :])
    return False


def _looks_like_device_tail(rest: str) -> bool:
    """Decide whether the words after "Sent from" name a device or app."""
    head, _, tail = _split_clause(rest)
    words = head.split()
    if not words or len(words) > 8:
        return False
    if not tail.strip():
        return True
    names = {w.strip("'’\"") for w in head.replace("-", " ").split()}
    if names & _DEVICE_WORDS:
        return True
    return any(word in tail for word in _EXCUSE_WORDS)


def _split_clause(rest: str) -> tuple[str, str, str]:
    """Split at the first clause punctuation: (head, separator, tail)."""
    match = _CLAUSE_END_RE.search(rest)
    if match is None:
        return rest, "", ""
    return rest[: match.start()], match.group(), rest[match.end() :]


def _field_category(line: str) -> str | None:
    """Return the header category ("from", "to", ...) of a "Key: value" line."""
    if len(line) > 1000:
        return None
    match = _FIELD_RE.match(line)
    if match is None:
        return None
    return _FIELD_KEYS.get(" ".join(match.group(1).split()).lower())


# --- attribution detection ---------------------------------------------------------


def _has_date(text: str) -> bool:
    """Look for a time, a numeric date, or a year next to a day number."""
    if _DATE_RE.search(text):
        return True
    return bool(_YEAR_RE.search(text)) and bool(_DAY_RE.search(_YEAR_RE.sub(" ", text)))


def _starts_like_header(text: str) -> bool:
    """Say whether text opens the way attributions do ("On", "Am", a date, ...)."""
    return bool(_OPENER_RE.match(text.lstrip("-*_= \t")))


def _is_dated_sender(text: str, colon: bool) -> bool:
    """Recognise verb-less attributions: "2016-03-03 17:21 GMT+01:00 Name <a@b>:"."""
    if not _DATE_START_RE.match(text):
        return False
    if _GMAIL_DATE_RE.match(text):
        return True
    has_mail = "@" in text
    return has_mail and (colon or text.endswith(">"))


def _is_attribution(text: str, single: bool) -> bool:
    """Decide whether a (possibly joined) line introduces quoted history.

    A verb such as "wrote" is not enough ("On the other hand, I wrote this"): it must
    end the line or be followed by a colon, and a date or an address must be present.
    Lines that do not open like a header need the address right before the verb.
    """
    if len(text) > _MAX_HEADER_LEN or text.startswith(">"):
        return False
    body = text.rstrip(" \t:：-\u2013\u2014")
    colon = text.endswith((":", "："))
    dated = _has_date(text)
    has_mail = "@" in text or "mailto:" in text.lower()
    start = _starts_like_header(text)
    mail_verb = bool(_MAIL_VERB_RE.search(text))
    if _VERB_END_RE.search(body) and (
        (dated and (single or start)) or mail_verb or (has_mail and start)
    ):
        return True
    if colon and _VERB_RE.search(text) and (dated or has_mail) and (start or mail_verb):
        return True
    return _is_dated_sender(text, colon)


def _attribution_start(lines: list[str], blocked: list[bool], end: int, floor: int) -> int:
    """Find where an attribution ending on line ``end`` starts, or return -1.

    Mail clients wrap long attributions, so up to ``_MAX_JOIN`` earlier lines are
    joined. The shortest candidate that opens like a header wins; failing that, the
    shortest candidate that qualifies at all (e.g. "Name <a@b> schrieb am ...:").
    """
    fallback = -1
    parts: list[str] = []
    blanks = 0
    for i in range(end, max(floor, end - _MAX_JOIN - 1), -1):
        line = lines[i].strip()
        if blocked[i] or (not line and i == end):
            break
        if not line:
            blanks += 1
            if blanks > 1:
                break
            continue
        parts.insert(0, line)
        joined = " ".join(parts)
        if len(joined) > _MAX_HEADER_LEN:
            break
        if line.startswith(">"):
            if len(line) > 30:
                break
            continue
        if _is_attribution(joined, single=i == end):
            if _starts_like_header(joined):
                return i
            if fallback < 0:
                fallback = i
    return fallback


def _mark_attributions(lines: list[str], kinds: list[str], blocked: list[bool]) -> None:
    """Mark every line of every (possibly wrapped) attribution as ``_ATTRIB``."""
    last_end = -1
    for end in range(len(lines)):
        if blocked[end] or len(lines[end]) > _MAX_HEADER_LEN:
            continue
        start = _attribution_start(lines, blocked, end, last_end)
        if start >= 0:
            for i in range(start, end + 1):
                kinds[i] = _ATTRIB
            last_end = end


# --- classification -------------------------------------------------------------------


def _fenced_lines(lines: list[str]) -> list[bool]:
    """Flag lines inside closed ``` code fences: code is never history or signature."""
    fenced = [False] * len(lines)
    opened = -1
    fence = ""
    for i, line in enumerate(lines):
        match = _FENCE_RE.match(line)
        if match is None:
            continue
        if opened < 0:
            opened, fence = i, match.group(1)[0]
        elif match.group(1)[0] == fence:
            for j in range(opened, i + 1):
                fenced[j] = True
            opened = -1
    return fenced


def _line_kind(line: str) -> str:
    """Classify one line on its own (attributions and header blocks come later)."""
    if _is_blank(line):
        return _EMPTY
    if _QUOTE_RE.match(line):
        return _QUOTE
    stripped = line.strip()
    if _is_marker(stripped):
        return _MARKER
    if _is_strong_delimiter(stripped):
        return _DELIM
    if _is_rule(stripped):
        return _RULE
    if _is_mobile(stripped):
        return _MOBILE
    return _TEXT


def _mark_field_blocks(lines: list[str], kinds: list[str]) -> None:
    """Mark embedded header blocks (three or more "Key: value" lines incl. From/Date).

    A lone "From: our database" in prose stays text; a block of From/Sent/To/Subject
    is the top of a quoted or forwarded message.
    """
    i = 0
    while i < len(lines):
        if kinds[i] != _TEXT or _field_category(lines[i]) is None:
            i += 1
            continue
        last, cats, count = _scan_fields(lines, kinds, i)
        if count >= 3 and len(cats) >= 3 and cats & {"from", "date"}:
            for j in range(i, last + 1):
                kinds[j] = _FIELD
        i = last + 1


def _scan_fields(lines: list[str], kinds: list[str], start: int) -> tuple[int, set[str], int]:
    """Walk a run of header lines, allowing short wrapped continuation lines."""
    cats: set[str] = set()
    count = 0
    last = start
    continuation = 0
    for j in range(start, len(lines)):
        if kinds[j] != _TEXT:
            break
        cat = _field_category(lines[j])
        if cat is not None:
            cats.add(cat)
            count += 1
            last = j
            continuation = 0
        elif continuation < 2:
            continuation += 1
        else:
            break
    return last, cats, count


def _classify(lines: list[str]) -> list[str]:
    """Give every line a kind; fenced code is always plain text."""
    blocked = _fenced_lines(lines)
    kinds = [_TEXT if blocked[i] else _line_kind(line) for i, line in enumerate(lines)]
    _mark_attributions(lines, kinds, blocked)
    _mark_field_blocks(lines, kinds)
    for i, is_code in enumerate(blocked):
        if is_code:
            kinds[i] = _TEXT
    return kinds
