"""The installation's signing secrets, kept in the database (``installation_secrets``).

Signed reply addresses, VERP bounce addresses, notification Message-IDs
(``desk/tokens.py``) and the web session cookie are HMACs with a secret that
every process of the installation must share, on every machine and across
restarts of hosts whose disk does not last; so the secret lives in the
database, never on local disk.

Generation 1 is made by whichever process first needs a secret: an ``INSERT
... ON CONFLICT DO NOTHING`` on generation 1, then a re-read, so processes
racing on several machines all end up with the one row that won. An
installation upgraded from the old ``<data_dir>/secret`` file adopts that
file's secret instead, so nothing it signed stops verifying.

``echodesk secret rotate`` adds the next generation, which starts signing at
its ``signs_from`` (by default a few minutes later, so that every running
process has re-read the secrets and verifies the new one before anyone signs
with it). An older generation keeps verifying for the grace period after its
successor started signing. A :class:`Keyring` is one process's view of the
secrets, re-read every :data:`REFRESH_SECONDS`.
"""

from __future__ import annotations

import logging
import math
import secrets as random_tokens
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from echodesk.errors import StoreError
from echodesk.store import writes
from echodesk.store.db import Database
from echodesk.store.models import InstallationSecret
from echodesk.store.types import utcnow

log = logging.getLogger(__name__)

#: How often a process re-reads the secrets (a rotation reaches it within this).
REFRESH_SECONDS = 60.0
#: How long after ``secret rotate`` the new secret signs by default: every process knows it by then.
SWITCH_SECONDS = 3 * REFRESH_SECONDS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StoredSecret:
    generation: int
    value: bytes = field(repr=False)
    created_at: datetime
    signs_from: datetime


def new_secret() -> bytes:
    """A fresh random secret (256 bits, URL-safe text)."""
    return random_tokens.token_urlsafe(32).encode("ascii")


def load(db: Database) -> list[StoredSecret]:
    """Every stored generation, oldest first ([] when none was made yet)."""
    stmt = select(InstallationSecret).order_by(InstallationSecret.generation)
    try:
        with db.reading() as session:
            return [
                StoredSecret(row.generation, row.secret.encode(), row.created_at, row.signs_from)
                for row in session.scalars(stmt)
            ]
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the installation secret: {_reason(exc)}") from exc


def _reason(exc: SQLAlchemyError) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if "installation_secrets" in text:
        return f"{text} (run 'echodesk db upgrade')"
    return text


def _insert(db: Database, generation: int, value: bytes, signs_from: datetime) -> None:
    """Add one generation unless it exists already (then the existing one stays)."""
    row: dict[str, Any] = {
        "generation": generation,
        "secret": value.decode("ascii"),
        "created_at": utcnow(),
        "signs_from": signs_from,
    }
    try:
        with db.transaction() as session:
            writes.insert_ignore(session, InstallationSecret, [row], ["generation"])
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot store the installation secret: {_reason(exc)}") from exc


def ensure(db: Database, first: Callable[[], bytes] = new_secret) -> list[StoredSecret]:
    """The stored generations; when there are none, generation 1 is made from ``first()``.

    Safe against any number of processes doing the same at once, on any
    number of machines: one insert wins and every caller reads that one.
    """
    rows = load(db)
    if rows:
        return rows
    _insert(db, 1, first(), utcnow())
    rows = load(db)
    if not rows:  # pragma: no cover - the insert above committed or raised
        raise StoreError("the installation secret was not stored")
    return rows


def rotate(db: Database, value: bytes, signs_from: datetime) -> StoredSecret:
    """Add the next generation, signing from ``signs_from`` (never before its predecessor).

    Two rotations at the same moment make one new generation: the later
    caller gets the one that won.
    """
    rows = ensure(db)
    last = rows[-1]
    _insert(db, last.generation + 1, value, max(signs_from, last.signs_from))
    return next(r for r in load(db) if r.generation == last.generation + 1)


