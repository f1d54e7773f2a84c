"""A seeded generator of a realistic support mailbox, with its threading ground truth.

Each conversation has one customer, a first message and 0-4 follow-ups that
reply to the message before them. The mix aims at what a real support inbox
holds: several charsets (RFC 2047 encoded names and subjects, quoted-printable,
base64 and raw 8-bit bodies), about 20% HTML (multipart/alternative and
HTML-only), about 10% with attachments, quoted history, subjects that repeat
across customers (so threading by subject would fail), threading headers in
every style clients write them, and a few replies delivered before their parent.

Messages are built with the stdlib ``email`` package (compat32, so every part
carries exactly the charset and transfer encoding chosen here). Message-ID,
In-Reply-To and References are written raw in front of the generated header
block: the email package would re-fold long ids.

Used by ``bench/ingest.py``; ``python bench/mailgen.py OUT`` writes a mailbox alone.
"""

# The phrase tables are deliberately in other scripts (Cyrillic, typographic quotes).
# ruff: noqa: RUF001

from __future__ import annotations

import argparse
import base64
import html
import json
import quopri
import random
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.utils import format_datetime
from pathlib import Path

SUPPORT = "support@bench.test"
START = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
CHARSETS = ("utf-8", "iso-8859-1", "windows-1252", "koi8-r", "shift_jis")


# -- people and words -------------------------------------------------------


@dataclass(frozen=True)
class Language:
    """Names, subjects and phrases of one language, and the charsets its mailers use."""

    code: str
    first: Sequence[tuple[str, str]]  # (as written, romanised for the address)
    last: Sequence[tuple[str, str]]
    charsets: Sequence[str]
    charset_weights: Sequence[int]
    subjects: Sequence[str]
    opening: Sequence[str]
    problems: Sequence[str]
    followups: Sequence[str]
    closing: Sequence[str]
    wrote: str  # quote attribution, {date} and {who}
    family_first: bool = False


def _ascii_names(names: str) -> list[tuple[str, str]]:
    """English names need no romanising: (name, name for the address)."""
    return [(n, n.lower().replace("'", "")) for n in names.split()]


EN_SUBJECTS = (
    "Password reset",
    "Invoice question",
    "Cannot log in",
    "Refund request",
    "Question about my subscription",
    "Order not delivered",
    "Change billing address",
    "Account locked",
    "Help",
    "Problem with the app",
    "Two-factor authentication not working",
    "Export to CSV fails",
    "Cancel my account",
    "Wrong amount charged",
    "Upgrade to the team plan",
)

