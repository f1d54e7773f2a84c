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
import sys
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
_MIN_TAIL_LINES = 4  # text below a final quote shorter than this is a footer
_WRAP_WIDTH = 60  # quoted lines at least this long may have been hard-wrapped

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_RULE_CHARS = frozenset("-=*~+#_ \t")
_DASH_CHARS = frozenset("\u2014\u2013 \t")  # em and en dashes
_GMAIL_TRACKER = "\u1427"  # the dot some Gmail add-ons append below the reply
_COLONS = ":\uff1a"  # ASCII and full-width (CJK) colon
_RSQUO = "\u2019"  # typographic apostrophe

# --- quotes ----------------------------------------------------------------------

# ">" quoting, plus the "C>" / "Richard>" initials style some old clients use.
_QUOTE_RE = re.compile(r"[ \t]*(?:>|[A-Z]{1,3}>(?= |$)|[A-Z][a-z]{1,14}>(?= |$))")
# "| quoted" as some webmail and forum mailers quote; table rows end with "|".
_PIPE_QUOTE_RE = re.compile(r"[ \t]*\|(?= |$)")
_FENCE_RE = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})")

# --- attribution lines ("On ... wrote:") ---------------------------------------

_VERBS = (
    r"wrote|writes|schrieb|geschrieben|a\s+écrit|écrit|escribió|escreveu|ha\s+scritto|"
    r"scritto|schreef|geschreven|skrev|skriver|kirjoitti|napisał\(a\)|napisała|napisał|"
    r"napisal|napsal|napsala|написал\(а\)|написала|написал|написав|пише|писал|έγραψε|"  # noqa: RUF001
    r"yazdı|írta|scrise|rašė|rakstīja|kirjutas|menulis"  # noqa: RUF001
)
_CJK_VERBS = r"写道|寫道|書きました|のメッセージ|작성"
_VERB_RE = re.compile(rf"(?<!\w)(?:{_VERBS})(?!\w)|{_CJK_VERBS}", re.IGNORECASE)
_VERB_END_RE = re.compile(rf"(?:(?<!\w)(?:{_VERBS})|{_CJK_VERBS})$", re.IGNORECASE)


def _longest_verb(*alternations: str) -> int:
    """How far from the end of a line a verb that ends it can start.

    A verb of several words (``a\\s+écrit``) counts by its last word, which
    must be a verb of its own: whatever the spaces, that word then ends the
    line too. Anything but literal words makes the answer "anywhere",
    so the bound is never tighter than the pattern.
    """
    words = [w.replace("\\(", "(").replace("\\)", ")") for a in alternations for w in a.split("|")]
    longest = 0
    for word in words:
        if "\\s+" in word and word.rpartition("\\s+")[2] in words:
            continue
        if not word or any(ch in word for ch in "\\.^$*+?{}[]|"):
            return sys.maxsize
        longest = max(longest, len(word))
    return longest + 2  # the character the look-behind reads, a final "\n" that "$" allows


_VERB_TAIL = _longest_verb(_VERBS, _CJK_VERBS)


def _ends_with_verb(text: str) -> bool:
    """``_VERB_END_RE.search(text)``, looking only where a match can start.

    The verb ends the text, so a search from the last few characters finds
    it (the look-behind still sees the character before); a long line is
    not scanned from its first character.
    """
    return _VERB_END_RE.search(text, max(0, len(text) - _VERB_TAIL)) is not None


