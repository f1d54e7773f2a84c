"""A seeded generator of a help-desk archive, as rows for the multi-row writes.

Used by ``bench/search.py``. Everything is drawn from one ``random.Random``
seeded by the caller, so a seed gives the same archive on every machine
and on both databases (ticket numbers come from the database and go into
the subjects, so those follow the numbers the database hands out).

What it makes:

* customers on a few hundred domains (a dozen freemail providers, the rest
  companies, a few of them large), with names in six languages;
* a handful of agents;
* tickets over two years, more of them recently, of a topic (login,
  billing, refund, shipping, printer, ...) that picks the subject, the
  tags and the topic sentences of the bodies; statuses follow the age
  (recent ones open or pending, old ones closed), most are assigned;
* about 3 messages per ticket: the customer's first mail, often the
  desk's acknowledgement, agent replies, the customer's follow-ups (which
  quote the message before them), now and then an internal note;
* bodies of greeting, topic sentences (with product names, order and
  invoice numbers, amounts, error codes) and filler drawn from a
  vocabulary of a few thousand words with a Zipf-like distribution
  (English words and made-up tail words, German, French, Spanish, Russian
  and Japanese words for customers writing in those languages);
* attachments on about 10% of the messages (screenshots, invoices, logs).

Some words have fixed, known rarity so the benchmark's queries have
something definite to find: ``kerberos`` is in roughly 1 of 2,000
messages, ``chargeback`` in about 1 of 200.
"""

# The word tables are deliberately in other scripts (Cyrillic, Japanese), and
# written as text to split: a list literal of a thousand words is unreadable.
# ruff: noqa: RUF001, SIM905

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

END = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
START = END - timedelta(days=730)
SUPPORT = "support@helpdesk.example"
DESK_DOMAIN = "helpdesk.example"
MESSAGES_PER_TICKET = (1, 2, 3, 4, 5, 6, 7, 9)
MESSAGES_WEIGHTS = (24, 22, 20, 14, 9, 5, 3, 3)  # mean about 3.0
MERGED_SHARE = 0.005  # tickets merged into another: empty shells
ATTACHMENT_SHARE = 0.10


# -- words ---------------------------------------------------------------------

# Ordered roughly by frequency: rank decides the Zipf weight. Topic words the
# queries look for (invoice, refund, printer, password, ...) are NOT in here:
# they come from the topic sentences only, so their frequency is the topic's.
EN_FILLER = """
i the to and a you it is my of for in that this we have on be not but with can your
are was do me as at if so an there or will our please would from what get they just
been when all has any up out one could now about no also like time again still know
need see after some how back here thanks thank help issue problem support team hello
hi regards message error page work working try tried use using used set setting
settings change changed new today yesterday week morning day days month last next
first number name address information details link click clicked button option open
opened system service website site application user users data file files phone call
email emails account sent send sending received receive because since before while
should did does done make made sure soon asap possible able unable seems seem looks
look shows show showing screen browser chrome firefox safari windows mac laptop
computer mobile device version latest update updated install installed reinstall
restart restarted cache cookies again anymore every always never sometimes usually
already yet only really very much many more most less same different other another
which who where why whether both each few several some such than then them these
those through during without within into onto over under between around right left
wrong correct problem problems question questions answer reply replied response
colleague manager boss company office team department customer customers client
clients partner contract price cost costs pay paid free trial plan monthly yearly
annual date dates deadline urgent important quickly immediately later earlier
currently recently unfortunately apparently actually basically maybe perhaps
probably definitely certainly hopefully kindly appreciate appreciated grateful sorry
apologies inconvenience understand understood explain explained describe described
steps step follow followed instructions guide documentation manual faq article
tutorial video picture image photo attached attaching enclosed find found lost
missing gone disappeared appear appeared appears happen happened happens happening
occurs occurred started start starting stopped stop stops running run runs load
loading loaded slow slowly fast faster timeout freezes froze stuck blank white black
red green message messages notification notifications alert alerts warning warnings
code codes number numbers id reference case status progress escalate escalated
priority normal high low weekend monday tuesday wednesday thursday friday saturday
sunday january february march april may june july august september october november
december hours hour minutes minute seconds week weeks months year years ago early
late good great fine okay ok nice bad worse worst better best happy unhappy
disappointed frustrated confused surprised sure unsure certain clear unclear simple
easy difficult hard impossible small large big huge little long short full empty
whole part partly half twice three four five ten hundred thousand several dozen
name names list lists table tables column columns row rows field fields value values
form forms box boxes menu menus tab tabs window windows icon icons text texts word
words line lines letter letters sign signed signing logout logged profile profiles
details store shop online offline network connection internet wifi server servers
cloud backup backups sync synced storage space disk memory speed performance quality
feature features request requests suggestion suggestions feedback idea ideas review
reviews rating ratings experience service services product products item items
package packages box label labels size sizes colour color model models serial
warranty guarantee repair repaired replacement replace replaced broken damaged
defective faulty working fixed fix fixes solved solve solution workaround
""".split()
EN_FILLER = list(dict.fromkeys(EN_FILLER))  # a word once, at its first rank

# Made-up words fill the long tail of the vocabulary (seeded, so stable).
_ONSETS = (
    "b bl br c ch cl cr d dr f fl fr g gl gr h j k l m n p pl pr qu r s sc sh sk sl sm sn sp "
    "st str t th tr v w wh z"
).split()
_VOWELS = "a e i o u ai ea ee ie oa oo ou y".split()
_CODAS = ["", "", "", "n", "r", "l", "s", "t", "nd", "ng", "nt", "rk", "st", "ck", "sh", "m", "x"]

