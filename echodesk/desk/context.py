"""What the pipeline needs besides the session: settings, blobs, secret, addresses, rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from echodesk.config import Settings
from echodesk.desk.rulesource import RulesSource
from echodesk.desk.threader import subject_tag_pattern
from echodesk.desk.tokens import Addresses, installation_id, installation_secret
from echodesk.mailbox.classify import loop_marker
from echodesk.rules import RulesContext
from echodesk.store.blobs import BlobStore, LocalBlobStore


@dataclass(frozen=True)
class DeskContext:
    settings: Settings
    blobs: BlobStore
    secret: bytes = field(default=b"", repr=False)
    tag_pattern: re.Pattern[str] = field(init=False)
    addresses: Addresses = field(init=False)
    rules: RulesSource = field(init=False)
    rules_context: RulesContext = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag_pattern", subject_tag_pattern(self.settings.ticket_prefix))
        secret = self.secret or installation_secret(self.settings)
        object.__setattr__(self, "secret", secret)
        object.__setattr__(self, "addresses", Addresses.for_settings(self.settings, secret))
        object.__setattr__(self, "rules", RulesSource(self.settings.rules_file))
        extra = (self.settings.spam_header.lower(),) if self.settings.spam_header else ()
        rules_context = RulesContext(
            timezone=self.settings.timezone,
            business_hours=self.settings.business_hours,
            spam_headers=("x-spam-score", "x-spam-status", "x-spam-flag", *extra),
        )
        object.__setattr__(self, "rules_context", rules_context)

    @classmethod
    def for_settings(cls, settings: Settings) -> DeskContext:
        return cls(settings=settings, blobs=LocalBlobStore(settings.data_dir / "blobs"))

    @property
    def own_addresses(self) -> tuple[str, ...]:
        return (self.settings.support_address.lower(),)

    @property
    def installation_id(self) -> str:
        """This installation's id (from the secret): in its loop header, and only there."""
        return installation_id(self.secret)

    @property
    def loop_marker(self) -> str:
        """The X-Echodesk-Loop value of every message this installation sends."""
        return loop_marker(self.installation_id, self.settings.outgoing_domain)