def legacy_secret(path: Path) -> bytes | None:
    """The secret of an old ``<data_dir>/secret`` file, if there is one (to adopt it)."""
    try:
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read the old secret file {path}: {exc}") from exc
    if not value:
        return None
    log.warning("adopting the secret of %s into the database; the file is no longer read", path)
    return value.encode("ascii")


def database_loader(
    source: Database | str, legacy_file: Path | None = None
) -> Callable[[], list[StoredSecret]]:
    """A loader for :class:`Keyring`: the secrets of ``source``, made on first need.

    ``source`` is an open database, or a URL opened (and closed) for each read,
    so a context built without a database holds no connection between reads.
    """

    def first() -> bytes:
        adopted = legacy_secret(legacy_file) if legacy_file is not None else None
        return adopted or new_secret()

    def read() -> list[StoredSecret]:
        if isinstance(source, Database):
            return ensure(source, first)
        db = Database(source, pool_size=1)
        try:
            return ensure(db, first)
        finally:
            db.dispose()

    return read


def current_index(rows: list[StoredSecret], now: datetime) -> int:
    """The generation signing at ``now``: the newest one whose time has come."""
    index = 0
    for i, row in enumerate(rows):
        if row.signs_from <= now:
            index = i
    return index


def verifying(rows: list[StoredSecret], now: datetime, grace: timedelta) -> list[StoredSecret]:
    """The generations accepted at ``now``, the signing one first.

    The signing one; the newer ones not signing yet (every process must know
    them before any signs with them); and each older one until ``grace`` has
    passed since its successor started signing.
    """
    current = current_index(rows, now)
    accepted = [rows[current], *rows[current + 1 :]]
    for i in range(current - 1, -1, -1):
        if now < rows[i + 1].signs_from + grace:
            accepted.append(rows[i])
    return accepted


class Keyring:
    """One process's view of the secrets: sign with the newest, verify with all in grace.

    Re-read from the database every ``refresh_seconds``; when a re-read fails
    (the database is briefly away) the secrets read before stay in use.
    """

    def __init__(
        self,
        loader: Callable[[], list[StoredSecret]],
        grace: timedelta,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._loader = loader
        self.grace = grace
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._rows: list[StoredSecret] = []
        self._read_at = -math.inf
        self._lock = threading.Lock()

    @classmethod
    def fixed(cls, secret: bytes) -> Keyring:
        """One secret that never changes (setting ``secret``)."""
        row = StoredSecret(1, secret, _EPOCH, _EPOCH)
        return cls(lambda: [row], timedelta(0), refresh_seconds=math.inf)

    def snapshot(self) -> Keyring:
        """These secrets as read now, never re-read: for a process that must not open
        the database (a parsing process forked from a worker)."""
        rows = list(self.generations())
        return Keyring(lambda: rows, self.grace, refresh_seconds=math.inf, clock=self._clock)

    def generations(self) -> list[StoredSecret]:
        """The stored generations, oldest first (read or re-read as due)."""
        with self._lock:
            if self._rows and time.monotonic() - self._read_at < self.refresh_seconds:
                return self._rows
            try:
                self._rows = self._loader()
            except StoreError as exc:
                if not self._rows:
                    raise
                log.warning("keeping the installation secrets read before: %s", exc)
            self._read_at = time.monotonic()
            return self._rows

    def signing(self) -> bytes:
        """The secret new signatures are made with."""
        rows = self.generations()
        return rows[current_index(rows, self._clock())].value

    def verifying(self) -> tuple[bytes, ...]:
        """Every secret a signature may have been made with, the signing one first."""
        rows = self.generations()
        return tuple(r.value for r in verifying(rows, self._clock(), self.grace))

    def root(self) -> bytes:
        """The first generation's secret: what stays the same across rotations."""
        return self.generations()[0].value