LANGUAGES: dict[str, Language] = {
    "en": Language(
        code="en",
        first=_ascii_names(
            "Alice Bob Carol David Emma Frank Grace Henry Isla Jack Karen Liam Mia Noah "
            "Olivia Peter Quinn Ruth Sam Tom"
        ),
        last=_ascii_names(
            "Smith Jones Brown Taylor Wilson Evans Walker Wright Hughes Clarke O'Neill Baker "
            "Price Turner"
        ),
        charsets=("utf-8", "windows-1252", "iso-8859-1"),
        charset_weights=(6, 3, 1),
        subjects=EN_SUBJECTS,
        opening=("Hi,", "Hello,", "Hello support team,", "Dear Sir or Madam,", "Hey there,"),
        problems=(
            "I can’t sign in since this morning — the page just says “invalid token”.",
            "I was charged twice for the March invoice (€49.00 each time).",
            "The reset link in your email has already expired when I click it.",
            "Could you tell me why my order has not shipped yet?",
            "The export stops at 80% and nothing is downloaded.",
            "My colleague needs access to our account as well.",
            "Please cancel the renewal; we’re moving to another provider…",
            "The mobile app crashes as soon as I open the settings page.",
            "I attached a screenshot of the error message.",
            "We changed our company address last month.",
        ),
        followups=(
            "Thanks, but it still doesn’t work.",
            "Any update on this?",
            "Here is the information you asked for.",
            "That fixed it, thank you!",
            "Sorry, one more question about this.",
            "I tried again today with the same result.",
        ),
        closing=("Thanks,", "Best regards,", "Kind regards,", "Cheers,", "Thank you!"),
        wrote="On {date}, {who} wrote:",
    ),
    "de": Language(
        code="de",
        first=[
            ("Jürgen", "juergen"),
            ("Björn", "bjoern"),
            ("Käthe", "kaethe"),
            ("Günter", "guenter"),
            ("Anna", "anna"),
            ("Lukas", "lukas"),
            ("Jörg", "joerg"),
        ],
        last=[
            ("Müller", "mueller"),
            ("Schäfer", "schaefer"),
            ("Groß", "gross"),
            ("Böhm", "boehm"),
            ("Weiß", "weiss"),
            ("Krüger", "krueger"),
            ("Becker", "becker"),
        ],
        charsets=("iso-8859-1", "windows-1252", "utf-8"),
        charset_weights=(3, 2, 5),
        subjects=(
            *EN_SUBJECTS[:4],
            "Frage zur Rechnung",
            "Passwort zurücksetzen",
            "Rückerstattung",
            "Lieferung verspätet",
            "Kündigung",
        ),
        opening=("Hallo,", "Guten Tag,", "Sehr geehrte Damen und Herren,", "Moin,"),
        problems=(
            "ich kann mich seit gestern nicht mehr anmelden.",
            "die Rechnung für März ist doppelt abgebucht worden.",
            "der Link zum Zurücksetzen des Passworts funktioniert nicht.",
            "meine Bestellung ist immer noch nicht angekommen.",
            "bitte ändern Sie die Rechnungsadresse auf Hauptstraße 5, 80331 München.",
            "im Anhang finden Sie einen Screenshot der Fehlermeldung.",
        ),
        followups=(
            "Danke, aber es geht immer noch nicht.",
            "Gibt es schon Neuigkeiten?",
            "Hier die gewünschten Informationen.",
            "Jetzt klappt es, vielen Dank!",
        ),
        closing=("Viele Grüße,", "Mit freundlichen Grüßen,", "Beste Grüße,"),
        wrote="Am {date} schrieb {who}:",
    ),
    "fr": Language(
        code="fr",
        first=[
            ("François", "francois"),
            ("Hélène", "helene"),
            ("Chloé", "chloe"),
            ("Jérôme", "jerome"),
            ("Zoë", "zoe"),
            ("Noël", "noel"),
            ("Amélie", "amelie"),
        ],
        last=[
            ("Lefèvre", "lefevre"),
            ("Dupré", "dupre"),
            ("Bérubé", "berube"),
            ("Garçon", "garcon"),
            ("Moreau", "moreau"),
            ("Gauthier", "gauthier"),
        ],
        charsets=("iso-8859-1", "windows-1252", "utf-8"),
        charset_weights=(2, 3, 5),
        subjects=(
            *EN_SUBJECTS[:3],
            "Problème de connexion",
            "Question sur ma facture",
            "Réinitialisation du mot de passe",
            "Remboursement",
        ),
        opening=("Bonjour,", "Madame, Monsieur,", "Bonjour à toute l'équipe,"),
        problems=(
            "je n'arrive plus à me connecter depuis ce matin.",
            "ma facture de mars a été débitée deux fois.",
            "le lien de réinitialisation a déjà expiré.",
            "ma commande n'est toujours pas arrivée.",
            "vous trouverez ci-joint une capture d'écran de l'erreur.",
        ),
        followups=(
            "Merci, mais ça ne marche toujours pas.",
            "Avez-vous du nouveau ?",
            "Voici les informations demandées.",
            "C'est réglé, merci beaucoup !",
        ),
        closing=("Cordialement,", "Bien à vous,", "Merci d'avance,"),
        wrote="Le {date}, {who} a écrit :",
    ),
    "es": Language(
        code="es",
        first=[
            ("José", "jose"),
            ("María", "maria"),
            ("Íñigo", "inigo"),
            ("Begoña", "begona"),
            ("Sofía", "sofia"),
            ("Raúl", "raul"),
        ],
        last=[
            ("Muñoz", "munoz"),
            ("Peña", "pena"),
            ("Gómez", "gomez"),
            ("Sáenz", "saenz"),
            ("Ibáñez", "ibanez"),
        ],
        charsets=("iso-8859-1", "windows-1252", "utf-8"),
        charset_weights=(2, 2, 6),
        subjects=(
            *EN_SUBJECTS[:2],
            "Problema con el pedido",
            "Factura incorrecta",
            "No puedo iniciar sesión",
        ),
        opening=("Hola,", "Buenos días,", "Estimados señores:"),
        problems=(
            "no puedo iniciar sesión desde ayer.",
            "me han cobrado dos veces la factura de marzo.",
            "el pedido todavía no ha llegado.",
            "¿podrían cambiar la dirección de facturación?",
        ),
        followups=(
            "Gracias, pero sigue sin funcionar.",
            "¿Hay alguna novedad?",
            "Aquí está la información que pidieron.",
        ),
        closing=("Saludos,", "Un saludo,", "Atentamente,"),
        wrote="El {date}, {who} escribió:",
    ),
    "ru": Language(
        code="ru",
        first=[
            ("Дмитрий", "dmitry"),
            ("Ольга", "olga"),
            ("Сергей", "sergey"),
            ("Наталья", "natalya"),
            ("Алексей", "alexey"),
            ("Юлия", "yulia"),
        ],
        last=[
            ("Иванов", "ivanov"),
            ("Смирнова", "smirnova"),
            ("Кузнецов", "kuznetsov"),
            ("Попова", "popova"),
            ("Соколов", "sokolov"),
            ("Фёдорова", "fedorova"),
        ],
        charsets=("koi8-r", "utf-8"),
        charset_weights=(4, 6),
        subjects=(
            *EN_SUBJECTS[:2],
            "Проблема с оплатой",
            "Не могу войти",
            "Вопрос по счёту",
            "Возврат денег",
        ),
        opening=("Здравствуйте!", "Добрый день!", "Привет,"),
        problems=(
            "Не могу войти в личный кабинет со вчерашнего дня.",
            "С карты дважды списали оплату за март.",
            "Ссылка для сброса пароля не работает.",
            "Заказ до сих пор не доставлен.",
            "Прикладываю снимок экрана с ошибкой.",
        ),
        followups=(
            "Спасибо, но проблема осталась.",
            "Есть новости?",
            "Вот информация, которую вы просили.",
            "Всё заработало, спасибо!",
        ),
        closing=("С уважением,", "Спасибо,", "Всего доброго,"),
        wrote="{date}, {who} пишет:",
    ),
    "ja": Language(
        code="ja",
        first=[
            ("太郎", "taro"),
            ("花子", "hanako"),
            ("健一", "kenichi"),
            ("由美", "yumi"),
            ("翔太", "shota"),
        ],
        last=[
            ("山田", "yamada"),
            ("佐藤", "sato"),
            ("鈴木", "suzuki"),
            ("高橋", "takahashi"),
            ("田中", "tanaka"),
        ],
        charsets=("shift_jis", "utf-8"),
        charset_weights=(5, 5),
        subjects=(
            EN_SUBJECTS[0],
            "パスワードの再設定",
            "請求書について",
            "ログインできません",
            "返金のお願い",
        ),
        opening=("お世話になっております。", "こんにちは。", "サポートご担当者様"),
        problems=(
            "昨日からログインできなくなりました。",
            "三月分の請求が二重に引き落とされています。",
            "パスワード再設定のリンクが無効と表示されます。",
            "注文した商品がまだ届いていません。",
            "エラー画面のスクリーンショットを添付します。",
        ),
        followups=(
            "ご連絡ありがとうございます。まだ解決していません。",
            "その後いかがでしょうか。",
            "ご依頼の情報をお送りします。",
            "解決しました。ありがとうございました。",
        ),
        closing=("よろしくお願いいたします。", "以上、よろしくお願いします。"),
        wrote="{date} {who} wrote:",
        family_first=True,
    ),
}
LANGUAGE_WEIGHTS = {"en": 50, "de": 14, "fr": 10, "es": 8, "ru": 9, "ja": 9}