# "Name <mail@x> wrote", "mail@x (Name) writes": the verb right after an address.
_MAIL_VERB_RE = re.compile(
    rf"(?:[>)\]\"'»;]|@[\w.-]{{1,100}})\s{{0,3}}(?:(?:{_VERBS})(?!\w)|{_CJK_VERBS})",
    re.IGNORECASE,
)
_OPENER_RE = re.compile(
    r"(?:on|am|le|el|em|op|il|den|på|dnia|w\s+dniu|dne|dňa|at|quoting|zitat\s+von|"
    r"citando|in\s+article|в|у|στις|pada|vào|kl|"  # noqa: RUF001
    r"mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"(?!\w)|\d|在",
    re.IGNORECASE,
)
# Numeric dates and times, but not IP addresses or SMTP status codes ("5.2.1").
_NUM_DATE = (
    r"(?<![\d.])(?:\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2}))"
    r"(?!\d)(?!\.\d)"
)
_TIME = r"(?<![\d.])\d{1,2}[:.]\d{2}(?!\d)(?!\.\d)"
_DATE_RE = re.compile(rf"{_TIME}|{_NUM_DATE}|\d{{1,4}}\s?[年月日]")
_YEAR_RE = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_DAY_RE = re.compile(r"(?<![\d:.])\d{1,2}(?![\d:])")
# Weekday names and abbreviations that Gmail and others put first: "tir. 18. apr.",
# Russian "Wednesday, 30 Apr.", "pe 20. lokakuuta", "Mo., 1. Jan". Only with a day
# number after.
_WEEKDAYS = (
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|montag|dienstag|mittwoch|"
    r"donnerstag|freitag|samstag|sonntag|lundi|mardi|mercredi|jeudi|vendredi|samedi|"
    r"dimanche|lunes|martes|miércoles|jueves|viernes|sábado|domingo|segunda-feira|"
    r"terça-feira|quarta-feira|quinta-feira|sexta-feira|segunda|terça|quarta|quinta|sexta|"
    r"lunedì|martedì|mercoledì|giovedì|venerdì|sabato|domenica|maandag|dinsdag|woensdag|"
    r"donderdag|vrijdag|zaterdag|zondag|mandag|tirsdag|onsdag|torsdag|fredag|lørdag|"
    r"søndag|måndag|tisdag|lördag|söndag|maanantai|tiistai|keskiviikko|torstai|perjantai|"
    r"lauantai|sunnuntai|poniedziałek|wtorek|środa|czwartek|piątek|sobota|niedziela|"
    r"понедельник|вторник|среда|четверг|пятница|суббота|воскресенье|понеділок|вівторок|"
    r"середа|четвер|пʼятниця|субота|неділя|"
    r"mon|tues|tue|wed|thurs|thur|thu|fri|sat|sun|mo|di|mi|do|fr|sa|so|lun|mar|mer|jeu|"
    r"ven|sam|dim|mié|jue|vie|sáb|dom|seg|ter|qua|qui|sex|gio|sab|ma|wo|vr|za|zo|man|tir|"
    r"ons|tor|fre|lør|søn|mån|tis|lör|sön|ti|ke|to|pe|la|su|pon|wt|śr|czw|pt|sob|niedz|"
    r"nd|пн|вт|ср|чт|пт|сб|вс|нд"  # noqa: RUF001
)
_WEEKDAY_START_RE = re.compile(rf"(?:{_WEEKDAYS})(?![\w-])\.?,?\s{{1,3}}\d", re.IGNORECASE)
_DATE_START_RE = re.compile(rf"{_NUM_DATE}|\d{{1,2}}:\d{{2}}|\d{{4}}\s?年")
_RAW_HEADER_RE = re.compile(r"[A-Za-z][\w-]{1,30}:\s")
_GMAIL_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{1,2}:\d{2} GMT[+-]\d{1,2}:\d{2} \S")

# --- header blocks ("From: ... / Sent: ... / To: ... / Subject: ...") -------------

_FIELD_RE = re.compile(r"[ \t]*[*_]{0,2}([^:\uff1a*_\n]{1,32}?)[ \t]*[*_]{0,2}[ \t]*[:\uff1a]")


def _vocabulary(spec: str) -> frozenset[str]:
    """Turn a "|"-separated word list into a set; long lists read better as one string."""
    return frozenset(word for word in spec.split("|") if word)


def _field_keys(categories: dict[str, str]) -> dict[str, str]:
    """Map each localised header name ("betreff", "objet") to its category."""
    return {word: cat for cat, spec in categories.items() for word in _vocabulary(spec)}


_FIELD_KEYS = _field_keys(
    {
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
    }
)

# --- forward / original-message markers ------------------------------------------

_MARKER_PHRASES = _vocabulary(
    "original message|forwarded message|forwarded email|message transféré|"
    "message d'origine|mail original|message original|ursprüngliche nachricht|"
    "weitergeleitete nachricht|originalnachricht|original nachricht|original-nachricht|"
    "mensaje original|mensaje reenviado|"
    "mensagem original|mensagem encaminhada|messaggio originale|messaggio inoltrato|"
    "oorspronkelijk bericht|origineel bericht|doorgestuurd bericht|ursprungligt meddelande|"
    "vidarebefordrat meddelande|oprindelig besked|oprindelig meddelelse|videresendt besked|"
    "videresendt meddelelse|opprinnelig melding|videresendt melding|alkuperäinen viesti|"
    "välitetty viesti|oryginalna wiadomość|wiadomość oryginalna|przekazana wiadomość|"
    "исходное сообщение|пересылаемое сообщение|пересланное сообщение|"
    "оригінальне повідомлення|переслане повідомлення|původní zpráva|přeposlaná zpráva|"
    "orijinal mesaj|iletilen mesaj|原始邮件|原始郵件|转发的邮件|轉寄的郵件|元のメッセージ|"
    "転送されたメッセージ|원본 메시지|전달된 메시지"
)
# Phrases that mark a forward on their own, without surrounding dashes.
_STANDALONE_MARKERS = _vocabulary(
    "begin forwarded message|anfang der weitergeleiteten nachricht|"
    "début du message réexpédié|début du message transféré|inicio del mensaje reenviado|"
    "início da mensagem reencaminhada|inizio messaggio inoltrato|"
    "begin doorgestuurd bericht|vidarebefordrat brev"
)