DE_FILLER = """
ich die der und das ist nicht zu es sie mit den ein wir ihr bitte danke für auf
eine dass auch noch seit wie schon aber bei kann können haben hat habe war sind
mein meine meinen unser unsere heute gestern morgen woche monat jahr leider
immer wieder jetzt sofort schnell langsam problem fehler fehlermeldung frage
antwort hilfe konto kunde kunden adresse bestellung lieferung paket rechnung
betrag zahlung überweisung gutschrift rückerstattung kündigung vertrag tarif
anmeldung passwort zugang zugriff einstellungen seite webseite anwendung app
handy gerät drucker bildschirm datei dateien anhang anbei freundlichen grüßen
grüße vielen dank dringend möglich unmöglich funktioniert funktionieren klappt
geht ging geändert ändern neu alt richtig falsch doppelt zweimal abgebucht
erhalten bekommen geschickt gesendet angekommen verspätet beschädigt kaputt
ersatz umtausch garantie reparatur mitarbeiter kollege firma büro straße
größe gebühr bestätigung übersicht möchte würde könnten sollte müssen darf
""".split()

FR_FILLER = """
je le la les de des un une et est pas que qui pour dans sur avec mon ma mes notre
nos votre vos vous nous il elle ce cette ces mais ou donc car depuis toujours
encore déjà aujourd hier demain semaine mois année merci bonjour cordialement
problème erreur message question réponse aide compte client adresse commande
livraison colis facture montant paiement remboursement résiliation contrat
abonnement connexion mot passe accès paramètres page site application téléphone
appareil imprimante écran fichier pièce jointe ci joint urgent possible
impossible fonctionne marche plus changé changer nouveau nouvelle ancien
correct erroné deux fois débité reçu envoyé arrivé retard endommagé cassé
remplacement échange garantie réparation collègue société bureau rue numéro
très bien mal vite lentement être avoir fait faire pouvez pourriez voudrais
souhaite dois besoin svp également cependant malheureusement évidemment là où
""".split()

ES_FILLER = """
yo el la los las de del un una y es no que en por para con mi mis nuestro
nuestra su sus usted ustedes pero o porque desde todavía ya hoy ayer mañana
semana mes año gracias hola saludos atentamente problema error mensaje pregunta
respuesta ayuda cuenta cliente dirección pedido envío paquete factura importe
pago reembolso cancelación contrato suscripción sesión contraseña acceso
configuración página sitio aplicación teléfono dispositivo impresora pantalla
archivo adjunto urgente posible imposible funciona cambiado cambiar nuevo
nueva antiguo correcto incorrecto dos veces cobrado recibido enviado llegado
retraso dañado roto reemplazo cambio garantía reparación compañero empresa
oficina calle número muy bien mal rápido lento está están ser hacer pueden
podrían quisiera necesito también además sin embargo lamentablemente aquí allí
""".split()

RU_FILLER = """
я не и в на что с это мой моя мои наш ваш вы мы он она по для но или уже ещё
сегодня вчера завтра неделя месяц год спасибо здравствуйте уважением проблема
ошибка сообщение вопрос ответ помощь аккаунт клиент адрес заказ доставка посылка
счёт сумма оплата возврат расторжение договор подписка вход пароль доступ
настройки страница сайт приложение телефон устройство принтер экран файл
вложение срочно возможно невозможно работает изменили изменить новый старый
правильно неправильно дважды списали получил отправил пришёл задержка повреждён
сломан замена обмен гарантия ремонт коллега компания офис улица номер очень
хорошо плохо быстро медленно можно нужно пожалуйста также однако к сожалению
""".split()

JA_FILLER = """
お世話になっております よろしくお願いいたします ありがとうございます 申し訳ありません
ログイン パスワード アカウント 注文 配送 請求書 支払い 返金 解約 契約 設定 画面
エラー メッセージ 質問 回答 サポート 担当者 確認 対応 至急 本日 昨日 明日 今週 先月
アプリ 更新 プリンター トナー 添付 ファイル 会社 住所 番号 二重 届いていません 困っています
""".split()


@dataclass(frozen=True)
class Language:
    code: str
    weight: int
    first: Sequence[tuple[str, str]]  # (as written, romanised for the address)
    last: Sequence[tuple[str, str]]
    filler: Sequence[str]
    greeting: Sequence[str]
    closing: Sequence[str]
    followup: Sequence[str]
    wrote: str
    reply_prefix: str
    free_mail: Sequence[str]
    family_first: bool = False


def _names(text: str) -> list[tuple[str, str]]:
    return [(n, n.lower().replace("'", "")) for n in text.split()]


def _pairs(text: str) -> list[tuple[str, str]]:
    """'Jürgen:juergen Björn:bjoern' -> [(Jürgen, juergen), ...]."""
    return [(a, b) for a, b in (p.split(":") for p in text.split())]