DOMAINS = (
    "gmail.com",
    "outlook.com",
    "yahoo.co.uk",
    "web.de",
    "gmx.net",
    "orange.fr",
    "yandex.ru",
    "mail.ru",
    "docomo.ne.jp",
    "acme-corp.example",
    "bluewidgets.test",
    "kontor.example.de",
)
MAILERS = {
    "gmail": None,
    "outlook": "Microsoft Outlook 16.0",
    "apple": "Apple Mail (2.3774.500.171.1.1)",
    "thunderbird": "Mozilla Thunderbird 128.3.0",
    "other": "Roundcube Webmail/1.6.9",
}
ZONES = (0, 60, 120, 180, 540, -300, -480, 330)


# -- the model --------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    name: str
    address: str
    language: Language
    charset: str
    mailer: str


@dataclass
class Mail:
    """One generated message; ``raw`` is filled in by :func:`render`."""

    conversation: int
    index: int  # position in its conversation, 0 for the first message
    message_id: str
    sent: datetime
    subject: str
    sender: Customer
    text: str
    parent: Mail | None = None
    raw: bytes = b""
    traits: list[str] = field(default_factory=list)


@dataclass
class Mailbox:
    """The generated mail in delivery order, and what was generated."""

    seed: int
    conversations: int
    mails: list[Mail]
    stats: Counter[str]

    def truth(self) -> dict[str, int]:
        """Ground truth: Message-ID (bare) -> conversation number."""
        return {m.message_id: m.conversation for m in self.mails}

    @property
    def size_bytes(self) -> int:
        return sum(len(m.raw) for m in self.mails)