# --- mobile footers ------------------------------------------------------------

_MD_LINK_RE = re.compile(r"\[([^\]\n]{0,100})\]\([^)\n]{0,300}\)")
_ANGLE_URL_RE = re.compile(r"<(?:https?://|mailto:|www\.)[^<>\s]{0,300}>", re.IGNORECASE)
_BARE_URL_RE = re.compile(r"(?:https?://|www\.)\S{0,300}", re.IGNORECASE)
_CLAUSE_END_RE = re.compile(r"[,;!(]|\.(?=\s|$)")
# Footer openers that say "sent from my ..." outright: a short rest is enough.
_FOOTER_PREFIXES = (
    "sent from ",
    "get outlook for ",
    "obtenir outlook pour ",
    "envoyé de mon ",
    "envoyé depuis mon ",
    "envoye de mon ",
    "envoye depuis mon ",
    "envoyé depuis ",
    "gesendet von ",
    "enviado desde ",
    "enviado do meu ",
    "enviado de mi ",
    "enviado de meu ",
    "inviato da ",
    "inviato dal mio ",
    "verzonden vanaf ",
    "verstuurd vanaf ",
    "verzonden met ",
    "skickat från min ",
    "sendt fra min ",
    "sendt fra ",
    "wysłane z mojego ",
    "wysłane z ",
    "отправлено с ",  # noqa: RUF001
    "отправлено из ",
    "надіслано з ",
    "odesláno z ",
    "从我的",
    "從我的",
    "发自我的",
    "發自我的",
)
# Openers that also start ordinary sentences ("Sent with the invoice", "From my
# experience"): the rest must name a device or a mail app.
_WEAK_FOOTER_PREFIXES = (
    "sent via ",
    "sent with ",
    "sent using ",
    "sent by ",
    "sent on ",
    "posted from ",
    "from my ",
    "envoyé avec ",
    "envoyé à partir de ",
    "gesendet mit ",
    "gesendet vom ",
    "enviado con ",
    "enviado com ",
    "enviado de ",
    "enviado a partir do ",
    "inviato con ",
    "verzonden vanuit ",
    "verstuurd met ",
    "verzonden van ",
    "skickat från ",
    "sendt från ",
    "lähetetty ",
    "wysłano z ",
    "надіслано із ",
    "odoslané z ",
)
# German puts the verb last: "Von meinem iPhone gesendet".
_VERB_LAST_PREFIXES = ("von meinem ", "diese nachricht wurde von meinem ")
_MOBILE_SUFFIXES = ("から送信", "에서 보냄", "'dan gönderildi", f"{_RSQUO}dan gönderildi")
# Word starts that name a device or a mail app ("mobil" covers Mobiltelefon too).
_DEVICE_WORDS = tuple(
    sorted(
        _vocabulary(
            "iphone|ipad|ipod|android|blackberry|mobil|phone|cell|smartphone|tablet|"
            "galaxy|samsung|htc|nokia|huawei|xiaomi|pixel|nexus|motorola|moto|sony|xperia|"
            "oneplus|windows|outlook|mail|gmail|yahoo|aol|airmail|spark|sparrow|device|"
            "handheld|wiko|alcatel|verizon|kindle|appareil|téléphone|móvil|movil|celular|"
            "dispositivo|telefon|cellulare|mobiel|telefoon|thunderbird|k9|proton|tutanota|"
            "superhuman|web.de|gmx|libero"
        )
    )
)
_EXCUSE_WORDS = ("excuse", "typo", "brevity", "brief", "short")

# --- signature after a separator rule ------------------------------------------


def _is_prose(line: str) -> bool:
    """Say whether a line reads like a sentence rather than a signature item.

    Signature blocks hold names, titles, numbers and links; a full sentence after a
    separator means the separator was decoration inside the message.
    """
    words = line.split()
    stripped = line.strip()
    if len(stripped) >= 80 or stripped.endswith(("\u3002", "\uff01", "\uff1f")):
        return True  # long lines and CJK sentences (no spaces to count words by)
    ends_sentence = stripped.endswith((".", "!", "?", ":"))
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
    return stripped.count("_") >= 2 and set(stripped) <= {"_", " ", "\t"}


