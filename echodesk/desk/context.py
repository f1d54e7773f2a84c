"""What the pipeline needs besides the session: settings, blobs, secret, addresses, rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from echodesk.config import Settings
from echodesk.desk.rulesource import RulesSource
from echodesk.desk.savedreplies import RepliesSource
from echodesk.desk.threader import subject_tag_pattern
from echodesk.desk.tokens import Addresses, installation_id, keyring_for
from echodesk.mailbox.classify import loop_marker
from echodesk.rules import RulesContext
from echodesk.store.blobs import BlobStore, open_blob_store
from echodesk.store.db import Database
from echodesk.store.secrets import Keyring


@dataclass(frozen=True)
class DeskContext:
    settings: Settings
    blobs: BlobStore
    #: The installation's secrets (None: from settings, else the settings' database).
    keyring: Keyring | None = field(default=None, repr=False)
    tag_pattern: re.Pattern[str] = field(init=False)
    addresses: Addresses = field(init=False)
    rules: RulesSource = field(init=False)
    replies: RepliesSource = field(init=False)
    rules_context: RulesContext = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag_pattern", subject_tag_pattern(self.settings.ticket_prefix))
        keyring = self.keyring if self.keyring is not None else keyring_for(self.settings)
        object.__setattr__(self, "keyring", keyring)
        object.__setattr__(self, "addresses", Addresses.for_settings(self.settings, keyring))
        object.__setattr__(self, "rules", RulesSource(self.settings.rules_file))
        object.__setattr__(self, "replies", RepliesSource(self.settings.replies_file))
        extra = (self.settings.spam_header.lower(),) if self.settings.spam_header else ()
        rules_context = RulesContext(
            timezone=self.settings.timezone,
            business_hours=self.settings.business_hours,
            spam_headers=("x-spam-score", "x-spam-status", "x-spam-flag", *extra),
        )
        object.__setattr__(self, "rules_context", rules_context)

    @classmethod
    def for_settings(cls, settings: Settings, db: Database | None = None) -> DeskContext:
        """The context of these settings; the secrets are read from ``db`` when given."""
        return cls(
            settings=settings,
            blobs=open_blob_store(settings.effective_blob_store(), settings, db),
            keyring=keyring_for(settings, db),
        )

    @property
    def own_addresses(self) -> tuple[str, ...]:
        return (self.settings.support_address.lower(),)

    @property
    def secret(self) -> bytes:
        """The secret signing now (the newest generation in use)."""
        assert self.keyring is not None
        return self.keyring.signing()

    @property
    def installation_id(self) -> str:
        """This installation's id: in its loop header, and only there.

        From the first generation of the secret, so a rotation does not change
        it and mail sent before one is still recognised when it loops back.
        """
        assert self.keyring is not None
        return installation_id(self.keyring.root())

    @property
    def loop_marker(self) -> str:
        """The X-Echodesk-Loop value of every message this installation sends."""
        return loop_marker(self.installation_id, self.settings.outgoing_domain)