# -- generation --------------------------------------------------------------


def generate(conversations: int = 1000, seed: int = 1) -> Mailbox:
    """A whole mailbox: conversations, rendered messages, delivery order."""
    rng = random.Random(seed)
    ids: set[str] = set()
    customers: list[Customer] = []
    mails: list[Mail] = []
    for conv in range(1, conversations + 1):
        customer = _pick_customer(rng, customers, conv)
        mails += _conversation(rng, conv, customer, ids)
    stats: Counter[str] = Counter()
    for mail in mails:
        mail.raw = render(mail, rng)
        stats.update(mail.traits)
    ordered = _delivery_order(rng, mails, stats)
    stats["subjects distinct"] = len({m.subject for m in mails if m.index == 0})
    stats["customers distinct"] = len({m.sender.address for m in mails})
    return Mailbox(seed=seed, conversations=conversations, mails=ordered, stats=stats)


def _pick_customer(rng: random.Random, known: list[Customer], conv: int) -> Customer:
    """A new customer, or now and then one who already wrote about something else."""
    if known and rng.random() < 0.05:
        return rng.choice(known)
    code = rng.choices(list(LANGUAGE_WEIGHTS), weights=list(LANGUAGE_WEIGHTS.values()))[0]
    lang = LANGUAGES[code]
    first, first_rom = rng.choice(lang.first)
    last, last_rom = rng.choice(lang.last)
    name = f"{last} {first}" if lang.family_first else f"{first} {last}"
    local = rng.choice(
        [f"{first_rom}.{last_rom}", f"{first_rom[0]}{last_rom}", f"{first_rom}{last_rom}"]
    ).replace("'", "")
    address = f"{local}{conv}@{rng.choice(DOMAINS)}"
    charset = rng.choices(list(lang.charsets), weights=list(lang.charset_weights))[0]
    customer = Customer(name, address, lang, charset, _mailer_for(rng, address))
    known.append(customer)
    return customer


def _mailer_for(rng: random.Random, address: str) -> str:
    """Gmail and Outlook addresses write with their webmail; others with anything."""
    domain = address.rpartition("@")[2]
    if domain == "gmail.com":
        return "gmail"
    if domain == "outlook.com":
        return "outlook"
    return rng.choice(list(MAILERS))