def _is_rule(stripped: str) -> bool:
    """Recognise decorative separator lines (dashes, equals signs, stars, em dashes).

    Every such line starts with one of its characters: a line of text is told
    apart by its first one, without building the set of all of them.
    """
    if stripped[:1] not in _RULE_CHARS and stripped[:1] not in _DASH_CHARS:
        return False
    if len(stripped) >= 3 and set(stripped) <= _RULE_CHARS:
        return len(set(stripped) - {" ", "\t"}) > 0
    return len(stripped) >= 2 and set(stripped) <= _DASH_CHARS


def _is_marker(stripped: str) -> bool:
    """Recognise "-----Original Message-----" style separators in many languages."""
    if len(stripped) > 80:
        return False
    core = stripped.strip("*_-=<>[] \t").strip().rstrip(_COLONS).strip().lower()
    if core in _STANDALONE_MARKERS:
        return True
    return core in _MARKER_PHRASES and "--" in stripped


def _clean_footer(line: str) -> str:
    """Reduce a candidate footer line to lowercase words without links or brackets."""
    core = _MD_LINK_RE.sub(r"\1", line)
    core = _ANGLE_URL_RE.sub("", core)
    core = _BARE_URL_RE.sub("", core)
    return core.strip().strip("()<>[]*_~\"'").strip().rstrip(".!").strip().lower()


def _footer_words() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """First words of the known footers, and the suffix footers, for a cheap first test."""
    prefixes = (*_FOOTER_PREFIXES, *_WEAK_FOOTER_PREFIXES, *_VERB_LAST_PREFIXES)
    words = tuple(sorted({p.split()[0] for p in prefixes if p.split()}))
    return words, tuple(suffix.strip("'" + _RSQUO) for suffix in _MOBILE_SUFFIXES)


_FOOTER_FIRST_WORDS, _FOOTER_SUFFIXES = _footer_words()


def _may_be_footer(line: str) -> bool:
    """Could ``line`` be a footer at all? Most lines are prose and fail here cheaply.

    A footer starts with one of the known first words (after markup), ends
    with a known suffix, or carries a link that cleaning may remove.
    """
    head = line.lstrip(" \t*_~\"'([<>").lower()
    return (
        head.startswith(_FOOTER_FIRST_WORDS)
        or "http" in line
        or any(suffix in line for suffix in _FOOTER_SUFFIXES)
    )


def _is_mobile(line: str) -> bool:
    """Recognise mobile and webmail footers such as "Sent from my iPhone".

    A prefix alone is not enough ("Sent from my desk, is much easier..." is prose),
    so the words after it must be few and either name a device or end the line.
    """
    if len(line) > 200 or not _may_be_footer(line):
        return False
    core = _clean_footer(line)
    if not core or len(core) > 100:
        return False
    if core.endswith(_MOBILE_SUFFIXES):
        return len(core.split()) <= 6
    if core.startswith(_VERB_LAST_PREFIXES):
        return core.endswith("gesendet") and len(core.split()) <= 12
    if core.startswith(_FOOTER_PREFIXES):
        prefix = next(p for p in _FOOTER_PREFIXES if core.startswith(p))
        return _looks_like_device_tail(core[len(prefix) :])
    if not core.startswith(_WEAK_FOOTER_PREFIXES):
        return False
    for prefix in _WEAK_FOOTER_PREFIXES:
        if core.startswith(prefix):
            rest = core[len(prefix) :]
            return _names_device(_split_clause(rest)[0]) and _looks_like_device_tail(rest)
    return False


def _names_device(head: str) -> bool:
    """Say whether any word starts like a device or mail app ("iPhonesta" counts)."""
    words = head.replace("-", " ").replace("'", " ").replace(_RSQUO, " ").split()
    return any(word.startswith(_DEVICE_WORDS) for word in words)


def _looks_like_device_tail(rest: str) -> bool:
    """Decide whether the words after "Sent from" name a device or app."""
    head, _, tail = _split_clause(rest)
    words = head.split()
    if not words or len(words) > 8:
        return False
    if not tail.strip() or _names_device(head):
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
    if len(line) > 1000 or (":" not in line and "\uff1a" not in line):
        return None  # the pattern ends in a colon: most lines have none
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
    text = text.lstrip("-*_= \t")
    return bool(_OPENER_RE.match(text) or _WEEKDAY_START_RE.match(text))


def _is_dated_sender(text: str, colon: bool, quote_next: bool) -> bool:
    """Recognise verb-less attributions: "2016-03-03 17:21 GMT+01:00 Name <a@b>:".

    Without the colon ("2013/7/20 Name <a@b>") a log line would look the same, so
    a quote must follow.
    """
    if not (_DATE_START_RE.match(text) or _WEEKDAY_START_RE.match(text)):
        return False
    if _GMAIL_DATE_RE.match(text):
        return True
    has_mail = "@" in text
    return has_mail and (colon or (quote_next and text.endswith(">")))