LANGUAGES: tuple[Language, ...] = (
    Language(
        "en",
        58,
        _names(
            "Alice Bob Carol David Emma Frank Grace Henry Isla Jack Karen Liam Mia Noah Olivia "
            "Peter Quinn Ruth Sam Tom Uma Victor Wendy Xavier Yasmin Zach Aaron Bella Chris "
            "Diana Ethan Fiona George Hannah Ian Julia Kevin Laura Mark Nina Oscar Paula Ryan "
            "Sophie Tyler Vanessa William Amy Ben Chloe Dan Ella Finn Gemma Harry Ivy Jake Kate"
        ),
        _names(
            "Smith Jones Brown Taylor Wilson Evans Walker Wright Hughes Clarke O'Neill Baker "
            "Price Turner Hall Wood Green Lewis Harris Martin Thompson White Jackson Robinson "
            "Wright Edwards Hill Moore Clark King Scott Young Allen Morris Ward Cooper Bell "
            "Murphy Bailey Cox Richardson Howard Foster Gray Russell Fisher Palmer Mills Knight"
        ),
        EN_FILLER,
        ("Hi,", "Hello,", "Hello support team,", "Dear Sir or Madam,", "Hey there,", "Hi team,"),
        ("Thanks,", "Best regards,", "Kind regards,", "Cheers,", "Thank you!", "Regards,"),
        (
            "Thanks, but it still doesn't work.",
            "Any update on this?",
            "Here is the information you asked for.",
            "That fixed it, thank you!",
            "Sorry, one more question about this.",
            "I tried again today with the same result.",
        ),
        "On {date}, {who} wrote:",
        "Re:",
        ("gmail.com", "outlook.com", "yahoo.com", "hotmail.co.uk", "icloud.com", "aol.com"),
    ),
    Language(
        "de",
        13,
        _pairs(
            "Jürgen:juergen Björn:bjoern Käthe:kaethe Günter:guenter Anna:anna Lukas:lukas "
            "Jörg:joerg Sören:soeren Maximilian:maximilian Lea:lea Felix:felix Jonas:jonas "
            "Hannah:hannah Uwe:uwe Sabine:sabine Dörte:doerte Jürgen:juergen Katrin:katrin"
        ),
        _pairs(
            "Müller:mueller Schäfer:schaefer Groß:gross Böhm:boehm Weiß:weiss Krüger:krueger "
            "Becker:becker Schmidt:schmidt Wagner:wagner Hoffmann:hoffmann Schröder:schroeder "
            "Köhler:koehler Jäger:jaeger Lange:lange Fuchs:fuchs Vogel:vogel Möller:moeller"
        ),
        DE_FILLER,
        ("Hallo,", "Guten Tag,", "Sehr geehrte Damen und Herren,", "Moin,"),
        ("Viele Grüße,", "Mit freundlichen Grüßen,", "Beste Grüße,"),
        (
            "Danke, aber es geht immer noch nicht.",
            "Gibt es schon Neuigkeiten?",
            "Hier die gewünschten Informationen.",
            "Jetzt klappt es, vielen Dank!",
        ),
        "Am {date} schrieb {who}:",
        "AW:",
        ("web.de", "gmx.de", "t-online.de", "gmail.com", "freenet.de"),
    ),
    Language(
        "fr",
        10,
        _pairs(
            "François:francois Hélène:helene Chloé:chloe Jérôme:jerome Zoë:zoe Noël:noel "
            "Amélie:amelie Léa:lea Étienne:etienne Cécile:cecile Julien:julien Manon:manon"
        ),
        _pairs(
            "Lefèvre:lefevre Dupré:dupre Bérubé:berube Garçon:garcon Moreau:moreau "
            "Gauthier:gauthier Lefebvre:lefebvre Mercier:mercier Girard:girard Rousseau:rousseau"
        ),
        FR_FILLER,
        ("Bonjour,", "Madame, Monsieur,", "Bonjour à toute l'équipe,"),
        ("Cordialement,", "Bien à vous,", "Merci d'avance,"),
        (
            "Merci, mais ça ne marche toujours pas.",
            "Avez-vous du nouveau ?",
            "Voici les informations demandées.",
            "C'est réglé, merci beaucoup !",
        ),
        "Le {date}, {who} a écrit :",
        "RE :",
        ("orange.fr", "free.fr", "laposte.net", "gmail.com", "sfr.fr"),
    ),
    Language(
        "es",
        8,
        _pairs(
            "José:jose María:maria Íñigo:inigo Begoña:begona Sofía:sofia Raúl:raul "
            "Lucía:lucia Álvaro:alvaro Inés:ines Andrés:andres Martín:martin Paula:paula"
        ),
        _pairs(
            "Muñoz:munoz Peña:pena Gómez:gomez Sáenz:saenz Ibáñez:ibanez García:garcia "
            "Martínez:martinez López:lopez Fernández:fernandez Rodríguez:rodriguez"
        ),
        ES_FILLER,
        ("Hola,", "Buenos días,", "Estimados señores:"),
        ("Saludos,", "Un saludo,", "Atentamente,"),
        (
            "Gracias, pero sigue sin funcionar.",
            "¿Hay alguna novedad?",
            "Aquí está la información que pidieron.",
        ),
        "El {date}, {who} escribió:",
        "RE:",
        ("gmail.com", "hotmail.es", "yahoo.es", "telefonica.net"),
    ),
    Language(
        "ru",
        6,
        _pairs(
            "Дмитрий:dmitry Ольга:olga Сергей:sergey Наталья:natalya Алексей:alexey "
            "Юлия:yulia Иван:ivan Мария:maria Андрей:andrey Елена:elena"
        ),
        _pairs(
            "Иванов:ivanov Смирнова:smirnova Кузнецов:kuznetsov Попова:popova Соколов:sokolov "
            "Фёдорова:fedorova Волков:volkov Морозова:morozova Лебедев:lebedev"
        ),
        RU_FILLER,
        ("Здравствуйте!", "Добрый день!", "Привет,"),
        ("С уважением,", "Спасибо,", "Всего доброго,"),
        ("Спасибо, но проблема осталась.", "Есть новости?", "Вот информация, которую вы просили."),
        "{date}, {who} пишет:",
        "Re:",
        ("yandex.ru", "mail.ru", "rambler.ru", "gmail.com"),
    ),
    Language(
        "ja",
        5,
        _pairs("太郎:taro 花子:hanako 健一:kenichi 由美:yumi 翔太:shota 美咲:misaki 大輔:daisuke"),
        _pairs(
            "山田:yamada 佐藤:sato 鈴木:suzuki 高橋:takahashi 田中:tanaka 伊藤:ito 渡辺:watanabe"
        ),
        JA_FILLER,
        ("お世話になっております。", "こんにちは。", "サポートご担当者様"),
        ("よろしくお願いいたします。", "以上、よろしくお願いします。"),
        ("ご連絡ありがとうございます。まだ解決していません。", "その後いかがでしょうか。"),
        "{date} {who} wrote:",
        "Re:",
        ("docomo.ne.jp", "yahoo.co.jp", "gmail.com", "ezweb.ne.jp"),
        family_first=True,
    ),
)

PRODUCTS = (
    "LaserJet Pro M404",
    "PixelPrint 3000",
    "OfficeJet 8015",
    "SmartLabel 620",
    "Acme Router X2",
    "CloudSync",
    "WidgetHub Pro",
    "Nimbus Tablet 10",
    "DataBridge API",
    "Echo Mobile",
    "Quantum Dock",
    "PhotoVault",
)
ERRORS = ("E1042", "HTTP 502", "0x80070005", "ERR_CONNECTION_RESET", "E-4096", "code 17")
AMOUNTS = ("€49.00", "$129.99", "£19.99", "€9.90", "$499.00", "€1,250.00", "¥5,800")