def _conversation(rng: random.Random, conv: int, customer: Customer, ids: set[str]) -> list[Mail]:
    lang = customer.language
    size = rng.choices([1, 2, 3, 4, 5], weights=[30, 25, 20, 15, 10])[0]
    subject = rng.choice(lang.subjects)
    sent = START + timedelta(minutes=rng.randrange(60 * 24 * 30))
    first = Mail(
        conversation=conv,
        index=0,
        message_id=_message_id(rng, customer, sent, ids),
        sent=sent,
        subject=subject,
        sender=customer,
        text=_first_body(rng, customer),
    )
    out = [first]
    for index in range(1, size):
        sent = sent + timedelta(minutes=rng.randrange(20, 60 * 48))
        parent = out[-1]
        out.append(
            Mail(
                conversation=conv,
                index=index,
                message_id=_message_id(rng, customer, sent, ids),
                sent=sent,
                subject=_reply_subject(rng, subject, lang),
                sender=customer,
                text=_followup_body(rng, customer, parent),
                parent=parent,
            )
        )
    return out


def _message_id(rng: random.Random, who: Customer, sent: datetime, ids: set[str]) -> str:
    """A unique bare Message-ID in the style of the customer's mailer (often long)."""
    while True:
        mid = _mailer_id(rng, who.mailer, who.address.rpartition("@")[2], sent)
        if mid not in ids:
            ids.add(mid)
            return mid


def _mailer_id(rng: random.Random, mailer: str, domain: str, sent: datetime) -> str:
    alnum = string.ascii_letters + string.digits
    if mailer == "gmail":
        body = "".join(rng.choices(alnum + "+_-", k=rng.randrange(40, 62)))
        return f"CA{rng.choice(string.ascii_uppercase)}{body}=@mail.gmail.com"
    if mailer == "outlook":
        box = f"AM{rng.randrange(10)}PR{rng.randrange(10, 99):02d}MB{rng.randrange(1000, 9999)}"
        blob = "".join(rng.choices(string.hexdigits.upper()[:16], k=32))
        return f"{box}{blob}@{box}.eurprd{rng.randrange(1, 9):02d}.prod.outlook.com"
    if mailer == "apple":
        parts = [8, 4, 4, 4, 12]
        uid = "-".join("".join(rng.choices("0123456789ABCDEF", k=n)) for n in parts)
        return f"{uid}@{domain}"
    if mailer == "thunderbird":
        parts = [8, 4, 4, 4, 12]
        uid = "-".join("".join(rng.choices("0123456789abcdef", k=n)) for n in parts)
        return f"{uid}@{domain}"
    stamp = sent.strftime("%Y%m%d%H%M%S")
    return f"{stamp}.{''.join(rng.choices(alnum, k=12))}@webmail.{domain}"


def _reply_subject(rng: random.Random, subject: str, lang: Language) -> str:
    """``Re: subject`` as mailers write it; a few customers change the subject."""
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(("Any update?", "Still waiting", "Following up", subject))
    prefixes = ["Re: "] * 8 + ["RE: ", "Re: Re: ", "AW: " if lang.code == "de" else "RE: "]
    if lang.code == "fr":
        prefixes.append("TR: ")
    return rng.choice(prefixes) + subject


def _first_body(rng: random.Random, who: Customer) -> str:
    lang = who.language
    problems = rng.sample(list(lang.problems), k=min(len(lang.problems), rng.randrange(1, 4)))
    lines = [rng.choice(lang.opening), "", " ".join(problems)]
    if rng.random() < 0.5:
        lines += ["", f"Order reference: {rng.randrange(10_000, 99_999)}"]
    lines += ["", rng.choice(lang.closing), who.name]
    return "\n".join(lines) + "\n"