def _is_attribution(text: str, single: bool, quote_next: bool) -> bool:
    """Decide whether a (possibly joined) line introduces quoted history.

    A verb such as "wrote" is not enough ("On the other hand, I wrote this"): it must
    end the line or be followed by a colon, and a date or an address must be present.
    Without the colon, or when the line does not open like a header ("On", "Am", a
    date), the address must come right before the verb: "At 10:30 nobody wrote" is
    prose, "Jane <j@x> wrote" is not.
    """
    if len(text) > _MAX_HEADER_LEN or text.startswith(">"):
        return False
    body = text.rstrip(f" \t{_COLONS}-\u2013\u2014")
    colon = text.endswith(tuple(_COLONS))
    dated = _has_date(text)
    has_mail = "@" in text or "mailto:" in text.lower()
    start = _starts_like_header(text)
    mail_verb = bool(_MAIL_VERB_RE.search(text))
    verb_last = _ends_with_verb(body) and (colon or mail_verb)
    if verb_last and ((dated and (single or start)) or mail_verb or (has_mail and start)):
        return True
    if colon and _VERB_RE.search(text) and (dated or has_mail) and (start or mail_verb):
        return True
    if dated and has_mail and text.endswith((">:", f">{_COLONS[1]}")):
        return True  # verb-less forms such as Hebrew Gmail's "... <a@b>:"
    return _is_dated_sender(text, colon, quote_next)


def _attribution_candidates(
    lines: list[str], blocked: list[bool], end: int, floor: int, quote_next: bool
) -> list[tuple[int, str]]:
    """List (start, joined text) candidates for an attribution ending on ``end``.

    Mail clients wrap long attributions, so up to ``_MAX_JOIN`` earlier lines (and
    one blank line) are joined. Shortest first; quoted lines never start one, and a
    "Key: value" header line (a pasted header block) is never part of one.
    """
    out: list[tuple[int, str]] = []
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
        if _RAW_HEADER_RE.match(line):
            break
        parts.insert(0, line)
        joined = " ".join(parts)
        if len(joined) > _MAX_HEADER_LEN or (line.startswith(">") and len(line) > 30):
            break
        if not line.startswith(">") and _is_attribution(joined, i == end, quote_next):
            out.append((i, joined))
    return out


def _attribution_start(
    lines: list[str], blocked: list[bool], end: int, floor: int, quote_next: bool
) -> int:
    """Find where an attribution ending on line ``end`` starts, or return -1.

    The shortest candidate that opens like a header wins, extended over earlier
    lines ending in a comma ("On Nov 21, 2014," / "at 10:18," / "John <j@x> wrote:").
    Failing that, the shortest one that qualifies at all ("Name <a@b> schrieb am
    ...:"), preferring one that does not start with a bare address.
    """
    candidates = _attribution_candidates(lines, blocked, end, floor, quote_next)
    headed = [i for i, joined in candidates if _starts_like_header(joined)]
    if headed:
        best = headed[0]
        for i in headed[1:]:
            between = [lines[k].rstrip() for k in range(i, best) if lines[k].strip()]
            if not all(line.endswith(",") for line in between):
                break
            best = i
        return best
    plain = [i for i, _ in candidates if not lines[i].lstrip().startswith(("<", "mailto:"))]
    if plain:
        return plain[0]
    return candidates[0][0] if candidates else -1


def _may_end_attribution(line: str) -> bool:
    """Cheap pre-check: can an attribution end on this line at all?

    Every rule in :func:`_is_attribution` needs the last line to end with a colon,
    an address bracket or a "wrote" verb, or to be Gmail's dated sender line.
    """
    last = line.strip()
    if not last or len(last) > _MAX_HEADER_LEN:
        return False
    if last.endswith((":", "\uff1a", ">")):
        return True
    return _ends_with_verb(last.rstrip(" \t-\u2013\u2014")) or bool(_GMAIL_DATE_RE.match(last))


def _mark_attributions(lines: list[str], kinds: list[str], blocked: list[bool]) -> None:
    """Mark every line of every (possibly wrapped) attribution as ``_ATTRIB``."""
    last_end = -1
    for end in range(len(lines)):
        if blocked[end] or not _may_end_attribution(lines[end]):
            continue
        following = end + 1
        while following < len(lines) and kinds[following] == _EMPTY:
            following += 1
        quote_next = following < len(lines) and kinds[following] == _QUOTE
        start = _attribution_start(lines, blocked, end, last_end, quote_next)
        if start >= 0:
            for i in range(start, end + 1):
                kinds[i] = _ATTRIB
            last_end = end