@dataclass(frozen=True)
class Topic:
    name: str
    weight: int
    tags: tuple[str, ...]
    subjects: dict[str, tuple[str, ...]]  # language -> subject templates ("en" the fallback)
    sentences: tuple[str, ...]  # customer's topic sentences (English)
    answers: tuple[str, ...]  # agent's
    local: dict[str, tuple[str, ...]] = field(default_factory=dict)  # language -> sentences
    files: tuple[str, ...] = ()


TOPICS: tuple[Topic, ...] = (
    Topic(
        "login",
        16,
        ("login", "account"),
        {
            "en": (
                "Cannot log in",
                "Password reset not working",
                "Account locked",
                "Two-factor authentication problem",
                "Login error {error}",
            ),
            "de": ("Passwort zurücksetzen", "Anmeldung nicht möglich", "Konto gesperrt"),
            "fr": ("Problème de connexion", "Réinitialisation du mot de passe"),
            "es": ("No puedo iniciar sesión", "Restablecer contraseña"),
            "ru": ("Не могу войти", "Сброс пароля"),
            "ja": ("ログインできません", "パスワードの再設定"),
        },
        (
            "I can't log in since this morning, the login page says invalid token.",
            "The password reset link in your email has already expired when I click it.",
            "My account is locked after three wrong password attempts.",
            "The authenticator code for two-factor login is always rejected.",
            "After the password change I get error {error} on the login page.",
        ),
        (
            "I have sent you a new password reset link, it is valid for 24 hours.",
            "Your account is unlocked now, please try to log in again.",
            "Please clear the browser cache and try the login once more.",
        ),
        {
            "de": ("ich kann mich seit gestern nicht mehr anmelden, das passwort wird abgelehnt.",),
            "fr": ("je n'arrive plus à me connecter, le mot de passe est refusé.",),
            "es": ("no puedo iniciar sesión, la contraseña no funciona.",),
            "ru": ("Не могу войти в личный кабинет, пароль не подходит.",),
            "ja": ("昨日からログインできなくなりました。パスワードが違うと表示されます。",),
        },
        ("screenshot.png", "login-error.png", "Screenshot {date} at 10.12.33.png"),
    ),
    Topic(
        "billing",
        15,
        ("billing", "invoice"),
        {
            "en": (
                "Invoice {invoice} is wrong",
                "Question about my invoice",
                "Charged twice",
                "VAT number missing on invoice",
                "Wrong amount charged",
            ),
            "de": ("Frage zur Rechnung {invoice}", "Rechnung falsch", "Doppelt abgebucht"),
            "fr": ("Question sur ma facture", "Facture {invoice} erronée"),
            "es": ("Factura incorrecta", "Cobro duplicado"),
            "ru": ("Вопрос по счёту", "Проблема с оплатой"),
            "ja": ("請求書について", "二重請求"),
        },
        (
            "I was charged twice for invoice {invoice} ({amount} each time).",
            "The invoice {invoice} shows the wrong company address.",
            "Could you send me a corrected invoice with our VAT number?",
            "The amount on the invoice does not match our plan, we were charged {amount}.",
            "Our accounting department needs the invoice as PDF.",
        ),
        (
            "I have corrected the invoice and attached the new version.",
            "The duplicate payment of {amount} will be credited back within five days.",
            "You can download every invoice from the billing page of your account.",
        ),
        {
            "de": ("die rechnung {invoice} wurde doppelt abgebucht, bitte um gutschrift.",),
            "fr": ("ma facture {invoice} a été débitée deux fois.",),
            "es": ("me han cobrado dos veces la factura {invoice}.",),
            "ru": ("С карты дважды списали оплату по счёту {invoice}.",),
            "ja": ("請求書 {invoice} の支払いが二重に引き落とされています。",),
        },
        ("invoice-{invoice}.pdf", "Rechnung_{invoice}.pdf", "receipt.pdf", "bank statement.pdf"),
    ),
    Topic(
        "refund",
        8,
        ("billing", "refund"),
        {
            "en": ("Refund request for order {order}", "Refund not received", "Money back?"),
            "de": ("Rückerstattung für Bestellung {order}", "Rückerstattung"),
            "fr": ("Remboursement", "Demande de remboursement {order}"),
            "es": ("Reembolso del pedido {order}",),
            "ru": ("Возврат денег",),
            "ja": ("返金のお願い",),
        },
        (
            "I would like a refund for order {order}, the item arrived damaged.",
            "I returned order {order} two weeks ago but the refund has not arrived.",
            "Please refund the {amount} for the renewal, I cancelled before the date.",
            "If I do not get a refund this week I will ask my bank for a chargeback.",
        ),
        (
            "The refund of {amount} has been issued and should arrive in 3-5 business days.",
            "I have started the refund for order {order}.",
            "We have received the chargeback notice from your bank and refunded the amount.",
        ),
        {
            "de": ("bitte um rückerstattung für bestellung {order}, die ware ist beschädigt.",),
            "fr": ("je souhaite un remboursement pour la commande {order}.",),
            "es": ("quisiera el reembolso del pedido {order}.",),
            "ru": ("Прошу оформить возврат по заказу {order}.",),
            "ja": ("注文 {order} の返金をお願いします。",),
        },
        ("return-label.pdf", "photo.jpg", "IMG_{num}.jpg"),
    ),
    Topic(
        "shipping",
        12,
        ("shipping",),
        {
            "en": ("Order {order} not delivered", "Where is my order?", "Tracking number wrong"),
            "de": ("Lieferung verspätet", "Bestellung {order} nicht angekommen"),
            "fr": ("Commande {order} non livrée", "Retard de livraison"),
            "es": ("Problema con el pedido {order}",),
            "ru": ("Заказ {order} не доставлен",),
            "ja": ("注文した商品が届きません",),
        },
        (
            "My order {order} has not been delivered yet, the tracking page shows no update.",
            "The courier says the parcel for order {order} was delivered but I have nothing.",
            "Could you change the delivery address of order {order}?",
            "The package arrived damaged, the box was open.",
        ),
        (
            "I have contacted the courier about order {order}, they will deliver tomorrow.",
            "A replacement for order {order} has been shipped today.",
            "Here is the new tracking number for your parcel.",
        ),
        {
            "de": ("meine bestellung {order} ist immer noch nicht angekommen.",),
            "fr": ("ma commande {order} n'est toujours pas arrivée.",),
            "es": ("el pedido {order} todavía no ha llegado.",),
            "ru": ("Заказ {order} до сих пор не доставлен.",),
            "ja": ("注文 {order} の商品がまだ届いていません。",),
        },
        ("photo.jpg", "IMG_{num}.jpg", "damaged-box.jpeg"),
    ),
    Topic(
        "printer",
        7,
        ("hardware", "printer"),
        {
            "en": (
                "Printer not printing",
                "Paper jam on {product}",
                "Toner cartridge not recognised",
                "{product} printer offline",
            ),
            "de": ("Drucker druckt nicht", "Papierstau"),
            "fr": ("Imprimante en panne",),
            "es": ("La impresora no imprime",),
            "ru": ("Принтер не печатает",),
            "ja": ("プリンターが印刷できません",),
        },
        (
            "The printer shows a paper jam but there is no paper inside.",
            "Our {product} printer stopped printing after the firmware update.",
            "The new toner cartridge is not recognised by the printer.",
            "Every page from the printer has grey stripes, even with a new toner.",
            "The printer is offline for all users since the network change.",
            "We get a paper jam on tray 2 every few pages.",
        ),
        (
            "Please open the rear door of the printer and remove the paper jam there.",
            "A firmware update for the {product} fixes the toner detection.",
            "I have sent you a replacement toner cartridge.",
        ),
        {
            "de": ("der drucker meldet papierstau, obwohl kein papier drin ist.",),
            "fr": ("l'imprimante indique un bourrage papier.",),
            "ja": ("プリンターのトナーが認識されません。",),
        },
        ("IMG_{num}.jpg", "printer-error.jpg", "printer config.txt"),
    ),
    Topic(
        "export",
        6,
        ("bug", "export"),
        {
            "en": ("Export to CSV fails", "Report missing data", "API rate limit {error}"),
            "de": ("Export funktioniert nicht",),
            "fr": ("L'export CSV échoue",),
        },
        (
            "The export to CSV stops at 80% and nothing is downloaded.",
            "The monthly report is missing all data from last week.",
            "Our integration with the {product} gets {error} from the API since yesterday.",
            "The CSV export has broken umlauts in the customer names.",
        ),
        (
            "The export problem is fixed in the latest version.",
            "I have escalated the API issue to our engineers.",
            "As a workaround you can export the report in smaller date ranges.",
        ),
        {},
        ("export.csv", "error_log.txt", "report-{date}.xlsx", "har-file.har"),
    ),
    Topic(
        "app",
        9,
        ("bug", "mobile"),
        {
            "en": ("App crashes on startup", "Mobile app freezes", "Problem with the app"),
            "de": ("App stürzt ab",),
            "fr": ("L'application plante",),
            "es": ("La aplicación se cierra",),
            "ru": ("Приложение вылетает",),
            "ja": ("アプリが起動しません",),
        },
        (
            "The {product} app crashes as soon as I open the settings page.",
            "Since the update to version {version} the app freezes on the start screen.",
            "Notifications from the app stopped working on my phone.",
            "The app shows error {error} when I try to sync.",
        ),
        (
            "Version {version} of the app fixes this crash, please update.",
            "Please reinstall the app and sign in again.",
            "Our developers are working on a fix for the sync error.",
        ),
        {"ja": ("アプリが起動直後に落ちてしまいます。",)},
        (
            "Screenshot_{date}-10-12-33.png",
            "screenshot.png",
            "スクリーンショット.png",
            "Bildschirmfoto {date} um 10.12.33.png",
        ),
    ),
    Topic(
        "subscription",
        8,
        ("billing", "subscription"),
        {
            "en": ("Upgrade to the team plan", "Cancel my subscription", "Change of plan"),
            "de": ("Kündigung", "Tarifwechsel"),
            "fr": ("Résiliation de l'abonnement",),
            "es": ("Cancelar suscripción",),
            "ru": ("Отмена подписки",),
            "ja": ("解約について",),
        },
        (
            "Please cancel the renewal of our subscription, we are moving to another provider.",
            "We would like to upgrade to the team plan with ten seats.",
            "How do I change the subscription from monthly to yearly?",
        ),
        (
            "Your subscription has been cancelled and will end on the renewal date.",
            "I have upgraded your account to the team plan.",
        ),
        {
            "de": ("bitte kündigen sie unser abonnement zum nächsten termin.",),
            "fr": ("merci de résilier mon abonnement.",),
        },
        ("contract-signed.pdf",),
    ),
    Topic(
        "account",
        9,
        ("account",),
        {
            "en": ("Change email address", "Add a user to our account", "Delete my account"),
            "de": ("Adresse ändern", "Konto löschen"),
            "fr": ("Changer mon adresse",),
            "es": ("Cambiar la dirección",),
            "ru": ("Изменить адрес",),
        },
        (
            "Please change the email address of our account to the new domain.",
            "My colleague needs access to our account as well.",
            "Please delete my account and all my data (GDPR).",
        ),
        (
            "I have changed the email address, please confirm with the link we sent.",
            "You can add users under settings, team, invite.",
        ),
        {
            "de": ("bitte ändern sie die rechnungsadresse auf hauptstraße 5, 80331 münchen.",),
            "es": ("¿podrían cambiar la dirección de facturación?",),
        },
        ("id-card.jpg", "letter of authorisation.pdf"),
    ),
    Topic(
        "general",
        10,
        ("question",),
        {
            "en": ("Question", "Help", "Feedback on the new version", "Quick question"),
            "de": ("Frage",),
            "fr": ("Question",),
            "es": ("Pregunta",),
            "ru": ("Вопрос",),
            "ja": ("質問",),
        },
        (
            "I have a quick question about the {product}.",
            "Do you offer a discount for non-profit organisations?",
            "The new version looks great but the menu is confusing.",
        ),
        ("Thank you for the feedback, I have passed it on to our product team.",),
        {},
        ("image001.png", "document.docx"),
    ),
)