def _followup_body(rng: random.Random, who: Customer, parent: Mail) -> str:
    lang = who.language
    body = [
        rng.choice(lang.opening),
        "",
        rng.choice(lang.followups),
        "",
        rng.choice(lang.closing),
        who.name,
    ]
    if rng.random() < 0.3:
        stamp = format_datetime(parent.sent)
        who_wrote = f"{parent.sender.name} <{parent.sender.address}>"
        body += ["", lang.wrote.format(date=stamp, who=who_wrote)]
        body += [f"> {line}".rstrip() for line in parent.text.rstrip("\n").split("\n")]
    return "\n".join(body) + "\n"


def _delivery_order(rng: random.Random, mails: list[Mail], stats: Counter[str]) -> list[Mail]:
    """Sorted by send time, then about 3% of replies swapped with their parent."""
    ordered = sorted(mails, key=lambda m: (m.sent, m.conversation, m.index))
    where = {m.message_id: i for i, m in enumerate(ordered)}
    for mail in list(ordered):
        if mail.parent is None or rng.random() >= 0.03:
            continue
        a, b = where[mail.message_id], where[mail.parent.message_id]
        if a < b:
            continue  # already ahead of its parent (an earlier swap)
        ordered[a], ordered[b] = ordered[b], ordered[a]
        where[ordered[a].message_id], where[ordered[b].message_id] = a, b
        stats["reply delivered before its parent"] += 1
    return ordered


# -- rendering -----------------------------------------------------------------


def render(mail: Mail, rng: random.Random) -> bytes:
    """The message as bytes on disk: threading headers raw, the rest via ``email``."""
    who = mail.sender
    charset = _fit_charset(mail.text + mail.subject + who.name, who.charset)
    mail.traits.append(f"charset {charset}")
    msg = _body(mail, rng, charset)
    msg["From"] = _address_header(rng, who.name, who.address, charset)
    msg["To"] = rng.choice([SUPPORT, f"Support <{SUPPORT}>", f'"Bench Support" <{SUPPORT}>'])
    msg["Subject"] = encode_words(mail.subject, charset)
    msg["Date"] = format_datetime(
        mail.sent.astimezone(timezone(timedelta(minutes=rng.choice(ZONES))))
    )
    msg["MIME-Version"] = "1.0"
    agent = MAILERS[who.mailer]
    if agent:
        msg["X-Mailer" if who.mailer != "thunderbird" else "User-Agent"] = agent
    crlf = rng.random() < 0.05
    if crlf:
        mail.traits.append("CRLF line ends")
    out = msg.as_bytes(policy=policy.compat32.clone(linesep="\r\n" if crlf else "\n"))
    head = _trace_headers(mail, rng) + _threading_headers(mail, rng)
    eol = "\r\n" if crlf else "\n"
    return eol.join(head).encode("ascii") + eol.encode("ascii") + out


def _fit_charset(text: str, wanted: str) -> str:
    """The customer's charset if it can carry the text, else UTF-8 (as mailers do)."""
    try:
        text.encode(wanted)
    except UnicodeEncodeError:
        return "utf-8"
    return wanted


def _trace_headers(mail: Mail, rng: random.Random) -> list[str]:
    host = mail.sender.address.rpartition("@")[2]
    relay = f"mx{rng.randrange(1, 5)}.bench.test"
    stamp = format_datetime(mail.sent + timedelta(seconds=rng.randrange(1, 90)))
    return [
        f"Return-Path: <{mail.sender.address}>",
        f"Delivered-To: {SUPPORT}",
        f"Received: from mail.{host} (mail.{host} [192.0.2.{rng.randrange(1, 254)}])",
        f"\tby {relay} with ESMTPS id {rng.getrandbits(40):x}",
        f"\tfor <{SUPPORT}>; {stamp}",
    ]