def _mark_bare_attributions(lines: list[str], kinds: list[str]) -> None:
    """Mark "Bob wrote:" lines (no date, no address) that directly introduce a quote.

    Without a date or an address the verb alone is weak evidence, so the line must
    be short, end with a colon and be followed by ">" quoted lines.
    """
    for i, line in enumerate(lines):
        stripped = line.strip()
        if kinds[i] != _TEXT or len(stripped) > 100 or not stripped.endswith(tuple(_COLONS)):
            continue
        if not _ends_with_verb(stripped.rstrip(f" \t{_COLONS}")):
            continue
        following = i + 1
        while following < len(lines) and kinds[following] == _EMPTY:
            following += 1
        if following < len(lines) and kinds[following] == _QUOTE:
            kinds[i] = _ATTRIB


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
    stripped = line.strip()
    if _QUOTE_RE.match(line):
        return _QUOTE
    if _PIPE_QUOTE_RE.match(line) and (stripped == "|" or not stripped.endswith("|")):
        return _QUOTE
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
    is the top of a quoted or forwarded message. A block without a subject must name
    an address, so "From: Berlin / To: Munich / Date: 5 May" in a booking stays text.
    """
    i = 0
    while i < len(lines):
        if kinds[i] != _TEXT or _field_category(lines[i]) is None:
            i += 1
            continue
        last, cats, count = _scan_fields(lines, kinds, i)
        mail_like = "subject" in cats or any("@" in lines[j] for j in range(i, last + 1))
        if count >= 3 and len(cats) >= 3 and cats & {"from", "date"} and mail_like:
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


def _mark_wrapped_quotes(lines: list[str], kinds: list[str]) -> None:
    """Re-attach quoted lines that a client wrapped without repeating the ">".

    A long quoted line cut mid-sentence, then one unprefixed line that goes on in
    lower case, then more quote (or a blank line) is a broken wrap. An inline answer
    starts a sentence of its own, so a capitalised line is left alone.
    """
    for i in range(1, len(lines)):
        if kinds[i] != _TEXT or kinds[i - 1] != _QUOTE or not lines[i].lstrip()[:1].islower():
            continue
        previous = lines[i - 1].rstrip()
        if len(previous) < _WRAP_WIDTH or previous.endswith((".", "!", "?", ":")):
            continue
        if i + 1 == len(lines) or kinds[i + 1] in (_QUOTE, _EMPTY):
            kinds[i] = _QUOTE


def _classify(lines: list[str]) -> list[str]:
    """Give every line a kind; fenced code is always plain text.

    A pass that can only act on something the text lacks is skipped: code
    fences need three backticks or tildes, header blocks a colon, and bare
    attributions and wrapped quotes a quoted line (the one pass that adds
    quoted lines adds them next to one).
    """
    text = "\n".join(lines)
    fences = "```" in text or "~~~" in text
    blocked = _fenced_lines(lines) if fences else [False] * len(lines)
    kinds = [_TEXT if blocked[i] else _line_kind(line) for i, line in enumerate(lines)]
    _mark_attributions(lines, kinds, blocked)
    quoted = _QUOTE in kinds
    if quoted:
        _mark_bare_attributions(lines, kinds)
    if ":" in text or "\uff1a" in text:
        _mark_field_blocks(lines, kinds)
    if quoted:
        _mark_wrapped_quotes(lines, kinds)
    if fences:
        for i, is_code in enumerate(blocked):
            if is_code:
                kinds[i] = _TEXT
    return kinds


# --- selection ------------------------------------------------------------------------


def _signature_block_follows(lines: list[str], kinds: list[str], rule: int) -> bool:
    """Say whether a separator rule introduces a short signature-like block.

    Markdown uses "----" and "====" inside messages, so a rule only ends the reply
    when what follows (up to quoted history or the end) is a few non-prose lines,
    and never when it underlines the line right above it (a setext heading, or a
    form's "New message:" title).
    """
    if rule > 0 and kinds[rule - 1] == _TEXT:
        return False
    count = 0
    for j in range(rule + 1, min(len(lines), rule + 6 * _MAX_SIG_LINES)):
        kind = kinds[j]
        if kind in _HISTORY:
            break
        if kind == _EMPTY or kind in (_RULE, _DELIM):
            continue
        if _is_prose(lines[j]):
            return False
        count += 1
        if count > _MAX_SIG_LINES:
            return False
    return count > 0


def _signature_start(lines: list[str], kinds: list[str]) -> int:
    """Index of the delimiter or footer that ends the author's text, else ``len``.

    Only counts after some content: a delimiter at the very top is a forward's
    decoration, not the end of an empty reply.
    """
    seen = False
    for i, kind in enumerate(kinds):
        if kind in (_TEXT, _QUOTE):
            seen = True
            continue
        ends_text = kind in (_DELIM, _MOBILE) or (
            kind == _RULE and _signature_block_follows(lines, kinds, i)
        )
        if seen and ends_text:
            return i
    return len(kinds)


def _next_content(kinds: list[str], keep: list[bool], start: int, stop: int) -> int:
    """First kept, non-empty line in ``[start, stop)``, or ``stop``."""
    for i in range(start, stop):
        if keep[i] and kinds[i] != _EMPTY:
            return i
    return stop


def _drop_leading_headers(kinds: list[str], keep: list[bool], stop: int) -> None:
    """Drop a forward marker / header block at the very top, keeping the body below.

    A forwarded mail with nothing typed above it is shown as its body, which is
    what the sender wanted the desk to read.
    """
    i = _next_content(kinds, keep, 0, stop)
    while i < stop and kinds[i] in (_MARKER, _FIELD, _DELIM, _RULE, _MOBILE, _EMPTY):
        keep[i] = False
        i += 1


def _drop_bottom_quote(kinds: list[str], keep: list[bool], stop: int) -> bool:
    """Handle bottom posting: history first, then only new text below it.

    Only an attribution marks this: a bare leading quote followed by text is the
    context the author chose to keep. Returns True when the history was dropped.
    """
    first = _next_content(kinds, keep, 0, stop)
    if first >= stop or kinds[first] != _ATTRIB:
        return False
    j = first
    while j < stop and kinds[j] in (_ATTRIB, _QUOTE, _FIELD, _EMPTY):
        j += 1
    rest = kinds[j:stop]
    if _TEXT not in rest or any(kind in _HISTORY for kind in rest):
        return False
    for i in range(first, j):
        keep[i] = False
    return True


def _answered_inline(kinds: list[str], start: int, stop: int, min_tail: int) -> bool:
    """Say whether the author wrote answers below the quote that follows an attribution.

    Text between two quotes is an inline answer. Text only after the last quote counts
    when it has at least ``min_tail`` lines: a short tail below a top-posted reply is
    usually a footer or a signature that the author's client appended.
    """
    first = start
    while first < stop and kinds[first] == _EMPTY:
        first += 1
    if first >= stop or kinds[first] != _QUOTE:
        return False
    text_lines = 0
    for k in range(first, stop):
        if kinds[k] == _QUOTE and text_lines:
            return True
        if kinds[k] == _TEXT:
            text_lines += 1
    return text_lines >= min_tail


def _is_salutation(line: str) -> bool:
    """Say whether a line is only a greeting such as "Hi," or "Hello John!"."""
    stripped = line.strip()
    return len(stripped) <= 40 and stripped.endswith((",", "!")) and len(stripped.split()) <= 5


def _cut_history(lines: list[str], kinds: list[str], keep: list[bool], stop: int) -> int:
    """Cut at the first history marker that follows the author's text.

    Markers before any text, and attributions the author answered inline below, are
    dropped on their own. After a mere greeting ("Hi,") any text below the quote is
    the answer. Returns the cut index (``stop`` when nothing was cut).
    """
    seen_text = False
    greeting_only = True
    i = 0
    while i < stop:
        kind = kinds[i]
        if not keep[i] or kind not in (_TEXT, _ATTRIB, _FIELD, _MARKER):
            i += 1
            continue
        if kind == _TEXT:
            seen_text = True
            greeting_only = greeting_only and _is_salutation(lines[i])
            i += 1
            continue
        end = i
        while end + 1 < stop and kinds[end + 1] == kind:
            end += 1
        min_tail = 1 if greeting_only else _MIN_TAIL_LINES
        inline = kind == _ATTRIB and _answered_inline(kinds, end + 1, stop, min_tail)
        if seen_text and not inline:
            for k in range(i, stop):
                keep[k] = False
            return i
        for k in range(i, end + 1):
            keep[k] = False
        i = end + 1
    return stop


def _drop_trailing_junk(kinds: list[str], keep: list[bool]) -> None:
    """Remove quotes, markers and blank lines left at the end of the kept text."""
    for i in range(len(kinds) - 1, -1, -1):
        if not keep[i]:
            continue
        if kinds[i] not in _JUNK:
            return
        keep[i] = False


def _signature_text(lines: list[str], kinds: list[str], start: int, cut: int) -> str:
    """Return the author's signature block starting at ``start`` ('' if none).

    A delimiter found below an unquoted original message belongs to that message,
    and a block of nothing but separator lines is no signature.
    """
    if start >= len(lines) or any(kinds[k] == _TEXT for k in range(cut, start)):
        return ""
    end = start + 1
    while end < len(lines) and kinds[end] not in _HISTORY:
        end += 1
    if not any(kinds[k] in (_TEXT, _MOBILE) for k in range(start, end)):
        return ""
    return "\n".join(lines[start:end]).strip()


def _normalise(text: str) -> str:
    """Use "\\n" line endings only: CRLF (Windows) and bare CR (old Macs) both occur."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- the sender's own sign-off ----------------------------------------------------------

_SIGNOFF_WINDOW = 10  # a sign-off sits within the last lines of the reply
_SIGNOFF_LINE_LEN = 60  # signature lines are short
_NAME_TOKEN_RE = re.compile(r"[^\W\d_]{2,}")
_ROLE_LOCAL_PARTS = _vocabulary(
    "admin|billing|contact|help|hello|info|mail|mailer|noreply|no|reply|office|orders|"
    "postmaster|sales|service|support|team|webmaster"
)


def _name_tokens(sender: str) -> frozenset[str]:
    """Lower-cased words that name the sender: display-name words, address local part.

    Role mailboxes ("support@", "info@") name nobody, so they give no tokens.
    """
    tokens: set[str] = set()
    for part in sender.split():
        if "@" in part:
            local = part.strip("<>\"'").split("@", 1)[0]
            found = {w.lower() for w in _NAME_TOKEN_RE.findall(local)}
            tokens |= found - _ROLE_LOCAL_PARTS
        else:
            tokens |= {w.lower() for w in _NAME_TOKEN_RE.findall(part)}
    return frozenset(tokens)


def _names_sender(line: str, tokens: frozenset[str]) -> bool:
    """A short line whose first two words include one of the sender's names."""
    stripped = line.strip()
    if not stripped or len(stripped) > _SIGNOFF_LINE_LEN:
        return False
    words = [w.lower() for w in _NAME_TOKEN_RE.findall(stripped)]
    return len(words) <= 6 and any(w in tokens for w in words[:2])


def _is_closing(line: str) -> bool:
    """A closing such as "Thanks," or "Best regards,": a short line ending in a comma."""
    stripped = line.strip()
    return 0 < len(stripped) <= 40 and stripped.endswith(",") and len(stripped.split()) <= 4


def _cut_signoff(text: str, sender: str) -> tuple[str, str]:
    """Split the author's name block ("Thanks,\nNoam\n555-0100") off the reply's end.

    Without a "-- " delimiter a signature is only recognisable by whose it is: a
    short line near the end that starts with the sender's own name, followed only by
    short lines (title, phone, address), optionally preceded by a closing phrase.
    Returns ``(text, signature)``; nothing is cut when no text would remain above.
    """
    tokens = _name_tokens(sender)
    if not tokens:
        return text, ""
    lines = text.split("\n")
    first = max(1, len(lines) - _SIGNOFF_WINDOW)
    start = -1
    for i in range(len(lines) - 1, first - 1, -1):
        if len(lines[i].strip()) > _SIGNOFF_LINE_LEN:
            break
        if _names_sender(lines[i], tokens):
            start = i
    if start < 0:
        return text, ""
    if start > 1 and _is_closing(lines[start - 1]):
        start -= 1
    kept = "\n".join(lines[:start]).strip()
    if not kept:
        return text, ""
    return kept, "\n".join(lines[start:]).strip()


def trim_reply(text: str, sender: str = "", *, keep_if_empty: bool = True) -> Trimmed:
    """Split an inbound plain-text body into the new reply and what was cut.

    ``sender`` (display name and/or address of the author) lets an undelimited
    signature that starts with the author's own name be cut too.

    Never raises for any ``str``. When cutting would leave nothing although the body
    has content (only a quote, only a signature), the whole body is returned as
    ``text`` so that the desk never shows an empty message; with
    ``keep_if_empty=False`` the text is then empty instead (an agent's command-only
    reply must never send the quoted history on to the customer).
    """
    body = _normalise(text)
    lines = body.split("\n")
    kinds = _classify(lines)
    sig = _signature_start(lines, kinds)
    keep = [i < sig for i in range(len(lines))]
    _drop_leading_headers(kinds, keep, sig)
    cut = sig
    if not _drop_bottom_quote(kinds, keep, sig):
        cut = _cut_history(lines, kinds, keep, sig)
    _drop_trailing_junk(kinds, keep)
    kept = "\n".join(line for line, k in zip(lines, keep, strict=True) if k).strip()
    if not any(k and kind == _TEXT for k, kind in zip(keep, kinds, strict=True)) or not kept:
        if not keep_if_empty:
            return Trimmed(text="", removed=body.strip(), signature="")
        return Trimmed(text=body.strip(), removed="", signature="")
    removed = "\n".join(line for line, k in zip(lines, keep, strict=True) if not k)
    signature = _signature_text(lines, kinds, sig, cut)
    if sender and not signature:
        kept, signature = _cut_signoff(kept, sender)
        if signature:
            removed = f"{signature}\n{removed}"
    return Trimmed(text=kept, removed=removed.strip(), signature=signature)