EXTRA_TAGS = (
    ("vip", 0.02),
    ("urgent", 0.03),
    ("feedback", 0.02),
    ("gdpr", 0.01),
    ("escalated", 0.02),
)
AGENTS = (
    ("Priya Natarajan", "priya"),
    ("Tom Becker", "tom"),
    ("Ana Souza", "ana"),
    ("Kenji Watanabe", "kenji"),
    ("Lena Fischer", "lena"),
    ("Marc Dubois", "marc"),
    ("Sara Lindqvist", "sara"),
    ("Omar Haddad", "omar"),
)
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "har": "application/json",
}


def _zipf(count: int, exponent: float = 1.0, offset: float = 1.5) -> list[float]:
    """Cumulative Zipf-Mandelbrot weights for ranks 1..count."""
    return list(itertools.accumulate(1.0 / (r + offset) ** exponent for r in range(count)))


def _made_up_words(rnd: random.Random, count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        word = "".join(
            rnd.choice(_ONSETS) + rnd.choice(_VOWELS) + rnd.choice(_CODAS)
            for _ in range(rnd.choice((1, 2, 2, 2, 3)))
        )
        if 2 < len(word) <= 10 and word not in taken:
            taken.add(word)
            out.append(word)
    return out


# -- the archive -------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    first: str
    language: Language


@dataclass
class TicketRows:
    """One ticket's rows; ids are filled in by the loader as the database gives them."""

    ticket: dict[str, Any]
    tags: list[str]
    messages: list[dict[str, Any]]
    attachments: list[list[dict[str, Any]]]  # per message
    merged: bool = False


@dataclass
class Facts:
    """Things the query set needs to name: a busy customer, a big company, a ticket..."""

    busy_customer: str = ""
    big_domain: str = ""
    order_number: str = ""
    ticket_number: int = 0
    tickets: int = 0
    messages: int = 0
    attachments: int = 0
    with_attachments: int = 0  # messages with at least one
    customers: int = 0
    domains: int = 0
    vocabulary: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


class Archive:
    """The archive of a seed: people first, then tickets in batches (see the module doc)."""

    def __init__(self, messages: int, seed: int, customers: int | None = None) -> None:
        self.rnd = random.Random(seed)
        self.seed = seed
        self.total_messages = messages
        rnd = self.rnd
        taken = set(EN_FILLER) | {w for t in TOPICS for s in t.sentences for w in s.lower().split()}
        tail = _made_up_words(rnd, 2600, taken)
        self.vocab = {lang.code: list(lang.filler) for lang in LANGUAGES}
        self.vocab["en"] = list(EN_FILLER) + tail
        # Other languages mix in some English and some of the tail as well.
        for code, words in self.vocab.items():
            if code != "en":
                words += list(EN_FILLER[:60]) + tail[:: 20 if code != "ja" else 40]
        self.cum = {code: _zipf(len(words)) for code, words in self.vocab.items()}
        self.vocabulary = len({w for words in self.vocab.values() for w in words})
        self.languages = list(LANGUAGES)
        self.lang_cum = list(itertools.accumulate(lang.weight for lang in LANGUAGES))
        self.topic_cum = list(itertools.accumulate(t.weight for t in TOPICS))
        self.companies = self._companies(300)
        wanted = customers or min(100_000, max(20_000, messages // 10))
        self.people = self._people(wanted)
        self.people_cum = _zipf(len(self.people), 0.9, 20.0)
        self.agents = [(name, f"{local}@{DESK_DOMAIN}") for name, local in AGENTS]
        self.facts = Facts(customers=len(self.people), vocabulary=self.vocabulary)
        self.facts.busy_customer = self.people[0].email
        self.facts.domains = len({p.email.rpartition("@")[2] for p in self.people})
        self.facts.big_domain = self.companies[0]
        self._plan = self._tickets_plan(messages)
        self._next = 0
        self._order_seq = 0

    # -- people --------------------------------------------------------------------
    def _companies(self, count: int) -> list[str]:
        rnd = self.rnd
        parts = (
            "acme blue widget nord sun star data cloud net soft tech metal green bright "
            "rapid smart alpha omega terra aqua pixel quantum fox oak river stone iron "
            "silver gold north south west east peak summit vertex nova orbit logic"
        ).split()
        suffixes = ("", "", "-corp", "-group", "works", "labs", "-gmbh", "-sa", "ware", "-ltd")
        tlds = ("com", "com", "com", "de", "fr", "co.uk", "io", "net", "es", "ru", "co.jp", "org")
        names: list[str] = []
        seen: set[str] = set()
        while len(names) < count:
            name = (
                f"{rnd.choice(parts)}{rnd.choice(parts)}{rnd.choice(suffixes)}.{rnd.choice(tlds)}"
            )
            if name not in seen:
                seen.add(name)
                names.append(name)
        return names

    def _people(self, count: int) -> list[Person]:
        rnd = self.rnd
        company_cum = _zipf(len(self.companies), 1.1, 2.0)
        people: list[Person] = []
        seen: set[str] = set()
        while len(people) < count:
            lang = rnd.choices(self.languages, cum_weights=self.lang_cum)[0]
            first, first_local = rnd.choice(lang.first)
            last, last_local = rnd.choice(lang.last)
            name = f"{last} {first}" if lang.family_first else f"{first} {last}"
            if rnd.random() < 0.55:
                domain = rnd.choice(lang.free_mail)
                local = rnd.choice(
                    (
                        f"{first_local}.{last_local}",
                        f"{first_local}{last_local}{rnd.randint(1, 99)}",
                        f"{first_local[0]}{last_local}{rnd.randint(1950, 2005)}",
                    )
                )
            else:
                domain = rnd.choices(self.companies, cum_weights=company_cum)[0]
                local = rnd.choice(
                    (f"{first_local}.{last_local}", f"{first_local[0]}.{last_local}")
                )
            email = f"{local}@{domain}"
            n = 2
            while email in seen:
                email = f"{local}{n}@{domain}"
                n += 1
            seen.add(email)
            if rnd.random() < 0.08:
                name = ""  # mail with a bare address
            people.append(Person(email, name, first, lang))
        return people

    # -- the tickets' plan: creation times (more recent ones) and message counts ---------
    def _tickets_plan(self, messages: int) -> list[tuple[datetime, int]]:
        rnd = self.rnd
        counts: list[int] = []
        left = messages
        while left > 0:
            if rnd.random() < MERGED_SHARE:
                counts.append(0)
                continue
            n = min(left, rnd.choices(MESSAGES_PER_TICKET, weights=MESSAGES_WEIGHTS)[0])
            counts.append(n)
            left -= n
        span = (END - START).total_seconds() - 3 * 86400
        # Volume grows: density rising linearly over the two years (sqrt of uniform).
        times = sorted(START + timedelta(seconds=span * rnd.random() ** 0.6) for _ in counts)
        return list(zip(times, counts, strict=True))

    def batches(self, messages_per_batch: int) -> Iterator[int]:
        """Ticket counts of the batches, about ``messages_per_batch`` messages each."""
        start = 0
        while start < len(self._plan):
            total, end = 0, start
            while end < len(self._plan) and total < messages_per_batch:
                total += self._plan[end][1]
                end += 1
            yield end - start
            start = end

    # -- one batch --------------------------------------------------------------------
    def render(self, numbers: Sequence[int]) -> list[TicketRows]:
        """The next ``len(numbers)`` tickets of the plan, with these ticket numbers."""
        out = []
        for number in numbers:
            created, count = self._plan[self._next]
            self._next += 1
            out.append(self._ticket(number, created, count))
        return out

    def _ticket(self, number: int, created: datetime, count: int) -> TicketRows:
        rnd = self.rnd
        person = rnd.choices(self.people, cum_weights=self.people_cum)[0]
        lang = person.language
        topic = rnd.choices(TOPICS, cum_weights=self.topic_cum)[0]
        slots = self._slots(created)
        templates = topic.subjects.get(lang.code) if rnd.random() < 0.8 else None
        subject = rnd.choice(templates or topic.subjects["en"]).format(**slots)
        label = f"TKT-{number:04d}"
        agent_index = rnd.randrange(len(self.agents))
        times = [created]
        for i in range(1, count):
            mean = 5.0 if i % 2 else 20.0  # hours: agents answer faster than customers
            times.append(min(END, times[-1] + timedelta(hours=rnd.expovariate(1.0 / mean))))
        updated = times[-1] if count else created
        status, closed_at = self._status(updated)
        self.facts.statuses[status] = self.facts.statuses.get(status, 0) + 1
        unassigned = rnd.random() < (0.3 if status in ("open", "pending") else 0.05)
        tags = [t for t in topic.tags if rnd.random() < 0.6]
        tags += [t for t, share in EXTRA_TAGS if rnd.random() < share]
        ticket = {
            "number": number,
            "customer_id": person.email,  # replaced by the id when loading
            "assignee_id": None if unassigned else agent_index,  # replaced by the agent's id
            "status": status,
            "priority": rnd.choices(("low", "normal", "high", "urgent"), (15, 65, 15, 5))[0],
            "subject": subject,
            "created_at": created,
            "updated_at": updated,
            "closed_at": closed_at,
            "status_changed_at": closed_at or updated,
        }
        rows = TicketRows(ticket, tags, [], [], merged=count == 0)
        self.facts.tickets += 1
        previous = ""
        sender = ""
        for i, when in enumerate(times):
            role = self._role(i, unassigned)
            message, body, trimmed = self._message(
                role, person, topic, slots, subject, label, when, agent_index, previous, sender
            )
            rows.messages.append(message)
            rows.attachments.append(self._files(role, topic, slots))
            previous, sender = trimmed or body, message["from_name"] or message["from_email"]
        self.facts.messages += len(rows.messages)
        self.facts.attachments += sum(len(a) for a in rows.attachments)
        self.facts.with_attachments += sum(1 for a in rows.attachments if a)
        middle = self._next > len(self._plan) // 2
        if middle and not self.facts.ticket_number and count:
            self.facts.ticket_number = number
        wanted = middle and not self.facts.order_number
        if wanted and any(slots["order"] in m["body_text"] for m in rows.messages):
            self.facts.order_number = slots["order"]
        return rows

    def _slots(self, when: datetime) -> dict[str, str]:
        rnd = self.rnd
        return {
            "order": f"ORD-{rnd.randint(100000, 999999)}",
            "invoice": f"INV-{when.year}-{rnd.randint(1, 99999):05d}",
            "amount": rnd.choice(AMOUNTS),
            "error": rnd.choice(ERRORS),
            "product": rnd.choice(PRODUCTS),
            "version": f"{rnd.randint(2, 9)}.{rnd.randint(0, 19)}.{rnd.randint(0, 9)}",
            "date": when.strftime("%Y-%m-%d"),
            "num": str(rnd.randint(1000, 9999)),
        }

    def _status(self, updated: datetime) -> tuple[str, datetime | None]:
        age = (END - updated).days
        if age < 3:
            weights = (50, 30, 15, 5)
        elif age < 30:
            weights = (15, 15, 40, 30)
        else:
            weights = (2, 1, 12, 85)
        status = self.rnd.choices(("open", "pending", "resolved", "closed"), weights)[0]
        return status, (updated + timedelta(days=3) if status == "closed" else None)

    def _role(self, index: int, unassigned: bool) -> str:
        """customer, ack, agent or note: who writes the index-th message of a ticket."""
        if index == 0:
            return "customer"
        if index == 1 and self.rnd.random() < 0.4:
            return "ack"
        if self.rnd.random() < 0.08:
            return "note"
        if unassigned and self.rnd.random() < 0.5:
            return "customer"
        return "agent" if index % 2 else "customer"

    # -- text -----------------------------------------------------------------------------
    def _filler(self, code: str, sentences: int) -> list[str]:
        rnd = self.rnd
        words, cum = self.vocab[code], self.cum[code]
        out = []
        for _ in range(sentences):
            chosen = rnd.choices(words, cum_weights=cum, k=rnd.randint(5, 16))
            text = " ".join(chosen)
            out.append(text[0].upper() + text[1:] + ("。" if code == "ja" else "."))
        return out

    def _topic_sentence(self, lang: Language, topic: Topic, slots: dict[str, str]) -> str:
        local = topic.local.get(lang.code)
        pool = local if local and self.rnd.random() < 0.7 else topic.sentences
        return self.rnd.choice(pool).format(**slots)

    def _message(
        self,
        role: str,
        person: Person,
        topic: Topic,
        slots: dict[str, str],
        subject: str,
        label: str,
        when: datetime,
        agent_index: int,
        previous: str,
        previous_sender: str,
    ) -> tuple[dict[str, Any], str, str]:
        rnd = self.rnd
        lang = person.language
        agent_name, agent_email = self.agents[agent_index]
        paragraphs: list[str] = []
        quote = ""
        if role == "customer":
            first = not previous
            paragraphs.append(rnd.choice(lang.greeting))
            if not first:
                paragraphs.append(rnd.choice(lang.followup))
            topical = [self._topic_sentence(lang, topic, slots) for _ in range(rnd.randint(1, 2))]
            filler = self._filler(lang.code, rnd.randint(2, 6) if first else rnd.randint(1, 3))
            paragraphs.append(" ".join(topical[:1] + filler[: len(filler) // 2 + 1]))
            rest = topical[1:] + filler[len(filler) // 2 + 1 :]
            if rest:
                paragraphs.append(" ".join(rest))
            paragraphs += self._rare()
            paragraphs.append(f"{rnd.choice(lang.closing)}\n{person.name or person.first}")
            if previous:
                who = previous_sender or "Support"
                lines = [f"> {line}" for line in previous.splitlines()[:6] if line.strip()]
                header = lang.wrote.format(date=when.strftime("%d %b %Y"), who=who)
                quote = "\n\n" + header + "\n" + "\n".join(lines)
            direction, kind = "inbound", "customer"
            from_email, from_name = person.email, person.name
            to, msg_subject = [SUPPORT], subject if first else f"{lang.reply_prefix} {subject}"
            if not first and rnd.random() < 0.7:
                msg_subject = f"Re: {subject} [{label}]"
        elif role == "ack":
            paragraphs = [
                f"Hello {person.name or person.first},",
                f"thank you for contacting us. Your request has been received and is now "
                f"ticket {label}. We usually answer within one business day.",
                "Please keep the ticket number in the subject when you write to us about it.",
                "Echo Support",
            ]
            direction, kind = "outbound", "ack"
            from_email, from_name = SUPPORT, "Echo Support"
            to, msg_subject = [person.email], f"Re: {subject} [{label}]"
        elif role == "note":
            paragraphs = [
                " ".join([self.rnd.choice(topic.answers).format(**slots), *self._filler("en", 1)])
            ]
            direction, kind = "internal", "note"
            from_email, from_name = agent_email, agent_name
            to, msg_subject = [], subject
        else:
            paragraphs = [f"Hi {person.first},"]
            body = [
                rnd.choice(topic.answers).format(**slots),
                *self._filler("en", rnd.randint(1, 4)),
            ]
            paragraphs.append(" ".join(body))
            paragraphs += self._rare()
            paragraphs.append(f"Best regards,\n{agent_name}\nEcho Support")
            direction, kind = "outbound", "reply"
            from_email, from_name = agent_email, agent_name
            to, msg_subject = [person.email], f"Re: {subject} [{label}]"
        trimmed = "\n\n".join(paragraphs)
        body_text = trimmed + quote
        html = ""
        if direction == "inbound" and rnd.random() < 0.2:
            html = "".join(f"<p>{p}</p>" for p in body_text.split("\n\n"))
        cc = [f"{rnd.choice(('finance', 'it', 'office'))}@{person.email.rpartition('@')[2]}"]
        self._order_seq += 1
        row = {
            "ticket_id": None,
            "direction": direction,
            "kind": kind,
            "message_id": f"<{self.seed}.{self._order_seq}.{rnd.getrandbits(40):x}@"
            f"{from_email.rpartition('@')[2] or DESK_DOMAIN}>",
            "content_hash": f"{rnd.getrandbits(256):064x}",
            "in_reply_to": "",
            "reference_ids": "",
            "from_email": from_email,
            "from_name": from_name,
            "to_addrs": to,
            "cc_addrs": cc if direction == "inbound" and rnd.random() < 0.04 else [],
            "subject": msg_subject,
            "body_text": body_text,
            "body_html": html,
            "trimmed_text": trimmed,
            "customer_id": person.email if direction == "inbound" else None,
            "agent_id": agent_index if kind in ("reply", "note") else None,
            "spool_id": None,
            "thread_reason": "",
            "defects": [],
            "sent_at": when - timedelta(seconds=rnd.randint(2, 90)),
            "created_at": when,
        }
        return row, body_text, trimmed

    def _rare(self) -> list[str]:
        """Now and then a sentence with a word of known rarity."""
        rnd = self.rnd
        out = []
        if rnd.random() < 1 / 1000:  # in about 1 of 2,000 messages (half are customers')
            out.append("Could this be related to the Kerberos ticket of our domain?")
        if rnd.random() < 1 / 100:
            out.append("Otherwise my bank will start a chargeback.")
        return out

    def _files(self, role: str, topic: Topic, slots: dict[str, str]) -> list[dict[str, Any]]:
        rnd = self.rnd
        share = {"customer": 0.15, "agent": 0.03, "note": 0.03}.get(role, 0.0)
        if rnd.random() >= share:
            return []
        files = []
        for _ in range(1 if rnd.random() < 0.8 else rnd.randint(2, 4)):
            pool = topic.files if topic.files and rnd.random() < 0.7 else ("screenshot.png",)
            name = rnd.choice(pool).format(**slots)
            digest = f"{rnd.getrandbits(256):064x}"
            ext = name.rpartition(".")[2].lower()
            files.append(
                {
                    "message_pk": None,
                    "filename": name,
                    "content_type": CONTENT_TYPES.get(ext, "application/octet-stream"),
                    "size": int(rnd.lognormvariate(11, 1.2)),
                    "sha256": digest,
                    "storage_key": digest,
                    "content_id": "",
                    "inline": False,
                }
            )
        return files


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of values, linearly interpolated (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


__all__ = ["Archive", "Facts", "Person", "TicketRows", "quantile"]