def _threading_headers(mail: Mail, rng: random.Random) -> list[str]:
    """Message-ID and, for a reply, In-Reply-To and/or References in one of several styles."""
    lines = [f"Message-ID: <{mail.message_id}>"]
    parent = mail.parent
    if parent is None:
        return lines
    chain = _ancestors(mail)
    roll = rng.random()
    if roll < 0.12:
        style = "In-Reply-To only"
    elif roll < 0.22:
        style = "References only"
    else:
        style = "In-Reply-To and References"
    mail.traits.append(f"reply: {style}")
    if style != "References only":
        comment = ""
        if rng.random() < 0.05:
            comment = f' ("{parent.sender.name.encode("ascii", "replace").decode()}" on '
            comment += f"{format_datetime(parent.sent)})"
        lines.append(f"In-Reply-To: <{parent.message_id}>{comment}")
    if style != "In-Reply-To only":
        if len(chain) > 3 and rng.random() < 0.3:
            chain = [chain[0], *chain[-2:]]  # clients trim long chains: root and nearest
            mail.traits.append("References trimmed")
        sep = rng.choice(["\n ", " ", "\n\t"])
        lines.append("References: " + sep.join(f"<{mid}>" for mid in chain))
    return _split(lines)


def _split(lines: list[str]) -> list[str]:
    """Header lines may hold folds (``\\n `` continuation); return them line by line."""
    return [piece for line in lines for piece in line.split("\n")]


def _ancestors(mail: Mail) -> list[str]:
    chain: list[str] = []
    node = mail.parent
    while node is not None:
        chain.append(node.message_id)
        node = node.parent
    return chain[::-1]


def _address_header(rng: random.Random, name: str, address: str, charset: str) -> str:
    if name.isascii():
        quoted = f'"{name}"' if any(c in name for c in "'.,") else name
        return f"{quoted} <{address}>"
    return f"{encode_words(name, charset)} <{address}>"


def encode_words(text: str, charset: str) -> str:
    """RFC 2047 encoded words for non-ASCII text (Q for Latin scripts, B otherwise)."""
    if text.isascii():
        return text
    mode = "Q" if charset in ("iso-8859-1", "windows-1252") else "B"
    prefix = f"=?{charset}?{mode}?"
    words: list[str] = []
    chunk = b""
    for ch in text:
        data = ch.encode(charset)
        if chunk and len(prefix) + _encoded_len(chunk + data, mode) + 2 > 75:
            words.append(prefix + _encode_chunk(chunk, mode) + "?=")
            chunk = b""
        chunk += data
    if chunk:
        words.append(prefix + _encode_chunk(chunk, mode) + "?=")
    return " ".join(words)


def _encoded_len(data: bytes, mode: str) -> int:
    return len(_encode_chunk(data, mode))


def _encode_chunk(data: bytes, mode: str) -> str:
    if mode == "B":
        return base64.b64encode(data).decode("ascii")
    safe = set(string.ascii_letters.encode() + string.digits.encode() + b"!*+-/")
    return "".join(chr(b) if b in safe else "_" if b == 0x20 else f"={b:02X}" for b in data)


def _body(mail: Mail, rng: random.Random, charset: str) -> Message:
    """The MIME tree: plain, alternative, HTML-only, each maybe wrapped with attachments."""
    roll = rng.random()
    if roll < 0.15:
        mail.traits.append("html: alternative")
        body: Message = MIMEMultipart("alternative", boundary=_boundary(rng))
        body.attach(text_part(mail.text, "plain", charset, rng))
        body.attach(text_part(_as_html(mail.text), "html", charset, rng))
    elif roll < 0.20:
        mail.traits.append("html: only")
        body = text_part(_as_html(mail.text), "html", charset, rng)
    else:
        body = text_part(mail.text, "plain", charset, rng)
    if rng.random() >= 0.10:
        return body
    mail.traits.append("with attachments")
    mixed = MIMEMultipart("mixed", boundary=_boundary(rng))
    mixed.attach(body)
    for _ in range(rng.choice([1, 1, 1, 2])):
        mixed.attach(attachment(rng, mail))
    return mixed


def _boundary(rng: random.Random) -> str:
    """A MIME boundary from the seeded generator (the email package's own is random)."""
    return f"----=_Part_{rng.randrange(10**6)}_{rng.getrandbits(40):x}"


def text_part(text: str, subtype: str, charset: str, rng: random.Random) -> Message:
    """A text part in ``charset`` with a transfer encoding a mailer would pick."""
    data = text.encode(charset)
    part = Message()
    part["Content-Type"] = f'text/{subtype}; charset="{charset}"'
    if data.isascii():
        cte, payload = "7bit", data.decode("ascii")
    else:
        cte = rng.choices(["quoted-printable", "base64", "8bit"], weights=[5, 3, 2])[0]
        if cte == "quoted-printable":
            payload = quopri.encodestring(data).decode("ascii")
        elif cte == "base64":
            payload = base64.encodebytes(data).decode("ascii")
        else:
            payload = data.decode("ascii", "surrogateescape")
    part["Content-Transfer-Encoding"] = cte
    part.set_payload(payload)
    return part


def _as_html(text: str) -> str:
    """The text as a mail client's HTML: paragraphs, a blockquote for quoted lines."""
    out = ['<html><head><meta http-equiv="Content-Type" content="text/html"></head><body>']
    for block in text.rstrip("\n").split("\n\n"):
        lines = block.split("\n")
        own = [html.escape(line) for line in lines if not line.startswith(">")]
        quoted = [html.escape(line[1:].lstrip()) for line in lines if line.startswith(">")]
        if own:
            out.append("<p>" + "<br>\n".join(own) + "</p>")
        if quoted:
            out.append('<blockquote type="cite">' + "<br>\n".join(quoted) + "</blockquote>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


_ATTACHMENTS = (
    ("application/pdf", "invoice-{n}.pdf", b"%PDF-1.4\n"),
    ("image/png", "screenshot-{n}.png", b"\x89PNG\r\n\x1a\n"),
    ("text/csv", "export-{n}.csv", b""),
    ("application/pdf", "Rechnung März {n}.pdf", b"%PDF-1.5\n"),
)


def attachment(rng: random.Random, mail: Mail) -> Message:
    """A few KB of PDF, PNG or CSV, base64 encoded, with an RFC 2231 name if needed."""
    ctype, pattern, magic = rng.choice(_ATTACHMENTS)
    filename = pattern.format(n=rng.randrange(100, 999))
    if ctype == "text/csv":
        rows = [
            f"{i},{rng.randrange(10**6)},{rng.choice(['ok', 'failed', 'open'])}"
            for i in range(rng.randrange(30, 200))
        ]
        data = ("id,amount,state\n" + "\n".join(rows) + "\n").encode("ascii")
    else:
        data = magic + rng.randbytes(rng.randrange(1024, 8 * 1024))
    maintype, subtype = ctype.split("/")
    part = Message()
    part["Content-Type"] = f"{maintype}/{subtype}"
    if filename.isascii():
        part.set_param("name", filename)
        part.add_header("Content-Disposition", "attachment", filename=filename)
    else:
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(data).decode("ascii"))
    mail.traits.append(f"attachment {subtype}")
    return part


# -- writing -----------------------------------------------------------------


def write_maildir(box: Mailbox, folder: Path) -> Path:
    """Write the mail as a Maildir (file names sort in delivery order); return its path."""
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for seq, mail in enumerate(box.mails):
        name = f"{1_740_000_000 + seq}.M{seq:06d}P4242.bench.test"
        (folder / "new" / name).write_bytes(mail.raw)
    return folder


def write_truth(box: Mailbox, path: Path) -> None:
    """Ground truth as JSON: seed, conversation count and Message-ID -> conversation."""
    data = {"seed": box.seed, "conversations": box.conversations, "messages": box.truth()}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


def main() -> None:
    """Write a mailbox and its ground truth without running anything."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    box = generate(args.conversations, args.seed)
    write_maildir(box, args.out / "Maildir")
    write_truth(box, args.out / "truth.json")
    print(f"{len(box.mails)} messages in {args.out / 'Maildir'}")
    for key, count in sorted(box.stats.items()):
        print(f"  {key}: {count}")


if __name__ == "__main__":
    main()
